package kit_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/causewaybridge/causeway/bridges/kit"
	"github.com/causewaybridge/causeway/internal/bridgetest"
	"github.com/causewaybridge/causeway/internal/poll"
	"github.com/causewaybridge/causeway/matrix"
)

// TestRoomQueueOrderPerRoom: each room's items run in order and never
// two at a time; rooms run concurrently; idle rooms hold no goroutine.
func TestRoomQueueOrderPerRoom(t *testing.T) {
	h := bridgetest.NewHost(t, bridgetest.HostOptions{})
	q, err := kit.NewRoomQueue(kit.QueueOptions{Spawn: h.Go, MaxPending: 4})
	if err != nil {
		t.Fatal(err)
	}
	const rooms, items = 5, 50
	var (
		mu      sync.Mutex
		got     = map[matrix.RoomID][]int{}
		running = map[matrix.RoomID]int{}
		wg      sync.WaitGroup
	)
	for r := range rooms {
		room := matrix.RoomID(fmt.Sprintf("!%d:example.org", r))
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range items {
				err := q.Push(t.Context(), room, func(ctx context.Context) {
					mu.Lock()
					running[room]++
					if running[room] > 1 {
						t.Errorf("room %s: two items at once", room)
					}
					mu.Unlock()
					time.Sleep(100 * time.Microsecond)
					mu.Lock()
					running[room]--
					got[room] = append(got[room], i)
					mu.Unlock()
				})
				if err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	poll.Until(t, "every item ran", 10*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		n := 0
		for _, v := range got {
			n += len(v)
		}
		return n == rooms*items
	})
	mu.Lock()
	for room, v := range got {
		for i, x := range v {
			if x != i {
				t.Fatalf("room %s: item %d ran as number %d: %v", room, x, i, v)
			}
		}
	}
	mu.Unlock()
	poll.Until(t, "idle rooms' goroutines exit", 5*time.Second, func() bool { return q.Busy() == 0 })
}

// TestRoomQueueIndependentRooms: a blocked room does not hold up another.
func TestRoomQueueIndependentRooms(t *testing.T) {
	h := bridgetest.NewHost(t, bridgetest.HostOptions{})
	q, err := kit.NewRoomQueue(kit.QueueOptions{Spawn: h.Go})
	if err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	defer close(release)
	if err := q.Push(t.Context(), "!a:s", func(ctx context.Context) { <-release }); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	if err := q.Push(t.Context(), "!b:s", func(ctx context.Context) { close(done) }); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("room b waited for room a")
	}
}

// TestRoomQueueBoundAndStop: Push blocks on a full room until its context
// ends; a panicking item does not stop the room; after Stop, Push fails
// and the host's Stop waits for the running item, the rest is dropped.
func TestRoomQueueBoundAndStop(t *testing.T) {
	h := bridgetest.NewHost(t, bridgetest.HostOptions{})
	q, err := kit.NewRoomQueue(kit.QueueOptions{Spawn: h.Go, MaxPending: 2, Logger: h.Logger()})
	if err != nil {
		t.Fatal(err)
	}
	room := matrix.RoomID("!a:s")
	started, release := make(chan struct{}), make(chan struct{})
	var ran atomic.Int32
	push := func(f func(ctx context.Context)) error { return q.Push(t.Context(), room, f) }
	if err := push(func(ctx context.Context) { close(started); <-release }); err != nil {
		t.Fatal(err)
	}
	<-started
	if err := push(func(ctx context.Context) { panic("boom") }); err != nil {
		t.Fatal(err)
	}
	if err := push(func(ctx context.Context) { ran.Add(1) }); err != nil {
		t.Fatal(err)
	}
	if q.Pending(room) != 2 {
		t.Fatalf("pending = %d, want 2", q.Pending(room))
	}
	short, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if err := q.Push(short, room, func(ctx context.Context) {}); err == nil {
		t.Fatal("push on a full room did not block")
	}
	close(release)
	poll.Until(t, "the item after the panic runs", 5*time.Second, func() bool { return ran.Load() == 1 })

	block := make(chan struct{})
	if err := push(func(ctx context.Context) { close(block); <-ctx.Done() }); err != nil {
		t.Fatal(err)
	}
	<-block
	if err := push(func(ctx context.Context) { ran.Add(1) }); err != nil {
		t.Fatal(err)
	}
	q.Stop()
	if err := push(func(ctx context.Context) {}); err != kit.ErrQueueStopped {
		t.Fatalf("push after stop: %v", err)
	}
	h.Stop() // cancels the running item's context and waits for it
	if ran.Load() != 1 {
		t.Fatal("an item queued behind the stop ran")
	}
	if q.Busy() != 0 {
		t.Fatalf("busy rooms after stop: %d", q.Busy())
	}
}

func TestRoomQueueNeedsSpawn(t *testing.T) {
	if _, err := kit.NewRoomQueue(kit.QueueOptions{}); err == nil {
		t.Fatal("no error without Spawn")
	}
}
