package xmpp

import (
	"context"
	"errors"
	"strings"

	"mellium.im/xmpp/jid"

	"github.com/causewaybridge/causeway/bridges"
	"github.com/causewaybridge/causeway/bridges/xmpp/address"
	"github.com/causewaybridge/causeway/bridges/xmpp/component"
	"github.com/causewaybridge/causeway/matrix"
)

// Relations, chat states and markers in 1:1 chats (issue 10 §3, §5): the
// same code as in hosted rooms (relations.go, relations_matrix.go,
// reactions.go, chatstates.go, markers.go), addressed as 1:1 chats.
//
// XMPP → Matrix: a chat to a Matrix user's JID that corrects, retracts,
// reacts to or replies to another message is applied by
// gateway.applyRelation with an actor whose room is the direct chat
// (dmActor). Its messages are linked by the ids their client gave them,
// as in rooms; a message from Matrix is named by its id, the event ID.
// Chat states make the puppet type, displayed markers send its read
// receipt.
//
// Matrix → XMPP: the Matrix user's edits, reactions (the whole set),
// redactions of its own messages and reactions, replies (quoting the
// author by displayname or the XMPP user's name, never a Matrix ID),
// typing and read receipts of the XMPP user's messages go to the XMPP
// user's bare JID as type='chat' messages from the Matrix user's JID. An
// XMPP message is named by the id (or origin-id) its client gave it.

// dmJIDOf returns the XMPP user's bare JID of a direct chat portal; ok
// is false for other portals.
func dmJIDOf(p *bridges.Portal) (string, bool) {
	if p == nil || !strings.HasPrefix(p.Key.ID, dmPrefix) {
		return "", false
	}
	meta, err := bridges.PortalMeta[dmMeta](p)
	if err != nil || meta.JID == "" {
		return strings.TrimPrefix(p.Key.ID, dmPrefix), true
	}
	return meta.JID, true
}

// dmSend sends m to the XMPP user of direct chat p as a chat from its
// receiver's JID.
func (g *gateway) dmSend(ctx context.Context, p *bridges.Portal, real string, m relOut) {
	from, err := address.UserJID(g.m.domain, p.Key.Receiver)
	if err != nil {
		return
	}
	g.enqueue(ctx, chatRelStanza(from.String(), real, m))
}

// xmppIDOf returns the id XMPP knows the message ev in room by: the id
// (or origin-id) an XMPP client gave it, by its link, else the event ID
// (the id of a message from Matrix). author is the bare JID of the XMPP
// user who wrote it ("" for a Matrix message).
func (g *gateway) xmppIDOf(ctx context.Context, room matrix.RoomID, ev matrix.EventID) (id, author string) {
	if l, err := g.m.host.Links().ByEvent(ctx, ev); err == nil && l.Room == room {
		if real, id, ok := parseMsgLink(l.Remote.ID); ok {
			// The link may be a later id (a correction's): the id the
			// chat came with, as dmSent kept it, wins.
			if b, err := g.m.host.KV().Get(ctx, dmIDKey(room, ev)); err == nil && len(b) > 0 {
				id = string(b)
			}
			return id, real
		}
	}
	return string(ev), ""
}

// dmEdit sends the receiver's edit in a direct chat as a correction of
// the edited message's id, its event ID.
func (g *gateway) dmEdit(ctx context.Context, e *bridges.Edit, real string) {
	if e.Event.Sender != e.Portal.Key.Receiver {
		return
	}
	out, ok := g.shownOf(e.NewContent, "", nil) // as the message itself was sent (shown.go)
	if !ok {
		return
	}
	id := string(e.Event.ID)
	out.ID, out.Replace, out.StanzaID = id, string(e.Target), id
	g.dmSend(ctx, e.Portal, real, out)
}

// dmReactions sends the receiver's whole set of reactions to target.
func (g *gateway) dmReactions(ctx context.Context, p *bridges.Portal, real string, target matrix.EventID, id string, set []reaction) {
	to, _ := g.xmppIDOf(ctx, p.Room, target)
	g.dmSend(ctx, p, real, relOut{ID: id, HasReactions: true, ReactionsTo: to, Reactions: reactionKeys(set)})
}

// dmRedaction follows the receiver's redaction in a direct chat: of a
// reaction, its set shrinks; of one of its own messages, it is
// retracted. The XMPP user's messages cannot be retracted for it
// (XEP-0424 retracts one's own messages only): that is only logged.
func (g *gateway) dmRedaction(ctx context.Context, r *bridges.Redaction, real string) {
	p, u := r.Portal, r.Event.Sender
	if u != p.Key.Receiver {
		return
	}
	if r.TargetRemote != nil {
		if target, who, _, ok := parseReactionRemoteID(r.TargetRemote.Remote.ID); ok {
			set := g.updateReactions(ctx, p.Room, target, who, func(set []reaction) []reaction { return removeReaction(set, r.Target) })
			g.dmReactions(ctx, p, real, target, string(r.Event.ID), set)
			return
		}
		if _, ok := parseMsgRemoteID(r.TargetRemote.Remote.ID); ok {
			g.log.Info("xmpp: a Matrix user redacted an XMPP user's chat; XMPP cannot retract it for them", "room", p.Room)
			return
		}
	}
	pup, err := g.puppetOf(real)
	if err != nil {
		return
	}
	var ev matrix.Event
	if err := g.m.host.Matrix().Intent(pup).EventContent(ctx, p.Room, r.Target, &ev); err != nil {
		g.log.Info("xmpp: could not read a redacted event", "room", p.Room, "event", r.Target, "err", err)
		return
	}
	if ev.Sender != u || ev.Type != matrix.EventMessage || ev.StateKey != nil {
		return
	}
	id := string(r.Event.ID)
	g.dmSend(ctx, p, real, relOut{ID: id, Retract: string(r.Target), StanzaID: id})
}

// dmReplyFromMatrix sends the receiver's reply in a direct chat as
// shownOf shows replies in rooms (Matrix's own fallback cut, the body
// starting with a quote of the replied-to message marked as the
// XEP-0461 fallback), naming the replied-to message by the id XMPP knows
// and its author by JID, and quoting the author by name.
func (g *gateway) dmReplyFromMatrix(ctx context.Context, msg *bridges.Message) {
	p := msg.Portal
	real, _ := dmJIDOf(p)
	if msg.Event.Sender != p.Key.Receiver {
		return
	}
	pup, err := g.puppetOf(real)
	if err != nil {
		return
	}
	replyID, _ := g.xmppIDOf(ctx, p.Room, msg.ReplyTo)
	ref := &replyRef{ID: matrix.EventID(replyID)}
	name := func(u matrix.UserID) (string, bool) { return g.dmName(ctx, u, pup, real), true }
	author, nick, line, quoted := g.quoteOf(ctx, pup, p.Room, msg.ReplyTo, name)
	if quoted {
		ref.Nick, ref.Line = nick, line
	}
	out, ok := g.shownOf(msg.Content, "", ref)
	if !ok {
		return
	}
	if quoted {
		out.ReplyJID = real
		if author != pup {
			if j, err := address.UserJID(g.m.domain, author); err == nil {
				out.ReplyJID = j.String()
			}
		}
	}
	id := string(msg.Event.ID)
	out.ID, out.StanzaID, out.Markable = id, id, true
	g.dmSend(ctx, p, real, out)
}

// dmName is how a reply's fallback in a 1:1 chat names u: the XMPP
// user (puppet pup, bare JID real) by its puppet's displayname or its
// JID, a Matrix user by its displayname or localpart.
func (g *gateway) dmName(ctx context.Context, u, pup matrix.UserID, real string) string {
	if u == pup {
		n, err := g.m.host.Matrix().Intent(pup).Displayname(ctx, pup)
		if n = cleanNick(n); err != nil || n == "" || strings.HasPrefix(string(pup), "@"+n+":") {
			return real
		}
		return n
	}
	n, err := g.m.host.Matrix().Intent(pup).Displayname(ctx, u)
	if err != nil {
		n = ""
	}
	return g.nickOf(u, n)
}

// dmPortalOfRoom returns the direct chat portal of room, if it is one
// (not a hosted room).
func (g *gateway) dmPortalOfRoom(ctx context.Context, room matrix.RoomID) (*bridges.Portal, string, bool) {
	g.mu.Lock()
	_, hosted := g.rooms[room]
	g.mu.Unlock()
	if hosted {
		return nil, "", false
	}
	p, err := g.m.host.Portals().ByRoom(ctx, room)
	if err != nil {
		if !errors.Is(err, bridges.ErrNotFound) {
			g.log.Debug("xmpp: could not read a room's portal", "room", room, "err", err)
		}
		return nil, "", false
	}
	real, ok := dmJIDOf(p)
	return p, real, ok
}

// dmTypingFromMatrix sends the receiver's typing in a direct chat as
// chat states (composing, then active when it stops) and reports
// whether room is a direct chat.
func (g *gateway) dmTypingFromMatrix(ctx context.Context, room matrix.RoomID, users []matrix.UserID) bool {
	p, real, ok := g.dmPortalOfRoom(ctx, room)
	if !ok {
		return false
	}
	typing := false
	for _, u := range users {
		typing = typing || u == p.Key.Receiver
	}
	g.mu.Lock()
	was := g.typing.matrix[room][p.Key.Receiver]
	if g.typing.matrix == nil {
		g.typing.matrix = map[matrix.RoomID]map[matrix.UserID]bool{}
	}
	g.typing.matrix[room] = map[matrix.UserID]bool{p.Key.Receiver: typing}
	g.mu.Unlock()
	if typing == was {
		return true
	}
	state := "active"
	if typing {
		state = "composing"
	}
	if from, err := address.UserJID(g.m.domain, p.Key.Receiver); err == nil {
		g.enqueue(ctx, chatStateStanza(from.String(), real, "chat", state, ""))
	}
	return true
}

// dmReceipt sends the receiver's read receipt of one of the XMPP user's
// messages in a direct chat as a displayed marker of its id, and reports
// whether the receipt's room is a direct chat.
func (g *gateway) dmReceipt(ctx context.Context, rc *bridges.Receipt) bool {
	p, real, ok := g.dmPortalOfRoom(ctx, rc.RoomID)
	if !ok {
		return false
	}
	if rc.UserID != p.Key.Receiver {
		return true
	}
	id, author := g.xmppIDOf(ctx, p.Room, rc.EventID)
	if author != real {
		return true // the Matrix user's own message, or unknown
	}
	if from, err := address.UserJID(g.m.domain, p.Key.Receiver); err == nil {
		g.enqueue(ctx, displayedStanza(from.String(), real, "chat", id, ""))
	}
	return true
}

// dmEphemeral takes a chat without a body to a Matrix user's JID: a
// chat state makes the puppet type (or stop), a displayed marker sends
// its read receipt, in the direct chat there is (none is opened for
// them). Dropped when the lane is full: they are worth nothing later.
func (g *gateway) dmEphemeral(st *component.Stanza, from jid.JID, u matrix.UserID) {
	real := from.Bare().String()
	if state := chatState(st); state != "" {
		g.push(dmLane(real, u), nil, func(ctx context.Context) { g.dmChatState(ctx, real, u, state) })
	}
	if id := displayedID(st); id != "" {
		g.push(dmLane(real, u), nil, func(ctx context.Context) {
			if room, p, ok := g.dmExisting(ctx, real, u); ok {
				g.puppetRead(ctx, room, p, id)
			}
		})
	}
}

// dmChatState follows the XMPP user real's chat state in its direct
// chat with u with its puppet's typing.
func (g *gateway) dmChatState(ctx context.Context, real string, u matrix.UserID, state string) {
	if room, p, ok := g.dmExisting(ctx, real, u); ok {
		g.puppetTyping(ctx, room, p, state)
	}
}

// dmExisting returns the direct chat of real and u and real's puppet,
// if the chat exists.
func (g *gateway) dmExisting(ctx context.Context, real string, u matrix.UserID) (matrix.RoomID, matrix.UserID, bool) {
	p, err := g.puppetOf(real)
	if err != nil {
		return "", "", false
	}
	portal, err := g.m.host.Portals().ByKey(ctx, dmPortalKey(real, u))
	if err != nil {
		return "", "", false
	}
	return portal.Room, p, true
}
