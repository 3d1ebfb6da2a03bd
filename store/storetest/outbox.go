package storetest

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/causewaybridge/causeway/store"
)

func runOutbox(t *testing.T, open OpenFunc) {
	t.Run("EnqueueAndPendingOrder", func(t *testing.T) { testEnqueueOrder(t, open(t)) })
	t.Run("KeyDedupe", func(t *testing.T) { testOutboxDedupe(t, open(t)) })
	t.Run("AttemptsCompleteFail", func(t *testing.T) { testOutboxLifecycle(t, open(t)) })
	t.Run("UnknownItem", func(t *testing.T) { testOutboxUnknown(t, open(t)) })
	t.Run("PruneOutbox", func(t *testing.T) { testPruneOutbox(t, open(t)) })
	t.Run("CompleteBatchWithLinks", func(t *testing.T) { testCompleteBatch(t, open(t)) })
	t.Run("LatestKeyed", func(t *testing.T) { testLatestKeyed(t, open(t)) })
}

// testLatestKeyed: the newest item of a room with a key prefix is found
// whatever its state, other rooms, other prefixes and unkeyed items are
// ignored, and a room without one answers ErrNotFound.
func testLatestKeyed(t *testing.T, s *store.Store) {
	ctx := t.Context()
	mustEnqueue(t, s, "!r", "irc:a", "A")
	b, _ := mustEnqueue(t, s, "!r", "irc:b", "B")
	mustEnqueue(t, s, "!r", "", "unkeyed")
	mustEnqueue(t, s, "!r", "irch:c", "other prefix")
	mustEnqueue(t, s, "!other", "irc:d", "other room")
	if err := s.CompleteOutbox(ctx, b.Seq, "$b"); err != nil {
		t.Fatal(err)
	}
	got, err := s.LatestOutboxKeyed(ctx, "!r", "irc:")
	if err != nil || got.Key != "irc:b" || string(got.Payload) != "B" {
		t.Fatalf("LatestOutboxKeyed(!r, irc:) = %+v, %v; want the completed irc:b", got, err)
	}
	if _, err := s.LatestOutboxKeyed(ctx, "!none", "irc:"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("LatestOutboxKeyed of an empty room: %v, want ErrNotFound", err)
	}
	if _, err := s.LatestOutboxKeyed(ctx, "!r", "x%"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a prefix with a LIKE wildcard matched: %v", err)
	}
	for _, tc := range []struct {
		queue, key string
		want       bool
	}{{"!r", "irc:a", true}, {"!r", "irc:b", true}, {"!r", "irc:d", false}, {"!other", "irc:d", true}, {"!r", "", false}} {
		if got, err := s.OutboxHasKey(ctx, tc.queue, tc.key); err != nil || got != tc.want {
			t.Errorf("OutboxHasKey(%s, %q) = %v, %v; want %v", tc.queue, tc.key, got, err, tc.want)
		}
	}
}

// testCompleteBatch: a batch completes its items and stores their links
// together; a batch naming an unknown item changes nothing.
func testCompleteBatch(t *testing.T, s *store.Store) {
	ctx := t.Context()
	a, _ := mustEnqueue(t, s, "!r", "a", "A")
	b, _ := mustEnqueue(t, s, "!r", "b", "B")
	c, _ := mustEnqueue(t, s, "!r", "c", "C")
	link := &store.MessageLink{Module: "m", RemoteID: "msgid:a", RoomID: "!r", EventID: "$a"}
	if err := s.CompleteOutboxBatch(ctx, []store.OutboxCompletion{{Seq: a.Seq, Result: "$a", Link: link}, {Seq: b.Seq, Result: "$b"}}); err != nil {
		t.Fatalf("CompleteOutboxBatch: %v", err)
	}
	if got := payloads(mustPendingOutbox(t, s)); got != "[C]" {
		t.Fatalf("pending after batch = %s, want [C]", got)
	}
	if got, err := s.MessageByRemote(ctx, "m", "msgid:a"); err != nil || got.EventID != "$a" {
		t.Fatalf("link stored with the batch = %+v, %v; want $a", got, err)
	}
	bad := &store.MessageLink{Module: "m", RemoteID: "msgid:c", RoomID: "!r", EventID: "$c"}
	err := s.CompleteOutboxBatch(ctx, []store.OutboxCompletion{{Seq: c.Seq, Result: "$c", Link: bad}, {Seq: 424242, Result: "$x"}})
	if !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("batch with an unknown item: err = %v, want ErrNotFound", err)
	}
	if got := payloads(mustPendingOutbox(t, s)); got != "[C]" {
		t.Fatalf("a failed batch completed items: pending = %s, want [C]", got)
	}
	if _, err := s.MessageByRemote(ctx, "m", "msgid:c"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a failed batch stored its link: err = %v, want ErrNotFound", err)
	}
	if err := s.CompleteOutboxBatch(ctx, nil); err != nil {
		t.Fatalf("empty batch: %v", err)
	}

	// A staged link (delivered, completion not committed yet) is found by
	// both lookups, and still found once committed.
	d, _ := mustEnqueue(t, s, "!r", "d", "D")
	staged := store.MessageLink{Module: "m", RemoteID: "msgid:d", RoomID: "!r", EventID: "$d"}
	s.StageLink(staged)
	for range 2 {
		if got, err := s.MessageByRemote(ctx, "m", "msgid:d"); err != nil || got != staged {
			t.Fatalf("MessageByRemote of a staged link = %+v, %v", got, err)
		}
		if got, err := s.MessageByEvent(ctx, "$d"); err != nil || got != staged {
			t.Fatalf("MessageByEvent of a staged link = %+v, %v", got, err)
		}
		if err := s.CompleteOutboxBatch(ctx, []store.OutboxCompletion{{Seq: d.Seq, Result: "$d", Link: &staged}}); err != nil && !errors.Is(err, store.ErrNotFound) {
			t.Fatal(err)
		}
	}
}

func mustEnqueue(t *testing.T, s *store.Store, queue, key, payload string) (store.OutboxItem, bool) {
	t.Helper()
	it, dup, err := s.Enqueue(t.Context(), store.OutboxItem{Queue: queue, Key: key, Payload: []byte(payload)})
	if err != nil {
		t.Fatalf("Enqueue(%s, %q): %v", queue, key, err)
	}
	return it, dup
}

func mustPendingOutbox(t *testing.T, s *store.Store) []store.OutboxItem {
	t.Helper()
	items, err := s.PendingOutbox(t.Context(), 100)
	if err != nil {
		t.Fatalf("PendingOutbox: %v", err)
	}
	return items
}

func payloads(items []store.OutboxItem) string {
	var out []string
	for _, it := range items {
		out = append(out, string(it.Payload))
	}
	return fmt.Sprint(out)
}

func testEnqueueOrder(t *testing.T, s *store.Store) {
	a, _ := mustEnqueue(t, s, "!r1:x", "", `{"n":1}`)
	b, _ := mustEnqueue(t, s, "!r2:x", "k", `{"n":2}`)
	c, dup := mustEnqueue(t, s, "!r1:x", "", `{"n":1}`)
	if dup {
		t.Error("item without key reported as duplicate")
	}
	if !(a.Seq < b.Seq && b.Seq < c.Seq) {
		t.Errorf("seqs %d, %d, %d not increasing", a.Seq, b.Seq, c.Seq)
	}
	if a.Queue != "!r1:x" || b.Key != "k" || a.Created.IsZero() || a.Attempts != 0 {
		t.Errorf("stored item %+v lacks fields", a)
	}
	got := mustPendingOutbox(t, s)
	if p := payloads(got); p != `[{"n":1} {"n":2} {"n":1}]` {
		t.Errorf("pending payloads %s", p)
	}
	if got[1].Seq != b.Seq || got[1].Queue != "!r2:x" || got[1].Key != "k" || !got[1].Created.Equal(b.Created) {
		t.Errorf("pending item %+v, enqueued %+v", got[1], b)
	}
	if _, _, err := s.Enqueue(t.Context(), store.OutboxItem{Payload: []byte("{}")}); err == nil {
		t.Error("item without queue accepted")
	}
	if _, err := s.PendingOutbox(t.Context(), 0); err == nil {
		t.Error("PendingOutbox(0) accepted")
	}
}

func testOutboxDedupe(t *testing.T, s *store.Store) {
	ctx := t.Context()
	first, dup := mustEnqueue(t, s, "!r:x", "irc-msg-1", `{"body":"one"}`)
	if dup {
		t.Fatal("first enqueue reported duplicate")
	}
	again, dup := mustEnqueue(t, s, "!r:x", "irc-msg-1", `{"body":"changed"}`)
	if !dup || again.Seq != first.Seq || string(again.Payload) != `{"body":"one"}` {
		t.Errorf("re-enqueue = %+v dup=%v; want the first item, duplicate", again, dup)
	}
	if _, dup := mustEnqueue(t, s, "!other:x", "irc-msg-1", `{}`); dup {
		t.Error("same key in another queue reported duplicate")
	}
	if err := s.CompleteOutbox(ctx, first.Seq, "$event1"); err != nil {
		t.Fatalf("CompleteOutbox: %v", err)
	}
	if again, dup := mustEnqueue(t, s, "!r:x", "irc-msg-1", `{}`); !dup || again.Seq != first.Seq {
		t.Errorf("re-enqueue after completion: seq %d dup=%v; want duplicate of %d", again.Seq, dup, first.Seq)
	}
	failed, _ := mustEnqueue(t, s, "!r:x", "irc-msg-2", `{}`)
	if err := s.FailOutbox(ctx, failed.Seq, "M_FORBIDDEN"); err != nil {
		t.Fatalf("FailOutbox: %v", err)
	}
	if _, dup := mustEnqueue(t, s, "!r:x", "irc-msg-2", `{}`); !dup {
		t.Error("re-enqueue after failure not reported duplicate")
	}
	if n := len(mustPendingOutbox(t, s)); n != 1 {
		t.Errorf("%d pending items, want 1 (the other queue's)", n)
	}
}

func testOutboxLifecycle(t *testing.T, s *store.Store) {
	ctx := t.Context()
	a, _ := mustEnqueue(t, s, "!r:x", "a", `"a"`)
	b, _ := mustEnqueue(t, s, "!r:x", "b", `"b"`)
	c, _ := mustEnqueue(t, s, "!r:x", "c", `"c"`)
	for range 2 {
		if err := s.RecordOutboxAttempt(ctx, a.Seq, "502 Bad Gateway"); err != nil {
			t.Fatalf("RecordOutboxAttempt: %v", err)
		}
	}
	got := mustPendingOutbox(t, s)
	if len(got) != 3 || got[0].Seq != a.Seq || got[0].Attempts != 2 || got[1].Attempts != 0 {
		t.Fatalf("pending after attempts: %+v; want a first with 2 attempts", got)
	}
	if err := s.CompleteOutbox(ctx, a.Seq, "$ev"); err != nil {
		t.Fatalf("CompleteOutbox: %v", err)
	}
	if err := s.FailOutbox(ctx, b.Seq, "M_FORBIDDEN"); err != nil {
		t.Fatalf("FailOutbox: %v", err)
	}
	got = mustPendingOutbox(t, s)
	if len(got) != 1 || got[0].Seq != c.Seq {
		t.Errorf("pending after complete and fail: %s; want only c", payloads(got))
	}
}

func testOutboxUnknown(t *testing.T, s *store.Store) {
	ctx := t.Context()
	for name, err := range map[string]error{
		"CompleteOutbox":      s.CompleteOutbox(ctx, 4242, "$x"),
		"RecordOutboxAttempt": s.RecordOutboxAttempt(ctx, 4242, "boom"),
		"FailOutbox":          s.FailOutbox(ctx, 4242, "boom"),
	} {
		if !errors.Is(err, store.ErrNotFound) {
			t.Errorf("%s(unknown seq) = %v, want ErrNotFound", name, err)
		}
	}
}

func testPruneOutbox(t *testing.T, s *store.Store) {
	ctx := t.Context()
	done, _ := mustEnqueue(t, s, "!r:x", "k1", `1`)
	pending, _ := mustEnqueue(t, s, "!r:x", "k2", `2`)
	if err := s.CompleteOutbox(ctx, done.Seq, "$e"); err != nil {
		t.Fatalf("CompleteOutbox: %v", err)
	}
	if n, err := s.PruneOutbox(ctx, time.Now().Add(-time.Hour)); err != nil || n != 0 {
		t.Errorf("PruneOutbox(an hour ago) = %d, %v; want 0", n, err)
	}
	if n, err := s.PruneOutbox(ctx, time.Now().Add(time.Second)); err != nil || n != 1 {
		t.Errorf("PruneOutbox(now) = %d, %v; want 1", n, err)
	}
	if got := mustPendingOutbox(t, s); len(got) != 1 || got[0].Seq != pending.Seq {
		t.Errorf("prune touched pending items: %s", payloads(got))
	}
	if _, dup := mustEnqueue(t, s, "!r:x", "k1", `1`); dup {
		t.Error("pruned key still reported duplicate")
	}
}
