package appservice

import (
	"context"
	"fmt"
	"log/slog"
	"sync"

	"github.com/causewaybridge/causeway/matrix"
)

// ephemeralQueue hands ephemeral events to the handler from one goroutine,
// in arrival order, without making the transaction response wait for the
// handler. It is bounded: when full, events are dropped with a warning
// (they are typing notices, receipts and presence, not durable data).
type ephemeralQueue struct {
	handler Handler
	log     *slog.Logger
	ch      chan *matrix.Event

	mu      sync.Mutex
	started bool
	closed  bool
	dropped int
	ctx     context.Context
	cancel  context.CancelFunc
	done    chan struct{}
}

func newEphemeralQueue(h Handler, log *slog.Logger, size int) *ephemeralQueue {
	return &ephemeralQueue{handler: h, log: log, ch: make(chan *matrix.Event, size)}
}

func (q *ephemeralQueue) start() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.started || q.closed {
		return
	}
	q.started = true
	q.ctx, q.cancel = context.WithCancel(context.Background())
	q.done = make(chan struct{})
	go q.run()
}

// push queues events; it never blocks.
func (q *ephemeralQueue) push(evts []*matrix.Event) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if !q.started || q.closed {
		return
	}
	for _, e := range evts {
		select {
		case q.ch <- e:
		default:
			q.dropped++
			if q.dropped == 1 || q.dropped%1000 == 0 {
				q.log.Warn("ephemeral queue full, dropping events", "type", e.Type, "dropped_total", q.dropped)
			}
		}
	}
}

func (q *ephemeralQueue) run() {
	defer close(q.done)
	for e := range q.ch {
		q.handle(e)
	}
}

func (q *ephemeralQueue) handle(e *matrix.Event) {
	defer func() {
		if p := recover(); p != nil {
			q.log.Error("ephemeral handler panicked", "type", e.Type, "room_id", e.RoomID, "panic", fmt.Sprint(p))
		}
	}()
	q.handler.HandleEphemeral(q.ctx, e)
}

// stop lets the queued events be handled until ctx ends, then cancels.
func (q *ephemeralQueue) stop(ctx context.Context) error {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return nil
	}
	q.closed = true
	started := q.started
	close(q.ch)
	q.mu.Unlock()
	if !started {
		return nil
	}
	defer q.cancel()
	select {
	case <-q.done:
		return nil
	case <-ctx.Done():
		q.cancel()
		return fmt.Errorf("appservice: waiting for ephemeral handler: %w", ctx.Err())
	}
}
