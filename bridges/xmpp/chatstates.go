package xmpp

import (
	"context"
	"encoding/xml"
	"time"

	"mellium.im/xmpp/jid"

	"github.com/causewaybridge/causeway/bridges"
	"github.com/causewaybridge/causeway/bridges/xmpp/component"
	"github.com/causewaybridge/causeway/matrix"
)

// XEP-0085 chat states ↔ Matrix typing notifications in hosted rooms.
//
// XMPP → Matrix: a groupchat <composing/> from an occupant makes its
// puppet type in the Matrix room for typingTimeout (renewed by a later
// <composing/> once half of it passed); <paused/>, <active/>,
// <inactive/> and <gone/> stop it, and so does a message with a body.
//
// Matrix → XMPP: the core hands the module the set of Matrix users
// typing in a portal (bridges.TypingHandler); a user who starts typing
// sends <composing/>, one who stops <active/>, from its occupant JID to
// every joined occupant, as a groupchat message without a body, with a
// no-store hint (XEP-0334) and its occupant-id. Only members the
// occupants were shown are told: a nick that never appeared does not
// start typing.

const (
	nsChatStates = "http://jabber.org/protocol/chatstates"
	nsHints      = "urn:xmpp:hints"
	// typingTimeout is how long a puppet types after a <composing/>.
	typingTimeout = 30 * time.Second
)

// chatState returns the XEP-0085 state a message carries ("" for none).
func chatState(st *component.Stanza) string {
	for _, c := range children(st) {
		if c.Start.Name.Space != nsChatStates {
			continue
		}
		switch c.Start.Name.Local {
		case "active", "composing", "paused", "inactive", "gone":
			return c.Start.Name.Local
		}
	}
	return ""
}

// typingState is what the gateway remembers of typing in both
// directions, under g.mu.
type typingState struct {
	// puppets: when each puppet (per room) last started typing.
	puppets map[typingKey]time.Time
	// matrix: the Matrix users typing in each room, as last told.
	matrix map[matrix.RoomID]map[matrix.UserID]bool
}

type typingKey struct {
	room   matrix.RoomID
	puppet matrix.UserID
}

// findOccupant returns the room and occupant whose joined resource from
// is in roomJID, or nils. Call with g.mu held.
func (g *gateway) findOccupant(from, roomJID jid.JID) (*mucRoom, *occupant) {
	real, bare := from.Bare().String(), roomJID.String()
	for _, r := range g.rooms {
		if o := r.occupants[real]; o != nil && o.RoomJID == bare && o.Resources.has(from.String()) && !o.joining {
			return r, o
		}
	}
	return nil, nil
}

// chatStateFromXMPP follows an occupant's chat state (state from
// chatState; a message with a body counts as active) with its puppet's
// typing. It runs in the room's lane.
func (g *gateway) chatStateFromXMPP(ctx context.Context, from, roomJID jid.JID, state string) {
	g.mu.Lock()
	r, o := g.findOccupant(from, roomJID)
	var room matrix.RoomID
	var p matrix.UserID
	if o != nil {
		room, p = r.id, o.Puppet
	}
	g.mu.Unlock()
	if o != nil {
		g.puppetTyping(ctx, room, p, state)
	}
}

// puppetTyping makes puppet p type in room, or stop, after an XMPP
// user's chat state, in a room or a 1:1 chat alike.
func (g *gateway) puppetTyping(ctx context.Context, room matrix.RoomID, p matrix.UserID, state string) {
	g.mu.Lock()
	k := typingKey{room: room, puppet: p}
	since, typing := g.typing.puppets[k]
	now := time.Now()
	start := state == "composing"
	switch {
	case start && typing && now.Sub(since) < typingTimeout/2:
		g.mu.Unlock()
		return // still typing
	case !start && !typing:
		g.mu.Unlock()
		return
	case start:
		if g.typing.puppets == nil {
			g.typing.puppets = map[typingKey]time.Time{}
		}
		g.typing.puppets[k] = now
	default:
		delete(g.typing.puppets, k)
	}
	g.mu.Unlock()
	if err := g.m.host.Matrix().Intent(p).SetTyping(ctx, room, start, typingTimeout); err != nil {
		g.log.Debug("xmpp: could not set a puppet's typing", "puppet", p, "room", room, "err", err)
	}
}

// HandleMatrixTyping implements bridges.TypingHandler: Matrix users who
// start or stop typing in a hosted room are shown to its occupants.
func (m *Module) HandleMatrixTyping(ctx context.Context, t *bridges.Typing) {
	if m.gw != nil && !m.gw.dmTypingFromMatrix(ctx, t.RoomID, t.UserIDs) { // 1:1 chats: dm_relations.go
		m.gw.typingFromMatrix(ctx, t.RoomID, t.UserIDs)
	}
	if m.rev != nil {
		m.rev.typingFromMatrix(ctx, t.RoomID, t.UserIDs) // reverse_in.go
	}
}

// typingFromMatrix sends the changes between the last set of Matrix
// users typing in room and users.
func (g *gateway) typingFromMatrix(ctx context.Context, room matrix.RoomID, users []matrix.UserID) {
	g.mu.Lock()
	defer g.mu.Unlock()
	r := g.rooms[room]
	if r == nil || len(r.occupants) == 0 {
		delete(g.typing.matrix, room)
		return
	}
	now := map[matrix.UserID]bool{}
	for _, u := range users {
		if g.matrixOccupant(u) {
			now[u] = true
		}
	}
	before := g.typing.matrix[room]
	for u := range now {
		if !before[u] {
			g.sendChatState(ctx, r, u, "composing")
		}
	}
	for u := range before {
		if !now[u] {
			g.sendChatState(ctx, r, u, "active")
		}
	}
	if g.typing.matrix == nil {
		g.typing.matrix = map[matrix.RoomID]map[matrix.UserID]bool{}
	}
	g.typing.matrix[room] = now
}

// sendChatState sends Matrix member u's chat state to every joined
// occupant of r, if the occupants were shown u. Call with g.mu held.
func (g *gateway) sendChatState(ctx context.Context, r *mucRoom, u matrix.UserID, state string) {
	mb := r.members[u]
	if mb == nil || !r.announced[u] {
		return
	}
	occID := g.occupantID(r.id, string(u))
	for _, o := range r.occupants {
		if o.joining {
			continue
		}
		for _, res := range o.Resources.all() {
			g.enqueue(ctx, chatStateStanza(nickJID(o.RoomJID, mb.nick), res, "groupchat", state, occID))
		}
	}
}

type emptyEl struct{ XMLName xml.Name }

// noStoreEl is the XEP-0334 hint that a message is not to be archived.
type noStoreEl struct {
	XMLName xml.Name `xml:"urn:xmpp:hints no-store"`
}

// ephemeralMessage is a body-less groupchat message: a chat state or a
// chat marker, not to be stored.
type ephemeralMessage struct {
	XMLName    xml.Name      `xml:"message"`
	From       string        `xml:"from,attr"`
	To         string        `xml:"to,attr"`
	Type       string        `xml:"type,attr"`
	State      *emptyEl      `xml:",omitempty"`
	Marker     *markerEl     `xml:",omitempty"`
	NoStore    noStoreEl     `xml:"no-store"`
	OccupantID *occupantIDEl `xml:"occupant-id,omitempty"`
}

// chatStateStanza is a chat state from room/nick to an occupant (typ
// "groupchat"), or from a Matrix user's JID to an XMPP user ("chat").
func chatStateStanza(from, to, typ, state, occupantID string) []byte {
	m := ephemeralMessage{From: from, To: to, Type: typ,
		State: &emptyEl{XMLName: xml.Name{Space: nsChatStates, Local: state}}}
	if occupantID != "" {
		m.OccupantID = &occupantIDEl{ID: occupantID}
	}
	return mustMarshal(m)
}

var _ bridges.TypingHandler = (*Module)(nil)

// ephemeral takes a groupchat message without a body: a chat state or a
// displayed marker of an occupant, handled in the room's lane (dropped
// when the lane is full: they are worth nothing later).
func (g *gateway) ephemeral(st *component.Stanza, from, roomJID jid.JID) {
	if state := chatState(st); state != "" {
		g.push(roomJID.String(), nil, func(ctx context.Context) { g.chatStateFromXMPP(ctx, from, roomJID, state) })
	}
	if id := displayedID(st); id != "" {
		g.push(roomJID.String(), nil, func(ctx context.Context) { g.displayedFromXMPP(ctx, from, roomJID, id) })
	}
}
