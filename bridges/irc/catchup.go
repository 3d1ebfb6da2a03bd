package irc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ergochat/irc-go/ircmsg"

	"github.com/causewaybridge/causeway/bridges"
	"github.com/causewaybridge/causeway/bridges/irc/ircconn"
	"github.com/causewaybridge/causeway/bridges/kit/mark"
	"github.com/causewaybridge/causeway/intent"
	"github.com/causewaybridge/causeway/matrix"
)

// Catch-up: what a channel said while the bridge was away (stopped,
// crashed, or the bot's connection lost) comes into Matrix, all of it,
// once, in order, before the channel's live messages.
//
//  1. The start point of a channel is the newest IRC message the outbox
//     holds for its room (key "irc:<msgid>", delivered or still pending:
//     both survive a crash), or the bridged-message mark in the module KV
//     (history.go) when that is newer, or else the time the bot was last
//     known connected (the heartbeat below).
//  2. When the bot connects, each portal channel with a start point gets a
//     catch-up state before the JOINs go out, so the channel's live lines,
//     read after the JOIN, are held until the history is in.
//  3. The bot pages CHATHISTORY AFTER the start point until a page comes
//     back short. Lines already bridged or sent from Matrix are skipped
//     (message links, the outbox's keys), the bridge's own relays too.
//  4. At most catch_up_limit messages are bridged per channel: the newest
//     ones. When more were missed, the room is first told how many were
//     skipped and from when to when. Then the held live lines follow.
//
// Where the server cannot give history back (no draft/chathistory, or
// catch_up_limit 0, or the server refuses or never answers), each portal
// room is told from when to when the bridge was away instead, so nobody
// mistakes silence for nothing said.

// catchUpPage is the most messages asked for in one CHATHISTORY request
// (fewer when the server's CHATHISTORY token says so).
const catchUpPage = 100

// catchUpTimeout is how long a page may take before the catch-up gives up
// on the server and tells the room.
const catchUpTimeout = time.Minute

// catchUpMaxPages stops a server that keeps answering the same page.
const catchUpMaxPages = 10_000

// A server may send a message to a channel's members before it stores the
// message in the channel's history (Ergo fans a message out, then adds it
// to the history). A message whose fan-out began just before the bot's
// JOIN is then neither read live nor in a history page asked for right
// after the JOIN. So a catch-up does not end at its first short page:
// it asks again, after catchUpSettle, until the history has reached the
// first live line held meanwhile (its msgid, or a later time), or at once
// more when no live line came; at most catchUpConfirms times.
const (
	catchUpSettle   = 250 * time.Millisecond
	catchUpConfirms = 4
)

// heartbeatEvery is how often the bot's "last seen connected" time is
// stored while it is connected; a crash makes the away notice start at
// most this much early.
const heartbeatEvery = 30 * time.Second

// kvSeen is the store key of the time the network's bot was last known
// connected (Unix milliseconds).
func kvSeen(network string) string { return "seen:" + network }

// catchUps holds the channels catching up; its zero value is ready.
type catchUps struct {
	mu    sync.Mutex
	chans map[string]*catchUp // casefolded channel
}

// catchUp is one channel's catch-up. Its fields other than the ones set
// by planCatchUp are used only on the ingest goroutine.
type catchUp struct {
	c       *ircconn.Conn
	channel string
	folded  string
	room    matrix.RoomID
	// from is the start point (exclusive); zero TS for a new portal's
	// backfill, which asks for the LATEST messages instead.
	from  mark.Mark
	limit int
	page  int

	// kept is a ring of the newest missed messages, at most limit; head
	// is its oldest element once it is full.
	kept []*ircmsg.Message
	head int
	// skipped counts the older ones pushed out of kept, sent from
	// skipFrom to skipTo.
	skipped          int
	skipFrom, skipTo time.Time
	// held are live lines of the channel read meanwhile.
	held    []heldLine
	pages   int
	waiting int // requests sent, for the timeout
	// lostTo is set when the server's history no longer reaches back to
	// from: messages sent from then to lostTo may be gone.
	lostTo time.Time
	lastID string
	lastTS time.Time
	// firstLive is the first live line held (msgid, server time);
	// reachedLive is set once a history page reached it (see
	// catchUpSettle); confirms counts the pages asked for after a short
	// one.
	firstLive   *ircmsg.Message
	reachedLive bool
	confirms    int
}

// heldLine is a live channel message waiting for the catch-up.
type heldLine struct {
	m      *ircmsg.Message
	text   string
	notice bool
}

// get returns the channel's catch-up, or nil.
func (cs *catchUps) get(folded string) *catchUp {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	return cs.chans[folded]
}

// install makes sts the channels' catch-ups, replacing earlier ones (their
// held lines are dropped: they come back with the new catch-up's history,
// which starts before them).
func (cs *catchUps) install(sts []*catchUp) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if cs.chans == nil {
		cs.chans = map[string]*catchUp{}
	}
	for _, st := range sts {
		cs.chans[st.folded] = st
	}
}

// remove ends st's catch-up unless a newer one replaced it; it reports
// whether st was current.
func (cs *catchUps) remove(st *catchUp) bool {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if cs.chans[st.folded] != st {
		return false
	}
	delete(cs.chans, st.folded)
	return true
}

// hold keeps a live channel message back while its channel catches up.
func (n *network) hold(m *ircmsg.Message, channel, text string, notice bool) bool {
	st := n.catching.get(n.fold(channel))
	if st == nil {
		return false
	}
	if st.firstLive == nil {
		st.firstLive = m
	}
	st.held = append(st.held, heldLine{m: m, text: text, notice: notice})
	return true
}

// awayGap is a stretch of time in which a channel's messages could not be
// fetched.
type awayGap struct {
	channel  string
	room     matrix.RoomID
	from, to time.Time
	why      string
}

// planCatchUp decides, when the bot has connected and before it rejoins,
// which channels page their history and which rooms are told that the
// bridge was away; it queues that decision ahead of any line the JOINs
// bring. It returns the catch-ups whose first request requestCatchUp
// sends.
func (n *network) planCatchUp(ctx context.Context, c *ircconn.Conn, chans []string) []*catchUp {
	now := time.Now()
	seen, seenOK := n.lastSeen(ctx)
	why := ""
	switch {
	case !c.HasCap("draft/chathistory"):
		why = "this IRC server cannot send history"
	case n.cfg.CatchUpLimit <= 0:
		why = "catching up is turned off in the bridge's configuration"
	}
	var plan []*catchUp
	var away []awayGap
	for _, ch := range chans {
		p := n.portal(ch)
		if p == nil {
			continue
		}
		f := n.fold(ch)
		from, ok := n.resumePoint(ctx, f, p.room)
		if !ok && seenOK {
			from, ok = mark.Mark{TS: seen.UnixMilli()}, true
		}
		if !ok {
			continue // never bridged anything and never connected: nothing was missed
		}
		if why != "" {
			start := time.UnixMilli(from.TS)
			if seenOK && seen.After(start) {
				start = seen
			}
			away = append(away, awayGap{channel: ch, room: p.room, from: start, to: now, why: why})
			continue
		}
		plan = append(plan, &catchUp{c: c, channel: ch, folded: f, room: p.room,
			from: from, limit: n.cfg.CatchUpLimit, page: pageSize(c, catchUpPage)})
	}
	n.queueStep(func(ctx context.Context) {
		n.catching.install(plan)
		for _, a := range away {
			n.sendAway(ctx, a)
		}
	})
	return plan
}

// requestCatchUp sends the first history request of each planned
// catch-up, after the JOINs.
func (n *network) requestCatchUp(ctx context.Context, c *ircconn.Conn, plan []*catchUp) {
	for _, st := range plan {
		after := "timestamp=" + time.UnixMilli(st.from.TS-1).UTC().Format(chathistoryTime)
		n.requestPage(ctx, c, st, "AFTER", after, st.page)
	}
}

// backfillNewPortal brings a new portal the channel's latest messages
// (backfill of them), through the catch-up so that live lines wait for
// them.
func (n *network) backfillNewPortal(ctx context.Context, channel string) {
	c, err := n.botConn(ctx)
	if err != nil || !c.HasCap("draft/chathistory") || n.cfg.Backfill <= 0 {
		return
	}
	p := n.portal(channel)
	if p == nil {
		return
	}
	st := &catchUp{c: c, channel: channel, folded: n.fold(channel), room: p.room,
		limit: n.cfg.Backfill, page: pageSize(c, n.cfg.Backfill)}
	installed := make(chan struct{})
	n.queueStep(func(context.Context) {
		n.catching.install([]*catchUp{st})
		close(installed)
	})
	select {
	case <-installed:
	case <-ctx.Done():
		return
	}
	n.requestPage(ctx, c, st, "LATEST", "*", st.page)
}

// pageSize is want, or less when the server's CHATHISTORY token says so.
func pageSize(c *ircconn.Conn, want int) int {
	if most := c.ISupport().ChatHistory; most > 0 && most < want {
		return most
	}
	return want
}

// requestPage sends one CHATHISTORY request for st and arms its timeout.
// It may wait for the bot's flood control, so the ingest goroutine never
// calls it directly (see nextPage).
func (n *network) requestPage(ctx context.Context, c *ircconn.Conn, st *catchUp, sub, selector string, limit int) {
	if err := c.Send(ctx, nil, "CHATHISTORY", sub, st.channel, selector, strconv.Itoa(limit)); err != nil {
		n.queueStep(func(ctx context.Context) {
			n.finishCatchUp(ctx, st, "the history request could not be sent: "+err.Error())
		})
		return
	}
	n.queueStep(func(context.Context) {
		st.waiting++
		waiting := st.waiting
		time.AfterFunc(catchUpTimeout, func() {
			n.queueStep(func(ctx context.Context) {
				if st.waiting == waiting && n.catching.get(st.folded) == st {
					n.finishCatchUp(ctx, st, "the IRC server did not send the history")
				}
			})
		})
	})
}

// historyPage takes one CHATHISTORY batch of a channel catching up: its
// messages are kept (the newest limit of them), and the next page is
// asked for while pages come back full.
func (n *network) historyPage(ctx context.Context, st *catchUp, b *ircconn.Batch) {
	st.pages++
	st.waiting++ // the page's timeout no longer applies
	entries := historyLines(b)
	if st.pages == 1 {
		st.checkReach(entries)
	}
	lastID := ""
	for _, l := range entries {
		if id := ircconn.MsgID(l); id != "" {
			lastID = id
		}
		if ts, ok := ircconn.ServerTime(l); ok {
			st.lastTS = ts
		}
		if n.missed(ctx, st, l) {
			st.keep(l)
		}
		st.noteReach(l)
	}
	more := st.from.TS != 0 && len(entries) >= st.page && lastID != "" && lastID != st.lastID && st.pages < catchUpMaxPages
	if lastID != "" {
		st.lastID = lastID
	}
	var wait time.Duration
	if !more {
		if st.from.TS == 0 || st.settled() || st.confirms >= catchUpConfirms {
			n.finishCatchUp(ctx, st, "")
			return
		}
		st.confirms++
		wait = catchUpSettle
	}
	c, after := st.c, "msgid="+st.lastID
	if st.lastID == "" {
		after = "timestamp=" + time.UnixMilli(st.from.TS-1).UTC().Format(chathistoryTime)
	}
	n.m.wg.Go(func() {
		if wait > 0 {
			t := time.NewTimer(wait)
			defer t.Stop()
			select {
			case <-t.C:
			case <-n.m.ctx.Done():
				return
			}
		}
		n.requestPage(n.m.ctx, c, st, "AFTER", after, st.page)
	})
}

// noteReach notes whether a history line is, or comes after, the first
// live line held (see catchUpSettle).
func (st *catchUp) noteReach(l *ircmsg.Message) {
	if st.firstLive == nil || st.reachedLive {
		return
	}
	if id := ircconn.MsgID(l); id != "" && id == ircconn.MsgID(st.firstLive) {
		st.reachedLive = true
		return
	}
	ts, ok := ircconn.ServerTime(l)
	live, liveOK := ircconn.ServerTime(st.firstLive)
	if ok && liveOK && ts.After(live) {
		st.reachedLive = true
	}
}

// settled reports whether the history has caught up with the live lines:
// it reached the first one held, or, when none was held, it was asked once
// more after a short page.
func (st *catchUp) settled() bool {
	if st.firstLive != nil {
		return st.reachedLive
	}
	return st.confirms > 0
}

// missed reports whether a history line is a channel message that is not
// in Matrix yet.
func (n *network) missed(ctx context.Context, st *catchUp, l *ircmsg.Message) bool {
	if (l.Command != "PRIVMSG" && l.Command != "NOTICE") || len(l.Params) < 2 {
		return false
	}
	if id := ircconn.MsgID(l); id != "" && id == st.from.ID {
		return false
	}
	if ts, ok := ircconn.ServerTime(l); ok && st.from.TS != 0 && ts.UnixMilli() < st.from.TS {
		return false
	}
	if n.relayedByBridge(l, true) || n.sentOrBridged(ctx, l) {
		return false
	}
	// Queued but not delivered yet (a line read before a reconnect, still
	// on its way): not missed, and it must not take a place of the limit.
	if id := ircconn.MsgID(l); id != "" {
		if has, err := n.m.outbox.HasKey(ctx, st.room, "irc:"+id); err == nil && has {
			return false
		}
	}
	return true
}

// checkReach notes, from the first page, whether the server's history
// still reaches back to the start point: the page, which starts a
// millisecond before it, then holds the start point's own message. When
// it does not, what was said between the start point and the page's first
// line is gone from the server, and the room is told (finishCatchUp).
func (st *catchUp) checkReach(entries []*ircmsg.Message) {
	if st.from.ID == "" || st.from.TS == 0 {
		return // a time only (the heartbeat) or a new portal: nothing to check
	}
	for _, l := range entries {
		if ircconn.MsgID(l) == st.from.ID {
			return
		}
	}
	st.lostTo = time.Now()
	for _, l := range entries {
		if ts, ok := ircconn.ServerTime(l); ok {
			st.lostTo = ts
			break
		}
	}
}

// keep adds a missed message, pushing the oldest kept one out once limit
// are kept.
func (st *catchUp) keep(l *ircmsg.Message) {
	if len(st.kept) < st.limit {
		st.kept = append(st.kept, l)
		return
	}
	old := st.kept[st.head]
	st.kept[st.head] = l
	st.head = (st.head + 1) % st.limit
	ts, ok := ircconn.ServerTime(old)
	if !ok {
		ts = time.Now()
	}
	if st.skipped == 0 {
		st.skipFrom = ts
	}
	st.skipped++
	st.skipTo = ts
}

// ordered returns the kept messages, oldest first.
func (st *catchUp) ordered() []*ircmsg.Message {
	return append(st.kept[st.head:len(st.kept):len(st.kept)], st.kept[:st.head]...)
}

// finishCatchUp ends a channel's catch-up: the skipped count, the kept
// messages, then the held live lines go to Matrix, in that order. failed,
// when not empty, says why the history stopped short: the room is told
// from when to when messages may be missing.
func (n *network) finishCatchUp(ctx context.Context, st *catchUp, failed string) {
	if !n.catching.remove(st) {
		return
	}
	if failed != "" {
		n.log().Warn("catching up on a channel's history failed", "channel", st.channel, "pages", st.pages, "reason", failed)
		from := time.UnixMilli(st.from.TS)
		if st.lastTS.After(from) {
			from = st.lastTS
		}
		if st.from.TS != 0 {
			n.sendAway(ctx, awayGap{channel: st.channel, room: st.room, from: from, to: time.Now(), why: failed})
		}
	}
	if !st.lostTo.IsZero() {
		n.sendAway(ctx, awayGap{channel: st.channel, room: st.room, from: time.UnixMilli(st.from.TS), to: st.lostTo,
			why: "the IRC server's history does not reach back that far"})
	}
	if st.skipped > 0 {
		n.sendSkipped(ctx, st)
	}
	kept := st.ordered()
	for _, l := range kept {
		n.bridgeMessage(ctx, l, st.channel, l.Params[1], l.Command == "NOTICE", true)
	}
	for _, h := range st.held {
		n.bridgeMessage(ctx, h.m, st.channel, h.text, h.notice, false)
	}
	n.log().Info("caught up on a channel", "channel", st.channel, "pages", st.pages, "bridged", len(kept),
		"skipped", st.skipped, "held", len(st.held))
	st.kept, st.held = nil, nil
}

// historyFailed ends the catch-up a FAIL CHATHISTORY answer is about
// (the channel named in it, else the only one waiting).
func (n *network) historyFailed(ctx context.Context, m *ircmsg.Message) {
	n.catching.mu.Lock()
	var st *catchUp
	for _, p := range m.Params {
		if s := n.catching.chans[n.fold(p)]; s != nil {
			st = s
			break
		}
	}
	if st == nil && len(n.catching.chans) == 1 {
		for _, s := range n.catching.chans {
			st = s
		}
	}
	n.catching.mu.Unlock()
	if st == nil {
		n.log().Warn("the IRC server refused a history request", "answer", strings.Join(m.Params, " "))
		return
	}
	n.finishCatchUp(ctx, st, "the IRC server refused the history request: "+param(m, len(m.Params)-1))
}

// noticeTime formats a time for notices to Matrix users.
func noticeTime(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") }

// sendAway tells a room that the bridge was away for a while and what was
// said in the channel then is not in the room.
func (n *network) sendAway(ctx context.Context, a awayGap) {
	body := fmt.Sprintf("The bridge was away from %s to %s: messages sent in %s on %s in that time are not in this room (%s).",
		noticeTime(a.from), noticeTime(a.to), a.channel, n.cfg.Name, a.why)
	n.sendBotNotice(ctx, a.room, body, "irc-away:"+n.fold(a.channel)+":"+strconv.FormatInt(a.from.UnixMilli(), 10))
}

// sendSkipped tells a room how many missed messages the catch-up did not
// bridge, and from when to when they were sent.
func (n *network) sendSkipped(ctx context.Context, st *catchUp) {
	body := fmt.Sprintf("%d messages sent in %s from %s to %s, while the bridge was away, were not bridged: "+
		"it brings back at most %d per channel. The latest %d follow.",
		st.skipped, st.channel, noticeTime(st.skipFrom), noticeTime(st.skipTo), st.limit, len(st.kept))
	n.sendBotNotice(ctx, st.room, body, "irc-skip:"+n.fold(st.channel)+":"+strconv.FormatInt(st.skipTo.UnixMilli(), 10))
}

// sendBotNotice queues a notice from the bridge bot in a portal room, in
// order with the room's messages; key makes it once only.
func (n *network) sendBotNotice(ctx context.Context, room matrix.RoomID, body, key string) {
	raw, _ := json.Marshal(matrix.MessageContent{MsgType: matrix.MsgNotice, Body: body})
	if _, err := n.m.outbox.Send(ctx, intent.Op{Kind: intent.OpMessage, Room: room, Type: matrix.EventMessage,
		Content: raw, Key: key}); err != nil {
		n.log().Error("could not queue a notice for Matrix", "room_id", room, "err", err)
	}
}

// resumePoint is the newest message of a channel known to be on its way
// to Matrix: the newest IRC message in the room's outbox, or the mark in
// the KV (messages Matrix users sent themselves) when newer.
func (n *network) resumePoint(ctx context.Context, folded string, room matrix.RoomID) (mark.Mark, bool) {
	best, ok := n.historyMark(ctx, folded)
	op, found, err := n.m.outbox.LatestKeyed(ctx, room, "irc:")
	if err != nil {
		n.log().Warn("could not read where a channel's messages stopped", "room_id", room, "err", err)
	}
	if found && !op.Timestamp.IsZero() && (!ok || op.Timestamp.UnixMilli() >= best.TS) {
		best, ok = mark.Mark{ID: strings.TrimPrefix(op.Key, "irc:"), TS: op.Timestamp.UnixMilli()}, true
	}
	return best, ok
}

// lastSeen is when the bot was last known connected to the network.
func (n *network) lastSeen(ctx context.Context) (time.Time, bool) {
	raw, err := n.m.kv.Get(ctx, kvSeen(n.id))
	if err != nil {
		if !errors.Is(err, bridges.ErrNotFound) {
			n.log().Warn("could not read when the bot was last connected", "err", err)
		}
		return time.Time{}, false
	}
	ms, err := strconv.ParseInt(string(raw), 10, 64)
	if err != nil || ms <= 0 {
		return time.Time{}, false
	}
	return time.UnixMilli(ms), true
}

// noteSeen stores that the bot was connected at t.
func (n *network) noteSeen(ctx context.Context, t time.Time) {
	if err := n.m.kv.Put(ctx, kvSeen(n.id), []byte(strconv.FormatInt(t.UnixMilli(), 10))); err != nil {
		n.log().Warn("could not store when the bot was last connected", "err", err)
	}
}

// runHeartbeat stores, while the bot is connected, that it is.
func (n *network) runHeartbeat(ctx context.Context) {
	t := time.NewTicker(heartbeatEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		n.mu.Lock()
		up := n.bot != nil
		n.mu.Unlock()
		if up {
			n.noteSeen(ctx, time.Now())
		}
	}
}
