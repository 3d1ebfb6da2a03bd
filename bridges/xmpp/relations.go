package xmpp

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"mellium.im/xmpp/jid"

	"github.com/causewaybridge/causeway/bridges"
	"github.com/causewaybridge/causeway/bridges/xmpp/address"
	"github.com/causewaybridge/causeway/bridges/xmpp/component"
	"github.com/causewaybridge/causeway/intent"
	"github.com/causewaybridge/causeway/matrix"
)

// Messages that relate to others, from XMPP to Matrix (issue 10 §3):
// XEP-0308 corrections become m.replace edits, XEP-0424 retractions and
// XEP-0425 moderation redactions, XEP-0444 reaction sets m.reaction
// annotations (added and redacted to match), XEP-0461 replies
// m.in_reply_to with the XMPP fallback quote cut out.
//
// The message a stanza refers to is found by its id: an XMPP user's own
// message by the id or origin-id its client gave it (a message link
// keyed by msgRemoteID, stored with the message), any message by the
// stanza-id the room gave it, which is its Matrix event ID.
//
// Ops queued for these carry keys under relKeyPrefix; what the room
// reflects to the occupants once Matrix has the event is stored in the
// module's KV (reflKeyPrefix) until then.

const (
	// relKeyPrefix starts the outbox key of an op made from a related
	// message (see relKey).
	relKeyPrefix = "r/"
	// reflKeyPrefix + an op's key holds the reflection of its stanza.
	reflKeyPrefix = "muc/refl/"
	// msgLinkPrefix starts the remote ID of an XMPP message's link.
	msgLinkPrefix = "x/"
	// waitMatrix bounds how long a room lane waits for Matrix to take
	// an op whose event ID it needs at once (a reaction it may have to
	// redact next, a moderation it answers).
	waitMatrix = 20 * time.Second
)

// msgRemoteID is the remote ID of an XMPP occupant's message in its
// link: the room, the author's bare JID and the id (or origin-id) its
// client gave it, escaped.
func msgRemoteID(room matrix.RoomID, real, id string) string {
	return msgLinkPrefix + address.Escape(string(room)) + "/" + address.Escape(real) + "/" + address.Escape(id)
}

// parseMsgRemoteID returns the author of a message link's remote ID.
func parseMsgRemoteID(s string) (real string, ok bool) {
	real, _, ok = parseMsgLink(s)
	return real, ok
}

// parseMsgLink returns the author of a message link's remote ID and the
// id (or origin-id) its client gave the message.
func parseMsgLink(s string) (real, id string, ok bool) {
	parts := strings.Split(strings.TrimPrefix(s, msgLinkPrefix), "/")
	if !strings.HasPrefix(s, msgLinkPrefix) || len(parts) != 3 {
		return "", "", false
	}
	real, err := address.Unescape(parts[1])
	if err != nil {
		return "", "", false
	}
	id, err = address.Unescape(parts[2])
	return real, id, err == nil
}

// msgLinkID is the remote ID a message is linked by: its origin-id,
// else its id; key (random) without either.
func msgLinkID(room matrix.RoomID, real, id, origin, key string) string {
	switch {
	case origin != "":
		return msgRemoteID(room, real, origin)
	case id != "":
		return msgRemoteID(room, real, id)
	}
	return key
}

// actor is an occupant sending a stanza to its room, or an XMPP user
// chatting to a Matrix user (dm set): then room is their direct chat
// and roomJID the Matrix user's bare JID, which the stanza went to and
// errors come from.
type actor struct {
	room       matrix.RoomID
	roomJID    string
	from       jid.JID
	real, nick string
	puppet     matrix.UserID
	id, origin string
	// dm is the Matrix user of a 1:1 chat ("" in a room).
	dm matrix.UserID
}

// relKey is the outbox key of an op made from the stanza of s; what
// says which op of the stanza it is ("replace", "react/👍"...).
func relKey(s actor, what string) string {
	return relKeyPrefix + address.Escape(s.real) + "/" + address.Escape(s.roomJID) + "/" + address.Escape(s.id) + "/" +
		address.Escape(s.origin) + "/" + what
}

// occupantOf returns the occupant of roomJID that the resource from is.
func (g *gateway) occupantOf(from, roomJID jid.JID) (actor, bool) {
	real := from.Bare().String()
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, r := range g.rooms {
		if o := r.occupants[real]; o != nil && o.RoomJID == roomJID.String() && o.Resources.has(from.String()) {
			return actor{room: r.id, roomJID: o.RoomJID, from: from, real: real, nick: o.Nick, puppet: o.Puppet}, true
		}
	}
	return actor{}, false
}

// relate takes a groupchat message that corrects, retracts, reacts to
// or replies to another into the room's lane and returns true; other
// messages it leaves (false).
func (g *gateway) relate(st *component.Stanza, from, roomJID jid.JID) bool {
	ext := parseExt(st.Inner)
	if !ext.related() {
		return false
	}
	id, origin, text := st.Attr("id"), originID(st), body(st)
	if id == "" && origin == "" {
		id = randomID() // keys of its ops must not collide with another stanza's
	}
	if chatState(st) != "" {
		g.push(roomJID.String(), nil, func(ctx context.Context) { g.chatStateFromXMPP(ctx, from, roomJID, "active") })
	}
	g.push(roomJID.String(), func() {
		g.enqueue(context.Background(), errorPresenceStanza("message", roomJID.String(), from.String(), id,
			roomJID.String(), "wait", "resource-constraint", "the room is busy; try again"))
	}, func(ctx context.Context) {
		s, ok := g.occupantOf(from, roomJID)
		if !ok {
			g.enqueue(ctx, errorPresenceStanza("message", roomJID.String(), from.String(), id, roomJID.String(),
				"modify", "not-acceptable", "you are not in this room: join it first"))
			return
		}
		s.id, s.origin = id, origin
		g.applyRelation(ctx, s, ext, text)
	})
	return true
}

// applyRelation sends what a stanza of s that relates to another
// message does (ext: parseExt; text its body) to Matrix, in a room or a
// 1:1 chat alike. It runs in the conversation's lane.
func (g *gateway) applyRelation(ctx context.Context, s actor, ext msgExt, text string) {
	switch {
	case ext.Retract != "":
		g.retract(ctx, s, ext.Retract)
	case ext.HasReactions:
		g.react(ctx, s, ext)
	case ext.Replace != "":
		g.correct(ctx, s, ext, text)
	default:
		g.reply(ctx, s, ext, text)
	}
}

// target is a Matrix event an XMPP stanza refers to, and its sender.
type target struct {
	event  matrix.EventID
	author matrix.UserID
}

// resolveTarget finds the event that id names in s's room: a message of
// s (or of the XMPP user authorReal) by the id its client gave it, else
// an event by its ID (the stanza-id the room gave it), if it is a
// message in the room.
func (g *gateway) resolveTarget(ctx context.Context, s actor, id, authorReal string) (target, bool) {
	if id == "" {
		return target{}, false
	}
	links := g.m.host.Links()
	for _, real := range []string{s.real, authorReal} {
		if real == "" {
			continue
		}
		l, err := links.ByRemote(ctx, bridges.MessageID{ID: msgRemoteID(s.room, real, id)})
		if err == nil && l.Room == s.room {
			p, err := g.puppetOf(real)
			if err == nil {
				return target{event: l.Event, author: p}, true
			}
		}
	}
	if ev, ok := g.pendingTarget(ctx, s, id); ok {
		return target{event: ev, author: s.puppet}, true
	}
	if !strings.HasPrefix(id, "$") {
		return target{}, false
	}
	if l, err := links.ByEvent(ctx, matrix.EventID(id)); err == nil && l.Room == s.room {
		if real, ok := parseMsgRemoteID(l.Remote.ID); ok {
			if p, err := g.puppetOf(real); err == nil {
				return target{event: l.Event, author: p}, true
			}
		}
	}
	var ev matrix.Event
	if err := g.m.host.Matrix().Intent(s.puppet).EventContent(ctx, s.room, matrix.EventID(id), &ev); err != nil {
		g.log.Debug("xmpp: a stanza refers to an unknown event", "room", s.room, "id", id, "err", err)
		return target{}, false
	}
	if ev.StateKey != nil || ev.Type == matrix.EventReaction || ev.Type == matrix.EventRedaction || ev.Sender == "" {
		return target{}, false
	}
	return target{event: matrix.EventID(id), author: ev.Sender}, true
}

// pendingTarget finds s's message with id among the ops still on their
// way to Matrix (a correction can follow its message faster than the
// homeserver takes it) and waits for its event.
func (g *gateway) pendingTarget(ctx context.Context, s actor, id string) (matrix.EventID, bool) {
	out := g.m.host.Outbox()
	first := sentKeyPrefix + address.Escape(s.real) + "/" + address.Escape(s.nick) + "/" + address.Escape(s.roomJID) + "/" + address.Escape(id) + "/"
	if s.dm != "" {
		first = dmKeyPrefix + address.Escape(s.real) + "/" + address.Escape(string(s.dm)) + "/" + address.Escape(id) + "/"
	}
	for _, prefix := range []string{
		first,
		relKeyPrefix + address.Escape(s.real) + "/" + address.Escape(s.roomJID) + "/" + address.Escape(id) + "/",
	} {
		op, ok, err := out.LatestKeyed(ctx, s.room, prefix)
		if err != nil || !ok || op.Kind != intent.OpMessage || op.Type != matrix.EventMessage {
			continue
		}
		wctx, cancel := context.WithTimeout(ctx, waitMatrix)
		ev, err := out.SendAndWait(wctx, op)
		cancel()
		if err == nil {
			return ev, true
		}
		// Delivered meanwhile (or refused): its link tells.
		if op.Link != nil {
			if l, err := g.m.host.Links().ByRemote(ctx, bridges.ParseMessageID(op.Link.RemoteID)); err == nil {
				return l.Event, true
			}
		}
		g.log.Info("xmpp: the message a stanza refers to is not on Matrix", "room", s.room, "id", id, "err", err)
	}
	return "", false
}

// reflection is what the room sends its occupants once Matrix took a
// related message: the stanza as its author sent it, from its nick.
type reflection struct {
	Real    string `json:"real"`
	Nick    string `json:"nick"`
	RoomJID string `json:"room_jid"`
	Msg     relOut `json:"msg"`
	// DM marks a 1:1 chat (RoomJID is the Matrix user's JID): nothing
	// is reflected, but a refusal is told all the same.
	DM bool `json:"dm,omitempty"`
}

// queue stores the reflection of op's stanza and queues op; a failure
// gets its author an error.
func (g *gateway) queue(ctx context.Context, s actor, op intent.Op, m relOut) {
	kv := g.m.host.KV()
	b, err := json.Marshal(reflection{Real: s.real, Nick: s.nick, RoomJID: s.roomJID, Msg: m, DM: s.dm != ""})
	if err == nil {
		err = kv.Put(ctx, reflKeyPrefix+op.Key, b)
	}
	if err == nil {
		op.Kind, op.Room, op.Sender = orDefault(op.Kind, intent.OpMessage), s.room, s.puppet
		_, err = g.m.host.Outbox().Send(ctx, op)
	}
	if err != nil {
		g.log.Warn("xmpp: could not queue a message to Matrix", "room", s.room, "err", err)
		_ = kv.Delete(ctx, reflKeyPrefix+op.Key)
		g.enqueue(ctx, errorPresenceStanza("message", s.roomJID, s.from.String(), s.id, s.roomJID,
			"wait", "internal-server-error", "the message could not be bridged; send it again"))
	}
}

func orDefault(k, d intent.OpKind) intent.OpKind {
	if k == "" {
		return d
	}
	return k
}

// messageOp is an m.room.message op with content c.
func messageOp(key string, c matrix.MessageContent) intent.Op {
	raw, _ := json.Marshal(c) // plain strings and structs: cannot fail
	return intent.Op{Kind: intent.OpMessage, Type: matrix.EventMessage, Content: raw, Key: key}
}

// correct sends an XEP-0308 correction as an m.replace edit of the
// corrected message, which must be the sender's own; a correction of
// a message the bridge does not know is posted as a new message.
func (g *gateway) correct(ctx context.Context, s actor, ext msgExt, text string) {
	text, _ = stripFallbacks(text, ext.Fallbacks, nsReply)
	t, ok := g.resolveTarget(ctx, s, ext.Replace, "")
	if !ok || t.author != s.puppet {
		g.log.Info("xmpp: a correction of an unknown message is posted as a new one", "room", s.room, "replace", ext.Replace)
		if s.dm != "" {
			g.dmPost(ctx, s, inbound{text: text})
		} else {
			g.say(ctx, s.from, jid.MustParse(s.roomJID), s.id, s.origin, inbound{text: text})
		}
		return
	}
	nc := g.toMatrix(ctx, s.puppet, inbound{text: text}).MessageContent
	c := matrix.MessageContent{MsgType: nc.MsgType, Body: "* " + nc.Body, NewContent: &nc,
		RelatesTo: &matrix.RelatesTo{RelType: "m.replace", EventID: t.event}}
	// Later corrections may name this one instead of the original.
	for _, id := range []string{s.id, s.origin} {
		if id == "" {
			continue
		}
		if err := g.m.host.Links().Put(ctx, bridges.Link{Remote: bridges.MessageID{ID: msgRemoteID(s.room, s.real, id)},
			Room: s.room, Event: t.event}); err != nil {
			g.log.Warn("xmpp: could not link a correction", "room", s.room, "err", err)
		}
	}
	g.queue(ctx, s, messageOp(relKey(s, "replace"), c), relOut{ID: s.id, Origin: s.origin, Body: &text, Replace: ext.Replace})
}

// retract redacts the sender's own message (XEP-0424).
func (g *gateway) retract(ctx context.Context, s actor, id string) {
	t, ok := g.resolveTarget(ctx, s, id, "")
	if !ok {
		g.log.Info("xmpp: a retraction of an unknown message ignored", "room", s.room, "retract", id)
		return
	}
	if t.author != s.puppet {
		g.enqueue(ctx, errorPresenceStanza("message", s.roomJID, s.from.String(), s.id, s.roomJID, "auth", "forbidden",
			"you can retract only your own messages; moderators use moderation (XEP-0425)"))
		return
	}
	op := intent.Op{Kind: intent.OpRedaction, Redacts: t.event, Key: relKey(s, "retract")}
	g.queue(ctx, s, op, relOut{ID: s.id, Origin: s.origin, Retract: id})
}

// reply sends a message that replies to another (XEP-0461) with
// m.in_reply_to and without the XMPP fallback quote, linked like any
// message so that it can be corrected and retracted.
func (g *gateway) reply(ctx context.Context, s actor, ext msgExt, text string) {
	stripped, all := stripFallbacks(text, ext.Fallbacks, nsReply)
	if all || strings.TrimSpace(stripped) == "" {
		stripped = text
	}
	var authorReal, nick string
	if to, err := jid.Parse(ext.ReplyTo); err == nil && s.dm != "" {
		authorReal = to.Bare().String() // in a 1:1 chat: the author's JID
	} else if err == nil && to.Resourcepart() != "" {
		nick = to.Resourcepart()
		g.mu.Lock()
		if r := g.rooms[s.room]; r != nil {
			for _, o := range r.occupants {
				if o.Nick == nick {
					authorReal = o.Real
				}
			}
		}
		g.mu.Unlock()
	}
	c := g.toMatrix(ctx, s.puppet, inbound{text: stripped}).MessageContent
	m := relOut{ID: s.id, Origin: s.origin, Body: &text, ReplyID: ext.ReplyID, ReplyNick: nick}
	for _, f := range ext.Fallbacks {
		if f.For == nsReply && !f.All && f.Start == 0 {
			m.ReplyQuote = f.End
		}
	}
	if t, ok := g.resolveTarget(ctx, s, ext.ReplyID, authorReal); ok {
		c.RelatesTo = &matrix.RelatesTo{InReplyTo: &matrix.InReply{EventID: t.event}}
	} else {
		c = g.toMatrix(ctx, s.puppet, inbound{text: text}).MessageContent // the quote is all the context Matrix gets
	}
	op := messageOp(relKey(s, "reply"), c)
	op.Link = &intent.Link{Module: ID, RemoteID: msgLinkID(s.room, s.real, s.id, s.origin, op.Key)}
	g.queue(ctx, s, op, m)
}

// reactionSetKey is the KV key of user's reactions to event in room.
func reactionSetKey(room matrix.RoomID, event matrix.EventID, user matrix.UserID) string {
	return "muc/rx/" + string(room) + "/" + address.Escape(string(event)) + "/" + address.Escape(string(user))
}

// react makes the sender's puppet's reactions to the message match the
// stanza's set (XEP-0444): new ones are sent as m.reaction, dropped ones
// redacted. The room then reflects the stanza.
func (g *gateway) react(ctx context.Context, s actor, ext msgExt) {
	t, ok := g.resolveTarget(ctx, s, ext.ReactionsTo, "")
	if !ok {
		g.log.Info("xmpp: reactions to an unknown message ignored", "room", s.room, "id", ext.ReactionsTo)
		return
	}
	have, err := g.reactionSet(ctx, s.room, t.event, s.puppet)
	if err != nil {
		g.log.Warn("xmpp: could not read reactions", "room", s.room, "err", err)
		return
	}
	add, drop := reactionDiff(have, ext.Reactions)
	for _, r := range drop {
		op := intent.Op{Kind: intent.OpRedaction, Room: s.room, Sender: s.puppet, Redacts: r.Event,
			Key: relKey(s, "unreact/"+address.Escape(string(r.Event)))}
		if _, err := g.m.host.Outbox().Send(ctx, op); err != nil {
			g.log.Warn("xmpp: could not queue the redaction of a reaction", "room", s.room, "err", err)
			continue
		}
		g.updateReactions(ctx, s.room, t.event, s.puppet, func(set []reaction) []reaction { return removeReaction(set, r.Event) })
	}
	for _, key := range add {
		raw, _ := json.Marshal(map[string]any{"m.relates_to": matrix.RelatesTo{RelType: "m.annotation", EventID: t.event, Key: key}})
		op := intent.Op{Kind: intent.OpMessage, Room: s.room, Sender: s.puppet, Type: matrix.EventReaction, Content: raw,
			Key:  relKey(s, "react/"+address.Escape(key)),
			Link: &intent.Link{Module: ID, RemoteID: reactionRemoteID(t.event, s.puppet, key)}}
		wctx, cancel := context.WithTimeout(ctx, waitMatrix)
		ev, err := g.m.host.Outbox().SendAndWait(wctx, op)
		cancel()
		if err != nil {
			// Still queued, unless refused: OnOutboxSent records it.
			g.log.Info("xmpp: a reaction is not on Matrix yet", "room", s.room, "err", err)
			continue
		}
		g.updateReactions(ctx, s.room, t.event, s.puppet, func(set []reaction) []reaction { return addReaction(set, ev, key) })
	}
	if s.dm == "" {
		g.broadcastFrom(ctx, s.room, s.nick, s.real, relOut{ID: s.id, Origin: s.origin, HasReactions: true,
			ReactionsTo: ext.ReactionsTo, Reactions: ext.Reactions})
	}
}

// moderateRoute takes XEP-0425 moderation requests (IQ sets to a room's
// bare JID).
func (g *gateway) moderateRoute(st *component.Stanza, from, to jid.JID) bool {
	payloads := st.Payloads()
	if st.Attr("type") != "set" || to.Localpart() == "" || to.Resourcepart() != "" || len(payloads) != 1 || !isModerate(payloads[0]) {
		return false
	}
	if kind, _, err := address.Parse(to.Localpart()); err != nil || (kind != address.Alias && kind != address.RoomID) {
		return false
	}
	iqID, roomJID := st.Attr("id"), to.Bare()
	id, reason, ok := parseModerate(st.Inner)
	if !ok {
		g.enqueue(context.Background(), errorPresenceStanza("iq", roomJID.String(), from.String(), iqID, roomJID.String(),
			"modify", "bad-request", "a moderation names a message and retracts it"))
		return true
	}
	g.push(roomJID.String(), func() {
		g.enqueue(context.Background(), errorPresenceStanza("iq", roomJID.String(), from.String(), iqID,
			roomJID.String(), "wait", "resource-constraint", "the room is busy; try again"))
	}, func(ctx context.Context) { g.moderate(ctx, st, from, roomJID, id, reason) })
	return true
}

// moderate retracts any occupant's message for a moderator (XEP-0425):
// its puppet must have the power to redact others' events in Matrix.
func (g *gateway) moderate(ctx context.Context, st *component.Stanza, from, roomJID jid.JID, id, reason string) {
	iqID := st.Attr("id")
	fail := func(typ, cond, text string) {
		g.enqueue(ctx, errorPresenceStanza("iq", roomJID.String(), from.String(), iqID, roomJID.String(), typ, cond, text))
	}
	s, ok := g.occupantOf(from, roomJID)
	if !ok {
		fail("cancel", "not-acceptable", "you are not in this room: join it first")
		return
	}
	s.id = iqID
	t, ok := g.resolveTarget(ctx, s, id, "")
	if !ok {
		fail("cancel", "item-not-found", "no such message in this room")
		return
	}
	if t.author != s.puppet {
		pl, err := g.m.host.Matrix().Intent(s.puppet).PowerLevels(ctx, s.room)
		if err != nil {
			fail("wait", "remote-server-timeout", "the Matrix homeserver did not answer")
			return
		}
		if pl.UserLevel(s.puppet) < pl.Redact {
			fail("auth", "forbidden", "only moderators may retract other people's messages")
			return
		}
	}
	op := intent.Op{Kind: intent.OpRedaction, Room: s.room, Sender: s.puppet, Redacts: t.event, Reason: reason,
		Key: relKey(s, "moderate/"+address.Escape(id))}
	wctx, cancel := context.WithTimeout(ctx, waitMatrix)
	_, err := g.m.host.Outbox().SendAndWait(wctx, op)
	cancel()
	switch {
	case errors.Is(err, intent.ErrForbidden):
		fail("auth", "forbidden", "Matrix refused: only moderators may retract other people's messages")
		return
	case err != nil && !errors.Is(err, context.DeadlineExceeded):
		g.log.Warn("xmpp: a moderation failed", "room", s.room, "err", err)
		fail("wait", "internal-server-error", "the retraction could not be bridged; try again")
		return
	}
	g.enqueue(ctx, iqResultStanza(st, roomJID, nil))
	g.broadcastRoom(ctx, s.room, relOut{ID: iqID, Retract: id, ModeratedBy: s.nick, Reason: reason})
}

// relatedSent reflects a related message whose op Matrix took, with the
// event ID as stanza-id, and records a reaction that SendAndWait gave up
// waiting for.
func (g *gateway) relatedSent(ctx context.Context, op intent.Op, ev matrix.EventID) {
	if op.Kind == intent.OpMessage && op.Type == matrix.EventReaction {
		var c struct {
			RelatesTo matrix.RelatesTo `json:"m.relates_to"`
		}
		if json.Unmarshal(op.Content, &c) == nil {
			g.updateReactions(ctx, op.Room, c.RelatesTo.EventID, op.Sender, func(set []reaction) []reaction {
				return addReaction(set, ev, c.RelatesTo.Key)
			})
		}
		return
	}
	kv := g.m.host.KV()
	b, err := kv.Get(ctx, reflKeyPrefix+op.Key)
	if err != nil {
		return
	}
	var r reflection
	if json.Unmarshal(b, &r) == nil {
		if op.Link != nil && r.Msg.ID != "" && r.Msg.Origin != "" && r.Msg.ID != r.Msg.Origin {
			g.linkID(ctx, op.Room, r.Real, r.Msg.ID, ev)
		}
		r.Msg.StanzaID = string(ev)
		if r.Msg.Body != nil {
			g.mu.Lock()
			g.rememberSent(op.Room, ev, r.Msg.ID, r.Msg.Origin) // for markers (markers.go)
			g.mu.Unlock()
			if !r.DM {
				// A correction or reply is archived as it was sent (archive.go).
				g.rememberArchived(ctx, ev, sentMeta{Nick: r.Nick, Real: r.Real, ID: r.Msg.ID, Origin: r.Msg.Origin})
			}
		}
		if !r.DM {
			g.broadcastFrom(ctx, op.Room, r.Nick, r.Real, r.Msg)
		}
	}
	_ = kv.Delete(ctx, reflKeyPrefix+op.Key)
}

// relatedFailed tells the author of a related message Matrix refused.
func (g *gateway) relatedFailed(ctx context.Context, op intent.Op) {
	kv := g.m.host.KV()
	b, err := kv.Get(ctx, reflKeyPrefix+op.Key)
	if err != nil {
		return
	}
	var r reflection
	if json.Unmarshal(b, &r) == nil {
		g.enqueue(ctx, errorPresenceStanza("message", r.RoomJID, r.Real, r.Msg.ID, r.RoomJID, "cancel", "not-allowed",
			"Matrix refused this message; it was not delivered"))
	}
	_ = kv.Delete(ctx, reflKeyPrefix+op.Key)
}

// linkID links a second id of an XMPP message (its id, when it is linked
// by its origin-id) to its event.
func (g *gateway) linkID(ctx context.Context, room matrix.RoomID, real, id string, ev matrix.EventID) {
	l := bridges.Link{Remote: bridges.MessageID{ID: msgRemoteID(room, real, id)}, Room: room, Event: ev}
	if err := g.m.host.Links().Put(ctx, l); err != nil {
		g.log.Warn("xmpp: could not link a message's id", "room", room, "err", err)
	}
}

// plainSent links the id of a plain groupchat message from XMPP when it
// was linked by a different origin-id.
func (g *gateway) plainSent(ctx context.Context, op intent.Op, ev matrix.EventID) {
	real, _, _, id, origin, ok := parseSentKey(op.Key)
	if ok && id != "" && origin != "" && id != origin {
		g.linkID(ctx, op.Room, real, id, ev)
	}
}
