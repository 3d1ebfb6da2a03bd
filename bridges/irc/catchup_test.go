package irc

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ergochat/irc-go/ircmsg"

	"github.com/causewaybridge/causeway/bridges/kit/mark"
	"github.com/causewaybridge/causeway/intent"
	"github.com/causewaybridge/causeway/internal/poll"
	"github.com/causewaybridge/causeway/matrix"
)

// historyServer scripts a server with draft/chathistory that holds
// #chan's messages h001..hN (one a second from t0) and answers
// CHATHISTORY AFTER (by timestamp or msgid) and LATEST from them in
// batches of at most the asked limit. At the bot's JOIN it sends one live
// message, "live", before any history answer can arrive.
type historyServer struct {
	t0    time.Time
	total int
	// fail answers every CHATHISTORY with FAIL.
	fail bool
	// oldest is the first message the server still has (0: all).
	oldest int
	// storeLate, when set, plays a server that sends a message to the
	// channel's members before it stores it in the history (Ergo): message
	// total+1 went out to the members just before the bot's JOIN, so the
	// bot never reads it live; at the JOIN the live line is message
	// total+2; the first CHATHISTORY answer has neither yet, the later
	// ones have both. It counts the CHATHISTORY requests.
	storeLate *atomic.Int32
}

func (h historyServer) msg(i int) string {
	ts := h.t0.Add(time.Duration(i) * time.Second).UTC().Format(chathistoryTime)
	return fmt.Sprintf("@batch=b;msgid=h%03d;time=%s :bob!b@h PRIVMSG #chan :message %03d", i, ts, i)
}

func (h historyServer) answer(nick, line string) ([]string, bool) {
	f := strings.Fields(line)
	switch {
	case f[0] == "JOIN" && len(f) > 1 && f[1] == "#chan" && h.storeLate != nil:
		return []string{":" + nick + "!u@h JOIN #chan", strings.TrimPrefix(h.msg(h.total+2), "@batch=b;")}, false
	case f[0] == "JOIN" && len(f) > 1 && f[1] == "#chan":
		return []string{":" + nick + "!u@h JOIN #chan", "@msgid=live;time=" + time.Now().UTC().Format(chathistoryTime) +
			" :bob!b@h PRIVMSG #chan :live"}, false
	case f[0] != "CHATHISTORY" || len(f) < 5:
		return nil, false
	case h.fail:
		return []string{":srv FAIL CHATHISTORY MESSAGE_ERROR " + f[1] + " " + f[2] + " :history is broken"}, false
	}
	limit, _ := strconv.Atoi(f[4])
	if h.storeLate != nil && h.storeLate.Add(1) > 1 {
		h.total += 2
	}
	first := max(1, h.oldest)
	switch sel := f[3]; {
	case strings.HasPrefix(sel, "msgid=h"):
		i, _ := strconv.Atoi(strings.TrimPrefix(sel, "msgid=h"))
		first = max(first, i+1)
	case strings.HasPrefix(sel, "timestamp="):
		ts, _ := time.Parse(chathistoryTime, strings.TrimPrefix(sel, "timestamp="))
		for first <= h.total && !h.t0.Add(time.Duration(first)*time.Second).After(ts) {
			first++
		}
	}
	if f[1] == "LATEST" {
		first = max(1, h.total-limit+1)
	}
	out := []string{":srv BATCH +b chathistory #chan"}
	for i := first; i <= h.total && i < first+limit; i++ {
		out = append(out, h.msg(i))
	}
	return append(out, ":srv BATCH -b"), false
}

// catchUpModule starts a module whose network "test" has portal #chan in
// !chan, against a history server, with the outbox not started: what the
// module sends stays queued, in order, in the store.
func catchUpModule(t *testing.T, h historyServer, caps string, limit int) (*Module, *network) {
	t.Helper()
	srv := startServer(t, serverScript{caps: caps, answer: h.answer})
	m := newTestModule(t, srv.addr)
	useQueuedOutbox(t, m, "http://127.0.0.1:1")
	n := m.networks["test"]
	n.cfg.CatchUpLimit = limit
	n.addPortal("#chan", "!chan", []byte(`{"name":"#chan"}`))
	return m, n
}

// chanQueue returns the bodies of the messages queued for !chan, in order,
// with the key of each ("irc:<msgid>" for IRC messages).
func chanQueue(t *testing.T, m *Module) (bodies, keys []string) {
	t.Helper()
	items, err := storeOf(m).PendingOutbox(t.Context(), 10_000)
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range items {
		var pl struct {
			Kind    intent.OpKind         `json:"kind"`
			Room    matrix.RoomID         `json:"room"`
			Content matrix.MessageContent `json:"content"`
		}
		if err := json.Unmarshal(it.Payload, &pl); err != nil {
			t.Fatal(err)
		}
		if pl.Kind == intent.OpMessage && pl.Room == "!chan" {
			bodies, keys = append(bodies, pl.Content.Body), append(keys, it.Key)
		}
	}
	return bodies, keys
}

// alreadyBridged queues message i as if it had been bridged before the
// restart: the outbox holds it.
func alreadyBridged(t *testing.T, m *Module, h historyServer, i int) {
	t.Helper()
	raw, _ := json.Marshal(matrix.MessageContent{MsgType: matrix.MsgText, Body: fmt.Sprintf("message %03d", i)})
	if _, err := m.outbox.Send(t.Context(), intent.Op{Kind: intent.OpMessage, Room: "!chan", Sender: "@irc_test_bob:localhost",
		Type: matrix.EventMessage, Content: raw, Key: fmt.Sprintf("irc:h%03d", i),
		Timestamp: h.t0.Add(time.Duration(i) * time.Second)}); err != nil {
		t.Fatal(err)
	}
}

// waitQueued waits until the last queued message of !chan is want.
func waitQueued(t *testing.T, m *Module, want string) []string {
	t.Helper()
	var bodies []string
	poll.Until(t, "the room's last queued message is "+want, 15*time.Second, func() bool {
		bodies, _ = chanQueue(t, m)
		return len(bodies) > 0 && bodies[len(bodies)-1] == want
	})
	return bodies
}

// TestCatchUpPagesFromTheOutbox: after a restart the bot fetches every
// message after the newest one the outbox holds for the room, paging
// CHATHISTORY (100 at a time) until a page comes back short; each missed
// message is queued once, in order, with its msgid as key, and the live
// message read right after the JOIN waits for them.
func TestCatchUpPagesFromTheOutbox(t *testing.T) {
	h := historyServer{t0: time.Now().Add(-time.Hour).Truncate(time.Second), total: 250}
	m, n := catchUpModule(t, h, "draft/chathistory batch server-time message-tags", 1000)
	for i := 1; i <= 40; i++ {
		alreadyBridged(t, m, h, i)
	}
	go n.runBot(m.ctx)
	bodies := waitQueued(t, m, "live")
	want := []string{}
	for i := 1; i <= 250; i++ {
		want = append(want, fmt.Sprintf("message %03d", i))
	}
	want = append(want, "live")
	if strings.Join(bodies, "|") != strings.Join(want, "|") {
		t.Fatalf("queued %d messages, want %d in order, each once:\n%q", len(bodies), len(want), bodies)
	}
	_, keys := chanQueue(t, m)
	if keys[40] != "irc:h041" || keys[len(keys)-1] != "irc:live" {
		t.Fatalf("keys: %q ... %q, want msgids", keys[40], keys[len(keys)-1])
	}
}

// TestCatchUpWaitsForLateHistory: a message the server sent to the
// channel just before the bot's JOIN, and stored in its history only
// after the first history page was answered (Ergo fans out, then
// stores), is neither read live nor in that page: the catch-up asks again
// until the history reaches the first live line, so the message is
// queued, in its place, before the live one.
func TestCatchUpWaitsForLateHistory(t *testing.T) {
	h := historyServer{t0: time.Now().Add(-time.Hour).Truncate(time.Second), total: 30, storeLate: new(atomic.Int32)}
	m, n := catchUpModule(t, h, "draft/chathistory batch server-time message-tags", 1000)
	alreadyBridged(t, m, h, 25)
	go n.runBot(m.ctx)
	bodies := waitQueued(t, m, "message 032")
	want := []string{"message 025", "message 026", "message 027", "message 028", "message 029", "message 030",
		"message 031", "message 032"}
	if strings.Join(bodies, "|") != strings.Join(want, "|") {
		t.Fatalf("queued %q, want %q: the message stored late is lost or out of place", bodies, want)
	}
	if got := h.storeLate.Load(); got < 2 {
		t.Fatalf("%d history requests, want the catch-up to ask again after the short first page", got)
	}
}

// TestCatchUpLimit: more missed messages than catch_up_limit: the room is
// told how many were skipped and from when to when, then gets the newest
// catch_up_limit of them, then the live message.
func TestCatchUpLimit(t *testing.T) {
	h := historyServer{t0: time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC), total: 250}
	m, n := catchUpModule(t, h, "draft/chathistory batch server-time message-tags", 50)
	alreadyBridged(t, m, h, 40)
	go n.runBot(m.ctx)
	bodies := waitQueued(t, m, "live")
	// 40 was there; 41..250 missed (210): 41..200 skipped, 201..250 kept.
	if len(bodies) != 1+1+50+1 {
		t.Fatalf("queued %d messages, want the old one, the notice, 50 and the live one: %q", len(bodies), bodies)
	}
	notice := bodies[1]
	for _, part := range []string{"160 messages", "2026-12-01 10:00:41 UTC", "2026-12-01 10:03:20 UTC", "were not bridged"} {
		if !strings.Contains(notice, part) {
			t.Errorf("skip notice %q does not say %q", notice, part)
		}
	}
	if bodies[2] != "message 201" || bodies[51] != "message 250" || bodies[52] != "live" {
		t.Fatalf("after the notice: %q ... %q, %q; want 201..250 then live", bodies[2], bodies[51], bodies[52])
	}
}

// TestAwayNoticeWithoutHistory: a server without draft/chathistory cannot
// give back what was said while the bridge was away: the room is told
// from when (the bot's last known connection) to when.
func TestAwayNoticeWithoutHistory(t *testing.T) {
	h := historyServer{t0: time.Now().Add(-time.Hour), total: 10}
	m, n := catchUpModule(t, h, "batch server-time message-tags", 1000)
	seen := time.Date(2026, 12, 7, 8, 9, 10, 0, time.UTC)
	n.noteSeen(t.Context(), seen)
	go n.runBot(m.ctx)
	bodies := waitQueued(t, m, "live")
	if len(bodies) != 2 || !strings.HasPrefix(bodies[0], "The bridge was away from 2026-12-07 08:09:10 UTC to ") ||
		!strings.Contains(bodies[0], "cannot send history") {
		t.Fatalf("queued %q, want the away notice and then the live message", bodies)
	}
}

// TestCatchUpRefused: a server that answers FAIL CHATHISTORY ends the
// catch-up at once: the room is told that messages since the start point
// may be missing, and the held live message follows.
func TestCatchUpRefused(t *testing.T) {
	h := historyServer{t0: time.Now().Add(-time.Hour).Truncate(time.Second), total: 10, fail: true}
	m, n := catchUpModule(t, h, "draft/chathistory batch server-time message-tags", 1000)
	alreadyBridged(t, m, h, 3)
	go n.runBot(m.ctx)
	bodies := waitQueued(t, m, "live")
	if len(bodies) != 3 || !strings.HasPrefix(bodies[1], "The bridge was away from ") || !strings.Contains(bodies[1], "history is broken") {
		t.Fatalf("queued %q, want the old message, the away notice with the server's reason, the live message", bodies)
	}
}

// TestIngestQueueNeverBlocks: the bot's read loop only appends to the
// ingest queue: while the ingest goroutine is stuck (a slow disk), 100,000
// pushes still return, and everything is then handled in order.
func TestIngestQueueNeverBlocks(t *testing.T) {
	m := newTestModule(t, "127.0.0.1:1")
	n := m.networks["test"]
	release := make(chan struct{})
	var got []int
	n.queueStep(func(context.Context) { <-release })
	done := make(chan struct{})
	go func() { n.runIngest(m.ctx); close(done) }()
	const total = 100_000
	for i := range total {
		n.queueStep(func(context.Context) { got = append(got, i) })
	}
	close(release)
	finished := make(chan struct{})
	n.queueStep(func(context.Context) { close(finished) })
	select {
	case <-finished:
	case <-time.After(time.Minute):
		t.Fatal("the queue was not drained")
	}
	if len(got) != total {
		t.Fatalf("handled %d of %d", len(got), total)
	}
	for i, v := range got {
		if v != i {
			t.Fatalf("item %d handled as %d: out of order", i, v)
		}
	}
	m.cancel()
	<-done
}

// TestCatchUpHistoryTooShort: when the server's history no longer holds
// the start point's message, what was said between it and the oldest line
// the server still has may be gone: the room is told from when to when,
// then gets what the server has.
func TestCatchUpHistoryTooShort(t *testing.T) {
	h := historyServer{t0: time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC), total: 120, oldest: 100}
	m, n := catchUpModule(t, h, "draft/chathistory batch server-time message-tags", 1000)
	alreadyBridged(t, m, h, 40)
	go n.runBot(m.ctx)
	bodies := waitQueued(t, m, "live")
	if len(bodies) != 1+1+21+1 || bodies[2] != "message 100" {
		t.Fatalf("queued %q, want the old one, a notice, 100..120 and the live one", bodies)
	}
	if want := "The bridge was away from 2026-12-01 10:00:40 UTC to 2026-12-01 10:01:40 UTC"; !strings.HasPrefix(bodies[1], want) ||
		!strings.Contains(bodies[1], "does not reach back") {
		t.Fatalf("notice %q, want it to start %q and say the history does not reach back", bodies[1], want)
	}
}

// TestCatchUpSkipsWhatIsQueued: a history line whose message is already
// in the room's outbox, delivered or not (read before a reconnect and
// still on its way), is not missed, so it takes no place of the limit.
func TestCatchUpSkipsWhatIsQueued(t *testing.T) {
	h := historyServer{t0: time.Now().Add(-time.Hour).Truncate(time.Second), total: 50}
	m, n := catchUpModule(t, h, "draft/chathistory batch server-time message-tags", 1000)
	alreadyBridged(t, m, h, 45) // pending: the outbox is not started
	st := &catchUp{room: "!chan", from: mark.Mark{ID: "h040", TS: h.t0.Add(40 * time.Second).UnixMilli()}}
	for i, want := range map[int]bool{40: false, 45: false, 46: true} {
		msg, err := ircmsg.ParseLine(h.msg(i))
		if err != nil {
			t.Fatal(err)
		}
		if got := n.missed(t.Context(), st, &msg); got != want {
			t.Errorf("message %d missed = %v, want %v", i, got, want)
		}
	}
}
