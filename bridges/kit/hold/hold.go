// Package hold is the bridge kit's durable edit grace window: a module
// holds each Matrix message for a short while before sending it to the
// remote network, so that an edit made in that window replaces the text
// instead of following it as a correction (IRC and many XMPP clients
// cannot show edits).
//
// Held sends are durable. Hold writes the send to the module's key-value
// store before it returns, that is before the core marks the Matrix event
// done; an edit of a held message rewrites the record; the record is
// deleted once the send ran. A crash, or a stop whose flush ran out of
// time, leaves records behind, and [Queue.Restore] at the next start holds
// them again in their old order, before any new event is handled. A record
// whose event already has a message link was delivered just before the
// crash and is dropped.
//
// Each Matrix room has its own FIFO worker: a later message never
// overtakes a held one of the same room, and one room's hold never delays
// another room.
package hold

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/causewaybridge/causeway/bridges"
	"github.com/causewaybridge/causeway/matrix"
)

// keyPrefix starts the KV keys of held sends.
const keyPrefix = "hold:"

// Item is one held send.
type Item struct {
	// Seq orders the records of one module (set by Hold).
	Seq int64 `json:"seq"`
	// Event is the Matrix message, or for a correction the edit event.
	Event *matrix.Event `json:"event"`
	// Content is what is sent: the message as edits left it, or the edit's
	// new content.
	Content *matrix.MessageContent `json:"content"`
	// EditOf is set for a correction: the edited, delivered event. An edit
	// cannot replace a correction's content.
	EditOf matrix.EventID `json:"edit_of,omitempty"`
	// Due is when the window ends. A zero Due sends as soon as the items
	// before it were sent (a correction queued behind held messages).
	Due time.Time `json:"due"`
	// Data is the module's own data for the send (where it goes), JSON.
	Data json.RawMessage `json:"data,omitempty"`
}

// SendFunc sends a held item when its window ends (or at once after
// Flush). The record is deleted when it returns, unless ctx is done.
type SendFunc func(ctx context.Context, it *Item)

// Queue holds sends per room. Create it with New.
type Queue struct {
	kv    bridges.KV
	links bridges.Links
	log   *slog.Logger
	send  SendFunc
	seq   atomic.Int64

	mu      sync.Mutex
	ctx     context.Context
	rooms   map[matrix.RoomID]*room
	flushed chan struct{} // closed by Flush: nothing is held any longer
	wg      sync.WaitGroup
}

// room is one room's held sends, oldest first.
type room struct {
	items []*held
	wake  chan struct{}
}

// held is a queued item with its record's state.
type held struct {
	mu       sync.Mutex
	it       Item
	finished bool // the send ran and the record was deleted
}

// New returns a queue whose records live in kv (the module's), whose
// restore checks links for sends delivered before a crash, and which sends
// with send. Its workers run until ctx is done (the module's life).
func New(ctx context.Context, kv bridges.KV, links bridges.Links, log *slog.Logger, send SendFunc) *Queue {
	return &Queue{ctx: ctx, kv: kv, links: links, log: log, send: send, rooms: map[matrix.RoomID]*room{}}
}

// Hold stores it and queues its send in its event's room; it returns once
// the record is stored.
func (q *Queue) Hold(ctx context.Context, it Item) error {
	if it.Event == nil || it.Content == nil {
		return errors.New("hold: an item needs an event and content")
	}
	it.Seq = q.nextSeq()
	h := &held{it: it}
	if err := q.save(ctx, h); err != nil {
		return err
	}
	q.enqueue(h)
	return nil
}

// nextSeq returns the next record sequence number: Unix nanoseconds,
// strictly increasing within the process and past every restored record.
func (q *Queue) nextSeq() int64 {
	for {
		last, now := q.seq.Load(), time.Now().UnixNano()
		next := max(now, last+1)
		if q.seq.CompareAndSwap(last, next) {
			return next
		}
	}
}

func key(event matrix.EventID) string { return keyPrefix + string(event) }

// save writes h's record; h.mu is held or h is not shared yet.
func (q *Queue) save(ctx context.Context, h *held) error {
	raw, err := json.Marshal(h.it)
	if err != nil {
		return fmt.Errorf("encode held message: %w", err)
	}
	if err := q.kv.Put(ctx, key(h.it.Event.ID), raw); err != nil {
		return fmt.Errorf("store held message: %w", err)
	}
	return nil
}

// enqueue adds h to its room, starting the room's worker when idle.
func (q *Queue) enqueue(h *held) {
	id := h.it.Event.RoomID
	q.mu.Lock()
	defer q.mu.Unlock()
	r := q.rooms[id]
	if r == nil {
		r = &room{wake: make(chan struct{}, 1)}
		q.rooms[id] = r
		flushed := q.flushedLocked()
		q.wg.Go(func() { q.work(id, r, flushed) })
	}
	r.items = append(r.items, h)
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// flushedLocked returns the flush channel, creating it. q.mu is held.
func (q *Queue) flushedLocked() chan struct{} {
	if q.flushed == nil {
		q.flushed = make(chan struct{})
	}
	return q.flushed
}

// work sends room's items in order, each when its window ends (at once
// after Flush), and exits when the room has none left or the queue's
// context ends (records stay for the next start).
func (q *Queue) work(id matrix.RoomID, r *room, flushed chan struct{}) {
	ctx := q.ctx
	defer func() {
		q.mu.Lock()
		if q.rooms[id] == r {
			delete(q.rooms, id)
		}
		q.mu.Unlock()
	}()
	for {
		q.mu.Lock()
		if len(r.items) == 0 {
			q.mu.Unlock()
			return
		}
		due := r.items[0].it.Due
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
		h := r.items[0]
		r.items = r.items[1:]
		q.mu.Unlock()
		h.mu.Lock()
		it := h.it
		h.mu.Unlock()
		q.send(ctx, &it)
		if ctx.Err() == nil {
			q.finish(ctx, h)
		}
	}
}

// finish deletes h's record after its send ran.
func (q *Queue) finish(ctx context.Context, h *held) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.finished = true
	if err := q.kv.Delete(context.WithoutCancel(ctx), key(h.it.Event.ID)); err != nil {
		q.log.Warn("sent message still stored as held; it may be sent again after a restart", "event_id", h.it.Event.ID, "err", err)
	}
}

// Replace swaps the content of the held message event that sender sent in
// room (an edit within its window) and stores it; it reports false when
// that message is not held any more. The reply relation of the original is
// kept.
func (q *Queue) Replace(ctx context.Context, id matrix.RoomID, event matrix.EventID, sender matrix.UserID, content *matrix.MessageContent) (bool, error) {
	q.mu.Lock()
	var h *held
	if r := q.rooms[id]; r != nil && event != "" {
		for _, c := range r.items {
			if c.it.EditOf == "" && c.it.Event.ID == event && c.it.Event.Sender == sender {
				h = c
				break
			}
		}
	}
	if h == nil {
		q.mu.Unlock()
		return false, nil
	}
	h.mu.Lock()
	q.mu.Unlock()
	defer h.mu.Unlock()
	if content.RelatesTo == nil && h.it.Content != nil {
		content.RelatesTo = h.it.Content.RelatesTo
	}
	h.it.Content = content
	if h.finished {
		return true, nil
	}
	return true, q.save(ctx, h)
}

// Pending reports how many sends are held in room.
func (q *Queue) Pending(id matrix.RoomID) int {
	q.mu.Lock()
	defer q.mu.Unlock()
	if r := q.rooms[id]; r != nil {
		return len(r.items)
	}
	return 0
}

// Flush ends every window at once and waits (bounded by ctx) until
// everything held was sent. Later items are not held.
func (q *Queue) Flush(ctx context.Context) error {
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

// Restore queues the sends a previous run held and did not finish, in
// their old order; call it at start, before any Matrix event is handled.
// keep decides for each record whether it is still wanted (the module may
// have lost the network it was for) and may move its Due earlier (a
// grace window shortened meanwhile); nil keeps all. It returns how many
// were queued.
func (q *Queue) Restore(ctx context.Context, keep func(it *Item) bool) (int, error) {
	kvs, err := q.kv.WithPrefix(ctx, keyPrefix)
	if err != nil {
		return 0, fmt.Errorf("load held messages: %w", err)
	}
	items := make([]Item, 0, len(kvs))
	for _, kv := range kvs {
		var it Item
		if err := json.Unmarshal(kv.Value, &it); err != nil || it.Event == nil || it.Content == nil {
			q.log.Error("dropping an unreadable held message", "key", kv.Key, "err", err)
			q.forget(ctx, kv.Key)
			continue
		}
		items = append(items, it)
	}
	slices.SortFunc(items, func(a, b Item) int { return cmp.Compare(a.Seq, b.Seq) })
	restored := 0
	for i := range items {
		it := &items[i]
		if keep != nil && !keep(it) {
			q.forget(ctx, key(it.Event.ID))
			continue
		}
		if it.EditOf == "" {
			if _, err := q.links.ByEvent(ctx, it.Event.ID); err == nil {
				q.forget(ctx, key(it.Event.ID)) // delivered just before the crash
				continue
			} else if !errors.Is(err, bridges.ErrNotFound) {
				return restored, fmt.Errorf("load held messages: %w", err)
			}
		}
		for last := q.seq.Load(); last < it.Seq && !q.seq.CompareAndSwap(last, it.Seq); last = q.seq.Load() {
		}
		q.enqueue(&held{it: *it})
		restored++
	}
	if restored > 0 {
		q.log.Info("sending messages held for edits when the bridge last stopped", "count", restored)
	}
	return restored, nil
}

// forget deletes a record that will not be sent.
func (q *Queue) forget(ctx context.Context, k string) {
	if err := q.kv.Delete(ctx, k); err != nil {
		q.log.Warn("could not delete a held message", "key", k, "err", err)
	}
}
