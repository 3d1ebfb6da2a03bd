package component

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"sync"

	"github.com/causewaybridge/causeway/bridges"
)

// Queue limits and keys.
const (
	// DefaultQueueMax bounds the stanzas a [Queue] holds.
	DefaultQueueMax = 100_000
	// queuePrefix starts the store key of every queued stanza; the rest
	// is its sequence number, zero-padded so that keys sort in order.
	queuePrefix = "outq/"
	// queueBatch is how many stanzas go out before one acknowledgement.
	queueBatch = 100
	// queueMaxTries is how many sessions may end with a stanza sent but
	// unacknowledged before the stanza is dropped as the likely cause
	// (a stanza the server answers with a stream error would otherwise
	// end every session forever).
	queueMaxTries = 5
)

// Errors of [Conn.Enqueue].
var (
	// ErrQueueFull: the queue holds its maximum; nothing was stored.
	ErrQueueFull = errors.New("xmpp outbound queue full")
	// ErrNoQueue: the Conn was built without a [Queue].
	ErrNoQueue = errors.New("xmpp component has no outbound queue")
)

// Queue is the component's durable outbound stanza queue. XMPP servers
// do not queue stanzas for a disconnected component (Prosody bounces
// them), so stanzas the bridge sends go through here: [Conn.Enqueue]
// stores one in the module's KV before anything is sent, and the Conn
// sends the stored stanzas in order on every session, deleting each once
// the server has acknowledged it. The acknowledgement is a ping to the
// component's own domain sent after a batch: the server handles a
// stream's stanzas in order, so its answer means it took every stanza
// before it. A queue opened on the same store after a restart resends
// what was left.
//
// Delivery is at least once: when a session ends after the server took a
// batch but before its acknowledgement arrived, the batch is sent again
// on the next session. Later stanzas will carry XEP-0359 ids for
// receivers to drop such duplicates.
type Queue struct {
	kv  bridges.KV
	max int

	mu    sync.Mutex
	items []queued // stored, not yet acknowledged, in order
	next  uint64   // the next sequence number
	wake  chan struct{}
}

type queued struct {
	key   string // "" for a volatile stanza, which is not stored
	data  []byte
	tries int // sessions that ended with it sent but unacknowledged
}

// OpenQueue opens the queue kept in kv (the module's Host.KV()), loading
// the stanzas a previous run left; max bounds its length (0:
// [DefaultQueueMax]).
func OpenQueue(ctx context.Context, kv bridges.KV, max int) (*Queue, error) {
	if max <= 0 {
		max = DefaultQueueMax
	}
	entries, err := kv.WithPrefix(ctx, queuePrefix)
	if err != nil {
		return nil, fmt.Errorf("xmpp queue: load: %w", err)
	}
	q := &Queue{kv: kv, max: max, wake: make(chan struct{}, 1)}
	for _, e := range entries { // by key, so in order
		n, err := strconv.ParseUint(e.Key[len(queuePrefix):], 10, 64)
		if err != nil {
			continue // not ours
		}
		q.items = append(q.items, queued{key: e.Key, data: e.Value})
		q.next = n + 1
	}
	if len(q.items) > 0 {
		q.signal()
	}
	return q, nil
}

// Len returns how many stanzas wait to be sent or acknowledged.
func (q *Queue) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.items)
}

// Pending returns the stanzas waiting to be sent or acknowledged, stored
// and volatile ones, in order.
func (q *Queue) Pending() [][]byte {
	q.mu.Lock()
	defer q.mu.Unlock()
	out := make([][]byte, len(q.items))
	for i, it := range q.items {
		out[i] = it.data // never modified once queued
	}
	return out
}

// add stores data as the last stanza.
func (q *Queue) add(ctx context.Context, data []byte) error {
	return q.addAll(ctx, [][]byte{data})
}

// addAll stores stanzas as the last ones, in order: all or none, in one
// commit when the KV is a bridges.KVBatch.
func (q *Queue) addAll(ctx context.Context, stanzas [][]byte) error {
	q.mu.Lock()
	defer q.mu.Unlock() // held across Put so that stored order is queue order
	if len(q.items)+len(stanzas) > q.max {
		return ErrQueueFull
	}
	entries := make([]bridges.KVEntry, len(stanzas))
	for i, data := range stanzas {
		entries[i] = bridges.KVEntry{Key: fmt.Sprintf("%s%020d", queuePrefix, q.next+uint64(i)), Value: data}
	}
	if err := q.put(ctx, entries); err != nil {
		return fmt.Errorf("xmpp queue: store: %w", err)
	}
	q.next += uint64(len(stanzas))
	for _, e := range entries {
		q.items = append(q.items, queued{key: e.Key, data: e.Value})
	}
	q.signal()
	return nil
}

// put writes entries, in one commit when the KV can.
func (q *Queue) put(ctx context.Context, entries []bridges.KVEntry) error {
	if b, ok := q.kv.(bridges.KVBatch); ok && len(entries) > 1 {
		return b.PutMany(ctx, entries)
	}
	for i, e := range entries {
		if err := q.kv.Put(ctx, e.Key, e.Value); err != nil {
			for _, done := range entries[:i] { // all or none
				_ = q.kv.Delete(ctx, done.Key)
			}
			return err
		}
	}
	return nil
}

// addVolatile appends stanzas, in order, without storing them.
func (q *Queue) addVolatile(stanzas [][]byte) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.items)+len(stanzas) > q.max {
		return ErrQueueFull
	}
	for _, data := range stanzas {
		q.items = append(q.items, queued{data: data})
	}
	q.signal()
	return nil
}

func (q *Queue) signal() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// batch returns up to n stanzas from the head, counting a try for each,
// and the keys of head stanzas dropped for too many tries.
func (q *Queue) batch(n int) (out []queued, dropped []string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for len(q.items) > 0 && q.items[0].tries >= queueMaxTries {
		dropped = append(dropped, q.items[0].key)
		q.items = q.items[1:]
	}
	n = min(n, len(q.items))
	for i := range n {
		q.items[i].tries++
	}
	return append([]queued(nil), q.items[:n]...), dropped
}

// ack deletes the first n stanzas, which the server acknowledged (or
// which were dropped: then keys are theirs and n is 0). Volatile
// stanzas have no key and cost no store write.
func (q *Queue) ack(ctx context.Context, n int, keys []string) error {
	q.mu.Lock()
	for _, it := range q.items[:n] {
		keys = append(keys, it.key)
	}
	q.items = q.items[n:]
	q.mu.Unlock()
	keys = slices.DeleteFunc(keys, func(k string) bool { return k == "" })
	if len(keys) == 0 {
		return nil
	}
	if b, ok := q.kv.(bridges.KVBatch); ok && len(keys) > 1 {
		return b.DeleteMany(ctx, keys) // one commit per acknowledged batch
	}
	var errs []error
	for _, k := range keys {
		if err := q.kv.Delete(ctx, k); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// encodeStanza serializes the one stanza r yields, checking its from
// with fromOK. The stanza and the children that share its namespace lose
// it (the session writes them in the component namespace); other
// elements keep theirs. Comments, processing instructions and
// directives are dropped.
func encodeStanza(r xml.TokenReader, fromOK func(xml.StartElement) bool) ([]byte, error) {
	var b bytes.Buffer
	enc := xml.NewEncoder(&b)
	depth, started, stanzaNS := 0, false, ""
	for {
		tok, err := r.Token()
		switch t := tok.(type) {
		case xml.StartElement:
			if depth == 0 {
				if started {
					return nil, errors.New("enqueue: more than one element")
				}
				if t.Name.Local != "message" && t.Name.Local != "presence" && t.Name.Local != "iq" {
					return nil, fmt.Errorf("enqueue: <%s> is not a stanza", t.Name.Local)
				}
				if !fromOK(t) {
					return nil, ErrBadFrom
				}
				started, stanzaNS = true, t.Name.Space
			}
			depth++
			if t.Name.Space == stanzaNS {
				t.Name.Space = ""
			}
			if eerr := enc.EncodeToken(withoutAttr(withoutXMLNS(t), "xmlns")); eerr != nil {
				return nil, fmt.Errorf("enqueue: %w", eerr)
			}
		case xml.EndElement:
			depth--
			if t.Name.Space == stanzaNS {
				t.Name.Space = ""
			}
			if eerr := enc.EncodeToken(t); eerr != nil {
				return nil, fmt.Errorf("enqueue: %w", eerr)
			}
		case xml.CharData:
			if depth > 0 {
				if eerr := enc.EncodeToken(t); eerr != nil {
					return nil, fmt.Errorf("enqueue: %w", eerr)
				}
			}
		}
		if started && depth == 0 {
			break
		}
		if err == io.EOF {
			return nil, errors.New("enqueue: not one complete stanza")
		}
		if err != nil {
			return nil, fmt.Errorf("enqueue: %w", err)
		}
	}
	if err := enc.Flush(); err != nil {
		return nil, fmt.Errorf("enqueue: %w", err)
	}
	return b.Bytes(), nil
}

// withoutAttr drops start's attributes called name (no namespace).
func withoutAttr(start xml.StartElement, name string) xml.StartElement {
	attrs := make([]xml.Attr, 0, len(start.Attr))
	for _, a := range start.Attr {
		if a.Name.Local != name || a.Name.Space != "" {
			attrs = append(attrs, a)
		}
	}
	start.Attr = attrs
	return start
}
