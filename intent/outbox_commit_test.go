package intent

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/causewaybridge/causeway/internal/poll"
	"github.com/causewaybridge/causeway/matrix"
	"github.com/causewaybridge/causeway/store"
)

// gatedStore holds the first CompleteOutboxBatch until release is closed.
type gatedStore struct {
	*memOutboxStore
	entered chan struct{}
	release chan struct{}
	first   bool
}

func (g *gatedStore) CompleteOutboxBatch(ctx context.Context, done []store.OutboxCompletion) error {
	if !g.first {
		g.first = true
		close(g.entered)
		<-g.release
	}
	return g.memOutboxStore.CompleteOutboxBatch(ctx, done)
}

// TestOutboxGroupCommit: while the store is slow to commit a completion,
// the room's next messages are still sent (the lane does not wait for the
// write), a rescan of the store does not send the delivered-but-uncommitted
// items again, the completions that piled up are committed together, links
// are stored with them, and OnSent runs once per item in order.
func TestOutboxGroupCommit(t *testing.T) {
	ctx := context.Background()
	hs := newFakeHS(t)
	hs.makeRoom(room1, false, alice)
	st := &gatedStore{memOutboxStore: newMemOutboxStore(), entered: make(chan struct{}), release: make(chan struct{})}
	sent := make(chan string, 100)
	o := newTestOutbox(t, newTestClient(t, hs, nil), st, OutboxOptions{Workers: 2, CommitDelay: time.Nanosecond,
		OnSent: func(_ context.Context, item store.OutboxItem, _ Op, _ matrix.EventID) { sent <- item.Key }})

	const n = 20
	for i := range n {
		op := textOp(room1, alice, fmt.Sprintf("%s msg %d", room1, i), fmt.Sprintf("remote-%d", i))
		op.Link = &Link{Module: "test", RemoteID: op.Key}
		if _, err := o.Send(ctx, op); err != nil {
			t.Fatal(err)
		}
	}
	released := false
	t.Cleanup(func() { // a failed assertion must not leave Stop waiting on the held commit
		if !released {
			close(st.release)
		}
	})
	<-st.entered
	poll.Until(t, "every message sent while the first completion is still being written", 10*time.Second, func() bool {
		return len(hs.roomEvents(room1)) == n
	})
	// Lookups must see a delivered event's link before its commit.
	poll.Until(t, "every link staged while the commit is held", 10*time.Second, func() bool {
		st.mu.Lock()
		defer st.mu.Unlock()
		return len(st.staged) == n
	})
	// A rescan now finds all n items pending in the store.
	if err := o.pump(ctx, false); err != nil {
		t.Fatal(err)
	}
	released = true
	close(st.release)
	poll.Until(t, "all completed", 10*time.Second, func() bool { _, d, _ := st.counts(); return d == n })
	for i := range n {
		if got, want := <-sent, fmt.Sprintf("remote-%d", i); got != want {
			t.Fatalf("OnSent #%d for %s, want %s", i, got, want)
		}
	}
	wantBodies(t, room1, bodies(hs.roomEvents(room1)), n) // nothing sent twice by the rescan
	st.mu.Lock()
	defer st.mu.Unlock()
	// The first batch was held; everything delivered meanwhile piled up and
	// was committed in one more transaction.
	if len(st.batches) != 2 || st.batches[0]+st.batches[1] != n {
		t.Fatalf("completion batches = %v, want two adding up to %d", st.batches, n)
	}
	if len(st.links) != n {
		t.Fatalf("%d links stored with the completions, want %d", len(st.links), n)
	}
	evs := hs.roomEvents(room1)
	for i, l := range st.links {
		if l.Module != "test" || l.RemoteID != fmt.Sprintf("remote-%d", i) || l.RoomID != string(room1) || l.EventID != string(evs[i].ID) {
			t.Fatalf("link %d = %+v, want remote-%d → %s", i, l, i, evs[i].ID)
		}
	}
}
