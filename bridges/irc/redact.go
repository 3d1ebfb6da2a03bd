package irc

import (
	"context"
	"fmt"
	"strings"

	"github.com/ergochat/irc-go/ircmsg"

	"github.com/causewaybridge/causeway/bridges/irc/ircconn"
	"github.com/causewaybridge/causeway/intent"
	"github.com/causewaybridge/causeway/matrix"
)

// redactFromIRC bridges REDACT <target> <msgid> [reason]
// (draft/message-redaction) to a Matrix redaction of the event the msgid
// was bridged to or from, sent by the bot (it has the power to redact
// anyone's message in portals). As the specification asks of clients, a
// REDACT of a message the bridge does not know is ignored, and one is
// applied only when it comes from the message's author, a channel
// operator or a server: servers check this too, but the bot must not
// redact whatever a lax or misbehaving server relays.
func (n *network) redactFromIRC(ctx context.Context, c *ircconn.Conn, m *ircmsg.Message) {
	if len(m.Params) < 2 || !isChannel(c, m.Params[0]) {
		return
	}
	channel, msgid, by := m.Params[0], m.Params[1], nickOf(m)
	if n.isBridgedNick(by) {
		return // a Matrix user's redaction: already in Matrix
	}
	p := n.portal(channel)
	if p == nil {
		return
	}
	link, err := n.m.links.ByRemote(ctx, msgID(msgid))
	if err != nil || link.Room != p.room {
		n.log().Debug("REDACT of a message not bridged to this channel's room ignored", "channel", channel, "msgid", msgid, "by", by, "err", err)
		return
	}
	event := link.Event
	if ok, why := n.mayRedact(ctx, m, channel, p.room, event); !ok {
		n.log().Info("REDACT not applied: "+why, "channel", channel, "msgid", msgid, "by", by)
		return
	}
	reason := "Deleted on IRC by " + by
	if r := param(m, 2); r != "" {
		reason += ": " + r
	}
	ts, _ := ircconn.ServerTime(m)
	if _, err := n.m.outbox.Send(ctx, intent.Op{Kind: intent.OpRedaction, Room: p.room,
		Redacts: event, Reason: reason, Timestamp: ts,
		Key: fmt.Sprintf("redact:%s", msgid)}); err != nil {
		n.log().Warn("could not queue IRC redaction", "err", err)
	}
}

// mayRedact reports whether the source of REDACT m may delete event in
// channel: a server, a channel operator (halfop and up), or the author of
// the message, that is the IRC user whose puppet sent event. It says why
// not otherwise.
func (n *network) mayRedact(ctx context.Context, m *ircmsg.Message, channel string, room matrix.RoomID, event matrix.EventID) (bool, string) {
	by := nickOf(m)
	if !strings.Contains(m.Source, "!") && strings.Contains(m.Source, ".") {
		return true, "" // a server (services, or an IRC operator acting through it)
	}
	if mem, ok := n.state.Member(channel, by); ok && isOperator(mem.Modes) {
		return true, ""
	}
	var ev matrix.Event
	if err := n.m.client.Bot().EventContent(ctx, room, event, &ev); err != nil {
		return false, "the message's author is unknown (" + err.Error() + ")"
	}
	if author, err := n.puppetID(by); err == nil && author == ev.Sender {
		return true, ""
	}
	return false, "neither the message's author nor a channel operator"
}
