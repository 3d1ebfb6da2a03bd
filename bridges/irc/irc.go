// Package irc is Causeway's IRC bridge module: IRC channels become Matrix
// rooms ("portals"), IRC users become Matrix puppets, and every Matrix user
// in a bridged room gets an IRC connection of their own.
//
// Structure:
//   - one [network] per configured IRC network, with the bot's connection
//     (it joins every bridged channel and is the single reader of channel
//     traffic, so a message seen by a thousand puppet connections is
//     bridged once) and the Matrix users' connections ([userConn]);
//   - channel state (members, modes, topic) is kept once per network in a
//     netstate.Network shared by all connections, never per connection;
//   - IRC→Matrix sends go through the core's durable outbox, keyed by the
//     IRC msgid (or a hash of the line), in per-room order;
//   - Matrix→IRC sends run on the core's per-room ordered inbox workers and
//     wait for the server's echo (echo-message / labeled-response) before
//     the message counts as delivered; failures are reported to the sender.
package irc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"

	"github.com/causewaybridge/causeway/bridges"
	"github.com/causewaybridge/causeway/bridges/irc/identd"
	"github.com/causewaybridge/causeway/bridges/irc/secret"
	"github.com/causewaybridge/causeway/bridges/kit/mark"
	"github.com/causewaybridge/causeway/intent"
	"github.com/causewaybridge/causeway/matrix"
)

// ID is the module's ID and configuration section name.
const ID = "irc"

func init() { bridges.Register(Info) }

// Info registers the module.
var Info = bridges.Info{
	ID:          ID,
	Description: "IRC networks: channels ↔ rooms, one IRC connection per Matrix user",
	Network:     "IRC",
	New:         func() bridges.Module { return New() },
}

// Module is the IRC bridge module.
type Module struct {
	cfg      Config
	env      bridges.Env
	networks map[string]*network
	order    []string // network IDs, sorted
	box      *secret.Box
	ident    *identd.Server
	// x is the state of edits, the grace window and presence (hold.go).
	x extras

	log    *slog.Logger
	host   bridges.Host
	client *intent.Client
	outbox bridges.Sender
	// portals, links and kv are the module's own tables (Host.Portals,
	// Host.Links, Host.KV).
	portals bridges.Portals
	links   bridges.Links
	kv      bridges.KV
	// members reads the memberships the Matrix client recorded; the
	// contract has nothing for it yet, so it is Host.Store.
	members membershipReader

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	// goHost is the core's Host.Go, set by Start; unit tests that build a
	// Module without Start leave it nil (see goTracked).
	goHost func(f func(ctx context.Context))
}

// New returns an unconfigured module.
func New() *Module { return &Module{networks: map[string]*network{}} }

// Info implements bridges.Module.
func (m *Module) Info() bridges.Info { return Info }

// Configure implements bridges.Module.
func (m *Module) Configure(env bridges.Env, sec bridges.Decoder) error {
	if err := sec.Decode(&m.cfg); err != nil {
		return err
	}
	if err := m.cfg.Validate(); err != nil {
		return err
	}
	m.env = env
	if m.cfg.PasswordKey.IsSet() {
		keys := []secret.Key{}
		for _, k := range append([]secret.Redacted{m.cfg.PasswordKey}, m.cfg.OldPasswordKeys...) {
			key, err := secret.ParseKey(k.Reveal())
			if err != nil {
				return fmt.Errorf("password_key: %w", err)
			}
			keys = append(keys, key)
		}
		box, err := secret.New(keys...)
		if err != nil {
			return fmt.Errorf("password_key: %w", err)
		}
		m.box = box
	}
	for id, nc := range m.cfg.Networks {
		n, err := newNetwork(m, id, nc)
		if err != nil {
			return fmt.Errorf("networks.%s: %w", id, err)
		}
		m.networks[id] = n
		m.order = append(m.order, id)
	}
	sort.Strings(m.order)
	return nil
}

// Namespaces implements bridges.Module: one user and one alias namespace
// per network.
func (m *Module) Namespaces() bridges.Namespaces {
	ns := bridges.Namespaces{Protocols: []string{ID}}
	for _, id := range m.order {
		n := m.networks[id]
		ns.UserRegexes = append(ns.UserRegexes, n.users.Regex())
		ns.AliasRegexes = append(ns.AliasRegexes, n.aliases.Regex())
	}
	return ns
}

// Start implements bridges.Module: it connects every network's bot,
// rejoins the channels of existing portals and, in the background,
// reconnects the Matrix users who were connected before.
func (m *Module) Start(ctx context.Context, h bridges.Host) error {
	m.host, m.log, m.client, m.outbox = h, h.Logger(), h.Matrix(), h.Outbox()
	m.portals, m.links, m.kv = h.Portals(), h.Links(), h.KV()
	m.members = h.Matrix()
	m.ctx, m.cancel = context.WithCancel(context.WithoutCancel(ctx))
	m.goHost = h.Go
	for _, id := range m.order {
		m.networks[id].marks = mark.New(mark.Options{KV: m.kv, Prefix: marksPrefix(id), Spawn: h.Go, Logger: m.log})
	}
	if m.cfg.PublicMediaURL != "" {
		m.log.Warn("irc.public_media_url is deprecated: set homeserver.public_url instead (it still overrides it for IRC media links)",
			"public_media_url", m.cfg.PublicMediaURL)
	}
	if err := m.startIdentd(m.ctx); err != nil {
		return err
	}
	portals, err := m.portals.All(ctx)
	if err != nil {
		return fmt.Errorf("load portals: %w", err)
	}
	for _, p := range portals {
		key, err := parsePortalKey(p.Key.ID)
		if err != nil {
			m.log.Warn("ignoring unreadable portal", "remote_id", p.Key.ID, "err", err)
			continue
		}
		if n := m.networks[key.network]; n != nil && key.kind == "chan" { // DMs are found by their key, not joined
			n.addPortal(key.target, p.Room, p.Meta)
		}
	}
	if err := m.restoreHeld(ctx); err != nil { // hold_store.go: before any new event
		return err
	}
	for _, id := range m.order {
		n := m.networks[id]
		m.wg.Go(func() { n.runBot(m.ctx) })
		m.wg.Go(func() { n.runIdleJanitor(m.ctx) })
	}
	m.restoreConnections() // identity_store.go: users connected before the restart, in the background
	return nil
}

// Stop implements bridges.Module: every connection quits.
func (m *Module) Stop(ctx context.Context) error {
	if m.cancel == nil {
		return nil
	}
	if err := m.flushHeld(ctx); err != nil { // hold_store.go: send what the edit grace window holds
		m.log.Warn("messages held for edits not all sent before stopping", "err", err)
	}
	m.cancel()
	for _, id := range m.order {
		if b := m.networks[id].marks; b != nil {
			b.Close(ctx)
		}
	}
	for _, id := range m.order {
		m.networks[id].closeAll("Causeway bridge shutting down")
	}
	if m.ident != nil {
		if err := m.ident.Stop(ctx); err != nil {
			m.log.Warn("ident server did not stop cleanly", "err", err)
		}
	}
	done := make(chan struct{})
	go func() { m.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("irc: stop: %w", ctx.Err())
	}
}

// goTracked runs f in the background as work that stopping waits for:
// through the host's Go (the core waits for it after Stop, before closing
// the store) when the core started the module, or on m.wg with m.ctx, which
// Stop waits for, in unit tests that build a Module without Start.
func (m *Module) goTracked(f func(ctx context.Context)) {
	if m.goHost != nil {
		m.goHost(f)
		return
	}
	ctx := m.ctx
	m.wg.Go(func() { f(ctx) })
}

// networkForUser returns the network whose namespace holds a puppet ID.
func (m *Module) networkForUser(id matrix.UserID) *network {
	for _, nid := range m.order {
		if n := m.networks[nid]; n.users.Owns(id) {
			return n
		}
	}
	return nil
}

// errNoNetwork is returned for IDs and aliases outside every network.
var errNoNetwork = errors.New("irc: no such network")

var _ bridges.Module = (*Module)(nil)
