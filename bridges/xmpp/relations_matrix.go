package xmpp

import (
	"context"
	"encoding/json"
	"time"

	"github.com/causewaybridge/causeway/bridges"
	"github.com/causewaybridge/causeway/matrix"
)

// Matrix events that relate to others, to XMPP (issue 10 §3): edits
// become XEP-0308 corrections of the edited message's id (a Matrix
// message's id in the rooms is its event ID), a redaction by the
// actor an XEP-0424 retraction and by anyone else an XEP-0425
// moderation from the room, a reaction (or the redaction of one) the
// Matrix user's whole XEP-0444 set, a reply an XEP-0461 reply whose
// fallback quotes the author by nick (never by Matrix ID).

// maxQuote bounds the quoted text of a reply fallback, in code points.
const maxQuote = 100

// roomReader returns the puppet of an occupant of room, to read it as.
func (g *gateway) roomReader(room matrix.RoomID) (matrix.UserID, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if r := g.rooms[room]; r != nil {
		for _, o := range r.occupants {
			return o.Puppet, true
		}
	}
	return "", false
}

// speaker returns the nick of u in room for its occupants: an XMPP
// occupant's nick for its puppet, else the Matrix member's, whose
// presence the occupants get first if they have not yet. ok is false
// when the room has no occupants.
func (g *gateway) speaker(ctx context.Context, room matrix.RoomID, u matrix.UserID) (string, bool) {
	p, ok := g.roomReader(room)
	if !ok {
		return "", false
	}
	g.mu.Lock()
	r := g.rooms[room]
	loaded := r.loaded
	g.mu.Unlock()
	if !loaded && !g.m.users.Owns(u) {
		if err := g.loadMembers(ctx, r, p); err != nil {
			g.log.Warn("xmpp: could not read the room's members", "room", room, "err", err)
		}
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.m.users.Owns(u) {
		for _, o := range r.occupants {
			if o.Puppet == u {
				return o.Nick, true
			}
		}
		return "", false
	}
	mb := g.unknownMemberLocked(ctx, r, u)
	if !r.announced[u] {
		r.announced[u] = true
		g.toOthers(ctx, r, nil, func(o *occupant) []byte {
			return g.memberPresence(r.id, nickJID(o.RoomJID, mb.nick), "", u, mb)
		})
	}
	return mb.nick, true
}

// broadcastFrom sends m to every occupant of room from room/nick, the
// occupant author (a bare JID or a Matrix user ID), with its
// occupant-id.
func (g *gateway) broadcastFrom(ctx context.Context, room matrix.RoomID, nick, author string, m relOut) {
	m.OccupantID = g.occupantID(room, author)
	g.broadcast(ctx, room, func(roomJID string) string { return nickJID(roomJID, nick) }, m)
}

// broadcastRoom sends m to every occupant of room from the room itself.
func (g *gateway) broadcastRoom(ctx context.Context, room matrix.RoomID, m relOut) {
	g.broadcast(ctx, room, func(roomJID string) string { return roomJID }, m)
}

// broadcast sends m to every occupant of room; a Matrix event (its
// stanza-id) a joiner got as history is not sent to it again.
func (g *gateway) broadcast(ctx context.Context, room matrix.RoomID, from func(roomJID string) string, m relOut) {
	g.mu.Lock()
	defer g.mu.Unlock()
	r := g.rooms[room]
	if r == nil {
		return
	}
	for _, o := range r.occupants {
		for _, res := range o.Resources.all() {
			g.deliverMsg(ctx, o, res, matrix.EventID(m.StanzaID), time.Time{}, relStanza(from(o.RoomJID), res, o.RoomJID, m))
		}
	}
}

// authorKey is what occupant-ids are made of for u: an XMPP occupant's
// bare JID for its puppet, else the Matrix user ID.
func (g *gateway) authorKey(u matrix.UserID) string {
	if g.m.users.Owns(u) {
		g.mu.Lock()
		defer g.mu.Unlock()
		for _, r := range g.rooms {
			for _, o := range r.occupants {
				if o.Puppet == u {
					return o.Real
				}
			}
		}
	}
	return string(u)
}

// HandleMatrixEdit implements bridges.EditHandler: a Matrix user's edit
// in a hosted room goes to the occupants as a correction of the edited
// message. Elsewhere edits, reactions and redactions are not bridged yet
// (bridges.ErrUnsupported: the core tells the room).
func (m *Module) HandleMatrixEdit(ctx context.Context, e *bridges.Edit) error {
	if rp := m.reversePortal(e.Portal); rp != nil { // a correction to an existing MUC (reverse.go)
		if text, extra, ok := m.gw.outgoing(&e.NewContent, ""); ok && !m.users.Owns(e.Event.Sender) {
			m.rev.edit(ctx, rp, e.Event.Sender, e.Event.ID, e.Target, text, extra)
		}
		return nil
	}
	room, ok := roomOf(e.Portal)
	if m.gw == nil || m.users.Owns(e.Event.Sender) {
		return nil
	}
	if real, isDM := dmJIDOf(e.Portal); isDM { // a 1:1 chat (dm_relations.go)
		m.gw.dmEdit(ctx, e, real)
		return nil
	}
	if !ok {
		return bridges.ErrUnsupported // portals of other kinds
	}
	out, ok := m.gw.shownOf(e.NewContent, "", nil) // as the message itself was shown (shown.go)
	if !ok {
		return nil
	}
	nick, ok := m.gw.speaker(ctx, room, e.Event.Sender)
	if !ok {
		return nil
	}
	id := string(e.Event.ID)
	out.ID, out.Replace, out.StanzaID = id, string(e.Target), id
	m.gw.broadcastFrom(ctx, room, nick, string(e.Event.Sender), out)
	return nil
}

// HandleMatrixReaction implements bridges.ReactionHandler: the Matrix
// user's whole set of reactions to the message goes to the occupants.
func (m *Module) HandleMatrixReaction(ctx context.Context, r *bridges.Reaction) error {
	if rp := m.reversePortal(r.Portal); rp != nil { // reactions in an existing MUC (reverse_relations.go)
		if m.users.Owns(r.Event.Sender) || r.Key == "" {
			return nil
		}
		return m.rev.react(ctx, rp, r)
	}
	room, ok := roomOf(r.Portal)
	if m.gw == nil || m.users.Owns(r.Event.Sender) || r.Key == "" {
		return nil
	}
	real, isDM := dmJIDOf(r.Portal)
	switch {
	case isDM && r.Event.Sender != r.Portal.Key.Receiver:
		return nil // someone else the receiver let in
	case isDM:
		room = r.Portal.Room
	case !ok:
		return bridges.ErrUnsupported // portals of other kinds
	}
	u := r.Event.Sender
	l := bridges.Link{Remote: bridges.MessageID{ID: reactionRemoteID(r.Target, u, r.Key)}, Room: room, Event: r.Event.ID}
	if err := m.host.Links().Put(ctx, l); err != nil {
		return err // nothing sent yet: the call is repeated
	}
	set := m.gw.updateReactions(ctx, room, r.Target, u, func(set []reaction) []reaction {
		return addReaction(set, r.Event.ID, r.Key)
	})
	if isDM {
		m.gw.dmReactions(ctx, r.Portal, real, r.Target, string(r.Event.ID), set)
		return nil
	}
	m.gw.sendReactions(ctx, room, u, r.Target, string(r.Event.ID), set)
	return nil
}

// sendReactions sends u's reactions to target to the occupants.
func (g *gateway) sendReactions(ctx context.Context, room matrix.RoomID, u matrix.UserID, target matrix.EventID, id string, set []reaction) {
	nick, ok := g.speaker(ctx, room, u)
	if !ok {
		return
	}
	g.broadcastFrom(ctx, room, nick, g.authorKey(u), relOut{ID: id, HasReactions: true, ReactionsTo: string(target), Reactions: reactionKeys(set)})
}

// HandleMatrixRedaction implements bridges.RedactionHandler: a redacted
// reaction shrinks its user's set; a message redacted by its actor is
// retracted, by anyone else moderated.
func (m *Module) HandleMatrixRedaction(ctx context.Context, r *bridges.Redaction) error {
	if rp := m.reversePortal(r.Portal); rp != nil { // a retraction in an existing MUC (reverse.go)
		if m.users.Owns(r.Event.Sender) || r.Target == "" {
			return nil
		}
		return m.rev.redact(ctx, rp, r)
	}
	room, ok := roomOf(r.Portal)
	if m.gw == nil || m.users.Owns(r.Event.Sender) || r.Target == "" {
		return nil
	}
	if real, isDM := dmJIDOf(r.Portal); isDM { // a 1:1 chat (dm_relations.go)
		m.gw.dmRedaction(ctx, r, real)
		return nil
	}
	if !ok {
		return bridges.ErrUnsupported // portals of other kinds
	}
	g := m.gw
	if r.TargetRemote != nil {
		if target, u, _, ok := parseReactionRemoteID(r.TargetRemote.Remote.ID); ok {
			set := g.updateReactions(ctx, room, target, u, func(set []reaction) []reaction { return removeReaction(set, r.Target) })
			g.sendReactions(ctx, room, u, target, string(r.Event.ID), set)
			return nil
		}
	}
	author, ok := g.authorOf(ctx, room, r)
	if !ok {
		return nil
	}
	id, target := string(r.Event.ID), string(r.Target)
	nick, ok := g.speaker(ctx, room, r.Event.Sender)
	if !ok {
		return nil
	}
	if author == r.Event.Sender {
		g.broadcastFrom(ctx, room, nick, string(r.Event.Sender), relOut{ID: id, Retract: target, StanzaID: id})
		return nil
	}
	g.broadcastRoom(ctx, room, relOut{ID: id, Retract: target, ModeratedBy: nick, Reason: r.Reason})
	return nil
}

// authorOf returns the actor of a redacted message: an XMPP occupant's
// puppet by the message's link, else as Matrix tells. ok is false for
// what XMPP never saw as a message (state, reactions...).
func (g *gateway) authorOf(ctx context.Context, room matrix.RoomID, r *bridges.Redaction) (matrix.UserID, bool) {
	if r.TargetRemote != nil {
		if real, ok := parseMsgRemoteID(r.TargetRemote.Remote.ID); ok {
			p, err := g.puppetOf(real)
			return p, err == nil
		}
	}
	p, ok := g.roomReader(room)
	if !ok {
		return "", false
	}
	var ev matrix.Event
	if err := g.m.host.Matrix().Intent(p).EventContent(ctx, room, r.Target, &ev); err != nil {
		g.log.Info("xmpp: could not read a redacted event", "room", room, "event", r.Target, "err", err)
		return "", false
	}
	if ev.StateKey != nil || ev.Type != matrix.EventMessage {
		return "", false
	}
	return ev.Sender, true
}

// replyFromMatrix sends a Matrix reply to the occupants as shownOf
// shows it: Matrix's own fallback (which names people by Matrix ID) is
// cut, and the body starts with a quote of the replied-to message by its
// author's nick, marked as the XEP-0461 fallback.
func (g *gateway) replyFromMatrix(ctx context.Context, room matrix.RoomID, msg *bridges.Message) {
	ref := &replyRef{ID: msg.ReplyTo}
	if author, quoted, ok := g.quoted(ctx, room, msg.ReplyTo); ok {
		ref.Nick, ref.Line = author, quoted
	}
	out, ok := g.shownOf(msg.Content, "", ref)
	if !ok {
		return
	}
	nick, ok := g.speaker(ctx, room, msg.Event.Sender)
	if !ok {
		return
	}
	id := string(msg.Event.ID)
	out.ID, out.StanzaID = id, id
	g.broadcastFrom(ctx, room, nick, string(msg.Event.Sender), out)
}

// quoted returns the nick of the author of a message and its first line
// (shortened), for a reply's fallback.
func (g *gateway) quoted(ctx context.Context, room matrix.RoomID, event matrix.EventID) (nick, line string, ok bool) {
	p, ok := g.roomReader(room)
	if !ok {
		return "", "", false
	}
	_, nick, line, ok = g.quoteOf(ctx, p, room, event, func(u matrix.UserID) (string, bool) { return g.speaker(ctx, room, u) })
	return nick, line, ok
}

// quoteOf reads event in room as reader and returns its author, the
// author's name for XMPP (name: a nick or displayname, never a Matrix
// ID) and the event's first line (shortened), for a reply's fallback.
func (g *gateway) quoteOf(ctx context.Context, reader matrix.UserID, room matrix.RoomID, event matrix.EventID,
	name func(matrix.UserID) (string, bool)) (author matrix.UserID, nick, line string, ok bool) {
	var ev matrix.Event
	if err := g.m.host.Matrix().Intent(reader).EventContent(ctx, room, event, &ev); err != nil || ev.Sender == "" {
		return "", "", "", false
	}
	nick, ok = name(ev.Sender)
	if !ok {
		return "", "", "", false
	}
	var c matrix.MessageContent
	_ = json.Unmarshal(ev.Content, &c)
	if c.NewContent != nil {
		c = *c.NewContent
	}
	return ev.Sender, nick, quoteLine(c), true
}

var (
	_ bridges.EditHandler      = (*Module)(nil)
	_ bridges.ReactionHandler  = (*Module)(nil)
	_ bridges.RedactionHandler = (*Module)(nil)
)
