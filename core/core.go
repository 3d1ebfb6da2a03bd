// Package core wires Causeway together: it opens the store, builds the
// homeserver client and durable outbox, configures the enabled bridge
// modules, routes appservice events to them, and runs the transaction
// server. cmd/causeway only parses flags and calls into this package.
package core

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/causewaybridge/causeway/appservice"
	"github.com/causewaybridge/causeway/bridges"
	"github.com/causewaybridge/causeway/config"
	"github.com/causewaybridge/causeway/intent"
	"github.com/causewaybridge/causeway/matrix"
	"github.com/causewaybridge/causeway/registration"
	"github.com/causewaybridge/causeway/store"
)

// Modules creates and configures the modules enabled in cfg, in sorted ID
// order. An enabled section naming an unknown module is an error.
func Modules(cfg *config.Config, reg *bridges.Registry) ([]bridges.Module, error) {
	ids := make([]string, 0, len(cfg.Bridges))
	for id, sec := range cfg.Bridges {
		if sec.Enabled {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	env := bridges.Env{ServerName: cfg.Homeserver.ServerName, BotUserID: matrix.UserID(cfg.BotUserID()), HomeserverURL: cfg.Homeserver.URL}
	mods := make([]bridges.Module, 0, len(ids))
	for _, id := range ids {
		info, ok := reg.Get(id)
		if !ok {
			return nil, fmt.Errorf("bridges.%s: no such bridge module (known: %v)", id, reg.IDs())
		}
		m := info.New()
		if err := m.Configure(env, cfg.Bridges[id]); err != nil {
			return nil, fmt.Errorf("bridges.%s: %w", id, err)
		}
		mods = append(mods, m)
	}
	return mods, nil
}

// RegistrationSpec derives the registration generator's input from the
// configuration and the configured modules.
func RegistrationSpec(cfg *config.Config, mods []bridges.Module) registration.Spec {
	s := registration.Spec{
		ID:              cfg.Appservice.ID,
		URL:             cfg.Appservice.URL,
		SenderLocalpart: cfg.Appservice.BotLocalpart,
		ServerName:      cfg.Homeserver.ServerName,
	}
	for _, m := range mods {
		ns := m.Namespaces()
		s.UserRegexes = append(s.UserRegexes, ns.UserRegexes...)
		s.AliasRegexes = append(s.AliasRegexes, ns.AliasRegexes...)
		s.Protocols = append(s.Protocols, ns.Protocols...)
	}
	return s
}

// Options configure a [Bridge].
type Options struct {
	Config       *config.Config
	Registration *registration.Registration
	// Modules are the configured modules (see [Modules]).
	Modules []bridges.Module
	Logger  *slog.Logger
}

// Bridge is a running Causeway instance.
type Bridge struct {
	cfg     *config.Config
	reg     *registration.Registration
	log     *slog.Logger
	store   *store.Store
	client  *intent.Client
	outbox  *intent.Outbox
	router  *Router
	rooms   *mgmtRooms
	server  *appservice.Server
	syncer  *intent.EphemeralSyncer
	modules []bridges.Module
	started []bridges.Module
	hosts   []*host // the started modules' hosts, in the same order

	stopOnce sync.Once
	cancel   context.CancelFunc
	wg       sync.WaitGroup
}

// New opens the store and builds every component; nothing is started.
func New(ctx context.Context, opts Options) (*Bridge, error) {
	cfg, reg := opts.Config, opts.Registration
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	st, err := store.Open(ctx, cfg.Database.URL, log.With("component", "store"))
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	b := &Bridge{cfg: cfg, reg: reg, log: log, store: st, modules: opts.Modules}
	ok := false
	defer func() {
		if !ok {
			st.Close()
		}
	}()
	b.client, err = intent.New(intent.Options{
		HomeserverURL: cfg.Homeserver.URL,
		ASToken:       reg.ASToken,
		ServerName:    cfg.Homeserver.ServerName,
		BotLocalpart:  reg.SenderLocalpart,
		Logger:        log.With("component", "intent"),
		StateStore:    st,
	})
	if err != nil {
		return nil, fmt.Errorf("homeserver client: %w", err)
	}
	done := completions{log: log, modules: opts.Modules}
	b.outbox, err = intent.NewOutbox(intent.OutboxOptions{
		Client:   b.client,
		Store:    st,
		Logger:   log.With("component", "outbox"),
		OnSent:   done.sent,
		OnFailed: done.failed,
	})
	if err != nil {
		return nil, fmt.Errorf("outbox: %w", err)
	}
	b.router, err = newRouter(log.With("component", "router"), b.client.BotUserID(), cfg.Appservice.Admins, opts.Modules, st, botActor{b.client}, b.client)
	if err != nil {
		return nil, err
	}
	for _, m := range b.router.modules {
		m.links = bridges.StoredLinks(st, m.id)
	}
	b.router.unsupported = newUnsupportedNotices(b.outbox, unsupportedWindow)
	b.rooms = newMgmtRooms(st, mgmtActor{c: b.client, ob: b.outbox}, b.client.BotUserID(), cfg.Appservice.BotDisplayname, log.With("component", "mgmtroom"))
	b.router.rooms = b.rooms
	b.server, err = appservice.New(appservice.Options{
		ListenAddr: cfg.Appservice.Address,
		HSToken:    reg.HSToken,
		Inbox:      st,
		Handler:    b.router,
		// The bridge's own messages echoed back are dropped before they
		// are stored; state events (memberships, power levels) are kept so
		// the state cache follows them in room order.
		SkipEvent:    func(evt *matrix.Event) bool { return !evt.IsState() && b.router.IsBridged(evt.Sender) },
		Logger:       log.With("component", "appservice"),
		MaxBodyBytes: cfg.Appservice.MaxBodyBytes,
		AckBody:      appservice.AckBody(cfg.Appservice.AckBody),
	})
	if err != nil {
		return nil, fmt.Errorf("appservice server: %w", err)
	}
	if cfg.Homeserver.EphemeralSync {
		b.syncer = b.client.NewEphemeralSyncer(b.router.HandleEphemeral)
		// Dendrite 0.15 does not push m.room.redaction to appservices:
		// the bot's /sync picks them up and they join the durable inbox
		// like pushed events (an event pushed too is processed once).
		b.syncer.SetTimeline([]string{matrix.EventRedaction}, b.injectSynced)
		// The position is saved once a poll's events are in the inbox, so
		// redactions made while the bridge was down are picked up at start.
		b.syncer.SetPositionStore(syncPositions{st})
	}
	ok = true
	return b, nil
}

// Store returns the bridge's store.
func (b *Bridge) Store() *store.Store { return b.store }

// Outbox returns the durable outbox.
func (b *Bridge) Outbox() *intent.Outbox { return b.outbox }

// Client returns the homeserver client.
func (b *Bridge) Client() *intent.Client { return b.client }

// Start registers the bot, starts modules, the outbox, the optional
// ephemeral syncer and finally the transaction server (which first resumes
// events left pending by a previous run).
func (b *Bridge) Start(ctx context.Context) error {
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	b.cancel = cancel
	if err := b.waitForHomeserver(ctx); err != nil {
		return err
	}
	bot := b.client.Bot()
	if err := bot.EnsureRegistered(ctx); err != nil {
		return fmt.Errorf("register bot %s: %w", b.client.BotUserID(), err)
	}
	if err := bot.MuteNotifications(ctx); err != nil {
		b.log.Warn("could not mute the bot's notifications (the homeserver keeps counting them)", "err", err)
	}
	if name := b.cfg.Appservice.BotDisplayname; name != "" {
		if err := bot.SetDisplayname(ctx, name); err != nil {
			b.log.Warn("could not set the bot's display name", "err", err)
		}
	}
	if err := b.outbox.Start(runCtx); err != nil {
		return fmt.Errorf("start outbox: %w", err)
	}
	if err := b.rooms.migrate(ctx); err != nil {
		return err
	}
	for _, m := range b.modules {
		h := &host{b: b, id: m.Info().ID, log: b.log.With("module", m.Info().ID), outbox: moduleOutbox{o: b.outbox, id: m.Info().ID}}
		h.bg = newBackground(runCtx, h.log)
		if err := m.Start(runCtx, h); err != nil {
			_ = h.bg.wait(ctx) // what Start began with Host.Go
			return fmt.Errorf("start module %s: %w", m.Info().ID, err)
		}
		b.started = append(b.started, m)
		b.hosts = append(b.hosts, h)
	}
	if err := b.server.Start(runCtx); err != nil {
		return fmt.Errorf("start appservice server: %w", err)
	}
	if b.syncer != nil {
		b.wg.Add(1)
		go func() {
			defer b.wg.Done()
			if err := b.syncer.Run(runCtx); err != nil && runCtx.Err() == nil {
				b.log.Error("ephemeral sync stopped", "err", err)
			}
		}()
	}
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		b.pruneLoop(runCtx)
	}()
	b.log.Info("causeway started", "listen", b.cfg.Appservice.Address, "modules", len(b.modules), "database", b.store.Dialect())
	return nil
}

// waitForHomeserver retries until the homeserver answers, so the bridge can
// be started before or together with it.
func (b *Bridge) waitForHomeserver(ctx context.Context) error {
	delay := 500 * time.Millisecond
	for attempt := 1; ; attempt++ {
		err := checkVersions(ctx, b.cfg.Homeserver.URL)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err() // stopped while waiting: not the homeserver's fault
		}
		if attempt >= 10 {
			return fmt.Errorf("homeserver %s unreachable: %w", b.cfg.Homeserver.URL, err)
		}
		b.log.Warn("homeserver not reachable yet; retrying", "url", b.cfg.Homeserver.URL, "err", err, "retry_in", delay)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(delay):
		}
		delay = min(delay*2, 10*time.Second)
	}
}

// checkVersions asks the homeserver for /_matrix/client/versions.
func checkVersions(ctx context.Context, base string) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(base, "/")+"/_matrix/client/versions", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET /_matrix/client/versions: %s", resp.Status)
	}
	return nil
}

// pruneLoop prunes the store at start and then hourly.
func (b *Bridge) pruneLoop(ctx context.Context) {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		b.prune(ctx, time.Now())
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// prune deletes processed inbox events and finished outbox items older
// than their retention.
func (b *Bridge) prune(ctx context.Context, now time.Time) {
	if n, err := b.store.PruneInbox(ctx, now.Add(-b.cfg.Database.InboxRetention)); err != nil {
		if ctx.Err() == nil {
			b.log.Warn("pruning processed events failed", "err", err)
		}
	} else if n > 0 {
		b.log.Debug("pruned processed events", "count", n)
	}
	if n, err := b.store.PruneOutbox(ctx, now.Add(-b.cfg.Database.OutboxRetention)); err != nil {
		if ctx.Err() == nil {
			b.log.Warn("pruning sent messages failed", "err", err)
		}
	} else if n > 0 {
		b.log.Debug("pruned sent messages", "count", n)
	}
}

// Stop shuts down in reverse start order: stop accepting transactions and
// drain events in flight, stop modules (each: cancel its Host.Go work, call
// its Stop, wait for that work), drain the outbox's in-flight sends, then
// close the database.
func (b *Bridge) Stop(ctx context.Context) error {
	var errs []error
	b.stopOnce.Do(func() {
		if err := b.server.Stop(ctx); err != nil {
			errs = append(errs, fmt.Errorf("stop appservice server: %w", err))
		}
		for i := len(b.started) - 1; i >= 0; i-- {
			b.hosts[i].bg.cancel()
			if err := b.started[i].Stop(ctx); err != nil {
				errs = append(errs, fmt.Errorf("stop module %s: %w", b.started[i].Info().ID, err))
			}
			if err := b.hosts[i].bg.wait(ctx); err != nil {
				errs = append(errs, fmt.Errorf("stop module %s: %w", b.started[i].Info().ID, err))
			}
		}
		if err := b.outbox.Stop(ctx); err != nil {
			errs = append(errs, fmt.Errorf("stop outbox: %w", err))
		}
		if b.cancel != nil {
			b.cancel()
		}
		b.wg.Wait()
		if err := b.store.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close database: %w", err))
		}
		b.log.Info("causeway stopped")
	})
	return errors.Join(errs...)
}

// host implements bridges.Host for one module.
type host struct {
	b      *Bridge
	id     string // the module's ID
	log    *slog.Logger
	outbox moduleOutbox
	bg     *background
}

func (h *host) ServerName() string           { return h.b.cfg.Homeserver.ServerName }
func (h *host) Logger() *slog.Logger         { return h.log }
func (h *host) Matrix() *intent.Client       { return h.b.client }
func (h *host) Outbox() bridges.Sender       { return h.outbox }
func (h *host) IsAdmin(u matrix.UserID) bool { return h.b.router.admins[u] }
func (h *host) Portals() bridges.Portals     { return bridges.StoredPortals(h.b.store, h.id) }
func (h *host) Links() bridges.Links         { return bridges.StoredLinks(h.b.store, h.id) }
func (h *host) KV() bridges.KV               { return bridges.StoredKV(h.b.store, h.id) }

// MediaURL implements bridges.Host: mxc's download link under
// homeserver.public_url.
func (h *host) MediaURL(mxc string) (string, error) {
	return intent.PublicMediaURL(h.b.cfg.Homeserver.PublicURL, mxc)
}

// Go implements bridges.Host: see background.
func (h *host) Go(f func(ctx context.Context)) { h.bg.Go(f) }

// botActor implements botActions with the intent client.
type botActor struct{ c *intent.Client }

func (a botActor) JoinAsBot(ctx context.Context, room matrix.RoomID) error {
	_, err := a.c.Bot().JoinRoom(ctx, string(room))
	return err
}

func (a botActor) Notice(ctx context.Context, room matrix.RoomID, text string) error {
	_, err := a.c.Bot().SendMessageEvent(ctx, room, matrix.EventMessage,
		matrix.MessageContent{MsgType: matrix.MsgNotice, Body: text}, intent.SendOptions{})
	return err
}

var _ bridges.Host = (*host)(nil)

// injectSynced hands timeline events found by the bot's /sync to the
// transaction server as one transaction named after the poll. An error
// means they are not in the durable inbox: the syncer repeats the poll.
func (b *Bridge) injectSynced(ctx context.Context, batch string, evs []intent.TimelineEvent) error {
	txn := "sync." + batch
	if len(txn) > 200 {
		sum := sha256.Sum256([]byte(batch))
		txn = "sync." + hex.EncodeToString(sum[:])
	}
	added, err := b.server.Inject(ctx, txn, syncedBody(evs))
	if errors.Is(err, appservice.ErrInvalidEvents) {
		// One event the inbox cannot take must hold back neither the
		// others nor the sync position (the poll would repeat forever):
		// each goes in on its own and the bad ones are dropped, logged.
		added = 0
		for i := range evs {
			n, err := b.server.Inject(ctx, fmt.Sprintf("%s.%d", txn, i), syncedBody(evs[i:i+1]))
			if errors.Is(err, appservice.ErrInvalidEvents) {
				b.log.Warn("dropped an event from the bot's sync that cannot be stored", "room_id", evs[i].Room, "err", err)
				continue
			}
			if err != nil {
				return fmt.Errorf("inject events from the bot's sync: %w", err)
			}
			added += n
		}
	} else if err != nil {
		return fmt.Errorf("inject events from the bot's sync: %w", err)
	}
	b.log.Debug("events from the bot's sync", "events", len(evs), "new", added)
	return nil
}

// syncedBody is a transaction body holding evs, each given its room_id
// (/sync leaves it out of timeline events).
func syncedBody(evs []intent.TimelineEvent) []byte {
	var body bytes.Buffer
	body.WriteString(`{"events":[`)
	first := true
	for _, ev := range evs {
		raw := bytes.TrimSpace(ev.Raw)
		if len(raw) < 2 || raw[0] != '{' {
			continue
		}
		if !first {
			body.WriteByte(',')
		}
		first = false
		room, _ := json.Marshal(ev.Room)
		body.WriteString(`{"room_id":`)
		body.Write(room)
		if rest := bytes.TrimSpace(raw[1:]); len(rest) > 0 && rest[0] != '}' {
			body.WriteByte(',')
		}
		body.Write(raw[1:])
	}
	body.WriteString(`]}`)
	return body.Bytes()
}

// syncPositionKey is where the bot's /sync position is kept, in the
// store's key-value table under the "core" namespace (no module has that
// ID).
const syncPositionKey = "sync.position"

// syncPositions keeps the ephemeral syncer's position in the store.
type syncPositions struct{ st *store.Store }

func (p syncPositions) LoadSyncPosition(ctx context.Context) (intent.SyncPosition, error) {
	var pos intent.SyncPosition
	raw, err := p.st.GetKV(ctx, "core", syncPositionKey)
	if errors.Is(err, store.ErrNotFound) {
		return pos, nil
	}
	if err != nil {
		return pos, err
	}
	if err := json.Unmarshal(raw, &pos); err != nil {
		return intent.SyncPosition{}, fmt.Errorf("decode the saved sync position: %w", err)
	}
	return pos, nil
}

func (p syncPositions) SaveSyncPosition(ctx context.Context, pos intent.SyncPosition) error {
	raw, err := json.Marshal(pos)
	if err != nil {
		return err
	}
	return p.st.PutKV(ctx, "core", syncPositionKey, raw)
}
