package storetest

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/causewaybridge/causeway/store"
)

func runInbox(t *testing.T, open OpenFunc) {
	t.Run("NewTransaction", func(t *testing.T) { testNewTransaction(t, open(t)) })
	t.Run("TransactionWithoutEvents", func(t *testing.T) { testTxnWithoutEvents(t, open(t)) })
	t.Run("RedeliveredWithAppendedEvents", func(t *testing.T) { testRedelivered(t, open(t)) })
	t.Run("SameEventInTwoTransactions", func(t *testing.T) { testSameEventTwoTxns(t, open(t)) })
	t.Run("RejectsInvalidInput", func(t *testing.T) { testInboxInvalid(t, open(t)) })
	t.Run("PendingOrderAndLimit", func(t *testing.T) { testPendingOrder(t, open(t)) })
	t.Run("MarkEventsDone", func(t *testing.T) { testMarkDone(t, open(t)) })
	t.Run("PruneInbox", func(t *testing.T) { testPruneInbox(t, open(t)) })
	t.Run("ConcurrentAddTransaction", func(t *testing.T) { testConcurrentAdd(t, open(t)) })
}

func eventIDs(evs []store.InboxEvent) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.EventID
	}
	return out
}

func sameIDs(t *testing.T, what string, got []store.InboxEvent, want ...string) {
	t.Helper()
	if g := eventIDs(got); fmt.Sprint(g) != fmt.Sprint(want) {
		t.Fatalf("%s: event IDs %v, want %v", what, g, want)
	}
}

func mustAdd(t *testing.T, s *store.Store, txn string, evs ...store.InboxEvent) ([]store.InboxEvent, bool) {
	t.Helper()
	added, seen, err := s.AddTransaction(t.Context(), txn, evs)
	if err != nil {
		t.Fatalf("AddTransaction(%s): %v", txn, err)
	}
	return added, seen
}

func mustPending(t *testing.T, s *store.Store, limit int) []store.InboxEvent {
	t.Helper()
	p, err := s.PendingEvents(t.Context(), limit)
	if err != nil {
		t.Fatalf("PendingEvents: %v", err)
	}
	return p
}

func testNewTransaction(t *testing.T, s *store.Store) {
	before := time.Now().Add(-time.Second)
	in := []store.InboxEvent{Event("$a", "!r1:x"), Event("$b", "!r2:x"), Event("$c", "!r1:x")}
	in[1].Raw = []byte("{ \"odd\" :  [1, 2.50, \"\\u00e9\"] }") // kept byte for byte
	added, seen := mustAdd(t, s, "t1", in...)
	if seen {
		t.Error("first delivery of t1 reported as seen")
	}
	sameIDs(t, "added", added, "$a", "$b", "$c")
	for i, e := range added {
		if i > 0 && e.Seq <= added[i-1].Seq {
			t.Errorf("added[%d].Seq = %d, not after %d", i, e.Seq, added[i-1].Seq)
		}
		if e.Received.Before(before) || e.Received.After(time.Now().Add(time.Second)) {
			t.Errorf("added[%d].Received = %v, not now", i, e.Received)
		}
	}
	pending := mustPending(t, s, 10)
	sameIDs(t, "pending", pending, "$a", "$b", "$c")
	for i, p := range pending {
		if p.Seq != added[i].Seq || p.RoomID != in[i].RoomID || !bytes.Equal(p.Raw, in[i].Raw) {
			t.Errorf("pending[%d] = {%d %s %s}, want {%d %s %s}", i, p.Seq, p.RoomID, p.Raw, added[i].Seq, in[i].RoomID, in[i].Raw)
		}
		if !p.Received.Equal(added[i].Received) {
			t.Errorf("pending[%d].Received = %v, added said %v", i, p.Received, added[i].Received)
		}
	}
}

// testTxnWithoutEvents: a transaction whose events were all skipped (or that
// carried only ephemeral data) is still remembered, and a redelivery of it
// with events stores those events.
func testTxnWithoutEvents(t *testing.T, s *store.Store) {
	if added, seen := mustAdd(t, s, "t-empty"); len(added) != 0 || seen {
		t.Fatalf("first delivery: added %v, seen %v; want nothing added, not seen", eventIDs(added), seen)
	}
	if added, seen := mustAdd(t, s, "t-empty"); len(added) != 0 || !seen {
		t.Fatalf("redelivery: added %v, seen %v; want nothing added, seen", eventIDs(added), seen)
	}
	added, seen := mustAdd(t, s, "t-empty", Event("$late", "!r:x"))
	if !seen {
		t.Error("redelivery with an appended event: transaction not reported as seen")
	}
	sameIDs(t, "added on redelivery", added, "$late")
	sameIDs(t, "pending", mustPending(t, s, 10), "$late")
}

func testRedelivered(t *testing.T, s *store.Store) {
	mustAdd(t, s, "t1", Event("$a", "!r:x"), Event("$b", "!r:x"))
	added, seen := mustAdd(t, s, "t1", Event("$a", "!r:x"), Event("$b", "!r:x"), Event("$c", "!r:x"), Event("$d", "!r:x"))
	if !seen {
		t.Error("redelivered t1 not reported as seen")
	}
	sameIDs(t, "added on redelivery", added, "$c", "$d")
	added, seen = mustAdd(t, s, "t1", Event("$a", "!r:x"), Event("$b", "!r:x"), Event("$c", "!r:x"), Event("$d", "!r:x"))
	if !seen || len(added) != 0 {
		t.Errorf("identical redelivery: seen %v, added %v; want seen and nothing added", seen, eventIDs(added))
	}
	sameIDs(t, "pending", mustPending(t, s, 10), "$a", "$b", "$c", "$d")

	// A transaction seen with no events is still remembered.
	if _, seen := mustAdd(t, s, "empty"); seen {
		t.Error("first delivery of empty transaction reported as seen")
	}
	if _, seen := mustAdd(t, s, "empty"); !seen {
		t.Error("redelivered empty transaction not reported as seen")
	}
}

func testSameEventTwoTxns(t *testing.T, s *store.Store) {
	mustAdd(t, s, "t1", Event("$a", "!r:x"), Event("$b", "!r:x"))
	added, seen := mustAdd(t, s, "t2", Event("$b", "!r:x"), Event("$c", "!r:x"), Event("$c", "!r:x"))
	if seen {
		t.Error("t2 reported as seen")
	}
	sameIDs(t, "added by t2", added, "$c")
	// An event done before its second delivery is not processed again.
	pending := mustPending(t, s, 10)
	if err := s.MarkEventsDone(t.Context(), pending[0].Seq, pending[1].Seq, pending[2].Seq); err != nil {
		t.Fatalf("MarkEventsDone: %v", err)
	}
	added, _ = mustAdd(t, s, "t3", Event("$a", "!r:x"), Event("$d", "!r:x"))
	sameIDs(t, "added by t3", added, "$d")
	sameIDs(t, "pending", mustPending(t, s, 10), "$d")
}

func testInboxInvalid(t *testing.T, s *store.Store) {
	ctx := t.Context()
	if _, _, err := s.AddTransaction(ctx, "", []store.InboxEvent{Event("$a", "!r:x")}); err == nil {
		t.Error("empty transaction ID accepted")
	}
	if _, _, err := s.AddTransaction(ctx, "t1", []store.InboxEvent{Event("$a", "!r:x"), {RoomID: "!r:x"}}); err == nil {
		t.Error("event without ID accepted")
	}
	if p := mustPending(t, s, 10); len(p) != 0 {
		t.Errorf("rejected transaction left events %v", eventIDs(p))
	}
	if _, seen := mustAdd(t, s, "t1"); seen {
		t.Error("rejected transaction was recorded as seen")
	}
	if _, err := s.PendingEvents(ctx, 0); err == nil {
		t.Error("PendingEvents(0) accepted")
	}
}

func testPendingOrder(t *testing.T, s *store.Store) {
	var want []string
	for txn := range 5 {
		var evs []store.InboxEvent
		for i := range 7 {
			id := fmt.Sprintf("$e%d_%d", txn, i)
			evs = append(evs, Event(id, fmt.Sprintf("!room%d:x", i%3)))
			want = append(want, id)
		}
		mustAdd(t, s, fmt.Sprintf("t%d", txn), evs...)
	}
	sameIDs(t, "first 10 pending", mustPending(t, s, 10), want[:10]...)
	all := mustPending(t, s, 1000)
	sameIDs(t, "all pending", all, want...)
	for i := 1; i < len(all); i++ {
		if all[i].Seq <= all[i-1].Seq {
			t.Fatalf("pending[%d].Seq = %d not after %d", i, all[i].Seq, all[i-1].Seq)
		}
	}
}

func testMarkDone(t *testing.T, s *store.Store) {
	ctx := t.Context()
	added, _ := mustAdd(t, s, "t1", Event("$a", "!r:x"), Event("$b", "!r:x"), Event("$c", "!r:x"))
	if err := s.MarkEventsDone(ctx, added[0].Seq, added[2].Seq); err != nil {
		t.Fatalf("MarkEventsDone: %v", err)
	}
	sameIDs(t, "pending after done", mustPending(t, s, 10), "$b")
	if err := s.MarkEventsDone(ctx, added[0].Seq); err != nil {
		t.Errorf("marking a done event again: %v", err)
	}
	if err := s.MarkEventsDone(ctx); err != nil {
		t.Errorf("MarkEventsDone(): %v", err)
	}
	err := s.MarkEventsDone(ctx, added[1].Seq, added[2].Seq+1000)
	if !errors.Is(err, store.ErrNotFound) {
		t.Errorf("MarkEventsDone with unknown seq: %v, want ErrNotFound", err)
	}
	sameIDs(t, "pending after failed mark", mustPending(t, s, 10), "$b")
}

func testPruneInbox(t *testing.T, s *store.Store) {
	ctx := t.Context()
	added, _ := mustAdd(t, s, "t1", Event("$a", "!r:x"), Event("$b", "!r:x"))
	if err := s.MarkEventsDone(ctx, added[0].Seq); err != nil {
		t.Fatalf("MarkEventsDone: %v", err)
	}
	if n, err := s.PruneInbox(ctx, time.Now().Add(-time.Hour)); err != nil || n != 0 {
		t.Errorf("PruneInbox(an hour ago) = %d, %v; want 0 (nothing that old)", n, err)
	}
	if _, seen := mustAdd(t, s, "t1"); !seen {
		t.Error("t1 forgotten by a prune that should not touch it")
	}
	n, err := s.PruneInbox(ctx, time.Now().Add(time.Second))
	if err != nil || n != 1 {
		t.Errorf("PruneInbox(now) = %d, %v; want 1 done event", n, err)
	}
	sameIDs(t, "pending after prune", mustPending(t, s, 10), "$b")
	if err := s.MarkEventsDone(ctx, added[1].Seq); err != nil {
		t.Errorf("marking the kept event done after prune: %v", err)
	}
}

// testConcurrentAdd delivers the same transactions from several goroutines,
// as racing redeliveries would: every event must be added exactly once and
// every transaction ID reported new exactly once.
func testConcurrentAdd(t *testing.T, s *store.Store) {
	const workers, txns, perTxn = 6, 15, 10
	var (
		mu        sync.Mutex
		addedBy   = map[string]int{}
		firstSeen = map[string]int{}
		wg        sync.WaitGroup
	)
	errs := make(chan error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range txns {
				txn := fmt.Sprintf("t%d", (i+w)%txns)
				var evs []store.InboxEvent
				for j := range perTxn {
					// Consecutive transactions overlap by half their events.
					n := ((i+w)%txns)*perTxn/2 + j
					evs = append(evs, Event(fmt.Sprintf("$e%03d", n), fmt.Sprintf("!room%d:x", n%4)))
				}
				added, seen, err := s.AddTransaction(t.Context(), txn, evs)
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				for _, e := range added {
					addedBy[e.EventID]++
				}
				if !seen {
					firstSeen[txn]++
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("concurrent AddTransaction: %v", err)
	}
	wantEvents := (txns-1)*perTxn/2 + perTxn
	if len(addedBy) != wantEvents {
		t.Errorf("%d distinct events added, want %d", len(addedBy), wantEvents)
	}
	for id, n := range addedBy {
		if n != 1 {
			t.Errorf("event %s added %d times", id, n)
		}
	}
	for i := range txns {
		if n := firstSeen[fmt.Sprintf("t%d", i)]; n != 1 {
			t.Errorf("transaction t%d reported new %d times", i, n)
		}
	}
	pending := mustPending(t, s, 10*wantEvents)
	if len(pending) != wantEvents {
		t.Errorf("%d pending events, want %d", len(pending), wantEvents)
	}
	for i := 1; i < len(pending); i++ {
		if pending[i].Seq <= pending[i-1].Seq {
			t.Fatalf("pending not in Seq order at %d", i)
		}
	}
}
