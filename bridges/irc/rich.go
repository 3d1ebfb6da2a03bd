package irc

import (
	"context"
	"encoding/json"
	"errors"
	"strings"

	"github.com/ergochat/irc-go/ircmsg"

	"github.com/causewaybridge/causeway/bridges"
	"github.com/causewaybridge/causeway/bridges/irc/ircconn"
	"github.com/causewaybridge/causeway/intent"
	"github.com/causewaybridge/causeway/matrix"
)

// IRCv3 tags and capabilities used for replies, reactions and redactions.
const (
	tagReply     = "+draft/reply"
	tagReact     = "+draft/react"
	capTags      = "message-tags"
	capRedaction = "draft/message-redaction"
)

// sendMessage sends a Matrix message to target, at once or, when the
// network has an edit grace window, after it (an edit in the window
// replaces the text). Held messages keep their room's order and are
// stored until sent (hold_store.go).
func (n *network) sendMessage(ctx context.Context, evt *matrix.Event, c *matrix.MessageContent, target string, channel bool) error {
	if n.cfg.EditGrace <= 0 {
		n.sendNow(ctx, evt, c, target, channel)
		return nil
	}
	return n.holdMessage(ctx, evt, c, target, channel)
}

// sendNow sends content c of Matrix message evt to target.
func (n *network) sendNow(ctx context.Context, evt *matrix.Event, c *matrix.MessageContent, target string, channel bool) {
	lines, command := n.linesFromMatrix(ctx, evt, c)
	if len(lines) == 0 {
		return
	}
	if err := n.deliver(ctx, evt, target, command, lines, channel); err != nil {
		n.log().Warn("message not delivered to IRC", "event_id", evt.ID, "err", err)
		return
	}
	n.m.x.sent.setContent(evt.ID, c)
}

// delivered records that a Matrix event reached IRC; deliver calls it.
func (n *network) delivered(evt *matrix.Event) { n.m.x.sent.markDelivered(evt.ID) }

// HandleMatrixEdit implements bridges.EditHandler. An edit of a message
// still held in the grace window replaces it; an edit of a delivered
// message sends a short correction ("* new text", or "* word" when one
// word changed); an edit of a message that never reached IRC is ignored.
func (m *Module) HandleMatrixEdit(ctx context.Context, e *bridges.Edit) error {
	evt := e.Event
	nc := e.NewContent
	if held, err := m.replaceHeld(ctx, evt.RoomID, e.Target, evt.Sender, &nc); held || err != nil {
		return err
	}
	t := m.portalTarget(e.Portal, evt.Sender)
	if t == nil {
		return nil
	}
	if t.n.cfg.EditGrace <= 0 {
		t.n.sendCorrection(ctx, e, t)
		return nil
	}
	// Behind the room's held messages, so the correction follows its
	// original; not replaceable itself.
	return m.holdCorrection(ctx, e, t)
}

// sendCorrection sends the IRC correction for an edit of a delivered
// message.
func (n *network) sendCorrection(ctx context.Context, e *bridges.Edit, t *ircTarget) {
	old, ok := n.previousContent(ctx, e)
	if !ok {
		n.log().Debug("edit of a message that never reached IRC ignored", "target", e.Target)
		return
	}
	nc := e.NewContent
	lines := n.correction(ctx, e.Event, old, &nc)
	if len(lines) == 0 {
		return
	}
	command := "PRIVMSG"
	if nc.MsgType == matrix.MsgNotice {
		command = "NOTICE"
	}
	if err := n.deliver(ctx, e.Event, t.name, command, lines, t.channel); err != nil {
		n.log().Warn("correction not delivered to IRC", "event_id", e.Event.ID, "err", err)
		return
	}
	if ok, _ := n.m.x.sent.lookup(e.Event.ID); ok {
		n.m.x.sent.setContent(e.Target, &nc)
	}
}

// previousContent returns what IRC last saw of the message e edits, and
// whether it reached IRC at all: from memory, else (after a restart) from
// the message links and the original event. The link is the one the core
// found (e.TargetRemote), or for a correction that waited behind its
// original (edit grace window) the one found now.
func (n *network) previousContent(ctx context.Context, e *bridges.Edit) (*matrix.MessageContent, bool) {
	room, event := e.Event.RoomID, e.Target
	if ok, c := n.m.x.sent.lookup(event); ok {
		return c, true
	}
	if e.TargetRemote == nil {
		if _, err := n.m.links.ByEvent(ctx, event); err != nil {
			return nil, false
		}
	}
	var ev matrix.Event
	var c matrix.MessageContent
	if err := n.m.client.Bot().EventContent(ctx, room, event, &ev); err != nil || json.Unmarshal(ev.Content, &c) != nil {
		return nil, true // delivered, text unknown: the correction repeats it all
	}
	return &c, true
}

// correction returns the IRC lines correcting old (nil: unknown) to nc.
func (n *network) correction(ctx context.Context, evt *matrix.Event, old, nc *matrix.MessageContent) []string {
	newText := n.plainLines(ctx, evt, nc)
	if len(newText) == 0 {
		return nil
	}
	var oldText []string
	if old != nil {
		oldText = n.plainLines(ctx, evt, old)
	}
	return editCorrection(strings.Join(oldText, "\n"), newText)
}

// plainLines is the IRC text of content without reply prefix or CTCP
// ACTION wrapping, as corrections show it.
func (n *network) plainLines(ctx context.Context, evt *matrix.Event, c *matrix.MessageContent) []string {
	cc := *c
	cc.RelatesTo, cc.NewContent = nil, nil
	if cc.MsgType == matrix.MsgEmote {
		cc.MsgType = matrix.MsgText
	}
	lines, _ := n.linesFromMatrix(ctx, evt, &cc)
	return lines
}

// editCorrection words an edit for IRC, like heisenbridge's line_diff:
// "* word" when exactly one word changed, else "* " and the whole new
// text. Nil when nothing visible changed.
func editCorrection(old string, newLines []string) []string {
	newText := strings.Join(newLines, "\n")
	if strings.TrimSpace(newText) == "" || old == newText {
		return nil
	}
	a, b := strings.Fields(old), strings.Fields(newText)
	if len(a) == len(b) && len(a) > 1 {
		changed := -1
		for i := range a {
			if a[i] != b[i] {
				if changed >= 0 {
					changed = -2
					break
				}
				changed = i
			}
		}
		if changed >= 0 {
			return []string{"* " + b[changed]}
		}
		if changed == -1 {
			return nil // only whitespace changed
		}
	}
	out := append([]string{"* " + newLines[0]}, newLines[1:]...)
	return out
}

// replyTags returns the +draft/reply tag for a Matrix reply when the
// connection has message-tags and the replied-to message has an IRC msgid.
func (n *network) replyTags(ctx context.Context, c *ircconn.Conn, evt *matrix.Event) map[string]string {
	if c == nil || !c.HasCap(capTags) {
		return nil
	}
	var mc matrix.MessageContent
	if json.Unmarshal(evt.Content, &mc) != nil || mc.RelatesTo == nil || mc.RelatesTo.InReplyTo == nil {
		return nil
	}
	id := n.m.msgidOf(ctx, mc.RelatesTo.InReplyTo.EventID)
	if id == "" {
		return nil
	}
	return map[string]string{tagReply: id}
}

// msgidOf is the IRC msgid a Matrix event was bridged from or to, or "":
// looked up when the message is sent, which may be after an edit grace
// window or a restart (the core's Message.ReplyToRemote is from when it
// arrived, and is not kept with a held message).
func (m *Module) msgidOf(ctx context.Context, event matrix.EventID) string {
	l, err := m.links.ByEvent(ctx, event)
	if err != nil {
		return ""
	}
	return l.Remote.ID
}

// remoteMsgID is the IRC msgid of a link the core resolved, or "".
func remoteMsgID(l *bridges.Link) string {
	if l == nil {
		return ""
	}
	return l.Remote.ID
}

// ircTarget is where a Matrix user's action in a portal goes on IRC.
type ircTarget struct {
	n       *network
	name    string // channel or nick
	channel bool
}

// portalTarget resolves the portal of an action by sender; nil when there
// is none, it is not one of a configured network, or sender may not act
// in it (another user's DM).
func (m *Module) portalTarget(p *bridges.Portal, sender matrix.UserID) *ircTarget {
	if p == nil {
		return nil
	}
	key, err := parsePortalKey(p.Key.ID)
	if err != nil || m.networks[key.network] == nil {
		return nil
	}
	if key.kind == "pm" && key.user != sender {
		return nil
	}
	name := decodeMeta(p).Name
	if name == "" {
		name = key.target
	}
	return &ircTarget{n: m.networks[key.network], name: name, channel: key.kind == "chan"}
}

// conn returns sender's connection, joined to the target channel.
func (t *ircTarget) conn(ctx context.Context, sender matrix.UserID) (*ircconn.Conn, error) {
	u := t.n.userConnFor(sender, "")
	if t.channel {
		if err := u.join(ctx, t.name); err != nil {
			return nil, err
		}
	}
	return u.connect(ctx)
}

// HandleMatrixReaction implements bridges.ReactionHandler: a TAGMSG with
// +draft/react and +draft/reply on the reacting user's connection when the
// server acked message-tags and the message has an IRC msgid. Without
// them nothing is sent: a reaction has no readable plain-IRC form that
// would not flood the channel with one line per emoji.
func (m *Module) HandleMatrixReaction(ctx context.Context, r *bridges.Reaction) error {
	t := m.portalTarget(r.Portal, r.Event.Sender)
	if t == nil || r.Key == "" {
		return nil
	}
	msgid := remoteMsgID(r.TargetRemote)
	if msgid == "" {
		t.n.log().Debug("reaction not bridged: the message has no IRC msgid", "target", r.Target)
		return nil
	}
	c, err := t.conn(ctx, r.Event.Sender)
	if err != nil {
		t.n.log().Info("reaction not bridged: no IRC connection", "user", r.Event.Sender, "err", err)
		return nil
	}
	if !c.HasCap(capTags) {
		return nil
	}
	d, err := c.SendMessage(ctx, map[string]string{tagReact: r.Key, tagReply: msgid}, "TAGMSG", t.name, "")
	if err != nil && !errors.Is(err, ircconn.ErrUnconfirmed) {
		t.n.log().Info("reaction refused by IRC", "user", r.Event.Sender, "err", err)
		return nil
	}
	if d != nil && d.MsgID != "" { // so a later redaction of the reaction can name it
		_ = m.links.Put(ctx, bridges.Link{Remote: msgID(d.MsgID), Room: r.Event.RoomID, Event: r.Event.ID})
	}
	return nil
}

// HandleMatrixRedaction implements bridges.RedactionHandler: REDACT on the
// redacting user's connection when the server acked
// draft/message-redaction and the event has an IRC msgid. A message that
// reached IRC but cannot be taken back there (no such cap, or no msgid)
// gets a notice saying IRC users still see it; reactions and events that
// never reached IRC need none.
func (m *Module) HandleMatrixRedaction(ctx context.Context, r *bridges.Redaction) error {
	t := m.portalTarget(r.Portal, r.Event.Sender)
	if t == nil {
		return nil
	}
	msgid := remoteMsgID(r.TargetRemote)
	if msgid == "" {
		if sent, _ := m.x.sent.lookup(r.Target); sent {
			m.redactionNotBridged(ctx, t, r, "the message has no IRC message ID")
		}
		return nil
	}
	c, err := t.conn(ctx, r.Event.Sender)
	if err != nil {
		t.n.log().Info("redaction not bridged: no IRC connection", "user", r.Event.Sender, "err", err)
		return nil
	}
	if !c.HasCap(capRedaction) {
		m.redactionNotBridged(ctx, t, r, "the server does not offer "+capRedaction)
		return nil
	}
	params := []string{t.name, msgid}
	if reason := oneLine(r.Reason); reason != "" {
		params = append(params, reason)
	}
	if err := c.Send(ctx, nil, "REDACT", params...); err != nil {
		t.n.log().Info("REDACT not sent", "user", r.Event.Sender, "err", err)
	}
	return nil
}

// redactionNotBridged tells the room that a redacted message stays on IRC,
// in a notice replying to it (a client shows it under "message deleted"),
// unless the redacted event is a reaction: removing one is routine and
// a notice for each would flood the room.
func (m *Module) redactionNotBridged(ctx context.Context, t *ircTarget, r *bridges.Redaction, why string) {
	var ev matrix.Event
	if err := m.client.Bot().EventContent(ctx, r.Event.RoomID, r.Target, &ev); err == nil && ev.Type == matrix.EventReaction {
		t.n.log().Debug("reaction removal not bridged", "target", r.Target, "reason", why)
		return
	}
	t.n.log().Info("redaction not bridged", "target", r.Target, "reason", why)
	m.notice(ctx, r.Event.RoomID, r.Target, "Not removed on IRC: "+t.n.cfg.Name+" cannot delete messages, so IRC users still see it.")
}

// oneLine makes text safe as a final IRC parameter.
func oneLine(s string) string {
	return strings.Join(strings.FieldsFunc(s, func(r rune) bool { return r == '\r' || r == '\n' || r == 0 }), " ")
}

// reactionFromIRC bridges a TAGMSG with +draft/react from an IRC user to a
// Matrix reaction (annotation) on the linked event.
func (n *network) reactionFromIRC(ctx context.Context, c *ircconn.Conn, m *ircmsg.Message) {
	if len(m.Params) < 1 || !isChannel(c, m.Params[0]) {
		return
	}
	_, key := m.GetTag(tagReact)
	_, reply := m.GetTag(tagReply)
	nick := nickOf(m)
	if key == "" || reply == "" || n.isBridgedNick(nick) {
		return
	}
	p := n.portal(m.Params[0])
	if p == nil {
		return
	}
	link, err := n.m.links.ByRemote(ctx, msgID(reply))
	if err != nil {
		return
	}
	sender, err := n.puppetID(nick)
	if err != nil {
		return
	}
	raw, _ := json.Marshal(map[string]any{"m.relates_to": matrix.RelatesTo{RelType: "m.annotation",
		EventID: link.Event, Key: key}})
	ts, _ := ircconn.ServerTime(m)
	opKey := ""
	if id := ircconn.MsgID(m); id != "" {
		opKey = "irc:" + id // linked to the event on delivery (msgLink), so REDACT can remove it
	}
	n.ensureProfile(ctx, sender, nick, p.room)
	if _, err := n.m.outbox.Send(ctx, intent.Op{Kind: intent.OpMessage, Room: p.room, Sender: sender,
		Type: matrix.EventReaction, Content: raw, Timestamp: ts, Key: opKey, Link: msgLink(opKey)}); err != nil {
		n.log().Warn("could not queue IRC reaction", "err", err)
	}
}

var (
	_ bridges.MessageHandler    = (*Module)(nil)
	_ bridges.MembershipHandler = (*Module)(nil)
	_ bridges.TopicHandler      = (*Module)(nil)
	_ bridges.EditHandler       = (*Module)(nil)
	_ bridges.ReactionHandler   = (*Module)(nil)
	_ bridges.RedactionHandler  = (*Module)(nil)
)
