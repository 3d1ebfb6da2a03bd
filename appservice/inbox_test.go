package appservice_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/causewaybridge/causeway/appservice"
	"github.com/causewaybridge/causeway/internal/poll"
	"github.com/causewaybridge/causeway/matrix"
)

func TestRedeliveredTransactionProcessedOnce(t *testing.T) {
	inbox, h := newFakeInbox(), newRecorder()
	s := newServer(t, inbox, h, nil)
	steps := []struct {
		txn    string
		events []map[string]any
	}{
		{"t1", []map[string]any{event("$a", "!r:x"), event("$b", "!r:x")}},
		// The homeserver retries t1 with one event appended.
		{"t1", []map[string]any{event("$a", "!r:x"), event("$b", "!r:x"), event("$c", "!r:x")}},
		// A new transaction repeats an event already received.
		{"t2", []map[string]any{event("$c", "!r:x"), event("$d", "!r:x")}},
		// A plain redelivery of t2.
		{"t2", []map[string]any{event("$c", "!r:x"), event("$d", "!r:x")}},
	}
	for i, st := range steps {
		if rec := putTxn(s, st.txn, txnBody(t, st.events...)); rec.Code != http.StatusOK {
			t.Fatalf("step %d: %d %s", i, rec.Code, rec.Body)
		}
	}
	poll.Until(t, "4 events", 5*time.Second, func() bool { return h.handled() >= 4 })
	waitIdle(t, s) // a wrong duplicate was queued with its transaction
	if got := idStrings(h.room("!r:x")); got != "$a,$b,$c,$d" {
		t.Fatalf("processed %s, want $a,$b,$c,$d once each", got)
	}
	for _, id := range []matrix.EventID{"$a", "$b", "$c", "$d"} {
		if n := h.callCount(id); n != 1 {
			t.Errorf("%s handled %d times", id, n)
		}
	}
	poll.Until(t, "all marked done", 5*time.Second, func() bool { return len(inbox.pending()) == 0 })
}

// TestPerRoomOrderUnderConcurrency sends many rooms' events interleaved over
// concurrent transactions to a handler that sleeps randomly: every room must
// see its events in order, each exactly once, and no more handlers than
// MaxWorkers may run at once.
func TestPerRoomOrderUnderConcurrency(t *testing.T) {
	const rooms, perRoom, perTxn, workers = 60, 40, 25, 8
	inbox, h := newFakeInbox(), newRecorder()
	var running, maxRunning atomic.Int32
	h.hook = func(context.Context, *matrix.Event) error {
		n := running.Add(1)
		defer running.Add(-1)
		for {
			m := maxRunning.Load()
			if n <= m || maxRunning.CompareAndSwap(m, n) {
				break
			}
		}
		time.Sleep(time.Duration(rand.IntN(300)) * time.Microsecond)
		return nil
	}
	s := newServer(t, inbox, h, func(o *appservice.Options) { o.MaxWorkers = workers })
	baseline := runtime.NumGoroutine()

	// Build the stream: room events in order, rooms interleaved randomly.
	next := make([]int, rooms)
	var stream []map[string]any
	for len(stream) < rooms*perRoom {
		r := rand.IntN(rooms)
		if next[r] == perRoom {
			continue
		}
		stream = append(stream, event(fmt.Sprintf("$r%d_%d", r, next[r]), fmt.Sprintf("!room%d:x", r)))
		next[r]++
	}
	// Transactions are sent by a few concurrent senders, each in its own
	// order: the store's Seq, not the sender, decides the order.
	var txns [][]map[string]any
	for i := 0; i < len(stream); i += perTxn {
		txns = append(txns, stream[i:min(i+perTxn, len(stream))])
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i, txn := range txns {
		mu.Lock() // sequential sends: transactions keep the stream order
		rec := putTxn(s, fmt.Sprintf("txn%d", i), txnBody(t, txn...))
		mu.Unlock()
		if rec.Code != http.StatusOK {
			t.Fatalf("txn %d: %d %s", i, rec.Code, rec.Body)
		}
		// Redeliver some transactions concurrently, as a confused
		// homeserver might.
		if i%3 == 0 {
			wg.Go(func() { putTxn(s, fmt.Sprintf("txn%d", i), txnBody(t, txn...)) })
		}
	}
	wg.Wait()
	poll.Until(t, "all events", 20*time.Second, func() bool { return h.handled() == rooms*perRoom })
	for r := range rooms {
		want := idStrings(ids(fmt.Sprintf("$r%d_", r), perRoom))
		if got := idStrings(h.room(matrix.RoomID(fmt.Sprintf("!room%d:x", r)))); got != want {
			t.Fatalf("room %d order:\n got %s\nwant %s", r, got, want)
		}
	}
	if m := maxRunning.Load(); m > workers {
		t.Fatalf("%d handlers ran at once, MaxWorkers is %d", m, workers)
	}
	poll.Until(t, "all marked done", 5*time.Second, func() bool { return len(inbox.pending()) == 0 })
	// Idle rooms cost no goroutines: the workers exit.
	poll.Until(t, "workers to exit", 5*time.Second, func() bool { return runtime.NumGoroutine() <= baseline })
}

func TestBlockedRoomDoesNotBlockOthers(t *testing.T) {
	inbox, h := newFakeInbox(), newRecorder()
	release := make(chan struct{})
	h.hook = func(ctx context.Context, evt *matrix.Event) error {
		if evt.RoomID == "!stuck:x" {
			select {
			case <-release:
			case <-ctx.Done():
			}
		}
		return nil
	}
	s := newServer(t, inbox, h, func(o *appservice.Options) { o.MaxWorkers = 2 })
	var evs []map[string]any
	for i := range 3 {
		evs = append(evs, event(fmt.Sprintf("$s%d", i), "!stuck:x"))
	}
	for r := range 10 {
		for i := range 5 {
			evs = append(evs, event(fmt.Sprintf("$o%d_%d", r, i), fmt.Sprintf("!other%d:x", r)))
		}
	}
	if rec := putTxn(s, "t", txnBody(t, evs...)); rec.Code != 200 {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	poll.Until(t, "other rooms", 5*time.Second, func() bool { return h.handled() == 50 })
	if got := h.room("!stuck:x"); len(got) != 0 {
		t.Fatalf("stuck room progressed: %v", got)
	}
	close(release)
	poll.Until(t, "stuck room", 5*time.Second, func() bool { return len(h.room("!stuck:x")) == 3 })
	if got := idStrings(h.room("!stuck:x")); got != "$s0,$s1,$s2" {
		t.Fatalf("stuck room order %s", got)
	}
}

func TestResumePendingEvents(t *testing.T) {
	inbox := newFakeInbox()
	ctx := context.Background()
	// A previous run stored events and processed only some of them.
	var evs []map[string]any
	for i := range 6 {
		evs = append(evs, event(fmt.Sprintf("$a%d", i), "!a:x"), event(fmt.Sprintf("$b%d", i), "!b:x"))
	}
	first := newRecorder()
	s1, err := appservice.New(appservice.Options{HSToken: testToken, Inbox: inbox, Handler: first, Logger: discardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	// Not started: transactions are stored, not processed.
	if rec := putTxn(s1, "t1", txnBody(t, evs...)); rec.Code != 200 {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	if err := inbox.MarkEventsDone(ctx, 1, 2, 3); err != nil { // $a0 $b0 $a1 done
		t.Fatal(err)
	}
	if first.handled() != 0 {
		t.Fatal("an unstarted server processed events")
	}

	h := newRecorder()
	s := newServer(t, inbox, h, nil)
	// Start has loaded the backlog, so a new event is handled after it.
	if rec := putTxn(s, "t2", txnBody(t, event("$a6", "!a:x"))); rec.Code != 200 {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	poll.Until(t, "resumed events", 5*time.Second, func() bool { return h.handled() == 10 })
	if got := idStrings(h.room("!a:x")); got != "$a2,$a3,$a4,$a5,$a6" {
		t.Fatalf("room a resumed as %s", got)
	}
	if got := idStrings(h.room("!b:x")); got != "$b1,$b2,$b3,$b4,$b5" {
		t.Fatalf("room b resumed as %s", got)
	}
	poll.Until(t, "marks", 5*time.Second, func() bool { return len(inbox.pending()) == 0 })
}

func TestResumeFailsWhenStoreFails(t *testing.T) {
	inbox := newFakeInbox()
	inbox.failPending = errors.New("disk on fire")
	s, err := appservice.New(appservice.Options{HSToken: testToken, Inbox: inbox, Handler: newRecorder(), Logger: discardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); err == nil || !strings.Contains(err.Error(), "disk on fire") {
		t.Fatalf("Start = %v, want the store error", err)
	}
}

func TestStoreFailureIsNotAcknowledged(t *testing.T) {
	inbox, h := newFakeInbox(), newRecorder()
	logs := &logSink{}
	s := newServer(t, inbox, h, func(o *appservice.Options) { o.Logger = logs.logger() })
	inbox.setFailAdd(errors.New("database is locked"))
	body := []byte(`{"events":[{"event_id":"$x","room_id":"!r:x","type":"m.room.message"}],
		"ephemeral":[{"type":"m.typing","room_id":"!r:x","content":{"user_ids":[]}}]}`)
	rec := putTxn(s, "t1", body)
	if rec.Code != http.StatusInternalServerError || errcode(t, rec) != "M_UNKNOWN" {
		t.Fatalf("got %d %s, want 500", rec.Code, rec.Body)
	}
	time.Sleep(20 * time.Millisecond)
	if h.handled() != 0 || len(h.ephemeral()) != 0 || inbox.stored() != 0 {
		t.Fatalf("failed transaction had effects: handled %d, ephemeral %d, stored %d", h.handled(), len(h.ephemeral()), inbox.stored())
	}
	if !strings.Contains(logs.String(), "database is locked") || !strings.Contains(logs.String(), "txn_id=t1") {
		t.Fatalf("store failure not logged with the txn id:\n%s", logs)
	}
	// The homeserver retries once the store recovered.
	inbox.setFailAdd(nil)
	if rec := putTxn(s, "t1", body); rec.Code != 200 {
		t.Fatalf("retry: %d %s", rec.Code, rec.Body)
	}
	poll.Until(t, "event after retry", 5*time.Second, func() bool { return h.handled() == 1 && len(h.ephemeral()) == 1 })
}

func TestEphemeralEvents(t *testing.T) {
	inbox, h := newFakeInbox(), newRecorder()
	s := newServer(t, inbox, h, nil)
	typing := `{"type":"m.typing","room_id":"!r:x","content":{"user_ids":["@a:x"]}}`
	receipt := `{"type":"m.receipt","room_id":"!r:x","content":{}}`
	presence := `{"type":"m.presence","sender":"@a:x","content":{"presence":"online"}}`
	cases := []struct {
		body string
		want []string
	}{
		{`{"events":[],"ephemeral":[` + typing + `,` + receipt + `]}`, []string{"m.typing", "m.receipt"}},
		{`{"events":[],"de.sorunome.msc2409.ephemeral":[` + presence + `]}`, []string{"m.presence"}},
		// Both keys: the stable one wins, nothing is delivered twice.
		{`{"events":[],"ephemeral":[` + typing + `],"de.sorunome.msc2409.ephemeral":[` + typing + `]}`, []string{"m.typing"}},
		// To-device and device-list keys are ignored without error.
		{`{"events":[],"to_device":[{"type":"m.room_key"}],"de.sorunome.msc2409.to_device":[],
		  "device_lists":{"changed":["@a:x"]},"org.matrix.msc3202.device_lists":{}}`, nil},
	}
	for i, c := range cases {
		before := len(h.ephemeral())
		if rec := putTxn(s, fmt.Sprintf("e%d", i), []byte(c.body)); rec.Code != 200 {
			t.Fatalf("case %d: %d %s", i, rec.Code, rec.Body)
		}
		end := ephemeralMarker(t, s, h, fmt.Sprintf("mark%d", i))
		got := h.ephemeral()[before:end]
		var types []string
		for _, e := range got {
			types = append(types, e.Type)
		}
		if !slices.Equal(types, c.want) {
			t.Errorf("case %d: ephemeral %v, want %v", i, types, c.want)
		}
	}
	// A redelivered transaction does not repeat its ephemeral events.
	before := len(h.ephemeral())
	putTxn(s, "e0", []byte(`{"events":[],"ephemeral":[`+typing+`]}`))
	if n := ephemeralMarker(t, s, h, "mark-redelivery") - before; n != 0 {
		t.Errorf("redelivery repeated %d ephemeral events", n)
	}
	if inbox.stored() != 0 {
		t.Fatalf("ephemeral events were stored in the inbox")
	}
}

func TestHandlerRetriesThenGivesUp(t *testing.T) {
	inbox, h := newFakeInbox(), newRecorder()
	logs := &logSink{}
	var flaky atomic.Int32
	h.hook = func(_ context.Context, evt *matrix.Event) error {
		switch evt.ID {
		case "$poison":
			return errors.New("cannot bridge this")
		case "$panics":
			panic("handler bug")
		case "$flaky":
			if flaky.Add(1) < 3 {
				return errors.New("remote busy")
			}
		}
		return nil
	}
	s := newServer(t, inbox, h, func(o *appservice.Options) {
		o.Logger = logs.logger()
		o.Retry = appservice.RetryPolicy{Attempts: 4, InitialBackoff: time.Millisecond, MaxBackoff: 2 * time.Millisecond}
	})
	body := txnBody(t, event("$poison", "!r:x"), event("$panics", "!r:x"), event("$flaky", "!r:x"), event("$after", "!r:x"))
	if rec := putTxn(s, "t", body); rec.Code != 200 {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	poll.Until(t, "room to move past the poison events", 5*time.Second, func() bool { return len(h.room("!r:x")) == 2 })
	if got := idStrings(h.room("!r:x")); got != "$flaky,$after" {
		t.Fatalf("room processed %s", got)
	}
	if n := h.callCount("$poison"); n != 4 {
		t.Errorf("poison event tried %d times, want 4", n)
	}
	if n := h.callCount("$flaky"); n != 3 {
		t.Errorf("flaky event tried %d times, want 3", n)
	}
	poll.Until(t, "marks", 5*time.Second, func() bool { return len(inbox.pending()) == 0 })
	out := logs.String()
	for _, want := range []string{"level=ERROR msg=\"giving up on event after retries\" event_id=$poison", "event_id=$panics", "handler panic: handler bug"} {
		if !strings.Contains(out, want) {
			t.Errorf("logs lack %q:\n%s", want, out)
		}
	}
}

// TestMemoryQueueLimit keeps at most a few events in memory: the rest wait in
// the store and are loaded as the queue drains, still in order.
func TestMemoryQueueLimit(t *testing.T) {
	inbox, h := newFakeInbox(), newRecorder()
	// Handlers wait until every transaction is in, so the memory queue is
	// sure to overflow (without the gate, a fast machine may keep up and
	// never need the store).
	release := make(chan struct{})
	h.hook = func(context.Context, *matrix.Event) error { <-release; return nil }
	s := newServer(t, inbox, h, func(o *appservice.Options) { o.MaxQueuedEvents = 10; o.MaxWorkers = 3 })
	const rooms, perRoom = 5, 60
	for i := range perRoom {
		var evs []map[string]any
		for r := range rooms {
			evs = append(evs, event(fmt.Sprintf("$r%d_%d", r, i), fmt.Sprintf("!r%d:x", r)))
		}
		if rec := putTxn(s, fmt.Sprintf("t%d", i), txnBody(t, evs...)); rec.Code != 200 {
			t.Fatalf("%d %s", rec.Code, rec.Body)
		}
	}
	close(release)
	poll.Until(t, "all events", 10*time.Second, func() bool { return h.handled() == rooms*perRoom })
	for r := range rooms {
		want := idStrings(ids(fmt.Sprintf("$r%d_", r), perRoom))
		if got := idStrings(h.room(matrix.RoomID(fmt.Sprintf("!r%d:x", r)))); got != want {
			t.Fatalf("room %d order:\n got %s\nwant %s", r, got, want)
		}
	}
	inbox.mu.Lock()
	calls := inbox.pendingCalls
	inbox.mu.Unlock()
	if calls < 2 {
		t.Fatalf("the store was read %d times: events were not left in the store", calls)
	}
}

func TestMarkFailureIsRetried(t *testing.T) {
	inbox, h := newFakeInbox(), newRecorder()
	inbox.failMark = errors.New("read-only")
	s := newServer(t, inbox, h, nil)
	if rec := putTxn(s, "t", txnBody(t, event("$a", "!r:x"))); rec.Code != 200 {
		t.Fatal(rec.Code)
	}
	poll.Until(t, "event", 5*time.Second, func() bool { return h.handled() == 1 })
	if p := inbox.pending(); len(p) != 1 {
		t.Fatalf("pending %v while marks fail", p)
	}
	inbox.mu.Lock()
	inbox.failMark = nil
	inbox.mu.Unlock()
	poll.Until(t, "mark after store recovered", 5*time.Second, func() bool { return len(inbox.pending()) == 0 })
	if n := h.callCount("$a"); n != 1 {
		t.Fatalf("event handled %d times", n)
	}
}

// TestGracefulStop: Stop refuses new transactions, lets the running handler
// finish, leaves the rest pending, and a new server resumes them in order.
func TestGracefulStop(t *testing.T) {
	inbox, h := newFakeInbox(), newRecorder()
	started, release := make(chan struct{}), make(chan struct{})
	var handlerCtxErr atomic.Value
	h.hook = func(ctx context.Context, evt *matrix.Event) error {
		if evt.ID == "$e0" {
			close(started)
			<-release
			handlerCtxErr.Store(fmt.Sprint(ctx.Err()))
		}
		return nil
	}
	s, err := appservice.New(appservice.Options{
		HSToken: testToken, Inbox: inbox, Handler: h, Logger: discardLogger(), ListenAddr: "127.0.0.1:0",
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	var evs []map[string]any
	for i := range 5 {
		evs = append(evs, event(fmt.Sprintf("$e%d", i), "!r:x"))
	}
	if rec := putTxn(s, "t1", txnBody(t, evs...)); rec.Code != 200 {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	<-started
	stopped := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		stopped <- s.Stop(ctx)
	}()
	time.Sleep(30 * time.Millisecond)
	select {
	case err := <-stopped:
		t.Fatalf("Stop returned (%v) while a handler was still running", err)
	default:
	}
	if rec := putTxn(s, "t2", txnBody(t, event("$late", "!r:x"))); rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("transaction during Stop: %d %s, want 503", rec.Code, rec.Body)
	}
	close(release)
	if err := <-stopped; err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if v := handlerCtxErr.Load(); v != "<nil>" {
		t.Fatalf("handler context was cancelled during a graceful stop: %v", v)
	}
	if got := idStrings(h.room("!r:x")); got != "$e0" {
		t.Fatalf("processed %s during stop, want only the running $e0", got)
	}
	if got := strings.Join(inbox.pending(), ","); got != "$e1,$e2,$e3,$e4" {
		t.Fatalf("pending after stop: %s", got)
	}
	h2 := newRecorder()
	newServer(t, inbox, h2, nil)
	poll.Until(t, "resume", 5*time.Second, func() bool { return h2.handled() == 4 })
	if got := idStrings(h2.room("!r:x")); got != "$e1,$e2,$e3,$e4" {
		t.Fatalf("resumed %s", got)
	}
}

func TestStopDeadlineCancelsHandlers(t *testing.T) {
	inbox, h := newFakeInbox(), newRecorder()
	cancelled := make(chan struct{})
	h.hook = func(ctx context.Context, evt *matrix.Event) error {
		<-ctx.Done()
		close(cancelled)
		return ctx.Err()
	}
	s, err := appservice.New(appservice.Options{HSToken: testToken, Inbox: inbox, Handler: h, Logger: discardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	putTxn(s, "t", txnBody(t, event("$stuck", "!r:x")))
	poll.Until(t, "handler to start", 5*time.Second, func() bool { return h.callCount("$stuck") == 1 })
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := s.Stop(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Stop = %v, want deadline exceeded", err)
	}
	select {
	case <-cancelled:
	case <-time.After(5 * time.Second):
		t.Fatal("the stuck handler's context was never cancelled")
	}
}

func TestStopTwiceAndStats(t *testing.T) {
	inbox, h := newFakeInbox(), newRecorder()
	release := make(chan struct{})
	h.hook = func(context.Context, *matrix.Event) error { <-release; return nil }
	s, err := appservice.New(appservice.Options{HSToken: testToken, Inbox: inbox, Handler: h, Logger: discardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	putTxn(s, "t", txnBody(t, event("$a", "!a:x"), event("$b", "!a:x"), event("$c", "!c:x")))
	poll.Until(t, "two handlers running", 5*time.Second, func() bool { return h.callCount("$a")+h.callCount("$c") == 2 })
	st := s.Stats()
	if st.Workers != 2 || st.Rooms != 2 || st.Unmarked != 3 || st.Queued != 0 || st.Backlog {
		t.Fatalf("stats %+v, want 2 workers, 2 rooms, 3 unmarked", st)
	}
	close(release)
	poll.Until(t, "idle", 5*time.Second, func() bool { st = s.Stats(); return st.Unmarked == 0 && st.Workers == 0 })
	ctx := context.Background()
	if err := s.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Stop(ctx); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
	if err := s.Start(ctx); err == nil {
		t.Fatal("Start after Stop succeeded")
	}
}
