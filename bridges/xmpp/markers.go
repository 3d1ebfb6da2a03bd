package xmpp

import (
	"context"
	"encoding/xml"
	"strings"

	"mellium.im/xmpp/jid"

	"github.com/causewaybridge/causeway/bridges"
	"github.com/causewaybridge/causeway/bridges/xmpp/component"
	"github.com/causewaybridge/causeway/intent"
	"github.com/causewaybridge/causeway/matrix"
)

// XEP-0333 chat markers ↔ Matrix read receipts in hosted rooms.
//
// Every message the room sends with a body is <markable/>. Its stanza-id
// (XEP-0359) is its Matrix event ID, and so is the id of a message from
// Matrix.
//
// XMPP → Matrix: <displayed id=…/> from an occupant becomes its puppet's
// read receipt (m.read) on the event the id names: an event ID (the
// stanza-id, as XEP-0333 asks in groupchat, or the id of a message from
// Matrix), or the id or origin-id of one of the last recentIDs messages
// an XMPP occupant sent in the room (kept in memory: after a restart
// only event IDs work). Other markers (received, acknowledged) and
// unknown ids are dropped.
//
// Matrix → XMPP: a Matrix member's read receipt (bridges.ReceiptHandler)
// becomes <displayed id=event ID/> from its occupant JID to every joined
// occupant, with a no-store hint and its occupant-id, when the
// occupants were shown that member.

const (
	nsChatMarkers = "urn:xmpp:chat-markers:0"
	// recentIDs bounds the XMPP ids remembered per room for markers.
	recentIDs = 256
)

// displayedID returns the id of a message's <displayed/> marker, or "".
func displayedID(st *component.Stanza) string {
	if c, ok := find(st, nsChatMarkers, "displayed"); ok {
		return attr(c.Start, "id")
	}
	return ""
}

// recentMessages maps the ids XMPP clients gave their last messages in a
// room to the messages' events, bounded (oldest forgotten first).
type recentMessages struct {
	ids   map[string]matrix.EventID
	order []string
}

// remember links id (and origin, when set) to ev.
func (m *recentMessages) remember(ev matrix.EventID, ids ...string) {
	if m.ids == nil {
		m.ids = map[string]matrix.EventID{}
	}
	for _, id := range ids {
		if id == "" {
			continue
		}
		if _, ok := m.ids[id]; !ok {
			m.order = append(m.order, id)
		}
		m.ids[id] = ev
	}
	for len(m.order) > recentIDs {
		delete(m.ids, m.order[0])
		m.order = m.order[1:]
	}
}

// rememberSent keeps the ids of an XMPP occupant's message now Matrix
// event ev, for markers. Call with g.mu held.
func (g *gateway) rememberSent(room matrix.RoomID, ev matrix.EventID, id, origin string) {
	if g.recent == nil {
		g.recent = map[matrix.RoomID]*recentMessages{}
	}
	rm := g.recent[room]
	if rm == nil {
		rm = &recentMessages{}
		g.recent[room] = rm
	}
	rm.remember(ev, id, origin)
}

// displayedFromXMPP sends the read receipt of an occupant's displayed
// marker with id. It runs in the room's lane.
func (g *gateway) displayedFromXMPP(ctx context.Context, from, roomJID jid.JID, id string) {
	g.mu.Lock()
	r, o := g.findOccupant(from, roomJID)
	var room matrix.RoomID
	var p matrix.UserID
	if o != nil {
		room, p = r.id, o.Puppet
	}
	g.mu.Unlock()
	if o != nil {
		g.puppetRead(ctx, room, p, id)
	}
}

// puppetRead sends puppet p's read receipt in room for the message a
// displayed marker's id names (an event ID, or the id of a recent
// message from XMPP), in a room or a 1:1 chat alike.
func (g *gateway) puppetRead(ctx context.Context, room matrix.RoomID, p matrix.UserID, id string) {
	var ev matrix.EventID
	g.mu.Lock()
	if strings.HasPrefix(id, "$") {
		ev = matrix.EventID(id)
	} else if rm := g.recent[room]; rm != nil {
		ev = rm.ids[id]
	}
	g.mu.Unlock()
	if ev == "" {
		return
	}
	if err := g.m.host.Matrix().Intent(p).SendReceipt(ctx, room, ev, intent.ReceiptRead); err != nil {
		g.log.Debug("xmpp: could not send a puppet's read receipt", "puppet", p, "room", room, "err", err)
	}
}

// HandleMatrixReceipt implements bridges.ReceiptHandler: a Matrix
// member's read receipt in a hosted room is a displayed marker.
func (m *Module) HandleMatrixReceipt(ctx context.Context, rc *bridges.Receipt) {
	if m.gw == nil || !m.gw.matrixOccupant(rc.UserID) {
		return
	}
	if m.rev != nil && m.rev.receipt(ctx, rc) { // reverse portals: reverse_markers.go
		return
	}
	g := m.gw
	if g.dmReceipt(ctx, rc) { // 1:1 chats: dm_relations.go
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	r := g.rooms[rc.RoomID]
	if r == nil {
		return
	}
	mb := r.members[rc.UserID]
	if mb == nil || !r.announced[rc.UserID] {
		return
	}
	occID := g.occupantID(r.id, string(rc.UserID))
	for _, o := range r.occupants {
		if o.joining {
			continue
		}
		for _, res := range o.Resources.all() {
			g.enqueue(ctx, displayedStanza(nickJID(o.RoomJID, mb.nick), res, "groupchat", string(rc.EventID), occID))
		}
	}
}

// markerEl is a chat marker (displayed) naming the message it marks.
type markerEl struct {
	XMLName xml.Name
	ID      string `xml:"id,attr"`
}

// markableEl marks a message as one whose reading may be told.
type markableEl struct {
	XMLName xml.Name `xml:"urn:xmpp:chat-markers:0 markable"`
}

// displayedStanza is a displayed marker for message id from room/nick to
// an occupant (typ "groupchat"), or from a Matrix user's JID to an XMPP
// user ("chat").
func displayedStanza(from, to, typ, id, occupantID string) []byte {
	m := ephemeralMessage{From: from, To: to, Type: typ,
		Marker: &markerEl{XMLName: xml.Name{Space: nsChatMarkers, Local: "displayed"}, ID: id}}
	if occupantID != "" {
		m.OccupantID = &occupantIDEl{ID: occupantID}
	}
	return mustMarshal(m)
}

var _ bridges.ReceiptHandler = (*Module)(nil)
