package xmpp

import (
	"context"
	"encoding/xml"
	"errors"

	"mellium.im/xmpp/jid"

	"github.com/causewaybridge/causeway/bridges/xmpp/address"
	"github.com/causewaybridge/causeway/bridges/xmpp/component"
)

// XEP-0199 pings to a room's JIDs, answered by the room itself (XEP-0410
// MUC self-ping, with the server optimisation: the ping is never
// forwarded to a client). A client pings its own occupant JID to learn
// whether it is still joined: a result says it is, not-acceptable that
// it is not (it must join again), item-not-found that it is joined but
// the nick it pinged is nobody's. A ping to the bare room JID is
// answered with a result when the room exists. Answering a joined
// client with an error makes it leave and rejoin in a loop
// (matrix-bifrost #93), so the answer comes from the gateway's state,
// never from a guess.

const nsPing = "urn:xmpp:ping"

// routePing takes the pings to room JIDs and occupant JIDs.
func (g *gateway) routePing(st *component.Stanza, from, to jid.JID) bool {
	p := st.Payloads()
	if len(p) != 1 || p[0].Name.Space != nsPing || p[0].Name.Local != "ping" || !isRoomJID(to) {
		return false
	}
	if st.Attr("type") != "get" {
		g.enqueue(context.Background(), iqErrorStanza(st, to, "modify", "bad-request", "ping is an IQ get"))
		return true
	}
	if to.Resourcepart() == "" {
		_, id, _ := address.Parse(to.Localpart())
		g.push(to.String(), func() {
			g.enqueue(context.Background(), iqErrorStanza(st, to, "wait", "resource-constraint", "the room is busy; try again"))
		}, func(ctx context.Context) { g.enqueue(ctx, g.roomPing(ctx, st, to, id)) })
		return true
	}
	if cond := g.selfPing(from, to); cond != "" {
		g.enqueue(context.Background(), iqErrorStanza(st, to, "cancel", cond, ""))
		return true
	}
	g.enqueue(context.Background(), iqResultStanza(st, to, nil))
	return true
}

// selfPing returns the answer to a ping from from to the occupant JID
// to: "" (a result) when from is a joined resource of an occupant of
// that room and the nick is an occupant's, else the error condition.
func (g *gateway) selfPing(from, to jid.JID) (cond string) {
	real, roomJID, nick := from.Bare().String(), to.Bare().String(), to.Resourcepart()
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, r := range g.rooms {
		o := r.occupants[real]
		if o == nil || o.RoomJID != roomJID {
			continue
		}
		if !o.Resources.has(from.String()) || o.joining {
			return "not-acceptable"
		}
		if o.Nick == nick || r.nickTaken(nick, real) != "" {
			return ""
		}
		return "item-not-found"
	}
	return "not-acceptable"
}

// roomPing answers a ping to the bare JID of room id (alias or ID).
func (g *gateway) roomPing(ctx context.Context, st *component.Stanza, to jid.JID, id string) []byte {
	if g.m.rooms == nil {
		return iqErrorStanza(st, to, "cancel", "item-not-found", "")
	}
	_, err := g.m.rooms.Room(ctx, id)
	switch {
	case err == nil:
		return iqResultStanza(st, to, nil)
	case errors.Is(err, component.ErrNoRoom):
		return iqErrorStanza(st, to, "cancel", "item-not-found", "no such Matrix room")
	}
	g.log.Warn("xmpp: could not look up a pinged room", "room_jid", to.String(), "err", err)
	return iqErrorStanza(st, to, "wait", "remote-server-timeout", "the Matrix homeserver did not answer")
}

// isRoomJID reports whether j is the JID of a Matrix room alias or room
// ID (with or without a nick).
func isRoomJID(j jid.JID) bool {
	if j.Localpart() == "" {
		return false
	}
	kind, _, err := address.Parse(j.Localpart())
	return err == nil && (kind == address.Alias || kind == address.RoomID)
}

// iqResultStanza answers the IQ st, sent to to, with a result carrying
// payload (raw XML, may be nil).
func iqResultStanza(st *component.Stanza, to jid.JID, payload []byte) []byte {
	return mustMarshal(iqStanza{From: to.String(), To: st.Attr("from"), ID: st.Attr("id"), Type: "result", Inner: payload})
}

// iqErrorStanza answers the IQ st, sent to to, with an error.
func iqErrorStanza(st *component.Stanza, to jid.JID, typ, cond, text string) []byte {
	return errorPresenceStanza("iq", to.String(), st.Attr("from"), st.Attr("id"), "", typ, cond, text)
}

type iqStanza struct {
	XMLName xml.Name `xml:"iq"`
	From    string   `xml:"from,attr"`
	To      string   `xml:"to,attr"`
	ID      string   `xml:"id,attr,omitempty"`
	Type    string   `xml:"type,attr"`
	Inner   []byte   `xml:",innerxml"`
}
