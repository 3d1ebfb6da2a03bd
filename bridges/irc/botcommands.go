package irc

import (
	"time"

	"github.com/ergochat/irc-go/ircmsg"

	"github.com/causewaybridge/causeway/bridges/irc/ircconn"
	"github.com/causewaybridge/causeway/bridges/irc/netstate"
)

// botCommand handles one IRC command or numeric read by the bot
// connection (botHandler.HandleMessage).
type botCommand struct {
	minParams int // fewer parameters: the message is ignored
	run       func(n *network, c *ircconn.Conn, m *ircmsg.Message)
}

// botCommands dispatches what the bot reads, by command; anything else
// goes to botOther.
var botCommands = map[string]botCommand{
	"PRIVMSG": {2, botPrivmsg},
	"NOTICE":  {2, botPrivmsg},
	"JOIN":    {1, botJoined},
	"PART":    {1, botPart},
	"KICK":    {2, botKick},
	"QUIT":    {0, botQuit},
	"NICK":    {1, botNick},
	"TOPIC":   {2, botTopic},
	"MODE":    {2, botMode},
	"AWAY":    {0, botAway},
	"TAGMSG":  {0, botTagmsg},
	"REDACT":  {0, botRedact},
	"CHGHOST": {2, botChghost},
	"353":     {4, botNamReply},     // RPL_NAMREPLY: me = channel :names
	"366":     {2, botEndOfNames},   // RPL_ENDOFNAMES
	"332":     {3, botTopicReply},   // RPL_TOPIC
	"324":     {3, botChannelModes}, // RPL_CHANNELMODEIS
	// JOIN failures
	"403":  {2, botJoinFailed},
	"405":  {2, botJoinFailed},
	"471":  {2, botJoinFailed},
	"473":  {2, botJoinFailed},
	"474":  {2, botJoinFailed},
	"475":  {2, botJoinFailed},
	"476":  {2, botJoinFailed},
	"477":  {2, botJoinFailed},
	"489":  {2, botJoinFailed},
	"FAIL": {0, botFail},
}

// botPrivmsg handles PRIVMSG and NOTICE: an operator's answer to a
// plumbing request, or a channel message.
func botPrivmsg(n *network, c *ircconn.Conn, m *ircmsg.Message) {
	ctx := n.m.ctx
	if m.Command == "PRIVMSG" && n.plumbAnswer(ctx, c, m) {
		return
	}
	if isChannel(c, m.Params[0]) {
		n.channelMessage(ctx, m, m.Params[0], m.Params[1], m.Command == "NOTICE", false)
	}
}

// botJoined handles JOIN: the bot's own ends a botJoin wait; others are
// shown in Matrix unless they come back from a netsplit.
func botJoined(n *network, c *ircconn.Conn, m *ircmsg.Message) {
	ctx := n.m.ctx
	ch := m.Params[0]
	account, realname := "", ""
	if len(m.Params) >= 3 { // extended-join
		account, realname = m.Params[1], m.Params[2]
		if account == "*" {
			account = ""
		}
	}
	n.state.Join(ch, m.Source, account, realname)
	nick := nickOf(m)
	if n.fold(nick) == n.fold(c.Nick()) {
		n.joinDone(ch, nil)
		return
	}
	if n.splits.Join(nick, ch) {
		return // back from a netsplit: they never left in Matrix
	}
	if n.cfg.Membership == "full" && !n.isBridgedNick(nick) {
		n.puppetMembership(ctx, ch, nick, "join", "", m)
	}
}

// botPart handles PART.
func botPart(n *network, c *ircconn.Conn, m *ircmsg.Message) {
	nick := nickOf(m)
	reason := param(m, 1)
	n.state.Part(m.Params[0], nick, reason)
	if !n.isBridgedNick(nick) {
		n.puppetMembership(n.m.ctx, m.Params[0], nick, "leave", reason, m)
	}
}

// botKick handles KICK: the bot rejoins when kicked itself.
func botKick(n *network, c *ircconn.Conn, m *ircmsg.Message) {
	ctx := n.m.ctx
	n.state.Kick(m.Params[0], m.Params[1], nickOf(m), param(m, 2))
	if n.fold(m.Params[1]) == n.fold(c.Nick()) {
		n.log().Warn("bot kicked from channel; rejoining", "channel", m.Params[0], "by", nickOf(m))
		_ = c.Send(ctx, nil, "JOIN", m.Params[0])
		return
	}
	if !n.isBridgedNick(m.Params[1]) && !n.isBridgedNick(nickOf(m)) { // a kick from Matrix is there already
		n.puppetMembership(ctx, m.Params[0], m.Params[1], "leave", "kicked by "+nickOf(m)+": "+param(m, 2), m)
	}
}

// botQuit handles QUIT outside a netsplit batch.
func botQuit(n *network, c *ircconn.Conn, m *ircmsg.Message) {
	n.quit(n.m.ctx, m, "")
}

// botNick handles NICK (nickchange.go).
func botNick(n *network, c *ircconn.Conn, m *ircmsg.Message) {
	old := nickOf(m)
	changes := n.state.Nick(old, m.Params[0])
	n.nickToMatrix(n.m.ctx, m, old, m.Params[0], changes)
}

// botTopic handles TOPIC.
func botTopic(n *network, c *ircconn.Conn, m *ircmsg.Message) {
	n.state.Topic(m.Params[0], m.Params[1], nickOf(m), time.Now())
	n.topicToMatrix(n.m.ctx, m.Params[0], m.Params[1], nickOf(m), m)
}

// botMode handles channel MODE changes; user modes are ignored.
func botMode(n *network, c *ircconn.Conn, m *ircmsg.Message) {
	if !isChannel(c, m.Params[0]) {
		return
	}
	ctx := n.m.ctx
	changes, err := n.state.Mode(m.Params[0], nickOf(m), m.Params[1], m.Params[2:])
	if err != nil {
		n.log().Debug("MODE partly understood", "err", err)
	}
	n.modesToMatrix(ctx, m.Params[0], changes)
	n.moderationFromIRC(ctx, m.Params[0], nickOf(m), changes) // moderation.go
}

// botAway handles AWAY (presence.go).
func botAway(n *network, c *ircconn.Conn, m *ircmsg.Message) {
	n.state.Away(nickOf(m), param(m, 0))
	n.awayFromIRC(nickOf(m), param(m, 0))
}

// botTagmsg handles TAGMSG (rich.go).
func botTagmsg(n *network, c *ircconn.Conn, m *ircmsg.Message) {
	n.reactionFromIRC(n.m.ctx, c, m)
}

// botRedact handles REDACT (redact.go).
func botRedact(n *network, c *ircconn.Conn, m *ircmsg.Message) {
	n.redactFromIRC(n.m.ctx, c, m)
}

// botChghost handles CHGHOST.
func botChghost(n *network, c *ircconn.Conn, m *ircmsg.Message) {
	n.state.ChangeHost(nickOf(m), m.Params[0], m.Params[1])
}

// botNamReply handles RPL_NAMREPLY: me = channel :names.
func botNamReply(n *network, c *ircconn.Conn, m *ircmsg.Message) {
	n.state.Names(m.Params[2], m.Params[3])
}

// botEndOfNames handles RPL_ENDOFNAMES: who was listed is shown in Matrix
// and the room's members are reconciled (reconcile.go).
func botEndOfNames(n *network, c *ircconn.Conn, m *ircmsg.Message) {
	ctx := n.m.ctx
	changes := n.state.EndNames(m.Params[1])
	for _, ch := range changes {
		if ch.Kind != netstate.ChangeJoin || n.isBridgedNick(ch.Nick) {
			continue
		}
		// Listed after the bot's own reconnect: back from a
		// netsplit it saw, though it missed their JOIN.
		if n.splits.Join(ch.Nick, ch.Channel) {
			continue
		}
		if n.cfg.Membership == "full" {
			n.puppetMembership(ctx, ch.Channel, ch.Nick, "join", "", nil)
		}
	}
	n.modesToMatrix(ctx, m.Params[1], changes)
	n.reconcileMembers(ctx, m.Params[1])
}

// botTopicReply handles RPL_TOPIC.
func botTopicReply(n *network, c *ircconn.Conn, m *ircmsg.Message) {
	n.state.Topic(m.Params[1], m.Params[2], "", time.Time{})
}

// botChannelModes handles RPL_CHANNELMODEIS (modequery.go).
func botChannelModes(n *network, c *ircconn.Conn, m *ircmsg.Message) {
	n.state.ChannelModes(m.Params[1], m.Params[2], m.Params[3:])
	n.modesKnown(m.Params[1])
}

// botJoinFailed handles the JOIN failure numerics. With no JOIN waiting,
// 403/477/489 may refuse a relayed message (delivery_late.go).
func botJoinFailed(n *network, c *ircconn.Conn, m *ircmsg.Message) {
	if !n.joinDone(m.Params[1], &ircconn.NumericError{Code: m.Command, Target: m.Params[1], Text: param(m, 2)}) {
		n.relayRefused(c, m)
	}
}

// botFail handles FAIL: CHATHISTORY (catchup.go) or RELAYMSG
// (delivery_late.go).
func botFail(n *network, c *ircconn.Conn, m *ircmsg.Message) {
	if param(m, 0) == "CHATHISTORY" {
		n.historyFailed(n.m.ctx, m)
		return
	}
	n.relayRefused(c, m)
}

// botOther handles what botCommands lacks: WHOIS replies and refusals of
// relayed messages such as 404 (delivery_late.go).
func botOther(n *network, c *ircconn.Conn, m *ircmsg.Message) {
	n.whoisReply(m)
	n.relayRefused(c, m)
}
