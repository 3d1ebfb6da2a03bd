package intent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/causewaybridge/causeway/internal/poll"
	"github.com/causewaybridge/causeway/matrix"
	"github.com/causewaybridge/causeway/store"
)

// dropConn makes the client see a network error.
func dropConn(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err == nil {
		conn.Close()
	}
}

func textOp(room matrix.RoomID, sender matrix.UserID, body, key string) Op {
	content, _ := json.Marshal(matrix.MessageContent{MsgType: matrix.MsgText, Body: body})
	return Op{Kind: OpMessage, Room: room, Sender: sender, Type: matrix.EventMessage, Content: content, Key: key}
}

func bodies(evs []fakeEvent) []string {
	var out []string
	for _, ev := range evs {
		var mc matrix.MessageContent
		json.Unmarshal(ev.Content, &mc)
		out = append(out, mc.Body)
	}
	return out
}

func newTestOutbox(t testing.TB, c *Client, st OutboxStore, opts OutboxOptions) *Outbox {
	t.Helper()
	opts.Client, opts.Store = c, st
	if opts.Retry == (RetryPolicy{}) {
		opts.Retry = fastRetry
	}
	o, err := NewOutbox(opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := o.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { o.Stop(context.Background()) })
	return o
}

func wantBodies(t *testing.T, room matrix.RoomID, got []string, n int) {
	t.Helper()
	if len(got) != n {
		t.Fatalf("%s: %d events, want %d: %v", room, len(got), n, got)
	}
	for i, b := range got {
		if want := fmt.Sprintf("%s msg %d", room, i); b != want {
			t.Fatalf("%s: event %d is %q, want %q (all: %v)", room, i, b, want, got)
		}
	}
}

func TestOutboxOrderedThroughOutage(t *testing.T) {
	ctx := context.Background()
	hs := newFakeHS(t)
	hs.makeRoom(room1, false, alice)
	hs.makeRoom(room2, false, bob)
	var down atomic.Bool
	down.Store(true)
	hs.addHook(func(w http.ResponseWriter, r *http.Request, rec recorded) bool {
		if down.Load() {
			dropConn(w)
			return true
		}
		return false
	})
	st := newMemOutboxStore()
	o := newTestOutbox(t, newTestClient(t, hs, nil), st, OutboxOptions{Workers: 3})

	const n = 25
	for i := range n {
		for _, r := range []struct {
			room matrix.RoomID
			user matrix.UserID
		}{{room1, alice}, {room2, bob}} {
			op := textOp(r.room, r.user, fmt.Sprintf("%s msg %d", r.room, i), fmt.Sprintf("remote-%d", i))
			if queued, err := o.Send(ctx, op); err != nil || !queued {
				t.Fatalf("send: %v %v", queued, err)
			}
		}
	}
	poll.Until(t, "attempts during the outage", 10*time.Second, func() bool {
		st.mu.Lock()
		defer st.mu.Unlock()
		return st.attempts[1] >= 3
	})
	if p, _, _ := st.counts(); p != 2*n {
		t.Fatalf("pending = %d during the outage, want %d", p, 2*n)
	}
	down.Store(false)
	poll.Until(t, "all delivered", 10*time.Second, func() bool { _, d, _ := st.counts(); return d == 2*n })
	wantBodies(t, room1, bodies(hs.roomEvents(room1)), n)
	wantBodies(t, room2, bodies(hs.roomEvents(room2)), n)
	for _, ev := range hs.roomEvents(room1) {
		if ev.Sender != alice {
			t.Fatalf("event sent as %s, want %s", ev.Sender, alice)
		}
	}
}

func TestOutboxStuckRoomDoesNotBlockOthers(t *testing.T) {
	ctx := context.Background()
	hs := newFakeHS(t)
	hs.makeRoom(room1, false, alice)
	hs.makeRoom(room2, false, alice)
	var stuck atomic.Bool
	stuck.Store(true)
	hs.addHook(func(w http.ResponseWriter, r *http.Request, rec recorded) bool {
		if stuck.Load() && strings.Contains(rec.Path, string(room1)) {
			writeErr(w, http.StatusServiceUnavailable, "", "room server busy")
			return true
		}
		return false
	})
	st := newMemOutboxStore()
	// One worker: a room waiting to retry must not hold it.
	o := newTestOutbox(t, newTestClient(t, hs, nil), st, OutboxOptions{Workers: 1})
	for i := range 5 {
		if _, err := o.Send(ctx, textOp(room1, alice, fmt.Sprintf("%s msg %d", room1, i), "")); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 5 {
		wctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		id, err := o.SendAndWait(wctx, textOp(room2, alice, fmt.Sprintf("%s msg %d", room2, i), ""))
		cancel()
		if err != nil || id == "" {
			t.Fatalf("room2 send %d while room1 is stuck: %q %v", i, id, err)
		}
	}
	wantBodies(t, room2, bodies(hs.roomEvents(room2)), 5)
	if got := hs.roomEvents(room1); len(got) != 0 {
		t.Fatalf("room1 got events while failing: %v", bodies(got))
	}
	stuck.Store(false)
	poll.Until(t, "room1 drained", 10*time.Second, func() bool { _, d, _ := st.counts(); return d == 10 })
	wantBodies(t, room1, bodies(hs.roomEvents(room1)), 5)
}

func TestOutboxResumeAfterCrashDoesNotDuplicate(t *testing.T) {
	ctx := context.Background()
	hs := newFakeHS(t)
	hs.makeRoom(room1, false, alice)
	var dropReplies atomic.Bool
	dropReplies.Store(true)
	// The homeserver stores the event but the answer is lost, as when the
	// bridge dies between the homeserver's commit and reading the answer.
	hs.addHook(func(w http.ResponseWriter, r *http.Request, rec recorded) bool {
		if !dropReplies.Load() || !strings.Contains(rec.Path, "/send/") {
			return false
		}
		hs.mu.Lock()
		hs.addEvent(fakeEvent{Room: room1, Sender: rec.User, Type: r.PathValue("type"), Content: rec.Body, Txn: r.PathValue("txn")})
		hs.mu.Unlock()
		dropConn(w)
		return true
	})
	st := newMemOutboxStore()
	state := newMemStateStore()
	o1, err := NewOutbox(OutboxOptions{Client: newTestClient(t, hs, state), Store: st, Retry: fastRetry})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if _, err := o1.Send(ctx, textOp(room1, alice, fmt.Sprintf("%s msg %d", room1, i), fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	if err := o1.Start(ctx); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, "first item attempted", 10*time.Second, func() bool { return len(hs.requests(http.MethodPut, "/send/")) >= 1 })
	if err := o1.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if p, _, _ := st.counts(); p < 2 {
		t.Fatalf("pending after crash = %d, want at least 2 (only the first item can have been answered)", p)
	}
	firstTxn := hs.requests(http.MethodPut, "/send/")[0].Path

	// Restart: a new client and outbox over the same stores.
	dropReplies.Store(false)
	newTestOutbox(t, newTestClient(t, hs, state), st, OutboxOptions{})
	poll.Until(t, "resumed items delivered", 10*time.Second, func() bool { _, d, _ := st.counts(); return d == 3 })
	wantBodies(t, room1, bodies(hs.roomEvents(room1)), 3)
	sends := hs.requests(http.MethodPut, "/send/")
	resent := 0
	for _, s := range sends {
		if s.Path == firstTxn {
			resent++
		}
	}
	if resent > 1 && len(sends) != resent+2 {
		t.Errorf("first item sent %d times with txn path %s among %d sends", resent, firstTxn, len(sends))
	}
	if n := len(hs.requests(http.MethodPost, "/register")); n != 1 {
		t.Errorf("register requests = %d, want 1: the restart must remember alice is registered", n)
	}
}

func TestOutboxPermanentFailure(t *testing.T) {
	ctx := context.Background()
	hs := newFakeHS(t)
	hs.makeRoom(room1, false, alice)
	hs.addHook(func(w http.ResponseWriter, r *http.Request, rec recorded) bool {
		if strings.Contains(string(rec.Body), "poison") {
			writeErr(w, http.StatusBadRequest, "M_BAD_JSON", "bad content")
			return true
		}
		return false
	})
	st := newMemOutboxStore()
	var mu sync.Mutex
	var failed []Op
	var failErr error
	var sent []matrix.EventID
	o := newTestOutbox(t, newTestClient(t, hs, nil), st, OutboxOptions{
		OnFailed: func(_ context.Context, item store.OutboxItem, op Op, err error) {
			mu.Lock()
			defer mu.Unlock()
			failed = append(failed, op)
			failErr = err
		},
		OnSent: func(_ context.Context, item store.OutboxItem, op Op, id matrix.EventID) {
			mu.Lock()
			defer mu.Unlock()
			sent = append(sent, id)
		},
	})
	for _, body := range []string{"a", "poison", "c"} {
		if _, err := o.Send(ctx, textOp(room1, alice, body, "k-"+body)); err != nil {
			t.Fatal(err)
		}
	}
	poll.Until(t, "all settled", 10*time.Second, func() bool { _, d, f := st.counts(); return d+f == 3 })
	if _, d, f := st.counts(); d != 2 || f != 1 {
		t.Fatalf("done %d failed %d, want 2 and 1", d, f)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(failed) != 1 || failed[0].Key != "k-poison" || !errors.Is(failErr, ErrBadJSON) {
		t.Fatalf("OnFailed got %+v / %v", failed, failErr)
	}
	if len(sent) != 2 {
		t.Errorf("OnSent calls = %d, want 2", len(sent))
	}
	if got := bodies(hs.roomEvents(room1)); len(got) != 2 || got[0] != "a" || got[1] != "c" {
		t.Errorf("events = %v", got)
	}
	if n := len(hs.requests(http.MethodPut, "/send/")); n != 3 {
		t.Errorf("send requests = %d, want 3 (the permanent failure is not retried)", n)
	}
}

func TestOutboxOpsDedupeAndWait(t *testing.T) {
	ctx := context.Background()
	hs := newFakeHS(t)
	hs.makeRoom(room1, false, alice)
	st := newMemOutboxStore()
	o := newTestOutbox(t, newTestClient(t, hs, nil), st, OutboxOptions{})
	ts := time.UnixMilli(1650000000000)

	op := textOp(room1, alice, "hello", "remote-1")
	op.Timestamp = ts
	id, err := o.SendAndWait(ctx, op)
	if err != nil || id == "" {
		t.Fatalf("SendAndWait = %q, %v", id, err)
	}
	if queued, err := o.Send(ctx, op); err != nil || queued {
		t.Errorf("duplicate key: queued=%v err=%v, want not queued", queued, err)
	}
	if _, err := o.SendAndWait(ctx, op); !errors.Is(err, ErrDuplicate) {
		t.Errorf("SendAndWait duplicate: %v, want ErrDuplicate", err)
	}
	topic := Op{Kind: OpState, Room: room1, Sender: alice, Type: matrix.EventTopic, Content: json.RawMessage(`{"topic":"t"}`), Timestamp: ts}
	if _, err := o.SendAndWait(ctx, topic); err != nil {
		t.Fatal(err)
	}
	red := Op{Kind: OpRedaction, Room: room1, Sender: alice, Redacts: id, Reason: "deleted on IRC"}
	if _, err := o.SendAndWait(ctx, red); err != nil {
		t.Fatal(err)
	}
	evs := hs.roomEvents(room1)
	if len(evs) != 3 || evs[0].ID != id || evs[0].TS != "1650000000000" || evs[1].TS != "1650000000000" ||
		evs[1].StateKey == nil || evs[2].Type != matrix.EventRedaction || !strings.Contains(string(evs[2].Content), "deleted on IRC") {
		t.Fatalf("events = %+v", evs)
	}
	for i, bad := range []Op{
		{Kind: OpMessage, Room: room1},
		{Kind: "bogus", Room: room1},
		{Kind: OpRedaction, Room: room1},
		{Kind: OpMessage, Type: "m.room.message"},
	} {
		if _, err := o.Send(ctx, bad); err == nil {
			t.Errorf("%d: invalid op %+v accepted", i, bad)
		}
	}
}

func TestOutboxOverflowLoadsFromStore(t *testing.T) {
	ctx := context.Background()
	hs := newFakeHS(t)
	hs.makeRoom(room1, false, alice)
	hs.makeRoom(room2, false, alice)
	st := newMemOutboxStore()
	o := newTestOutbox(t, newTestClient(t, hs, nil), st, OutboxOptions{MaxInMemory: 4, PollInterval: time.Hour})
	const n = 30
	for i := range n {
		for _, room := range []matrix.RoomID{room1, room2} {
			if _, err := o.Send(ctx, textOp(room, alice, fmt.Sprintf("%s msg %d", room, i), "")); err != nil {
				t.Fatal(err)
			}
		}
	}
	poll.Until(t, "all delivered", 10*time.Second, func() bool { _, d, _ := st.counts(); return d == 2*n })
	wantBodies(t, room1, bodies(hs.roomEvents(room1)), n)
	wantBodies(t, room2, bodies(hs.roomEvents(room2)), n)
}

func TestTxnIDForItemIsStable(t *testing.T) {
	created := time.UnixMicro(1700000000123456)
	a := store.OutboxItem{Seq: 7, Queue: string(room1), Key: "k", Created: created}
	b := a
	b.Attempts, b.Payload = 3, json.RawMessage(`{}`)
	if TxnIDForItem(a) != TxnIDForItem(b) {
		t.Error("txn ID depends on attempts or payload")
	}
	for i, other := range []store.OutboxItem{
		{Seq: 8, Queue: a.Queue, Key: a.Key, Created: created},
		{Seq: 7, Queue: string(room2), Key: a.Key, Created: created},
		{Seq: 7, Queue: a.Queue, Key: a.Key, Created: created.Add(time.Microsecond)},
	} {
		if TxnIDForItem(other) == TxnIDForItem(a) {
			t.Errorf("%d: different items share txn ID %s", i, TxnIDForItem(a))
		}
	}
}

func BenchmarkOutboxSendToDelivered(b *testing.B) {
	ctx := context.Background()
	hs := newFakeHS(b)
	rooms := make([]matrix.RoomID, 8)
	for i := range rooms {
		rooms[i] = matrix.RoomID(fmt.Sprintf("!bench%d:example.org", i))
		hs.makeRoom(rooms[i], false, alice)
	}
	st := newMemOutboxStore()
	var delivered atomic.Int64
	o := newTestOutbox(b, newTestClient(b, hs, nil), st, OutboxOptions{
		OnSent: func(context.Context, store.OutboxItem, Op, matrix.EventID) { delivered.Add(1) },
	})
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := o.Send(ctx, textOp(rooms[i%len(rooms)], alice, "bench", "")); err != nil {
			b.Fatal(err)
		}
	}
	for delivered.Load() < int64(b.N) {
		time.Sleep(100 * time.Microsecond)
	}
}

func TestOutboxConcurrentSendersKeepSeqOrder(t *testing.T) {
	ctx := context.Background()
	hs := newFakeHS(t)
	hs.makeRoom(room1, false, alice)
	hs.makeRoom(room2, false, alice)
	st := newMemOutboxStore()
	o := newTestOutbox(t, newTestClient(t, hs, nil), st, OutboxOptions{Workers: 4})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 10 {
				room := []matrix.RoomID{room1, room2}[(g+i)%2]
				if _, err := o.Send(ctx, textOp(room, alice, fmt.Sprintf("g%d-%d", g, i), "")); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	poll.Until(t, "all delivered", 10*time.Second, func() bool { _, d, _ := st.counts(); return d == 80 })
	for _, room := range []matrix.RoomID{room1, room2} {
		var want []string
		st.mu.Lock()
		for _, it := range st.items {
			if it.Queue == string(room) {
				var p opPayload
				json.Unmarshal(it.Payload, &p)
				var mc matrix.MessageContent
				json.Unmarshal(p.Content, &mc)
				want = append(want, mc.Body)
			}
		}
		st.mu.Unlock()
		if got := bodies(hs.roomEvents(room)); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s delivered %v, want store order %v", room, got, want)
		}
	}
}

// TestOutboxInterruptedSendFoundByMarker: the homeserver stored a message but
// the bridge died before the answer, and the homeserver does not remember the
// transaction ID (Dendrite forgets it when the client vanishes). The
// restarted outbox finds the message by its marker and does not send it
// again; the next items are delivered normally.
func TestOutboxInterruptedSendFoundByMarker(t *testing.T) {
	ctx := context.Background()
	hs := newFakeHS(t)
	hs.makeRoom(room1, false, alice)
	var dropReplies atomic.Bool
	dropReplies.Store(true)
	hs.addHook(func(w http.ResponseWriter, r *http.Request, rec recorded) bool {
		if !dropReplies.Load() || !strings.Contains(rec.Path, "/send/") {
			return false
		}
		hs.mu.Lock()
		hs.addEvent(fakeEvent{Room: room1, Sender: rec.User, Type: r.PathValue("type"), Content: rec.Body, Txn: r.PathValue("txn")})
		hs.mu.Unlock()
		dropConn(w)
		return true
	})
	st := newMemOutboxStore()
	state := newMemStateStore()
	o1, err := NewOutbox(OutboxOptions{Client: newTestClient(t, hs, state), Store: st, Retry: fastRetry})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if _, err := o1.Send(ctx, textOp(room1, alice, fmt.Sprintf("%s msg %d", room1, i), fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	if err := o1.Start(ctx); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, "first item attempted", 10*time.Second, func() bool { return len(hs.requests(http.MethodPut, "/send/")) >= 1 })
	if err := o1.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	hs.forgetTxns()
	dropReplies.Store(false)
	newTestOutbox(t, newTestClient(t, hs, state), st, OutboxOptions{})
	poll.Until(t, "resumed items delivered", 10*time.Second, func() bool { _, d, _ := st.counts(); return d == 3 })
	wantBodies(t, room1, bodies(hs.roomEvents(room1)), 3)
	if n := len(hs.requests(http.MethodGet, "/messages")); n < 1 {
		t.Fatalf("the restarted outbox never looked for the interrupted send (messages requests = %d)", n)
	}
}

func TestWithTxnMarker(t *testing.T) {
	tests := []struct{ in, want string }{
		{`{"body":"x"}`, `{"io.causeway.txn_id":"t1","body":"x"}`},
		{`{}`, `{"io.causeway.txn_id":"t1"}`},
		{` { } `, `{"io.causeway.txn_id":"t1"}`},
		{`[1]`, `[1]`},
	}
	for i, tc := range tests {
		got := string(withTxnMarker(json.RawMessage(tc.in), "t1"))
		if got != tc.want {
			t.Errorf("case %d: %s → %s, want %s", i, tc.in, got, tc.want)
		}
		if tc.in != "[1]" && !json.Valid([]byte(got)) {
			t.Errorf("case %d: invalid JSON %s", i, got)
		}
	}
}
