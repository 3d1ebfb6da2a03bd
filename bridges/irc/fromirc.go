package irc

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ergochat/irc-go/ircmsg"

	"github.com/causewaybridge/causeway/bridges/irc/ircconn"
	"github.com/causewaybridge/causeway/bridges/irc/ircfmt"
	"github.com/causewaybridge/causeway/bridges/irc/netstate"
	"github.com/causewaybridge/causeway/bridges/kit"
	"github.com/causewaybridge/causeway/intent"
	"github.com/causewaybridge/causeway/matrix"
)

// botHandler is the bot connection's ircconn.Handler: the single reader of
// bridged channels' traffic.
type botHandler struct{ n *network }

// HandleMessage implements ircconn.Handler: it dispatches through
// botCommands (botcommands.go).
func (h botHandler) HandleMessage(c *ircconn.Conn, m *ircmsg.Message) {
	cmd, ok := botCommands[m.Command]
	if !ok {
		botOther(h.n, c, m)
		return
	}
	if len(m.Params) < cmd.minParams {
		return
	}
	cmd.run(h.n, c, m)
}

// HandleBatch implements ircconn.Handler.
func (h botHandler) HandleBatch(c *ircconn.Conn, b *ircconn.Batch) {
	n := h.n
	switch b.Type {
	case ircconn.BatchChathistory:
		n.backfillBatch(n.m.ctx, b)
	case ircconn.BatchMultiline:
		if len(b.Params) == 0 || !isChannel(c, b.Params[0]) {
			return
		}
		m := multilineMessage(b)
		n.channelMessage(n.m.ctx, m, b.Params[0], m.Params[1], m.Command == "NOTICE", false)
	case netstate.BatchNetsplit:
		for _, l := range b.Lines {
			if l.Command == "QUIT" {
				n.quit(n.m.ctx, l, b.Type)
			} else {
				h.HandleMessage(c, l)
			}
		}
	default:
		// netjoin and others: their lines are ordinary messages.
		for _, l := range b.Lines {
			h.HandleMessage(c, l)
		}
		for _, nb := range b.Nested {
			h.HandleBatch(c, nb)
		}
	}
}

// HandleClose implements ircconn.Handler.
func (h botHandler) HandleClose(c *ircconn.Conn, err error) {}

func param(m *ircmsg.Message, i int) string {
	if i < len(m.Params) {
		return m.Params[i]
	}
	return ""
}

// quit handles an IRC user's QUIT: their leaves are shown in Matrix at
// once, unless it looks like a netsplit, in which case they are held for
// netsplit_delay and cancelled by the rejoin (see netstate.Debouncer).
func (n *network) quit(ctx context.Context, m *ircmsg.Message, batch string) {
	nick, reason := nickOf(m), param(m, 0)
	changes := n.state.Quit(nick, reason)
	if n.isBridgedNick(nick) {
		return
	}
	chans := make([]string, 0, len(changes))
	for _, ch := range changes {
		chans = append(chans, ch.Channel)
	}
	if n.splits.Quit(nick, reason, chans, batch) {
		n.log().Debug("holding a netsplit quit", "nick", nick, "channels", len(chans))
		return
	}
	for _, ch := range chans {
		n.puppetMembership(ctx, ch, nick, "leave", "quit: "+reason, m)
	}
}

// releaseSplit shows the leaves of a netsplit quit whose user did not
// come back in time.
func (n *network) releaseSplit(q netstate.HeldQuit) {
	for _, ch := range q.Channels {
		n.puppetMembership(n.m.ctx, ch, q.Nick, "leave", "quit: "+q.Reason, nil)
	}
}

// channelMessage bridges a PRIVMSG or NOTICE in a channel to its portal;
// a live one waits while the channel catches up on its history
// (catchup.go).
func (n *network) channelMessage(ctx context.Context, m *ircmsg.Message, channel, text string, notice, history bool) {
	if !history && n.hold(m, channel, text, notice) {
		return
	}
	n.bridgeMessage(ctx, m, channel, text, notice, history)
}

// bridgeMessage queues a channel message for its portal, unless it came
// from Matrix or is not a message Matrix shows.
func (n *network) bridgeMessage(ctx context.Context, m *ircmsg.Message, channel, text string, notice, history bool) {
	p := n.portal(channel)
	if p == nil {
		return
	}
	nick := nickOf(m)
	if !history && n.isBridgedNick(nick) {
		return // a Matrix user's message echoed by IRC: already in Matrix
	}
	if n.relayedByBridge(m, history) || (history && n.sentOrBridged(ctx, m)) { // history.go
		return
	}
	content := n.contentFromIRC(text, notice)
	if content == nil {
		return
	}
	sender, err := n.puppetID(nick)
	if err != nil {
		n.log().Warn("cannot name IRC user on Matrix", "nick", nick, "err", err)
		return
	}
	ts, ok := ircconn.ServerTime(m)
	if !ok {
		ts = time.Now()
	}
	key := remoteKey(m, channel, text, ts)
	n.ensureProfile(ctx, sender, nick, p.room)
	raw, _ := json.Marshal(content)
	if _, err := n.m.outbox.Send(ctx, intent.Op{Kind: intent.OpMessage, Room: p.room, Sender: sender,
		Type: matrix.EventMessage, Content: raw, Timestamp: ts, Key: key, Link: msgLink(key)}); err != nil {
		if n.m.ctx.Err() != nil {
			// Stopping: the catch-up of the next start fetches it again.
			n.log().Debug("IRC message not queued: stopping", "channel", channel, "err", err)
			return
		}
		n.log().Error("could not queue IRC message for Matrix", "channel", channel, "err", err)
		return
	}
	n.puppets.Set(p.room, sender, true) // kit.PuppetRooms: the puppet joins to speak
}

// contentFromIRC converts IRC text to Matrix content; nil for CTCPs other
// than ACTION.
func (n *network) contentFromIRC(text string, notice bool) *matrix.MessageContent {
	msgtype := matrix.MsgText
	if notice {
		msgtype = matrix.MsgNotice
	}
	if strings.HasPrefix(text, "\x01") {
		body := strings.TrimSuffix(strings.TrimPrefix(text, "\x01"), "\x01")
		cmd, rest, _ := strings.Cut(body, " ")
		if !strings.EqualFold(cmd, "ACTION") {
			return nil
		}
		text, msgtype = rest, matrix.MsgEmote
	}
	plain, html, mentions := ircfmt.ToMatrix(text, ircfmt.ToMatrixOptions{Mention: n.mentionLookup})
	c := &matrix.MessageContent{MsgType: msgtype, Body: plain}
	if html != "" {
		c.Format, c.FormattedBody = "org.matrix.custom.html", html
	}
	if len(mentions) > 0 {
		c.Mentions = &matrix.Mentions{UserIDs: mentions}
	}
	return c
}

// mentionLookup turns the nick of a bridged Matrix user into their user ID.
func (n *network) mentionLookup(nick string) (matrix.UserID, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	u, ok := n.byNick[ircfmt.Casefold(n.casemap, nick)]
	if !ok {
		return "", false
	}
	return u.user, true
}

// msgLink asks the outbox to link an IRC message with a msgid (an outbox key
// from remoteKey) to the event it becomes, in the transaction that completes
// the send; replies, edits and REDACTs find the event by it.
func msgLink(key string) *intent.Link {
	id, ok := strings.CutPrefix(key, "irc:")
	if !ok {
		return nil
	}
	return &intent.Link{Module: ID, RemoteID: msgID(id).String()}
}

// remoteKey identifies an IRC message for deduplication: its msgid, or a
// hash of what the line says when the server gives no msgid.
func remoteKey(m *ircmsg.Message, channel, text string, ts time.Time) string {
	if id := ircconn.MsgID(m); id != "" {
		return "irc:" + id
	}
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%d\x00%s", channel, m.Source, ts.UnixMilli(), text)
	return "irch:" + hex.EncodeToString(h.Sum(nil)[:12])
}

// ensureProfile queues the puppet's display name (kit.SyncProfile: only
// when it changed) before its first message in a room lane, so the name
// is set before anything it says appears. profiled spares the hot path
// the kit's read of the last name.
func (n *network) ensureProfile(ctx context.Context, sender matrix.UserID, nick string, room matrix.RoomID) {
	n.mu.Lock()
	if n.profiled[sender] == nick {
		n.mu.Unlock()
		return
	}
	n.profiled[sender] = nick
	n.mu.Unlock()
	if _, err := kit.SyncProfile(ctx, n.m.host, room, sender, kit.Profile{Displayname: nick}); err != nil {
		n.log().Warn("could not queue puppet profile", "sender", sender, "err", err)
	}
}

// puppetMembership mirrors an IRC user's join or leave in the portal.
func (n *network) puppetMembership(ctx context.Context, channel, nick, membership, reason string, m *ircmsg.Message) {
	p := n.portal(channel)
	if p == nil {
		return
	}
	sender, err := n.puppetID(nick)
	if err != nil {
		return
	}
	if membership == "join" {
		n.ensureProfile(ctx, sender, nick, p.room)
	}
	var ts time.Time
	if m != nil {
		ts, _ = ircconn.ServerTime(m)
	}
	undo := n.puppets.Set(p.room, sender, membership == "join") // kit.PuppetRooms: before the op can be carried out
	if _, err := n.m.outbox.Send(ctx, intent.Op{Kind: intent.OpMembership, Room: p.room, Sender: sender,
		Type: membership, Reason: reason, Timestamp: ts}); err != nil {
		undo()
		n.log().Warn("could not queue membership", "nick", nick, "err", err)
	}
}

// topicToMatrix mirrors an IRC topic change.
func (n *network) topicToMatrix(ctx context.Context, channel, topic, by string, m *ircmsg.Message) {
	p := n.portal(channel)
	if p == nil || n.isBridgedNick(by) {
		return
	}
	sender, err := n.puppetID(by)
	if err != nil {
		return
	}
	plain := ircfmt.Strip(topic)
	raw, _ := json.Marshal(map[string]string{"topic": plain})
	ts, _ := ircconn.ServerTime(m)
	n.ensureProfile(ctx, sender, by, p.room)
	// The bot sets the topic (puppets rarely have the power to); the
	// puppet's name is kept in the event for clients that show it.
	if _, err := n.m.outbox.Send(ctx, intent.Op{Kind: intent.OpState, Room: p.room, Type: matrix.EventTopic,
		Content: raw, Timestamp: ts, Key: "topic:" + strconv.FormatInt(ts.UnixNano(), 10) + ":" + by}); err != nil {
		n.log().Warn("could not queue topic", "channel", channel, "err", err)
	}
}

// modesToMatrix maps prefix-mode changes to power levels (see
// queuePower).
func (n *network) modesToMatrix(ctx context.Context, channel string, changes []netstate.Change) {
	p := n.portal(channel)
	if p == nil {
		return
	}
	for _, ch := range changes {
		switch ch.Kind {
		case netstate.ChangePrefixAdded, netstate.ChangePrefixRemoved:
			n.queuePower(ctx, p, channel, ch.Nick)
		}
	}
}

// powerFromNick moves power with a renamed IRC user: the old puppet loses
// its level, the new one gets the level of the nick's channel modes.
func (n *network) powerFromNick(ctx context.Context, changes []netstate.Change) {
	for _, ch := range changes {
		if ch.Kind != netstate.ChangeNick || n.fold(ch.OldNick) == n.fold(ch.Nick) {
			continue
		}
		if p := n.portal(ch.Channel); p != nil {
			n.queuePower(ctx, p, ch.Channel, ch.OldNick)
			n.queuePower(ctx, p, ch.Channel, ch.Nick)
		}
	}
}

// powerQueue orders power-level updates per portal room (a kit.RoomQueue,
// made on first use): they reach Matrix in IRC's order and never
// overwrite each other's power_levels event. Each level is read from the
// channel state when it is set, so a quick +o -o ends where IRC ends, and
// an update waiting for a nick makes another one for it needless. Its
// zero value is ready.
type powerQueue struct {
	once sync.Once
	q    *kit.RoomQueue
	mu   sync.Mutex
	// waiting holds the room and casefolded nick of each update not
	// started yet.
	waiting map[powerWait]bool
}

type powerWait struct {
	room   matrix.RoomID
	folded string
}

// powerUpdate names a nick whose power in a portal follows its modes in
// channel.
type powerUpdate struct {
	channel, nick, folded string
	plumbed               bool
}

// queuePower asks for nick's power level in portal p to be set from its
// modes in channel, after the updates already waiting for the room.
func (n *network) queuePower(ctx context.Context, p *portal, channel, nick string) {
	u := powerUpdate{channel: channel, nick: nick, folded: n.fold(nick), plumbed: p.plumbed}
	pq, w := &n.powerQ, powerWait{p.room, u.folded}
	pq.once.Do(func() {
		// Updates wait per nick, at most one each, so a room's backlog is
		// bounded by its channel's members.
		pq.q, _ = kit.NewRoomQueue(kit.QueueOptions{Spawn: n.m.goTracked, MaxPending: math.MaxInt32, Logger: n.log()})
		pq.waiting = map[powerWait]bool{}
	})
	if pq.mark(w, true) {
		return
	}
	if err := pq.q.Push(ctx, w.room, func(ctx context.Context) {
		pq.mark(w, false)
		n.applyPower(ctx, w.room, u)
	}); err != nil {
		pq.mark(w, false)
		n.log().Debug("power level not queued", "channel", channel, "nick", nick, "err", err)
	}
}

// mark notes w as waiting or not, and reports whether it was.
func (pq *powerQueue) mark(w powerWait, waiting bool) (was bool) {
	pq.mu.Lock()
	defer pq.mu.Unlock()
	was = pq.waiting[w]
	if waiting {
		pq.waiting[w] = true
	} else {
		delete(pq.waiting, w)
	}
	return was
}

// applyPower sets the power level of u's nick in room from its current
// modes in the channel (none when it is no longer there).
func (n *network) applyPower(ctx context.Context, room matrix.RoomID, u powerUpdate) {
	mem, ok := n.state.Member(u.channel, u.nick)
	level := 0
	if ok {
		level = netstate.PowerLevel(mem.Modes, n.powers)
	}
	if n.isBridgedNick(u.nick) {
		// A Matrix user opped on IRC through their own connection gets the
		// same power in a bridge-made portal; room admins (100) and
		// plumbed rooms are left alone.
		if user, ok := n.mentionLookup(u.nick); ok && !u.plumbed {
			n.setMatrixUserPower(ctx, room, user, level)
		}
		return
	}
	puppetID, err := n.puppetID(u.nick)
	if err != nil {
		return
	}
	n.setPower(ctx, room, puppetID, level)
}

// setMatrixUserPower mirrors IRC channel modes of a Matrix user's own
// connection, never touching room admins.
func (n *network) setMatrixUserPower(ctx context.Context, room matrix.RoomID, user matrix.UserID, level int) {
	pl, err := n.m.client.Bot().PowerLevels(ctx, room)
	if err != nil {
		n.log().Warn("could not read power levels", "room_id", room, "err", err)
		return
	}
	if cur, ok := pl.Users[user]; ok && cur >= 100 {
		return
	}
	n.setPower(ctx, room, user, level)
}

// setPower sets a puppet's power level in a room as the bot.
func (n *network) setPower(ctx context.Context, room matrix.RoomID, user matrix.UserID, level int) {
	if err := n.m.client.Bot().SetUserPowerLevel(ctx, room, user, level); err != nil {
		n.log().Warn("could not set power level", "room_id", room, "user", user, "level", level, "err", err)
	}
}

// backfillBatch bridges a CHATHISTORY batch into its portal: a page of a
// channel catching up (catchup.go), or else its PRIVMSG and NOTICE lines,
// each draft/multiline batch nested in it as one message, in the order of
// their server times.
func (n *network) backfillBatch(ctx context.Context, b *ircconn.Batch) {
	if len(b.Params) == 0 {
		return
	}
	channel := b.Params[0]
	if st := n.catching.get(n.fold(channel)); st != nil {
		n.historyPage(ctx, st, b)
		return
	}
	for _, l := range historyLines(b) {
		if (l.Command == "PRIVMSG" || l.Command == "NOTICE") && len(l.Params) >= 2 {
			n.bridgeMessage(ctx, l, channel, l.Params[1], l.Command == "NOTICE", true)
		}
	}
}

// historyLines returns the lines of a CHATHISTORY batch in the order of
// their server times, each draft/multiline batch nested in it as the one
// message it stands for (a Batch keeps its own lines and its nested
// batches apart).
func historyLines(b *ircconn.Batch) []*ircmsg.Message {
	var multi []*ircmsg.Message
	for _, nb := range b.Nested {
		if nb.Type == ircconn.BatchMultiline && len(nb.Lines) > 0 {
			multi = append(multi, multilineMessage(nb))
		}
	}
	lines := b.Lines
	out := make([]*ircmsg.Message, 0, len(lines)+len(multi))
	for len(lines) > 0 || len(multi) > 0 {
		var l *ircmsg.Message
		if len(multi) > 0 && (len(lines) == 0 || before(multi[0], lines[0])) {
			l, multi = multi[0], multi[1:]
		} else {
			l, lines = lines[0], lines[1:]
		}
		out = append(out, l)
	}
	return out
}

// before reports whether a has an earlier server time than b; lines
// without one keep their place.
func before(a, b *ircmsg.Message) bool {
	ta, okA := ircconn.ServerTime(a)
	tb, okB := ircconn.ServerTime(b)
	return okA && okB && ta.Before(tb)
}

// multilineMessage is a draft/multiline batch as the single PRIVMSG or
// NOTICE it stands for, with the opening BATCH line's source and tags
// (msgid, time).
func multilineMessage(b *ircconn.Batch) *ircmsg.Message {
	cmd := "PRIVMSG"
	if len(b.Lines) > 0 && b.Lines[0].Command == "NOTICE" {
		cmd = "NOTICE"
	}
	target := ""
	if len(b.Params) > 0 {
		target = b.Params[0]
	}
	m := &ircmsg.Message{Source: b.Source, Command: cmd, Params: []string{target, b.Text()}}
	for k, v := range b.Tags {
		if k != "batch" { // the enclosing batch's reference
			m.SetTag(k, v)
		}
	}
	return m
}

// OnOutboxSent implements bridges.SentListener: it notes the newest bridged
// message of each channel for the history catch-up after downtime, and the
// puppets' leaves carried out. The core reports only the ops this module
// queued; the "irc:" key picks the IRC messages among them (topics,
// notices and redactions have keys of their own).
func (m *Module) OnOutboxSent(ctx context.Context, op intent.Op, eventID matrix.EventID) {
	if op.Kind == intent.OpMembership && op.Type == "leave" {
		m.puppetLeft(op.Room, op.Sender) // nickchange.go: forgets puppets that left
		return
	}
	id, ok := strings.CutPrefix(op.Key, "irc:")
	if !ok || eventID == "" {
		return
	}
	m.noteBridged(op, id) // the msgid→event link was stored with the completion (op.Link)
}
