package xmpp

import (
	"context"
	"encoding/json"
	"errors"

	"mellium.im/xmpp/jid"

	"github.com/causewaybridge/causeway/bridges"
	"github.com/causewaybridge/causeway/bridges/xmpp/address"
	"github.com/causewaybridge/causeway/bridges/xmpp/component"
	"github.com/causewaybridge/causeway/intent"
	"github.com/causewaybridge/causeway/matrix"
)

// Private messages in hosted rooms (XEP-0045 §7.5). An occupant's chat
// to <room JID>/<nick>:
//   - to a Matrix member's nick is posted by the occupant's puppet in its
//     direct chat with that member (dm.go's, opened or reopened as a chat
//     to the member's own JID would be), after a notice naming the room
//     whenever the chat's last private message came from elsewhere; the
//     member's replies there go back as private messages from its nick in
//     that room while both are still in it, else as chats from its JID;
//   - to another XMPP occupant's nick is relayed as XEP-0045 says, from
//     the sender's nick to every resource of the other (text only): both
//     are XMPP users, Matrix has nothing to carry;
//   - to a nick nobody has is item-not-found; from someone who is not
//     in the room, not-acceptable.
// A chat to the member's own JID ends the room context: replies then come
// from that JID again.

// pmKeyPrefix starts the KV key holding, per XMPP user and Matrix user,
// the room JID their direct chat's private messages last came through.
const pmKeyPrefix = "mucpm/"

func pmKey(real string, u matrix.UserID) string {
	return pmKeyPrefix + address.Escape(real) + "/" + address.Escape(string(u))
}

// pmRoute takes chat and normal messages to occupants of hosted rooms
// (room/nick), and notes chats to Matrix users' own JIDs (they end the
// room context of the direct chat; chatRoute then takes them).
func (g *gateway) pmRoute(st *component.Stanza, from, to jid.JID) bool {
	if u, ok := contactOf(to); ok {
		if body(st) != "" {
			real := from.Bare().String()
			g.push(dmLane(real, u), nil, func(ctx context.Context) { g.endPMContext(ctx, real, u) })
		}
		return false
	}
	if !isRoomJID(to) || to.Resourcepart() == "" {
		return false
	}
	if st.Attr("type") == "headline" {
		return true // RFC 6121 §8.5: no error for headlines
	}
	in := inboundOf(st)
	if in.text == "" {
		return true // chat states and the like: not bridged
	}
	roomJID := to.Bare()
	id, origin := st.Attr("id"), originID(st)
	refuse := func(typ, cond, text string) {
		g.enqueue(context.Background(), errorPresenceStanza("message", to.String(), from.String(), id, roomJID.String(), typ, cond, text))
	}
	g.push(roomJID.String(), func() { refuse("wait", "resource-constraint", "the room is busy; try again") },
		func(ctx context.Context) { g.privateMessage(ctx, from, to, id, origin, in) })
	return true
}

// privateMessage routes a private message of from to the occupant to
// (in the room's lane).
func (g *gateway) privateMessage(ctx context.Context, from, to jid.JID, id, origin string, in inbound) {
	roomJID, nick, real := to.Bare().String(), to.Resourcepart(), from.Bare().String()
	refuse := func(typ, cond, text string) {
		g.enqueue(ctx, errorPresenceStanza("message", to.String(), from.String(), id, roomJID, typ, cond, text))
	}
	r, o := g.occupantIn(from, roomJID)
	if o == nil {
		refuse("modify", "not-acceptable", "only occupants of this room may send private messages in it: join it first")
		return
	}
	g.mu.Lock()
	loaded, reader := r.loaded, o.Puppet
	g.mu.Unlock()
	if !loaded {
		if err := g.loadMembers(ctx, r, reader); err != nil {
			g.log.Warn("xmpp: could not read the room's members", "room", r.id, "err", err)
		}
	}
	g.mu.Lock()
	var target matrix.UserID
	for u, mb := range r.members {
		if mb.nick == nick {
			target = u
		}
	}
	var other *occupant
	for _, x := range r.occupants {
		if x.Nick == nick && !x.joining {
			other = x
		}
	}
	if other != nil {
		// Both XMPP: relayed as a MUC service does.
		for _, res := range other.Resources.all() {
			g.enqueue(ctx, privateStanza(nickJID(roomJID, o.Nick), res, id, in.text, nil))
		}
	}
	senderNick := o.Nick
	g.mu.Unlock()
	switch {
	case other != nil:
	case target == "":
		refuse("cancel", "item-not-found", "nobody in this room has this nickname")
	default:
		g.push(dmLane(real, target), func() { refuse("wait", "resource-constraint", "too many messages at once; send it again") },
			func(ctx context.Context) { g.pmSay(ctx, from, to, o.Puppet, senderNick, target, id, origin, in) })
	}
}

// occupantIn returns the room and occupant of from's resource joined
// through roomJID (nil when it is not in it).
func (g *gateway) occupantIn(from jid.JID, roomJID string) (*mucRoom, *occupant) {
	real := from.Bare().String()
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, r := range g.rooms {
		if o := r.occupants[real]; o != nil && o.RoomJID == roomJID && o.Resources.has(from.String()) {
			return r, o
		}
	}
	return nil, nil
}

// pmSay posts a private message of from (puppet p, nick senderNick in
// the room to names) to the Matrix user u in their direct chat, after a
// notice naming the room when the chat's context changes.
func (g *gateway) pmSay(ctx context.Context, from, to jid.JID, p matrix.UserID, senderNick string, u matrix.UserID, id, origin string, in inbound) {
	real, roomJID := from.Bare().String(), to.Bare().String()
	refuse := func(typ, cond, why string) {
		g.enqueue(ctx, errorPresenceStanza("message", to.String(), from.String(), id, roomJID, typ, cond, why))
	}
	room, err := g.dmRoom(ctx, real, u, p, senderNick)
	if err != nil {
		g.log.Warn("xmpp: could not open a direct chat for a private message", "xmpp_user", real, "matrix_user", u, "err", err)
		refuse("wait", "remote-server-timeout", "the Matrix homeserver did not open the chat; send it again")
		return
	}
	kv := g.m.host.KV()
	prev, err := kv.Get(ctx, pmKey(real, u))
	if err != nil && !errors.Is(err, bridges.ErrNotFound) {
		g.log.Warn("xmpp: could not read a private chat's room", "err", err)
	}
	if string(prev) != roomJID {
		g.pmNotice(ctx, room, p, senderNick, roomJID, id)
		if err := kv.Put(ctx, pmKey(real, u), []byte(roomJID)); err != nil {
			g.log.Warn("xmpp: could not store a private chat's room", "err", err)
		}
	}
	raw, err := json.Marshal(g.toMatrix(ctx, p, in))
	if err != nil {
		return
	}
	key := dmKey(real, u, id, origin)
	op := intent.Op{Kind: intent.OpMessage, Room: room, Sender: p, Type: matrix.EventMessage, Content: raw,
		Key: key, Link: &intent.Link{Module: ID, RemoteID: msgLinkID(room, real, id, origin, key)}} // as a chat's (dm.go)
	if _, err := g.m.host.Outbox().Send(ctx, op); err != nil {
		g.log.Warn("xmpp: could not queue a private message to Matrix", "room", room, "err", err)
		refuse("wait", "internal-server-error", "the message could not be bridged; send it again")
	}
}

// pmNotice tells the Matrix user, in the direct chat, which room the
// private messages that follow come through.
func (g *gateway) pmNotice(ctx context.Context, room matrix.RoomID, p matrix.UserID, nick, roomJID, id string) {
	name := roomJID
	if j, err := jid.Parse(roomJID); err == nil {
		if _, mx, err := address.Parse(j.Localpart()); err == nil {
			name = mx
		}
	}
	body := "Private messages from " + nick + " in " + name + " (from XMPP); your replies here reach them there."
	raw, err := json.Marshal(matrix.MessageContent{MsgType: matrix.MsgNotice, Body: body})
	if err != nil {
		return
	}
	op := intent.Op{Kind: intent.OpMessage, Room: room, Sender: p, Type: matrix.EventMessage, Content: raw,
		Key: "mucpm/notice/" + address.Escape(roomJID) + "/" + address.Escape(id)}
	if _, err := g.m.host.Outbox().Send(ctx, op); err != nil {
		g.log.Warn("xmpp: could not queue a private chat's notice", "room", room, "err", err)
	}
}

// endPMContext forgets the room the direct chat of real and u last had
// private messages through.
func (g *gateway) endPMContext(ctx context.Context, real string, u matrix.UserID) {
	if err := g.m.host.KV().Delete(ctx, pmKey(real, u)); err != nil && !errors.Is(err, bridges.ErrNotFound) {
		g.log.Warn("xmpp: could not forget a private chat's room", "err", err)
	}
}

// pmReply sends the Matrix user u's message in its direct chat with the
// XMPP user real as a private message from u's nick in the room their
// private messages last came through, when both are still in it, and
// reports whether it did.
func (g *gateway) pmReply(ctx context.Context, real string, u matrix.UserID, ev matrix.EventID, text string, extra []byte) bool {
	b, err := g.m.host.KV().Get(ctx, pmKey(real, u))
	if err != nil {
		return false
	}
	roomJID := string(b)
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, r := range g.rooms {
		o, mb := r.occupants[real], r.members[u]
		if o == nil || o.RoomJID != roomJID || mb == nil {
			continue
		}
		for _, res := range o.Resources.all() {
			g.deliver(ctx, o, privateStanza(nickJID(roomJID, mb.nick), res, string(ev), text, extra))
		}
		return true
	}
	return false
}

// mucUserEl is the empty muc#user element that marks a private message
// sent through a room (XEP-0045 §7.5).
const mucUserEl = `<x xmlns="` + nsMUCUser + `"></x>`

// privateStanza is a private chat message from an occupant (from is
// room@domain/nick) to a full JID, with extra payloads.
func privateStanza(from, to, id, text string, extra []byte) []byte {
	b := mustMarshal(groupchatMessage{From: from, To: to, ID: id, Type: "chat", Body: &text})
	return withPayload(withPayload(b, extra), []byte(mucUserEl))
}
