package irc

import (
	"container/list"
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/causewaybridge/causeway/matrix"
)

// extras is the module's state for edits, replies, presence and the edit
// grace window. Its zero value is ready to use.
type extras struct {
	hold holdQueue
	// holdSeq orders the stored records of held sends (hold_store.go).
	holdSeq atomic.Int64
	sent    sentCache
	away    awayState
	// rules remembers the join rule last set per portal room, so repeated
	// MODE lines do not resend it.
	mu    sync.Mutex
	rules map[matrix.RoomID]string
}

// holdQueue delays Matrix→IRC sends by the edit grace window. Each room has
// its own FIFO worker, so a later message never overtakes a held one in the
// same room and one room's hold never delays another room. An edit of a
// message still held replaces its content: only the final text is sent.
// The zero value is ready to use.
type holdQueue struct {
	mu      sync.Mutex
	rooms   map[matrix.RoomID]*roomHold
	flushed chan struct{} // closed by flush: nothing is held any longer
	wg      sync.WaitGroup
}

// roomHold is one room's queue of held sends.
type roomHold struct {
	items []*heldItem
	wake  chan struct{} // signalled when an item is added
}

// heldItem is one send waiting for its grace window to end.
type heldItem struct {
	event  matrix.EventID // the Matrix message; "" for items edits cannot replace
	sender matrix.UserID
	due    time.Time
	// content is the message to send; an edit in the window replaces it.
	content *matrix.MessageContent
	run     func(ctx context.Context, content *matrix.MessageContent)
	// durable is the item's stored record (hold_store.go); nil for items
	// kept only in memory.
	durable *heldDurable
}

// flushedLocked returns the flush channel, creating it. q.mu is held.
func (q *holdQueue) flushedLocked() chan struct{} {
	if q.flushed == nil {
		q.flushed = make(chan struct{})
	}
	return q.flushed
}

// enqueue adds it to room's queue, starting the room's worker when idle.
// After flush, items run at once (in order) instead of being held.
func (q *holdQueue) enqueue(ctx context.Context, room matrix.RoomID, it *heldItem) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.rooms == nil {
		q.rooms = map[matrix.RoomID]*roomHold{}
	}
	rh := q.rooms[room]
	if rh == nil {
		rh = &roomHold{wake: make(chan struct{}, 1)}
		q.rooms[room] = rh
		flushed := q.flushedLocked()
		q.wg.Go(func() { q.work(ctx, room, rh, flushed) })
	}
	rh.items = append(rh.items, it)
	select {
	case rh.wake <- struct{}{}:
	default:
	}
}

// work runs room's items in order, each when its grace window ends (or at
// once after flush), and exits when the queue is empty. When ctx ends
// (the module stops without flushing, or its flush timed out) it exits and
// leaves the rest: durable items are sent by the next start.
func (q *holdQueue) work(ctx context.Context, room matrix.RoomID, rh *roomHold, flushed chan struct{}) {
	defer func() {
		q.mu.Lock()
		if q.rooms[room] == rh {
			delete(q.rooms, room)
		}
		q.mu.Unlock()
	}()
	for {
		q.mu.Lock()
		if len(rh.items) == 0 {
			q.mu.Unlock()
			return
		}
		due := rh.items[0].due
		q.mu.Unlock()
		if wait := time.Until(due); wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-t.C:
			case <-flushed:
			case <-ctx.Done():
			}
			t.Stop()
		}
		if ctx.Err() != nil {
			return
		}
		q.mu.Lock()
		head := rh.items[0]
		rh.items = rh.items[1:]
		content := head.content
		q.mu.Unlock()
		head.run(ctx, content)
		if head.durable != nil && ctx.Err() == nil {
			head.durable.finish(ctx)
		}
	}
}

// replace swaps the content of the held message event sent by sender in
// room; it reports false when that message is not held (any more).
func (q *holdQueue) replace(room matrix.RoomID, event matrix.EventID, sender matrix.UserID, content *matrix.MessageContent) bool {
	return q.replaceItem(room, event, sender, content) != nil
}

// replaceItem is replace returning the item replaced (nil: not held).
func (q *holdQueue) replaceItem(room matrix.RoomID, event matrix.EventID, sender matrix.UserID, content *matrix.MessageContent) *heldItem {
	q.mu.Lock()
	defer q.mu.Unlock()
	rh := q.rooms[room]
	if rh == nil || event == "" {
		return nil
	}
	for _, it := range rh.items {
		if it.event == event && it.sender == sender {
			if content.RelatesTo == nil && it.content != nil {
				content.RelatesTo = it.content.RelatesTo // keep the reply relation
			}
			it.content = content
			return it
		}
	}
	return nil
}

// pending reports how many sends are held in room.
func (q *holdQueue) pending(room matrix.RoomID) int {
	q.mu.Lock()
	defer q.mu.Unlock()
	if rh := q.rooms[room]; rh != nil {
		return len(rh.items)
	}
	return 0
}

// flush ends every grace window at once and waits (bounded by ctx) until
// everything held was sent. Later enqueues are not held.
func (q *holdQueue) flush(ctx context.Context) error {
	q.mu.Lock()
	f := q.flushedLocked()
	select {
	case <-f:
	default:
		close(f)
	}
	q.mu.Unlock()
	done := make(chan struct{})
	go func() { q.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// sentCache remembers which Matrix messages reached IRC, and the content
// last sent for each (to word a correction when it is edited). It is
// bounded; older entries fall back to the store's message links.
type sentCache struct {
	mu    sync.Mutex
	order *list.List // of matrix.EventID, most recent first
	items map[matrix.EventID]*sentEntry
}

type sentEntry struct {
	el      *list.Element
	content *matrix.MessageContent
}

// sentCacheSize bounds sentCache.
const sentCacheSize = 4096

// markDelivered records that event reached IRC.
func (s *sentCache) markDelivered(event matrix.EventID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.entryLocked(event)
}

func (s *sentCache) entryLocked(event matrix.EventID) *sentEntry {
	if s.items == nil {
		s.items, s.order = map[matrix.EventID]*sentEntry{}, list.New()
	}
	if e := s.items[event]; e != nil {
		s.order.MoveToFront(e.el)
		return e
	}
	e := &sentEntry{el: s.order.PushFront(event)}
	s.items[event] = e
	for s.order.Len() > sentCacheSize {
		old := s.order.Remove(s.order.Back()).(matrix.EventID)
		delete(s.items, old)
	}
	return e
}

// setContent records the content event now shows on IRC (it must have been
// delivered).
func (s *sentCache) setContent(event matrix.EventID, c *matrix.MessageContent) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.items[event] != nil {
		s.entryLocked(event).content = c
	}
}

// lookup reports whether event was delivered and the content it shows.
func (s *sentCache) lookup(event matrix.EventID) (delivered bool, c *matrix.MessageContent) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.items[event]
	if e == nil {
		return false, nil
	}
	return true, e.content
}
