package xmpp

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"strings"
	"unicode/utf8"

	"github.com/causewaybridge/causeway/bridges"
	"github.com/causewaybridge/causeway/bridges/xmpp/address"
	"github.com/causewaybridge/causeway/intent"
	"github.com/causewaybridge/causeway/matrix"
)

// Reactions and replies in reverse portals (XEP-0444 ↔ m.reaction,
// XEP-0461 ↔ m.in_reply_to). Both name a groupchat message by the
// stanza-id the MUC gave it; the bridge keeps each event's stanza-id
// (revSIDKey) to name Matrix messages and XMPP messages alike. Each
// user's set of reactions to a message is stored as in hosted rooms
// (reactions.go): a stanza carries the whole set, so an XMPP occupant's
// new set is diffed into m.reaction events and redactions, and a Matrix
// user's reaction (or its redaction) sends the user's new set. Replies
// quote their original by nick, never by Matrix ID.

// revSIDKey is the KV key of the stanza-id the MUC gave a portal's event.
func revSIDKey(ev matrix.EventID) string { return "xmuc/sid/" + string(ev) }

// rememberSID stores the stanza-id of event ev.
func (rv *reverse) rememberSID(ctx context.Context, ev matrix.EventID, sid string) {
	if ev == "" || sid == "" {
		return
	}
	if err := rv.m.host.KV().Put(ctx, revSIDKey(ev), []byte(sid)); err != nil {
		rv.log.Warn("xmpp: could not store a stanza-id", "event", ev, "err", err)
	}
}

// sidOf returns the stanza-id the MUC gave event ev, or "".
func (rv *reverse) sidOf(ctx context.Context, ev matrix.EventID) string {
	b, err := rv.m.host.KV().Get(ctx, revSIDKey(ev))
	if err != nil {
		return ""
	}
	return string(b)
}

// eventOfSID returns the event of the MUC message with stanza-id sid.
func (rv *reverse) eventOfSID(ctx context.Context, rp *revPortal, sid string) (matrix.EventID, bool) {
	l, err := rv.m.host.Links().ByRemote(ctx, bridges.MessageID{ID: revKeyPrefix + rp.muc + "/" + address.Escape(sid)})
	return l.Event, err == nil
}

// reacted makes the reactions of the occupant's puppet pu to the message
// m names match m's set: new ones are sent as m.reaction, dropped ones
// redacted.
func (rv *reverse) reacted(ctx context.Context, rp *revPortal, pu matrix.UserID, m mucMessage) {
	target, ok := rv.eventOfSID(ctx, rp, m.ReactionsTo)
	if !ok {
		rv.log.Info("xmpp: reactions to an unknown message ignored", "muc", rp.muc, "id", m.ReactionsTo)
		return
	}
	g := rv.g
	have, err := g.reactionSet(ctx, rp.room, target, pu)
	if err != nil {
		rv.log.Warn("xmpp: could not read reactions", "room", rp.room, "err", err)
		return
	}
	add, drop := reactionDiff(have, m.Reactions)
	base := revReactKeyPrefix + rp.muc + "/" + address.Escape(m.StanzaID) + "/"
	for _, r := range drop {
		op := intent.Op{Kind: intent.OpRedaction, Room: rp.room, Sender: pu, Redacts: r.Event, Key: base + "-" + address.Escape(string(r.Event))}
		if _, err := rv.m.host.Outbox().Send(ctx, op); err != nil {
			rv.log.Warn("xmpp: could not queue the redaction of a reaction", "room", rp.room, "err", err)
			continue
		}
		g.updateReactions(ctx, rp.room, target, pu, func(set []reaction) []reaction { return removeReaction(set, r.Event) })
	}
	for _, key := range add {
		raw, _ := json.Marshal(map[string]any{"m.relates_to": matrix.RelatesTo{RelType: "m.annotation", EventID: target, Key: key}})
		op := intent.Op{Kind: intent.OpMessage, Room: rp.room, Sender: pu, Type: matrix.EventReaction, Content: raw,
			Key: base + "+" + address.Escape(key), Link: &intent.Link{Module: ID, RemoteID: reactionRemoteID(target, pu, key)}}
		wctx, cancel := context.WithTimeout(ctx, waitMatrix)
		ev, err := rv.m.host.Outbox().SendAndWait(wctx, op)
		cancel()
		if err != nil {
			rv.log.Info("xmpp: a reaction is not on Matrix yet", "room", rp.room, "err", err)
			continue
		}
		g.updateReactions(ctx, rp.room, target, pu, func(set []reaction) []reaction { return addReaction(set, ev, key) })
	}
}

// revReactKeyPrefix starts the outbox keys of reactions from a MUC.
const revReactKeyPrefix = "rvx/"

// react takes a Matrix user's reaction in a reverse portal: their new
// set of reactions to the message goes to the MUC.
func (rv *reverse) react(ctx context.Context, rp *revPortal, r *bridges.Reaction) error {
	u := r.Event.Sender
	l := bridges.Link{Remote: bridges.MessageID{ID: reactionRemoteID(r.Target, u, r.Key)}, Room: rp.room, Event: r.Event.ID}
	if err := rv.m.host.Links().Put(ctx, l); err != nil {
		return err // nothing sent yet: the call is repeated
	}
	set := rv.g.updateReactions(ctx, rp.room, r.Target, u, func(set []reaction) []reaction { return addReaction(set, r.Event.ID, r.Key) })
	rv.sendReactions(ctx, rp, u, r.Target, r.Event.ID, set)
	return nil
}

// unreact takes the redaction of a Matrix user's reaction (target,
// their reaction event, named by its link): the smaller set goes to the
// MUC.
func (rv *reverse) unreact(ctx context.Context, rp *revPortal, r *bridges.Redaction, target matrix.EventID, u matrix.UserID) {
	set := rv.g.updateReactions(ctx, rp.room, target, u, func(set []reaction) []reaction { return removeReaction(set, r.Target) })
	rv.sendReactions(ctx, rp, u, target, r.Event.ID, set)
}

// sendReactions sends u's whole set of reactions to target from their
// occupant, naming target by its stanza-id; nothing when the occupant is
// not in the MUC or the stanza-id is not known.
func (rv *reverse) sendReactions(ctx context.Context, rp *revPortal, u matrix.UserID, target, ev matrix.EventID, set []reaction) {
	sid := rv.sidOf(ctx, target)
	rv.mu.Lock()
	c := rp.clients[u]
	joined := c != nil && c.state == clientJoined
	var self string
	if c != nil {
		self = c.self
	}
	rv.mu.Unlock()
	if !joined || sid == "" {
		rv.log.Info("xmpp: reactions not sent to the MUC", "muc", rp.muc, "user", u, "joined", joined, "stanza_id", sid)
		return
	}
	rv.g.enqueue(ctx, mustMarshal(reactionMessage{From: self, To: rp.muc, ID: string(ev), Type: "groupchat",
		Reactions: reactionsEl{ID: sid, Reaction: reactionKeys(set)}}))
}

// reactionMessage is a groupchat message that only carries reactions.
type reactionMessage struct {
	XMLName   xml.Name    `xml:"message"`
	From      string      `xml:"from,attr"`
	To        string      `xml:"to,attr"`
	ID        string      `xml:"id,attr"`
	Type      string      `xml:"type,attr"`
	Reactions reactionsEl `xml:"reactions"`
	Store     storeEl     `xml:"store"`
}

// replyFromMatrix sends a Matrix reply to the MUC: Matrix's own
// fallback (which names people by Matrix ID) is dropped; the message
// carries an XEP-0461 reply naming the original by its stanza-id and
// its author's occupant, and a quote by nick marked as fallback.
func (rv *reverse) replyFromMatrix(ctx context.Context, rp *revPortal, msg *bridges.Message) {
	c := msg.Content
	c.Body = matrix.StripReplyFallback(c.Body)
	c.Format, c.FormattedBody = "", "" // its mx-reply names people by Matrix ID
	text, extra, ok := rv.g.outgoing(&c, "")
	if !ok {
		return
	}
	id := rv.sidOf(ctx, msg.ReplyTo)
	if id == "" {
		id = string(msg.ReplyTo)
	}
	r := replyEl{ID: id}
	var fb []byte
	if nick, line, ok := rv.quoted(ctx, rp, msg.ReplyTo); ok {
		r.To = rp.muc + "/" + nick
		quote := "> " + nick + ": " + line + "\n"
		text = quote + text
		fb = mustMarshal(fallbackEl{For: nsReply, Body: []fallbackBodyEl{{Start: 0, End: utf8.RuneCountInString(quote)}}})
	}
	payload := append(mustMarshal(r), fb...)
	rv.fromMatrix(ctx, rp, msg.Event.Sender, msg.Event.ID, text, append(payload, extra...))
}

// quoted returns the nick of the author of a portal's message (an
// occupant's, or a Matrix user's in the MUC) and its first line, for a
// reply's fallback.
func (rv *reverse) quoted(ctx context.Context, rp *revPortal, event matrix.EventID) (nick, line string, ok bool) {
	var ev matrix.Event
	if err := rv.m.host.Matrix().Bot().EventContent(ctx, rp.room, event, &ev); err != nil || ev.Sender == "" {
		return "", "", false
	}
	rv.mu.Lock()
	if c := rp.clients[ev.Sender]; c != nil {
		nick = c.nick
	}
	for _, o := range rp.remote {
		if o.puppet == ev.Sender {
			nick = o.nick
		}
	}
	rv.mu.Unlock()
	if nick == "" {
		nick = rv.g.nickOf(ev.Sender, "")
	}
	var c matrix.MessageContent
	_ = json.Unmarshal(ev.Content, &c)
	if c.NewContent != nil {
		c = *c.NewContent
	}
	text := matrix.StripReplyFallback(c.Body)
	if c.MsgType == matrix.MsgEmote {
		text = "/me " + text
	}
	line, _, _ = strings.Cut(text, "\n")
	if utf8.RuneCountInString(line) > maxQuote {
		line = string([]rune(line)[:maxQuote]) + "…"
	}
	return nick, line, true
}
