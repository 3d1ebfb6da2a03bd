// Package xmpp is Causeway's XMPP bridge module: an XEP-0114 external
// component (such as matrix.example.org) on an XMPP server, through which
// Matrix rooms appear as MUCs and Matrix users as JIDs.
//
// The module connects and stays connected (package component:
// reconnects, isolated remote input, ping and disco per JID, Matrix rooms
// answering disco as MUCs, a durable outbound queue), and hosts Matrix
// rooms as MUCs: XMPP users join them as puppets, text crosses both ways
// (gateway.go), joiners get the room's history and clients page its
// archive over MAM, both read from Matrix (history.go, mam.go,
// archive.go). Matrix users also enter existing MUCs on the XMPP
// network through portal rooms, each as their own occupant (reverse.go,
// reverse_in.go, reverse_client.go, reverse_mam.go). 1:1 chats and
// contacts are dm.go and roster.go; message relations, formatting, chat
// states, markers and avatars have a file each. docs/xmpp.md says what
// works and what does not yet.
package xmpp

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"mellium.im/xmpp/jid"

	"github.com/causewaybridge/causeway/bridges"
	"github.com/causewaybridge/causeway/bridges/xmpp/component"
	"github.com/causewaybridge/causeway/intent"
	"github.com/causewaybridge/causeway/matrix"
	"github.com/causewaybridge/causeway/puppet"
)

// ID is the module's ID and configuration section key.
const ID = "xmpp"

// Info registers the module.
var Info = bridges.Info{
	ID:          ID,
	Description: "XMPP as an XEP-0114 component: Matrix rooms as MUCs, Matrix users as JIDs, portals to existing MUCs",
	Network:     "XMPP",
	New:         func() bridges.Module { return New() },
}

func init() { bridges.Register(Info) }

// Module is the XMPP bridge module.
type Module struct {
	cfg    Config
	domain jid.JID
	users  *puppet.Namespace[matrix.UserID]
	hsURL  string
	conn   *component.Conn
	queue  *component.Queue
	host   bridges.Host
	gw     *gateway
	rooms  *rooms // what disco and pings know of Matrix rooms
	// aliases are the aliases of portals to existing MUCs (reverse.go).
	aliases *puppet.Namespace[matrix.RoomAlias]
	rev     *reverse
}

// New returns an unconfigured module.
func New() *Module { return &Module{cfg: DefaultConfig()} }

// Info implements bridges.Module.
func (m *Module) Info() bridges.Info { return Info }

// Configure implements bridges.Module: it decodes the section over
// [DefaultConfig] and validates it.
func (m *Module) Configure(env bridges.Env, sec bridges.Decoder) error {
	if err := sec.Decode(&m.cfg); err != nil {
		return err
	}
	if err := m.cfg.Validate(); err != nil {
		return err
	}
	m.domain = jid.MustParse(m.cfg.Domain) // checked by Validate
	m.hsURL = env.HomeserverURL
	var err error
	if m.users, err = puppet.NewUsers(m.cfg.UserTemplate, env.ServerName); err != nil {
		return fmt.Errorf("user_template: %w", err)
	}
	if m.aliases, err = puppet.NewAliases(m.cfg.AliasTemplate, env.ServerName); err != nil {
		return fmt.Errorf("alias_template: %w", err)
	}
	if ph := m.aliases.Template().Placeholders(); !slices.Contains(ph, "room") || !slices.Contains(ph, "service") || len(ph) != 2 {
		return fmt.Errorf("alias_template %q: want the placeholders {room} and {service}", m.cfg.AliasTemplate)
	}
	return nil
}

// Namespaces implements bridges.Module: the puppet users of XMPP people
// and the aliases of portals to existing MUCs.
func (m *Module) Namespaces() bridges.Namespaces {
	return bridges.Namespaces{UserRegexes: []string{m.users.Regex()}, AliasRegexes: []string{m.aliases.Regex()}}
}

// QueryAlias implements bridges.AliasQuerier: an alias of
// alias_template opens a portal to the existing MUC it names (reverse.go).
func (m *Module) QueryAlias(ctx context.Context, alias matrix.RoomAlias) (bool, error) {
	if m.rev == nil {
		return false, nil
	}
	return m.rev.queryAlias(ctx, alias)
}

// Start implements bridges.Module: it connects the component in the
// background; the connection retries until the module stops, so an XMPP
// server that is down does not keep the bridge from starting.
func (m *Module) Start(ctx context.Context, h bridges.Host) error {
	log := h.Logger()
	log.Info("xmpp: starting the component", "config", m.cfg)
	q, err := component.OpenQueue(ctx, h.KV(), 0)
	if err != nil {
		return err
	}
	if n := q.Len(); n > 0 {
		log.Info("xmpp: stanzas left from the last run will be sent", "count", n)
	}
	m.queue = q
	m.host = h
	if m.gw, err = newGateway(m, h); err != nil {
		return err
	}
	if err := m.gw.load(ctx); err != nil {
		return err
	}
	m.rooms = &rooms{mx: h.Matrix(), hs: m.hsURL, http: http.DefaultClient,
		hidden: func(room matrix.RoomID) bool { _, ok := m.gw.reversedMUC(room); return ok }}
	m.rev = newReverse(m, m.gw)
	m.conn = component.New(component.Options{
		Server:         m.cfg.Server,
		Domain:         m.domain,
		Secret:         m.cfg.Secret,
		MaxStanzaBytes: m.cfg.MaxStanzaBytes,
		ReconnectMax:   m.cfg.ReconnectMaxDelay,
		Logger:         log,
		Queue:          q,
		Rooms:          m.rooms,
		Gateway:        m.gw,
		OnSession: func(ctx context.Context) {
			m.rev.rejoin(ctx)     // reverse.go
			m.gw.checkGhosts(ctx) // ghostcheck.go
		},
	})
	if err := m.rev.load(ctx); err != nil {
		return err
	}
	h.Go(func(ctx context.Context) { _ = m.conn.Run(ctx) })
	return nil
}

// Stop implements bridges.Module. The connection ends with the context
// the core gave Host.Go, which it cancels before calling Stop.
func (m *Module) Stop(ctx context.Context) error {
	if m.gw != nil {
		m.gw.lanes.Stop()
	}
	return nil
}

// HandleMatrixEvent implements bridges.Module. A hosted room's new power
// levels change its occupants' roles (mucroles.go); other events without
// a typed handler are not bridged yet: they are accepted and dropped.
func (m *Module) HandleMatrixEvent(ctx context.Context, evt *matrix.Event) error {
	if m.gw != nil && evt.Type == matrix.EventPowerLevels && evt.StateKey != nil && *evt.StateKey == "" {
		m.gw.powerLevelsChanged(ctx, evt.RoomID, evt.Content)
	}
	return nil
}

// roomOf returns the Matrix room of one of the module's MUC portals.
func roomOf(p *bridges.Portal) (matrix.RoomID, bool) {
	if p == nil || !strings.HasPrefix(p.Key.ID, portalPrefix) {
		return "", false
	}
	return p.Room, true
}

// HandleMatrixMessage implements bridges.MessageHandler: text, notices
// and emotes ("/me ") of Matrix users go to the room's XMPP occupants.
// Other message types are not bridged yet. The core drops the events of
// the bridge's own puppets, so XMPP messages never come back.
func (m *Module) HandleMatrixMessage(ctx context.Context, msg *bridges.Message) error {
	if rp := m.reversePortal(msg.Portal); rp != nil && !m.users.Owns(msg.Event.Sender) {
		if msg.ReplyTo != "" {
			m.rev.replyFromMatrix(ctx, rp, msg) // reverse_relations.go
			return nil
		}
		if text, extra, ok := m.gw.outgoing(&msg.Content, ""); ok { // formatting, files (content.go)
			m.rev.fromMatrix(ctx, rp, msg.Event.Sender, msg.Event.ID, text, extra)
		}
		return nil
	}
	if m.gw == nil || m.users.Owns(msg.Event.Sender) {
		return nil
	}
	room, ok := roomOf(msg.Portal)
	dm := msg.Portal != nil && strings.HasPrefix(msg.Portal.Key.ID, dmPrefix)
	if !ok && !dm {
		return nil
	}
	if dm && msg.ReplyTo != "" {
		m.gw.dmReplyFromMatrix(ctx, msg) // dm_relations.go
		return nil
	}
	if dm {
		if text, extra, ok := m.gw.outgoing(&msg.Content, ""); ok { // formatting, files (content.go)
			m.gw.dmFromMatrix(ctx, msg.Portal, msg.Event.Sender, msg.Event.ID, text, extra)
		}
		return nil
	}
	if msg.ReplyTo != "" {
		m.gw.replyFromMatrix(ctx, room, msg) // relations_matrix.go
		return nil
	}
	// As history on join and MAM show it too (shown.go).
	out, ok := m.gw.shownOf(msg.Content, "", nil)
	if !ok {
		return nil
	}
	m.gw.fromMatrixAt(ctx, room, msg.Event.Sender, msg.Event.ID, eventTime(msg.Event.OriginServerTS), *out.Body, out.Extra)
	return nil
}

// eventTime is an origin_server_ts as a time; zero when it is 0.
func eventTime(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms)
}

// HandleMatrixMembership implements bridges.MembershipHandler: Matrix
// users joining, leaving or renamed in a hosted room appear to its XMPP
// occupants; a puppet kicked or banned by a Matrix user leaves the MUC;
// a puppet invited into a direct chat joins it (dm.go).
func (m *Module) HandleMatrixMembership(ctx context.Context, mb *bridges.Membership) error {
	if rp := m.reversePortal(mb.Portal); rp != nil {
		m.rev.membership(ctx, rp, mb.Target, mb.Content)
		return nil
	}
	if m.gw == nil {
		return nil
	}
	if mb.Content.Membership == "invite" && mb.Content.IsDirect && m.users.Owns(mb.Target) &&
		(mb.Portal == nil || strings.HasPrefix(mb.Portal.Key.ID, dmPrefix)) {
		m.gw.invitedToDM(mb.Event.RoomID, mb.Target, mb.Event.Sender)
		return nil
	}
	room, ok := roomOf(mb.Portal)
	if !ok {
		return nil
	}
	var sender matrix.UserID
	if mb.Event != nil {
		sender = mb.Event.Sender
	}
	if m.users.Owns(mb.Target) {
		if mb.Content.Membership == "leave" || mb.Content.Membership == "ban" {
			m.gw.kicked(ctx, room, mb.Target, sender, mb.Content) // mucadmin.go
		}
		return nil
	}
	if m.gw.memberRemoved(ctx, room, mb.Target, sender, mb.Content) {
		return nil // a kick or ban (mucadmin.go)
	}
	m.gw.membership(ctx, room, mb.Target, mb.Content)
	m.gw.memberAvatarChanged(mb.Target, mb.Content)
	return nil
}

// OnOutboxSent implements bridges.SentListener: a groupchat message from
// XMPP now has its Matrix event, and goes back to every occupant with
// the event ID as its stanza-id.
func (m *Module) OnOutboxSent(ctx context.Context, op intent.Op, ev matrix.EventID) {
	switch {
	case m.gw == nil:
	case strings.HasPrefix(op.Key, revKeyPrefix) && m.rev != nil:
		m.rev.sent(ctx, op, ev) // reverse.go
	case strings.HasPrefix(op.Key, relKeyPrefix):
		m.gw.relatedSent(ctx, op, ev)
	case op.Kind == intent.OpMessage && strings.HasPrefix(op.Key, sentKeyPrefix):
		m.gw.plainSent(ctx, op, ev)
		m.gw.reflect(ctx, op, ev)
	case op.Kind == intent.OpMessage && strings.HasPrefix(op.Key, dmKeyPrefix):
		m.gw.dmSent(ctx, op, ev) // dm.go
	}
}

// OnOutboxFailed implements bridges.FailureListener: the sender of a
// groupchat message or chat Matrix refused for good gets an error.
func (m *Module) OnOutboxFailed(ctx context.Context, op intent.Op, err error) {
	switch {
	case m.gw == nil:
	case strings.HasPrefix(op.Key, relKeyPrefix):
		m.gw.relatedFailed(ctx, op)
	case op.Kind != intent.OpMessage:
	case strings.HasPrefix(op.Key, sentKeyPrefix):
		m.gw.failed(ctx, op)
	case strings.HasPrefix(op.Key, dmKeyPrefix):
		m.gw.dmFailed(ctx, op)
	}
}

// reversePortal returns the reverse portal p is, or nil.
func (m *Module) reversePortal(p *bridges.Portal) *revPortal {
	if m.rev == nil {
		return nil
	}
	return m.rev.portal(p)
}

var (
	_ bridges.AliasQuerier      = (*Module)(nil)
	_ bridges.FailureListener   = (*Module)(nil)
	_ bridges.Module            = (*Module)(nil)
	_ bridges.MessageHandler    = (*Module)(nil)
	_ bridges.MembershipHandler = (*Module)(nil)
	_ bridges.SentListener      = (*Module)(nil)
)
