package core

import (
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/causewaybridge/causeway/config"
	"github.com/causewaybridge/causeway/store"
)

// TestPruneKeepsWhatRetentionCovers checks that the hourly prune deletes
// sent outbox items and processed inbox events only once they are older
// than their retention: until then a message queued again, or an event
// redelivered, is still recognised.
func TestPruneKeepsWhatRetentionCovers(t *testing.T) {
	ctx := t.Context()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	s, err := store.Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "c.db"), log)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var cfg config.Config
	cfg.Database.InboxRetention = 48 * time.Hour
	cfg.Database.OutboxRetention = 24 * time.Hour
	b := &Bridge{store: s, cfg: &cfg, log: log}

	item := store.OutboxItem{Queue: "!r:x", Key: "irc:msgid-1", Payload: []byte(`{}`)}
	sent, _, err := s.Enqueue(ctx, item)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CompleteOutbox(ctx, sent.Seq, "$sent"); err != nil {
		t.Fatal(err)
	}
	evs := []store.InboxEvent{{EventID: "$in", RoomID: "!r:x", Raw: []byte(`{"event_id":"$in"}`)}}
	added, _, err := s.AddTransaction(ctx, "txn1", evs)
	if err != nil || len(added) != 1 {
		t.Fatalf("AddTransaction: %v, %d added", err, len(added))
	}
	if err := s.MarkEventsDone(ctx, added[0].Seq); err != nil {
		t.Fatal(err)
	}
	requeued := func() bool {
		t.Helper()
		_, dup, err := s.Enqueue(ctx, item)
		if err != nil {
			t.Fatal(err)
		}
		return !dup
	}
	redelivered := func() bool {
		t.Helper()
		added, _, err := s.AddTransaction(ctx, "txn2", evs)
		if err != nil {
			t.Fatal(err)
		}
		return len(added) == 1
	}

	b.prune(ctx, time.Now().Add(23*time.Hour))
	if requeued() {
		t.Fatal("a message sent 23h ago (retention 24h) was queued again instead of recognised")
	}
	b.prune(ctx, time.Now().Add(25*time.Hour))
	if redelivered() {
		t.Fatal("an event processed 25h ago (retention 48h) was taken as new")
	}
	if !requeued() {
		t.Fatal("a message sent 25h ago (retention 24h) is still in the outbox")
	}
	b.prune(ctx, time.Now().Add(49*time.Hour))
	if !redelivered() {
		t.Fatal("an event processed 49h ago (retention 48h) is still in the inbox")
	}
}
