package component

import (
	"context"
	"encoding/xml"
	"errors"
	"sort"
	"strings"
	"sync"
	"testing"

	"mellium.im/xmpp/jid"

	"github.com/causewaybridge/causeway/bridges"
)

// memKV is an in-memory bridges.KV.
type memKV struct {
	mu   sync.Mutex
	m    map[string][]byte
	fail error // returned by Put when set
}

func newMemKV() *memKV { return &memKV{m: map[string][]byte{}} }

func (k *memKV) Get(_ context.Context, key string) ([]byte, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	v, ok := k.m[key]
	if !ok {
		return nil, bridges.ErrNotFound
	}
	return v, nil
}

func (k *memKV) Put(_ context.Context, key string, v []byte) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.fail != nil {
		return k.fail
	}
	k.m[key] = append([]byte(nil), v...)
	return nil
}

func (k *memKV) Delete(_ context.Context, key string) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	delete(k.m, key)
	return nil
}

func (k *memKV) WithPrefix(_ context.Context, prefix string) ([]bridges.KVEntry, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	var out []bridges.KVEntry
	for key, v := range k.m {
		if strings.HasPrefix(key, prefix) {
			out = append(out, bridges.KVEntry{Key: key, Value: v})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}

func testConn(q *Queue) *Conn {
	return New(Options{Server: "127.0.0.1:1", Domain: jid.MustParse("matrix.test"), Secret: "s", Queue: q})
}

func msg(n string) xml.TokenReader {
	return xml.NewDecoder(strings.NewReader(`<message xmlns='jabber:client' from='bot@matrix.test' to='a@x/r' type='chat'><body>` + n + `</body></message>`))
}

// TestQueueOrderAndRestart: enqueued stanzas are stored before Enqueue
// returns, come out in order, are deleted when acknowledged, and a queue
// opened again on the same store (a restart) holds what was left, in
// order, numbering new stanzas after them.
func TestQueueOrderAndRestart(t *testing.T) {
	ctx := context.Background()
	kv := newMemKV()
	q, err := OpenQueue(ctx, kv, 0)
	if err != nil {
		t.Fatal(err)
	}
	c := testConn(q)
	for _, n := range []string{"1", "2", "3"} {
		if err := c.Enqueue(ctx, msg(n)); err != nil {
			t.Fatal(err)
		}
	}
	if len(kv.m) != 3 || q.Len() != 3 {
		t.Fatalf("stored %d, queued %d; want 3", len(kv.m), q.Len())
	}
	b, _ := q.batch(1)
	if len(b) != 1 || !strings.Contains(string(b[0].data), "<body>1</body>") {
		t.Fatalf("first batch %v", b)
	}
	if err := q.ack(ctx, 1, nil); err != nil {
		t.Fatal(err)
	}
	if len(kv.m) != 2 {
		t.Fatalf("acknowledged stanza not deleted: %d stored", len(kv.m))
	}

	q2, err := OpenQueue(ctx, kv, 0) // restart
	if err != nil {
		t.Fatal(err)
	}
	if err := testConn(q2).Enqueue(ctx, msg("4")); err != nil {
		t.Fatal(err)
	}
	b, _ = q2.batch(10)
	var got []string
	for _, it := range b {
		s := string(it.data)
		got = append(got, s[strings.Index(s, "<body>")+6:strings.Index(s, "</body>")])
	}
	if strings.Join(got, ",") != "2,3,4" {
		t.Fatalf("after restart: %v, want 2,3,4", got)
	}
	select {
	case <-q2.wake:
	default:
		t.Fatal("a reopened queue with stanzas does not wake its sender")
	}
}

// TestQueueLimits: a full queue refuses, a failed store write stores
// nothing, a stanza without a from on the domain is refused, and a head
// stanza sent in too many sessions without acknowledgement is dropped.
func TestQueueLimits(t *testing.T) {
	ctx := context.Background()
	kv := newMemKV()
	q, _ := OpenQueue(ctx, kv, 2)
	c := testConn(q)
	for range 2 {
		if err := c.Enqueue(ctx, msg("x")); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Enqueue(ctx, msg("x")); !errors.Is(err, ErrQueueFull) {
		t.Fatalf("full queue: %v", err)
	}
	bad := xml.NewDecoder(strings.NewReader(`<message from='bot@elsewhere' to='a@x'/>`))
	if err := c.Enqueue(ctx, bad); !errors.Is(err, ErrBadFrom) {
		t.Fatalf("bad from: %v", err)
	}
	if err := testConn(nil).Enqueue(ctx, msg("x")); !errors.Is(err, ErrNoQueue) {
		t.Fatalf("no queue: %v", err)
	}

	kv2 := newMemKV()
	kv2.fail = errors.New("disk full")
	q2, _ := OpenQueue(ctx, kv2, 0)
	if err := testConn(q2).Enqueue(ctx, msg("x")); err == nil || q2.Len() != 0 {
		t.Fatalf("failed store: err %v, len %d", err, q2.Len())
	}

	for range queueMaxTries {
		if b, d := q.batch(1); len(b) != 1 || len(d) != 0 {
			t.Fatalf("batch %d, dropped %d", len(b), len(d))
		}
	}
	b, d := q.batch(1)
	if len(d) != 1 || len(b) != 1 || q.Len() != 1 {
		t.Fatalf("after %d tries: batch %d, dropped %d, len %d", queueMaxTries, len(b), len(d), q.Len())
	}
	if err := q.ack(ctx, 0, d); err != nil || len(kv.m) != 1 {
		t.Fatalf("drop: %v, %d stored", err, len(kv.m))
	}
}

// TestEncodeStanza: the stanza and its children in the stanza namespace
// lose it, other namespaces stay, comments go; anything but one stanza
// is refused.
func TestEncodeStanza(t *testing.T) {
	ok := func(xml.StartElement) bool { return true }
	in := `<message xmlns='jabber:client' from='b@matrix.test' to='a@x' xml:lang='en'><!-- c --><body>a &lt; b</body>` +
		`<x xmlns='urn:x'><y/></x></message>`
	b, err := encodeStanza(xml.NewDecoder(strings.NewReader(in)), ok)
	if err != nil {
		t.Fatal(err)
	}
	got := string(b)
	for _, want := range []string{`<message from="b@matrix.test" to="a@x" xml:lang="en">`, `<body>a &lt; b</body>`, `<x xmlns="urn:x"><y xmlns="urn:x"></y></x></message>`} {
		if !strings.Contains(got, want) {
			t.Errorf("%s lacks %s", got, want)
		}
	}
	if strings.Contains(got, "jabber:client") || strings.Contains(got, "<!--") {
		t.Errorf("%s keeps the client namespace or a comment", got)
	}
	// It decodes to a stanza without namespace, as the session wants.
	tok, _ := xml.NewDecoder(strings.NewReader(got)).Token()
	if s := tok.(xml.StartElement); s.Name.Space != "" || s.Name.Local != "message" {
		t.Errorf("decoded start %v", s.Name)
	}
	for _, bad := range []string{``, `<foo from='b@matrix.test'/>`, `<message from='b@matrix.test'>`, `text`} {
		if _, err := encodeStanza(xml.NewDecoder(strings.NewReader(bad)), ok); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// WithPrefixNow returns the queue's stored entries.
func (k *memKV) WithPrefixNow() []bridges.KVEntry {
	out, _ := k.WithPrefix(context.Background(), queuePrefix)
	return out
}

// batchKV is a memKV that is a bridges.KVBatch, counting its calls.
type batchKV struct {
	*memKV
	puts, deletes int
}

func (k *batchKV) PutMany(ctx context.Context, entries []bridges.KVEntry) error {
	k.puts++
	if k.fail != nil {
		return k.fail
	}
	for _, e := range entries {
		if err := k.Put(ctx, e.Key, e.Value); err != nil {
			return err
		}
	}
	return nil
}

func (k *batchKV) DeleteMany(ctx context.Context, keys []string) error {
	k.deletes++
	for _, key := range keys {
		_ = k.Delete(ctx, key)
	}
	return nil
}

// TestQueueEnqueueAll: stanzas enqueued together are stored in one batch
// write, in order after what was there, and deleted in one batch once
// acknowledged; a batch that does not fit, has a bad stanza, or fails to
// store leaves nothing behind; without a batch KV they are stored one by
// one, all or none.
func TestQueueEnqueueAll(t *testing.T) {
	ctx := context.Background()
	kv := &batchKV{memKV: newMemKV()}
	q, _ := OpenQueue(ctx, kv, 5)
	c := testConn(q)
	if err := c.Enqueue(ctx, msg("0")); err != nil {
		t.Fatal(err)
	}
	if err := c.EnqueueAll(ctx, msg("1"), msg("2"), msg("3")); err != nil {
		t.Fatal(err)
	}
	if kv.puts != 1 || len(kv.m) != 4 || q.Len() != 4 {
		t.Fatalf("%d batch writes, %d stored, %d queued; want 1, 4, 4", kv.puts, len(kv.m), q.Len())
	}
	if err := c.EnqueueAll(ctx, msg("4"), msg("5")); !errors.Is(err, ErrQueueFull) || q.Len() != 4 {
		t.Fatalf("a batch over the limit: %v, %d queued", err, q.Len())
	}
	bad := xml.NewDecoder(strings.NewReader(`<message from='bot@elsewhere' to='a@x'/>`))
	if err := c.EnqueueAll(ctx, msg("4"), bad); !errors.Is(err, ErrBadFrom) || q.Len() != 4 {
		t.Fatalf("a batch with a bad stanza: %v, %d queued", err, q.Len())
	}
	b, _ := q.batch(10)
	var got []string
	for _, it := range b {
		s := string(it.data)
		got = append(got, s[strings.Index(s, "<body>")+6:strings.Index(s, "</body>")])
	}
	if strings.Join(got, ",") != "0,1,2,3" {
		t.Fatalf("order %v, want 0,1,2,3", got)
	}
	if err := q.ack(ctx, 4, nil); err != nil || kv.deletes != 1 || len(kv.m) != 0 {
		t.Fatalf("ack: %v, %d batch deletes, %d stored", err, kv.deletes, len(kv.m))
	}
	kv.fail = errors.New("disk full")
	if err := c.EnqueueAll(ctx, msg("6"), msg("7")); err == nil || q.Len() != 0 {
		t.Fatalf("a failed batch write: %v, %d queued", err, q.Len())
	}

	plain := newMemKV() // no PutMany: one Put each, undone on failure
	q2, _ := OpenQueue(ctx, plain, 0)
	if err := testConn(q2).EnqueueAll(ctx, msg("a"), msg("b")); err != nil || len(plain.m) != 2 {
		t.Fatalf("plain KV: %v, %d stored", err, len(plain.m))
	}
}

// TestQueueVolatile: volatile stanzas go out in their place among stored
// ones but are never stored: enqueuing and acknowledging them costs no
// store write, a queue reopened from the store (a restart) no longer has
// them, and the queue's bound and the from check apply to them too.
func TestQueueVolatile(t *testing.T) {
	ctx := context.Background()
	kv := &batchKV{memKV: newMemKV()}
	q, _ := OpenQueue(ctx, kv, 5)
	c := testConn(q)
	if err := c.Enqueue(ctx, msg("0")); err != nil {
		t.Fatal(err)
	}
	if err := c.EnqueueVolatile(msg("1"), msg("2")); err != nil {
		t.Fatal(err)
	}
	if err := c.Enqueue(ctx, msg("3")); err != nil {
		t.Fatal(err)
	}
	if len(kv.m) != 2 || q.Len() != 4 {
		t.Fatalf("%d stored, %d queued; want 2, 4", len(kv.m), q.Len())
	}
	if err := c.EnqueueVolatile(msg("4"), msg("5")); !errors.Is(err, ErrQueueFull) || q.Len() != 4 {
		t.Fatalf("over the limit: %v, %d queued", err, q.Len())
	}
	bad := xml.NewDecoder(strings.NewReader(`<message from='bot@elsewhere' to='a@x'/>`))
	if err := c.EnqueueVolatile(msg("4"), bad); !errors.Is(err, ErrBadFrom) || q.Len() != 4 {
		t.Fatalf("a bad stanza: %v, %d queued", err, q.Len())
	}
	if again, _ := OpenQueue(ctx, kv, 5); again.Len() != 2 {
		t.Fatalf("after a restart %d queued, want the 2 stored", again.Len())
	}
	b, _ := q.batch(3)
	var got []string
	for _, it := range b {
		s := string(it.data)
		got = append(got, s[strings.Index(s, "<body>")+6:strings.Index(s, "</body>")])
	}
	if strings.Join(got, ",") != "0,1,2" {
		t.Fatalf("order %v, want 0,1,2", got)
	}
	deletes := kv.deletes
	if err := q.ack(ctx, 3, nil); err != nil || len(kv.m) != 1 || kv.deletes != deletes {
		t.Fatalf("ack: %v, %d stored (want 1), %d batch deletes (want %d: one key is a single delete)", err, len(kv.m), kv.deletes, deletes)
	}
	if err := q.ack(ctx, 0, []string{""}); err != nil || len(kv.m) != 1 {
		t.Fatalf("dropping a volatile stanza: %v, %d stored", err, len(kv.m))
	}
}
