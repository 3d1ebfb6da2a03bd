// Package mark keeps each portal's backfill position: the last remote
// message bridged into it, so that a module catching up after downtime
// asks the remote side for what came after (IRC's CHATHISTORY, XMPP's
// MAM). A [Book] holds one module's marks by key (a channel, a MUC):
// [Book.Note] moves a mark forward in memory, the writes to the module's
// KV follow in batches (a crash loses at most the last Delay of marks,
// which only makes the next catch-up ask for a little more: catch-ups
// must drop what they already bridged anyway), and [Book.Close] writes
// what is pending when the module stops.
package mark

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/causewaybridge/causeway/bridges"
)

// DefaultDelay is how long marks wait to be written when Options.Delay
// is zero.
const DefaultDelay = 2 * time.Second

// Mark is the last remote message bridged into a portal.
type Mark struct {
	// ID is the message's remote ID ("" when the remote side has none).
	ID string `json:"msgid,omitempty"`
	// TS is the message's remote time in Unix milliseconds.
	TS int64 `json:"ts"`
}

// Time is the mark's time.
func (m Mark) Time() time.Time { return time.UnixMilli(m.TS) }

// KV is the part of the module's key-value store a Book uses.
type KV interface {
	Get(ctx context.Context, key string) ([]byte, error)
	Put(ctx context.Context, key string, value []byte) error
}

// Options configure a [Book].
type Options struct {
	// KV stores the marks (the module's Host.KV()), under Prefix+key.
	KV     KV
	Prefix string
	// Delay batches writes (default DefaultDelay).
	Delay time.Duration
	// Spawn runs the delayed write as tracked background work
	// (Host.Go); its context ends when the module stops.
	Spawn func(func(ctx context.Context))
	// Logger receives write and read failures (default: discarded).
	Logger *slog.Logger
}

// Book holds one module's marks. It is safe for concurrent use.
type Book struct {
	o       Options
	writeMu sync.Mutex

	mu        sync.Mutex
	pending   map[string]Mark
	writing   map[string]Mark // taken from pending, being written
	scheduled bool            // a write of pending is scheduled
	closed    bool
}

// New returns a Book over o.
func New(o Options) *Book {
	if o.Delay <= 0 {
		o.Delay = DefaultDelay
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &Book{o: o, pending: map[string]Mark{}}
}

// Note moves key's mark to m unless a later one (by time) is pending; it
// is written within Delay. Notes after Close are dropped: the store may be
// closing, and the next start reads what Close wrote.
func (b *Book) Note(key string, m Mark) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return
	}
	if cur, ok := b.pending[key]; ok && cur.TS > m.TS {
		return
	}
	b.pending[key] = m
	if b.scheduled || b.o.Spawn == nil {
		return
	}
	b.scheduled = true
	b.o.Spawn(func(ctx context.Context) {
		select {
		case <-time.After(b.o.Delay):
			b.flush(ctx)
		case <-ctx.Done(): // stopping: Close writes what is pending
		}
	})
}

// Get returns key's mark: the pending one, else the stored one; false
// when there is none.
func (b *Book) Get(ctx context.Context, key string) (Mark, bool) {
	b.mu.Lock()
	m, ok := b.pending[key]
	if !ok {
		m, ok = b.writing[key]
	}
	b.mu.Unlock()
	if ok {
		return m, true
	}
	raw, err := b.o.KV.Get(ctx, b.o.Prefix+key)
	if err != nil {
		if !errors.Is(err, bridges.ErrNotFound) {
			b.o.Logger.Warn("mark: could not read a backfill mark", "key", key, "err", err)
		}
		return Mark{}, false
	}
	if err := json.Unmarshal(raw, &m); err != nil || m.TS == 0 {
		return Mark{}, false
	}
	return m, true
}

// Flush writes the pending marks now.
func (b *Book) Flush(ctx context.Context) { b.flush(ctx) }

// Close writes the pending marks and drops later Notes; call it when the
// module stops, before the store closes.
func (b *Book) Close(ctx context.Context) {
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
	b.flush(context.WithoutCancel(ctx))
}

// flush writes the pending marks; flushes run one at a time (writeMu),
// so an older batch never overwrites a newer one.
func (b *Book) flush(ctx context.Context) {
	b.writeMu.Lock()
	defer b.writeMu.Unlock()
	b.mu.Lock()
	marks := b.pending
	b.pending = map[string]Mark{}
	b.writing = marks
	b.scheduled = false
	b.mu.Unlock()
	for key, m := range marks {
		raw, _ := json.Marshal(m)
		if err := b.o.KV.Put(ctx, b.o.Prefix+key, raw); err != nil {
			b.o.Logger.Warn("mark: could not store a backfill mark", "key", key, "err", err)
		}
	}
	b.mu.Lock()
	b.writing = nil
	b.mu.Unlock()
}
