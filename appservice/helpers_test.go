package appservice_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/causewaybridge/causeway/appservice"
	"github.com/causewaybridge/causeway/internal/poll"
	"github.com/causewaybridge/causeway/matrix"
	"github.com/causewaybridge/causeway/store"
)

const testToken = "hs-secret-token"

// fakeInbox is an in-memory appservice.Inbox with the store's semantics:
// transaction IDs and event IDs are remembered, Seqs increase.
type fakeInbox struct {
	mu       sync.Mutex
	seq      int64
	txns     map[string]bool
	eventIDs map[string]bool
	events   []store.InboxEvent // in Seq order
	head     int                // events[:head] are all done
	done     map[int64]bool

	failAdd, failPending, failMark error
	pendingCalls                   int
}

func newFakeInbox() *fakeInbox {
	return &fakeInbox{txns: map[string]bool{}, eventIDs: map[string]bool{}, done: map[int64]bool{}}
}

func (f *fakeInbox) AddTransaction(_ context.Context, txnID string, evs []store.InboxEvent) ([]store.InboxEvent, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failAdd != nil {
		return nil, false, f.failAdd
	}
	seen := f.txns[txnID]
	f.txns[txnID] = true
	var added []store.InboxEvent
	for _, ev := range evs {
		if f.eventIDs[ev.EventID] {
			continue
		}
		f.eventIDs[ev.EventID] = true
		f.seq++
		ev.Seq = f.seq
		ev.Raw = slices.Clone(ev.Raw)
		ev.Received = time.Now()
		f.events = append(f.events, ev)
		added = append(added, ev)
	}
	return added, seen, nil
}

func (f *fakeInbox) PendingEvents(_ context.Context, limit int) ([]store.InboxEvent, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pendingCalls++
	if f.failPending != nil {
		return nil, f.failPending
	}
	for f.head < len(f.events) && f.done[f.events[f.head].Seq] {
		f.head++
	}
	var out []store.InboxEvent
	for _, ev := range f.events[f.head:] {
		if len(out) >= limit {
			break
		}
		if !f.done[ev.Seq] {
			out = append(out, ev)
		}
	}
	return out, nil
}

func (f *fakeInbox) MarkEventsDone(_ context.Context, seqs ...int64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failMark != nil {
		return f.failMark
	}
	for _, s := range seqs {
		f.done[s] = true
	}
	return nil
}

// pending returns the IDs of the events not marked done, in Seq order.
func (f *fakeInbox) pending() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var ids []string
	for _, ev := range f.events {
		if !f.done[ev.Seq] {
			ids = append(ids, ev.EventID)
		}
	}
	return ids
}

func (f *fakeInbox) stored() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.events)
}

func (f *fakeInbox) setFailAdd(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failAdd = err
}

// recorder is an appservice.Handler that records what it receives. hook,
// when set, runs before an event is recorded; an error fails the call.
type recorder struct {
	mu      sync.Mutex
	byRoom  map[matrix.RoomID][]matrix.EventID
	calls   map[matrix.EventID]int
	eph     []*matrix.Event
	users   []matrix.UserID
	aliases []matrix.RoomAlias
	exists  bool
	hook    func(ctx context.Context, evt *matrix.Event) error
}

func newRecorder() *recorder {
	return &recorder{byRoom: map[matrix.RoomID][]matrix.EventID{}, calls: map[matrix.EventID]int{}, exists: true}
}

func (r *recorder) HandleEvent(ctx context.Context, evt *matrix.Event) error {
	r.mu.Lock()
	r.calls[evt.ID]++
	hook := r.hook
	r.mu.Unlock()
	if hook != nil {
		if err := hook(ctx, evt); err != nil {
			return err
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.byRoom[evt.RoomID] = append(r.byRoom[evt.RoomID], evt.ID)
	return nil
}

func (r *recorder) HandleEphemeral(_ context.Context, evt *matrix.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.eph = append(r.eph, evt)
}

func (r *recorder) QueryUser(_ context.Context, id matrix.UserID) (bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.users = append(r.users, id)
	if id.Localpart() == "broken" {
		return false, errors.New("database down")
	}
	return r.exists, nil
}

func (r *recorder) QueryAlias(_ context.Context, alias matrix.RoomAlias) (bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.aliases = append(r.aliases, alias)
	return r.exists, nil
}

// handled returns how many events were recorded in total.
func (r *recorder) handled() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, ids := range r.byRoom {
		n += len(ids)
	}
	return n
}

func (r *recorder) room(id matrix.RoomID) []matrix.EventID {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.byRoom[id])
}

func (r *recorder) callCount(id matrix.EventID) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.calls[id]
}

func (r *recorder) ephemeral() []*matrix.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.eph)
}

// logSink collects log records so tests can assert on them.
type logSink struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logSink) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(&lockedWriter{l}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func (l *logSink) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

type lockedWriter struct{ l *logSink }

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.l.mu.Lock()
	defer w.l.mu.Unlock()
	return w.l.buf.Write(p)
}

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// newServer builds and starts a Server (without a listener) and stops it at
// the end of the test.
func newServer(t testing.TB, inbox appservice.Inbox, h appservice.Handler, tweak func(*appservice.Options)) *appservice.Server {
	t.Helper()
	opts := appservice.Options{
		HSToken: testToken,
		Inbox:   inbox,
		Handler: h,
		Logger:  discardLogger(),
		Retry:   appservice.RetryPolicy{Attempts: 3, InitialBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond},
	}
	if tweak != nil {
		tweak(&opts)
	}
	s, err := appservice.New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = s.Stop(ctx)
	})
	return s
}

// waitIdle waits until s has handled and marked done every event it took in
// (Stats shows nothing unmarked, queued or left in the store), the signal
// that a wrongly queued event would have been handled by now.
func waitIdle(t testing.TB, s *appservice.Server) {
	t.Helper()
	poll.Until(t, "the inbox idle", 5*time.Second, func() bool {
		st := s.Stats()
		return st.Unmarked == 0 && st.Queued == 0 && !st.Backlog
	})
}

// do sends a request with the right token through the server's handler.
func do(s *appservice.Server, method, target string, body []byte) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, target, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+testToken)
	rec := httptest.NewRecorder()
	s.HTTPHandler().ServeHTTP(rec, req)
	return rec
}

func putTxn(s *appservice.Server, txnID string, body []byte) *httptest.ResponseRecorder {
	return do(s, http.MethodPut, "/_matrix/app/v1/transactions/"+txnID, body)
}

// ephemeralMarker sends transaction txnID holding one marker ephemeral event
// and waits until h received it. The server hands ephemeral events over in
// arrival order from one goroutine, so h has by then received every
// ephemeral event of the earlier transactions. It returns how many ephemeral
// events h received before the marker.
func ephemeralMarker(t testing.TB, s *appservice.Server, h *recorder, txnID string) int {
	t.Helper()
	room := matrix.RoomID("!" + txnID + ":marker")
	body := `{"events":[],"ephemeral":[{"type":"org.causeway.test.marker","room_id":"` + string(room) + `","content":{}}]}`
	if rec := putTxn(s, txnID, []byte(body)); rec.Code != http.StatusOK {
		t.Fatalf("marker transaction %s: %d %s", txnID, rec.Code, rec.Body)
	}
	n := -1
	poll.Until(t, "the marker ephemeral event "+txnID, 5*time.Second, func() bool {
		n = slices.IndexFunc(h.ephemeral(), func(e *matrix.Event) bool { return e.RoomID == room })
		return n >= 0
	})
	return n
}

// event returns a message event in room.
func event(id, room string) map[string]any {
	return map[string]any{
		"event_id": id, "room_id": room, "type": "m.room.message", "sender": "@alice:example.org",
		"content": map[string]any{"msgtype": "m.text", "body": "hello " + id},
	}
}

func txnBody(t testing.TB, events ...map[string]any) []byte {
	t.Helper()
	if events == nil {
		events = []map[string]any{}
	}
	b, err := json.Marshal(map[string]any{"events": events})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// errcode decodes the errcode of an error response.
func errcode(t testing.TB, rec *httptest.ResponseRecorder) string {
	t.Helper()
	var e struct {
		ErrCode string `json:"errcode"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil {
		t.Fatalf("response %d %q is not JSON: %v", rec.Code, rec.Body.String(), err)
	}
	return e.ErrCode
}

func ids(prefix string, n int) []matrix.EventID {
	out := make([]matrix.EventID, n)
	for i := range out {
		out[i] = matrix.EventID(fmt.Sprintf("%s%d", prefix, i))
	}
	return out
}

func idStrings(evs []matrix.EventID) string {
	s := make([]string, len(evs))
	for i, e := range evs {
		s[i] = string(e)
	}
	return strings.Join(s, ",")
}
