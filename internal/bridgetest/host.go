package bridgetest

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/causewaybridge/causeway/bridges"
	"github.com/causewaybridge/causeway/intent"
	"github.com/causewaybridge/causeway/internal/fakehs"
	"github.com/causewaybridge/causeway/matrix"
	"github.com/causewaybridge/causeway/store"
)

// HostOptions tune NewHost.
type HostOptions struct {
	// Module is the ID of the module under test (default "test"): its
	// portals, links, KV entries and outbox ops carry it.
	Module string
	// ServerName is the homeserver's server name (default "example.org").
	ServerName string
	// BotLocalpart is the bridge bot's localpart (default "causeway").
	BotLocalpart string
	// Admins are the bridge admins IsAdmin reports.
	Admins []matrix.UserID
	// Logger defaults to one that writes to stderr under go test -v and
	// discards otherwise.
	Logger *slog.Logger
}

// Host is a fake [bridges.Host] for module unit tests: what the core
// gives a module on Start, without the core. It has a real store (SQLite
// in t.TempDir()) behind the module-scoped Portals, Links and KV; an
// Outbox that records the ops the module queues instead of delivering
// them; Go tracked like the core tracks it; and a Matrix client pointed at
// an in-process fake homeserver (HS) that answers portal creation,
// joins, profiles and state. It is stopped when the test ends.
type Host struct {
	// HS is the fake homeserver Matrix() talks to.
	HS *fakehs.Homeserver
	// Sent is the outbox: the ops the module queued.
	Sent *Outbox

	t      testing.TB
	module string
	server string
	st     *store.Store
	client *intent.Client
	log    *slog.Logger
	admins []matrix.UserID

	mu      sync.Mutex
	told    []Told
	stopped bool
	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

// Told is a notice a module sent a user with TellUser.
type Told struct {
	User matrix.UserID
	Text string
}

var _ bridges.Host = (*Host)(nil)

// NewHost returns a fake host for the module opts.Module.
func NewHost(t testing.TB, opts HostOptions) *Host {
	t.Helper()
	if opts.Module == "" {
		opts.Module = "test"
	}
	if opts.ServerName == "" {
		opts.ServerName = "example.org"
	}
	if opts.BotLocalpart == "" {
		opts.BotLocalpart = "causeway"
	}
	log := opts.Logger
	if log == nil {
		w := io.Discard
		if testing.Verbose() {
			w = os.Stderr
		}
		log = slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	log = log.With("module", opts.Module)
	st, err := store.Open(context.Background(), "sqlite:"+filepath.Join(t.TempDir(), "causeway.db"), log)
	if err != nil {
		t.Fatalf("bridgetest: open store: %v", err)
	}
	bot := matrix.UserID("@" + opts.BotLocalpart + ":" + opts.ServerName)
	hs := fakehs.New(t, opts.ServerName, bot)
	client, err := intent.New(intent.Options{HomeserverURL: hs.URL, ASToken: fakehs.ASToken, BotUserID: bot,
		ServerName: opts.ServerName, StateStore: st, Logger: log, RequestTimeout: 10 * time.Second,
		Retry: intent.RetryPolicy{MaxAttempts: 1}})
	if err != nil {
		t.Fatalf("bridgetest: intent client: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h := &Host{HS: hs, Sent: newOutbox(opts.Module), t: t, module: opts.Module, server: opts.ServerName,
		st: st, client: client, log: log, admins: opts.Admins, ctx: ctx, cancel: cancel}
	t.Cleanup(func() {
		h.Stop()
		if err := st.Close(); err != nil {
			t.Errorf("bridgetest: close store: %v", err)
		}
	})
	return h
}

// ServerName implements bridges.Host.
func (h *Host) ServerName() string { return h.server }

// Logger implements bridges.Host.
func (h *Host) Logger() *slog.Logger { return h.log }

// Matrix implements bridges.Host: a client of the fake homeserver.
func (h *Host) Matrix() *intent.Client { return h.client }

// Outbox implements bridges.Host: the recording outbox, Sent.
func (h *Host) Outbox() bridges.Sender { return h.Sent }

// Store implements bridges.Host.
//
// Deprecated: as bridges.Host.Store; tests may read it to check what the
// module stored.
func (h *Host) Store() *store.Store { return h.st }

// Portals implements bridges.Host.
func (h *Host) Portals() bridges.Portals { return bridges.StoredPortals(h.st, h.module) }

// Links implements bridges.Host.
func (h *Host) Links() bridges.Links { return bridges.StoredLinks(h.st, h.module) }

// KV implements bridges.Host.
func (h *Host) KV() bridges.KV { return bridges.StoredKV(h.st, h.module) }

// IsAdmin implements bridges.Host: the users in HostOptions.Admins.
func (h *Host) IsAdmin(u matrix.UserID) bool { return slices.Contains(h.admins, u) }

// MediaURL implements bridges.Host, with the fake homeserver's URL as the
// public URL.
func (h *Host) MediaURL(mxc string) (string, error) { return intent.PublicMediaURL(h.HS.URL, mxc) }

// TellUser implements bridges.Host: it records the notice (see Told).
func (h *Host) TellUser(ctx context.Context, user matrix.UserID, text string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.told = append(h.told, Told{User: user, Text: text})
	return nil
}

// Told returns the notices sent with TellUser, in order.
func (h *Host) Told() []Told {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.told)
}

// Go implements bridges.Host like the core does: f runs on its own
// goroutine with a context that Stop cancels; Stop waits for it. After
// Stop, f does not run.
func (h *Host) Go(f func(ctx context.Context)) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.stopped {
		return
	}
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		f(h.ctx)
	}()
}

// Stop cancels the context of the work started with Go and waits for it
// (at most 10 seconds, then the test fails), like the core when it stops
// a module. It is idempotent; the test's cleanup calls it.
func (h *Host) Stop() {
	h.mu.Lock()
	h.stopped = true
	h.mu.Unlock()
	h.cancel()
	done := make(chan struct{})
	go func() { h.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		h.t.Errorf("bridgetest: work started with Host.Go still running 10s after Stop")
	}
}

// Outbox is a [bridges.Sender] that records ops in memory, for [Host].
// Like the real outbox it sets each op's Module and ignores a second op
// with the Room and Key of an earlier one; nothing is delivered:
// SendAndWait returns a made-up event ID.
type Outbox struct {
	module string

	mu  sync.Mutex
	ops []intent.Op
}

func newOutbox(module string) *Outbox { return &Outbox{module: module} }

var _ bridges.Sender = (*Outbox)(nil)

// Send implements bridges.Sender.
func (o *Outbox) Send(ctx context.Context, op intent.Op) (bool, error) {
	if op.Room == "" {
		return false, fmt.Errorf("outbox op has no room")
	}
	op.Module = o.module
	o.mu.Lock()
	defer o.mu.Unlock()
	if op.Key != "" {
		for _, old := range o.ops {
			if old.Room == op.Room && old.Key == op.Key {
				return false, nil
			}
		}
	}
	o.ops = append(o.ops, op)
	return true, nil
}

// SendAndWait implements bridges.Sender: it records op and returns
// "$sent<N>", N its position among the recorded ops.
func (o *Outbox) SendAndWait(ctx context.Context, op intent.Op) (matrix.EventID, error) {
	if _, err := o.Send(ctx, op); err != nil {
		return "", err
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	return matrix.EventID(fmt.Sprintf("$sent%d", len(o.ops))), nil
}

// LatestKeyed implements bridges.Sender.
func (o *Outbox) LatestKeyed(ctx context.Context, room matrix.RoomID, prefix string) (intent.Op, bool, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for i := len(o.ops) - 1; i >= 0; i-- {
		if op := o.ops[i]; op.Room == room && op.Key != "" && strings.HasPrefix(op.Key, prefix) {
			return op, true, nil
		}
	}
	return intent.Op{}, false, nil
}

// HasKey implements bridges.Sender.
func (o *Outbox) HasKey(ctx context.Context, room matrix.RoomID, key string) (bool, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, op := range o.ops {
		if op.Room == room && op.Key == key {
			return true, nil
		}
	}
	return false, nil
}

// Ops returns the recorded ops, in order.
func (o *Outbox) Ops() []intent.Op {
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Clone(o.ops)
}

// Reset forgets the recorded ops.
func (o *Outbox) Reset() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.ops = nil
}
