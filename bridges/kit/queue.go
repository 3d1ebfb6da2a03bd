package kit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/causewaybridge/causeway/matrix"
)

// ErrQueueStopped is returned by [RoomQueue.Push] after [RoomQueue.Stop].
var ErrQueueStopped = errors.New("room queue stopped")

// DefaultMaxPending is the per-room backlog of a [RoomQueue] whose
// options set none.
const DefaultMaxPending = 1000

// QueueOptions configure a [RoomQueue].
type QueueOptions struct {
	// Spawn starts a room's worker goroutine; pass a module's
	// bridges.Host.Go, so that the core waits for the workers when the
	// module stops, or the Go method of the module's own sync.WaitGroup
	// wrapped to give a context. Required. A Spawn that does not run f
	// (Host.Go once the module has stopped) leaves the room's items
	// queued for good: stop pushing when the module stops (Stop).
	Spawn func(f func(ctx context.Context))
	// MaxPending bounds the items waiting in one room (default
	// DefaultMaxPending): Push blocks while the room has that many.
	MaxPending int
	// Logger receives panics of items and items dropped at stop (default:
	// discard).
	Logger *slog.Logger
}

// RoomQueue runs work items in order per Matrix room: the items of one
// room run one after another on one goroutine, those of different rooms
// independently. A room's goroutine is started when an item arrives in an
// idle room and exits as soon as the room has nothing left, so an idle
// queue holds no goroutines. Use it for what arrives from the remote
// network (the core's inbox already runs Matrix events per room in
// order).
//
// Items get the context of the goroutine Spawn started: once it is done
// (the module is stopping), the room's remaining items are dropped, and a
// panicking item is logged and does not stop the room. A RoomQueue is
// safe for concurrent use.
type RoomQueue struct {
	spawn func(f func(ctx context.Context))
	max   int
	log   *slog.Logger

	mu      sync.Mutex
	rooms   map[matrix.RoomID]*lane
	stopped bool
}

// lane is one room's backlog.
type lane struct {
	items   []func(ctx context.Context)
	running bool
	// space is closed (and replaced) when a full lane loses an item.
	space chan struct{}
}

// NewRoomQueue returns an empty queue.
func NewRoomQueue(opts QueueOptions) (*RoomQueue, error) {
	if opts.Spawn == nil {
		return nil, errors.New("room queue: QueueOptions.Spawn is required")
	}
	q := &RoomQueue{spawn: opts.Spawn, max: opts.MaxPending, log: opts.Logger, rooms: map[matrix.RoomID]*lane{}}
	if q.max <= 0 {
		q.max = DefaultMaxPending
	}
	if q.log == nil {
		q.log = slog.New(slog.DiscardHandler)
	}
	return q, nil
}

// Push queues f to run in room after the room's earlier items. It blocks
// while the room has MaxPending items waiting, until ctx is done (its
// error is returned, f is not queued); after Stop it returns
// ErrQueueStopped.
func (q *RoomQueue) Push(ctx context.Context, room matrix.RoomID, f func(ctx context.Context)) error {
	for {
		q.mu.Lock()
		if q.stopped {
			q.mu.Unlock()
			return ErrQueueStopped
		}
		l := q.rooms[room]
		if l == nil {
			l = &lane{space: make(chan struct{})}
			q.rooms[room] = l
		}
		if len(l.items) < q.max {
			l.items = append(l.items, f)
			start := !l.running
			l.running = true
			q.mu.Unlock()
			if start {
				q.spawn(func(ctx context.Context) { q.work(ctx, room, l) })
			}
			return nil
		}
		space := l.space
		q.mu.Unlock()
		select {
		case <-space:
		case <-ctx.Done():
			return fmt.Errorf("queue for room %s is full: %w", room, ctx.Err())
		}
	}
}

// work runs l's items until it is empty or ctx is done.
func (q *RoomQueue) work(ctx context.Context, room matrix.RoomID, l *lane) {
	for {
		q.mu.Lock()
		if len(l.items) == 0 || ctx.Err() != nil {
			if n := len(l.items); n > 0 {
				q.log.Info("room queue stopping: dropping queued work", "room_id", room, "items", n)
			}
			l.running = false
			l.items = nil
			close(l.space) // wake blocked pushers: they find a fresh lane
			delete(q.rooms, room)
			q.mu.Unlock()
			return
		}
		f := l.items[0]
		l.items[0] = nil
		l.items = l.items[1:]
		if len(l.items) == q.max-1 {
			close(l.space)
			l.space = make(chan struct{})
		}
		q.mu.Unlock()
		q.run(ctx, room, f)
	}
}

// run calls f, logging a panic instead of crashing the bridge.
func (q *RoomQueue) run(ctx context.Context, room matrix.RoomID, f func(ctx context.Context)) {
	defer func() {
		if r := recover(); r != nil {
			q.log.Error("room queue item panicked", "room_id", room, "panic", r)
		}
	}()
	f(ctx)
}

// Pending returns the number of items queued for room and not yet
// started.
func (q *RoomQueue) Pending(room matrix.RoomID) int {
	q.mu.Lock()
	defer q.mu.Unlock()
	if l := q.rooms[room]; l != nil {
		return len(l.items)
	}
	return 0
}

// Busy returns the number of rooms with a running goroutine.
func (q *RoomQueue) Busy() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.rooms)
}

// Stop makes later Pushes fail with ErrQueueStopped. Items already queued
// still run until the goroutines' context is done; waiting for them is
// the business of whoever Spawn reports to (the core for Host.Go).
func (q *RoomQueue) Stop() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.stopped = true
}
