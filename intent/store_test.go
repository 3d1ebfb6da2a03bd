package intent

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/causewaybridge/causeway/internal/poll"
	"github.com/causewaybridge/causeway/matrix"
	"github.com/causewaybridge/causeway/store"
)

// The real store implements the interfaces this package declares.
var (
	_ OutboxStore = (*store.Store)(nil)
	_ StateStore  = (*store.Store)(nil)
)

func openSQLite(t *testing.T, path string) *store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), "sqlite:"+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// TestOutboxOverSQLiteSurvivesRestart runs the outbox against the embedded
// SQLite store: items queued while the homeserver is unreachable survive a
// restart of the process (a new store handle over the same file) and are
// delivered once each, in order.
func TestOutboxOverSQLiteSurvivesRestart(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "causeway.db")
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

	st1 := openSQLite(t, path)
	o1, err := NewOutbox(OutboxOptions{Client: newTestClient(t, hs, st1), Store: st1, Retry: fastRetry})
	if err != nil {
		t.Fatal(err)
	}
	if err := o1.Start(ctx); err != nil {
		t.Fatal(err)
	}
	const n = 10
	for i := range n {
		for _, r := range []struct {
			room matrix.RoomID
			user matrix.UserID
		}{{room1, alice}, {room2, bob}} {
			if _, err := o1.Send(ctx, textOp(r.room, r.user, fmt.Sprintf("%s msg %d", r.room, i), fmt.Sprint("remote-", i))); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Re-enqueueing a remote message already queued is a no-op.
	if queued, err := o1.Send(ctx, textOp(room1, alice, "again", "remote-0")); err != nil || queued {
		t.Fatalf("duplicate key queued=%v err=%v", queued, err)
	}
	poll.Until(t, "attempts during the outage", 10*time.Second, func() bool { return len(hs.requests(http.MethodPost, "/register")) > 0 })
	if err := o1.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if err := st1.Close(); err != nil {
		t.Fatal(err)
	}

	down.Store(false)
	st2 := openSQLite(t, path)
	defer st2.Close()
	var sent atomic.Int32
	o2, err := NewOutbox(OutboxOptions{Client: newTestClient(t, hs, st2), Store: st2, Retry: fastRetry,
		OnSent: func(context.Context, store.OutboxItem, Op, matrix.EventID) { sent.Add(1) }})
	if err != nil {
		t.Fatal(err)
	}
	if err := o2.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer o2.Stop(ctx)
	poll.Until(t, "all delivered after restart", 10*time.Second, func() bool { return sent.Load() == 2*n })
	wantBodies(t, room1, bodies(hs.roomEvents(room1)), n)
	wantBodies(t, room2, bodies(hs.roomEvents(room2)), n)
	pending, err := st2.PendingOutbox(ctx, 100)
	if err != nil || len(pending) != 0 {
		t.Fatalf("pending after delivery = %d (%v)", len(pending), err)
	}
}

// BenchmarkOutboxSQLiteSendToDelivered measures enqueue (durable, SQLite)
// through delivery to the fake homeserver.
func BenchmarkOutboxSQLiteSendToDelivered(b *testing.B) {
	ctx := context.Background()
	st, err := store.Open(ctx, "sqlite:"+filepath.Join(b.TempDir(), "bench.db"), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	hs := newFakeHS(b)
	rooms := make([]matrix.RoomID, 8)
	for i := range rooms {
		rooms[i] = matrix.RoomID(fmt.Sprintf("!bench%d:example.org", i))
		hs.makeRoom(rooms[i], false, alice)
	}
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
