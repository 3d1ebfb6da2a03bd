package irc

import (
	"context"
	"strings"

	"github.com/ergochat/irc-go/ircmsg"

	"github.com/causewaybridge/causeway/bridges"
	"github.com/causewaybridge/causeway/bridges/irc/ircconn"
	"github.com/causewaybridge/causeway/bridges/kit/mark"
	"github.com/causewaybridge/causeway/intent"
	"github.com/causewaybridge/causeway/matrix"
)

// History marks: the module remembers, per channel, the last IRC message
// that reached Matrix (its msgid and server time, in the module KV, kept
// by the kit's mark.Book of each network),
// including the ones Matrix users' own connections sent, which never pass
// through the outbox. The catch-up after downtime (catchup.go) starts from
// this mark or from the newest message the outbox holds for the room,
// whichever is newer; the outbox is the durable one, the mark is written
// lazily. Duplicates are dropped by msgid (message links and the outbox
// keys).

// chathistoryTime is the timestamp format of CHATHISTORY selectors.
const chathistoryTime = "2006-01-02T15:04:05.000Z"

// marksPrefix is the KV prefix of a network's marks (kit/mark), by
// casefolded channel: "hist:<network>:<channel>".
func marksPrefix(network string) string { return "hist:" + network + ":" }

// noteBridged records that the IRC message msgid reached Matrix in op.Room.
func (m *Module) noteBridged(op intent.Op, msgid string) {
	if op.Timestamp.IsZero() {
		return
	}
	for _, id := range m.order {
		n := m.networks[id]
		if f, ok := n.channelOfRoom(op.Room); ok {
			n.markBridged(f, mark.Mark{ID: msgid, TS: op.Timestamp.UnixMilli()})
			return
		}
	}
}

// channelOfRoom returns the casefolded channel a portal room bridges.
func (n *network) channelOfRoom(room matrix.RoomID) (string, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for f, p := range n.portals {
		if p.room == room {
			return f, true
		}
	}
	return "", false
}

// markBridged moves a channel's mark (kit/mark writes it lazily).
func (n *network) markBridged(folded string, mk mark.Mark) {
	if n.marks != nil {
		n.marks.Note(folded, mk)
	}
}

// historyMark returns the last bridged message of a channel.
func (n *network) historyMark(ctx context.Context, folded string) (mark.Mark, bool) {
	if n.marks == nil {
		return mark.Mark{}, false
	}
	return n.marks.Get(ctx, folded)
}

// noteSent moves a channel's mark past a message a Matrix user's own
// connection sent, so a catch-up does not fetch it back from IRC.
func (n *network) noteSent(channel string, d *ircconn.Delivery) {
	if d == nil || d.MsgID == "" || d.ServerTime.IsZero() || n.portal(channel) == nil {
		return
	}
	n.markBridged(n.fold(channel), mark.Mark{ID: d.MsgID, TS: d.ServerTime.UnixMilli()})
}

// relaySuffix ends the nicks the bot relays Matrix users under with
// RELAYMSG ("alice/m").
const relaySuffix = "/m"

// tagRelaymsg names the relayer of a RELAYMSG line.
const tagRelaymsg = "draft/relaymsg"

// relayedByBridge reports lines the bot itself relayed for Matrix users:
// RELAYMSG lines tagged with the bot's nick (the server echoes them to the
// bot), and in history, where the tag is not kept, lines from a nick with
// the bridge's relay suffix, and the bot's own "<nick> text" lines (the bot
// says nothing else in channels). They came from Matrix: bridging them
// back would duplicate them.
func (n *network) relayedByBridge(m *ircmsg.Message, history bool) bool {
	nick := nickOf(m)
	bot := n.botNick()
	if ok, relayer := m.GetTag(tagRelaymsg); ok {
		return relayer != "" && n.fold(relayer) == n.fold(bot)
	}
	if !history {
		return false
	}
	return strings.HasSuffix(nick, relaySuffix) || (bot != "" && n.fold(nick) == n.fold(bot))
}

// botNick is the bot's current nick, or the configured one while it is
// not connected.
func (n *network) botNick() string {
	n.mu.Lock()
	bot := n.bot
	n.mu.Unlock()
	if bot != nil {
		return bot.Nick()
	}
	return n.cfg.Bot.Nick
}

// linkEarlierLines links the msgids of a multi-line message's earlier
// lines to its event, as parts 1, 2, ... in sending order. The last
// line's link is part 0, the one the event's lookups (replies, edits,
// redactions) find.
func (n *network) linkEarlierLines(ctx context.Context, evt *matrix.Event, msgids []string) {
	for i, id := range msgids {
		if err := n.m.links.Put(ctx, bridges.Link{Remote: bridges.MessageID{ID: id, Part: i + 1},
			Room: evt.RoomID, Event: evt.ID}); err != nil {
			n.log().Warn("could not link a line of a sent message", "msgid", id, "err", err)
		}
	}
}

// sentOrBridged reports whether the msgid of a history line is linked to
// a Matrix event: sent from Matrix (any of its lines: an earlier line is
// a part below the network's line limit, at least part 1, which links
// stored before parts were numbered got) or bridged before.
func (n *network) sentOrBridged(ctx context.Context, msg *ircmsg.Message) bool {
	id := ircconn.MsgID(msg)
	if id == "" {
		return false
	}
	for part := 0; part < max(n.cfg.LineLimit, 2); part++ {
		if _, err := n.m.links.ByRemote(ctx, bridges.MessageID{ID: id, Part: part}); err == nil {
			return true
		}
	}
	return false
}
