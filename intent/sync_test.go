package intent

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/causewaybridge/causeway/internal/poll"
	"github.com/causewaybridge/causeway/matrix"
)

func TestEphemeralSyncerDeliversTypingReceiptsPresence(t *testing.T) {
	hs := newFakeHS(t)
	hs.syncReplies = []string{
		// Initial sync: old state, only sets the position.
		`{"next_batch":"s1","rooms":{"join":{"!one:example.org":{"ephemeral":{"events":[
			{"type":"m.typing","content":{"user_ids":["@old:example.org"]}}]}}}}}`,
		`{"next_batch":"s2","presence":{"events":[
			{"type":"m.presence","sender":"@carol:example.org","content":{"presence":"online"}}]},
		  "rooms":{"join":{"!one:example.org":{"ephemeral":{"events":[
			{"type":"m.typing","content":{"user_ids":["@carol:example.org"]}},
			{"type":"m.receipt","content":{"$e":{"m.read":{"@carol:example.org":{"ts":1}}}}}]}}}}}`,
	}
	var failures atomic.Int32
	hs.addHook(func(w http.ResponseWriter, r *http.Request, rec recorded) bool {
		if strings.HasSuffix(rec.Path, "/sync") && rec.Query.Get("since") == "s1" && failures.Add(1) <= 2 {
			writeErr(w, http.StatusBadGateway, "", "proxy error")
			return true
		}
		return false
	})
	c := newTestClient(t, hs, nil)
	var mu sync.Mutex
	var got []*matrix.Event
	s := c.NewEphemeralSyncer(func(_ context.Context, evt *matrix.Event) {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, evt)
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	poll.Until(t, "three ephemeral events", 10*time.Second, func() bool { mu.Lock(); defer mu.Unlock(); return len(got) >= 3 })
	cancel()
	if err := <-done; err != context.Canceled {
		t.Errorf("Run returned %v, want context.Canceled", err)
	}
	mu.Lock()
	defer mu.Unlock()
	types := map[string]matrix.RoomID{}
	for _, ev := range got {
		types[ev.Type] = ev.RoomID
		if strings.Contains(string(ev.Content), "@old:example.org") {
			t.Error("initial sync state was delivered")
		}
	}
	if len(got) != 3 || types["m.typing"] != room1 || types["m.receipt"] != room1 || types["m.presence"] != "" {
		t.Errorf("events = %v", types)
	}
	syncs := hs.requests(http.MethodGet, "/sync")
	if syncs[0].Query.Get("filter") != "7" || syncs[0].Query.Has("since") {
		t.Errorf("first sync query = %v, want the uploaded filter and no since", syncs[0].Query)
	}
	if q := syncs[1].Query; q.Get("since") != "s1" || q.Get("timeout") == "" || q.Has("user_id") {
		t.Errorf("second sync query = %v", q)
	}
	if failures.Load() < 3 {
		t.Errorf("sync failures seen = %d; the syncer must retry after errors", failures.Load())
	}
	f := hs.requests(http.MethodPost, "/filter")
	if len(f) != 1 || !strings.Contains(string(f[0].Body), `"ephemeral":{"types":["m.typing","m.receipt"]}`) ||
		!strings.Contains(string(f[0].Body), `"timeline":{"limit":0`) {
		t.Errorf("filter upload = %+v", f)
	}
}

// memPositions is an in-memory PositionStore.
type memPositions struct {
	mu    sync.Mutex
	pos   SyncPosition
	saves []string
}

func (m *memPositions) LoadSyncPosition(context.Context) (SyncPosition, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.pos, nil
}

func (m *memPositions) SaveSyncPosition(_ context.Context, pos SyncPosition) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.pos = pos
	m.saves = append(m.saves, pos.Token)
	return nil
}

func (m *memPositions) token() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.pos.Token
}

// lockedBuffer collects log output from several goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// redactionJSON is a redaction event as /sync and /messages return it.
func redactionJSON(id, target string, ts time.Time) string {
	return fmt.Sprintf(`{"type":"m.room.redaction","event_id":%q,"sender":"@carol:example.org","origin_server_ts":%d,"redacts":%q,"content":{"redacts":%q}}`,
		id, ts.UnixMilli(), target, target)
}

// messageJSON is a message event as /messages returns it.
func messageJSON(id string, ts time.Time) string {
	return fmt.Sprintf(`{"type":"m.room.message","event_id":%q,"sender":"@carol:example.org","origin_server_ts":%d,"content":{"msgtype":"m.text","body":"hi"}}`,
		id, ts.UnixMilli())
}

// syncBySince makes the fake homeserver answer /sync by its since
// parameter ("" for none); other positions long-poll and return the same
// position.
func syncBySince(hs *fakeHS, replies map[string]string) {
	hs.addHook(func(w http.ResponseWriter, r *http.Request, rec recorded) bool {
		if !strings.HasSuffix(rec.Path, "/sync") {
			return false
		}
		since := rec.Query.Get("since")
		if reply, ok := replies[since]; ok {
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, reply)
			return true
		}
		select {
		case <-r.Context().Done():
		case <-time.After(100 * time.Millisecond):
		}
		writeJSON(w, map[string]string{"next_batch": since})
		return true
	})
}

// timelineRecorder records what the syncer hands to its timeline handler.
type timelineRecorder struct {
	mu      sync.Mutex
	batches []string
	ids     []string
	fail    int // calls still to fail
	onCall  func()
}

func (tr *timelineRecorder) handle(_ context.Context, batch string, evs []TimelineEvent) error {
	if tr.onCall != nil {
		tr.onCall()
	}
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if tr.fail > 0 {
		tr.fail--
		return errors.New("inbox unavailable")
	}
	tr.batches = append(tr.batches, batch)
	for _, ev := range evs {
		var e struct {
			ID string `json:"event_id"`
		}
		_ = json.Unmarshal(ev.Raw, &e)
		tr.ids = append(tr.ids, string(ev.Room)+" "+e.ID)
	}
	return nil
}

func (tr *timelineRecorder) got() []string {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return slices.Clone(tr.ids)
}

// runSyncer runs s until the test ends and returns a function stopping it.
func runSyncer(t *testing.T, s *EphemeralSyncer) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != context.Canceled {
			t.Errorf("Run returned %v, want context.Canceled", err)
		}
	}
	t.Cleanup(stop)
	return stop
}

func newTimelineSyncer(t *testing.T, hs *fakeHS, tr *timelineRecorder, ps PositionStore) (*EphemeralSyncer, *[]*matrix.Event, *lockedBuffer) {
	t.Helper()
	c := newTestClient(t, hs, nil)
	var mu sync.Mutex
	var eph []*matrix.Event
	s := c.NewEphemeralSyncer(func(_ context.Context, evt *matrix.Event) {
		mu.Lock()
		defer mu.Unlock()
		eph = append(eph, evt)
	})
	logs := &lockedBuffer{}
	s.log = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	s.SetTimeline([]string{matrix.EventRedaction}, tr.handle)
	if ps != nil {
		s.SetPositionStore(ps)
	}
	return s, &eph, logs
}

func TestEphemeralSyncerResumesFromSavedPosition(t *testing.T) {
	hs := newFakeHS(t)
	now := time.Now()
	syncBySince(hs, map[string]string{
		"s5": `{"next_batch":"s6","rooms":{"join":{"!one:example.org":{
			"timeline":{"events":[` + redactionJSON("$r1", "$m1", now) + `]},
			"ephemeral":{"events":[{"type":"m.typing","content":{"user_ids":["@carol:example.org"]}}]}}}}}`,
		"s6": `{"next_batch":"s7","rooms":{"join":{"!one:example.org":{
			"timeline":{"events":[` + redactionJSON("$r2", "$m2", now) + `]},
			"ephemeral":{"events":[{"type":"m.typing","content":{"user_ids":["@dave:example.org"]}}]}}}}}`,
	})
	ps := &memPositions{pos: SyncPosition{Token: "s5", At: now.Add(-time.Hour)}}
	tr := &timelineRecorder{fail: 1}
	var savedDuringHandle []string
	tr.onCall = func() { savedDuringHandle = append(savedDuringHandle, ps.token()) }
	s, eph, logs := newTimelineSyncer(t, hs, tr, ps)
	stop := runSyncer(t, s)
	poll.Until(t, "both redactions", 10*time.Second, func() bool { return len(tr.got()) >= 2 })
	poll.Until(t, "position s7 saved", 10*time.Second, func() bool { return ps.token() == "s7" })
	stop()

	if got, want := tr.got(), []string{"!one:example.org $r1", "!one:example.org $r2"}; !slices.Equal(got, want) {
		t.Errorf("timeline events = %q, want %q (the redaction made while down, then the live one, once each)", got, want)
	}
	if want := []string{"s5", "s5", "s6"}; !slices.Equal(savedDuringHandle, want) {
		t.Errorf("saved position while the handler ran = %q, want %q: saved before the events were handed over", savedDuringHandle, want)
	}
	if slices.Contains(ps.saves, "") {
		t.Errorf("saves = %q: an empty position was saved", ps.saves)
	}
	syncs := hs.requests(http.MethodGet, "/sync")
	if syncs[0].Query.Get("since") != "s5" {
		t.Errorf("first sync since = %q, want the saved s5", syncs[0].Query.Get("since"))
	}
	resumes := 0
	for _, r := range syncs {
		if r.Query.Get("since") == "s5" {
			resumes++
		}
	}
	if resumes != 2 {
		t.Errorf("syncs from s5 = %d, want 2 (the poll whose hand-over failed is repeated)", resumes)
	}
	if len(*eph) != 1 || !strings.Contains(string((*eph)[0].Content), "@dave") {
		t.Errorf("ephemeral events = %d; want only the live typing, not the stale one of the catch-up poll", len(*eph))
	}
	if !strings.Contains(logs.String(), "inbox unavailable") {
		t.Errorf("the failed hand-over was not logged: %s", logs)
	}
}

// syncOldThenNew answers a /sync without since with an hour-old redaction
// and next_batch s1, and one since s1 with a new redaction ($r1) and s2.
func syncOldThenNew(hs *fakeHS) {
	now := time.Now()
	syncBySince(hs, map[string]string{
		"": `{"next_batch":"s1","rooms":{"join":{"!one:example.org":{
			"timeline":{"events":[` + redactionJSON("$old", "$m0", now.Add(-time.Hour)) + `]}}}}}`,
		"s1": `{"next_batch":"s2","rooms":{"join":{"!one:example.org":{
			"timeline":{"events":[` + redactionJSON("$r1", "$m1", now) + `]}}}}}`,
	})
}

func TestEphemeralSyncerFirstStartHasNoBacklog(t *testing.T) {
	hs := newFakeHS(t)
	syncOldThenNew(hs)
	ps := &memPositions{}
	tr := &timelineRecorder{}
	var savedDuringHandle []string
	tr.onCall = func() { savedDuringHandle = append(savedDuringHandle, ps.token()) }
	s, _, _ := newTimelineSyncer(t, hs, tr, ps)
	runSyncer(t, s)
	poll.Until(t, "position s2 saved", 10*time.Second, func() bool { return ps.token() == "s2" })
	if got := tr.got(); !slices.Equal(got, []string{"!one:example.org $r1"}) {
		t.Errorf("timeline events = %q, want only the new redaction (no backlog on a first start)", got)
	}
	if !slices.Equal(savedDuringHandle, []string{"s1"}) {
		t.Errorf("saved while handling = %q, want the first position saved before any event", savedDuringHandle)
	}
}

func TestEphemeralSyncerRejectedPositionStartsFresh(t *testing.T) {
	hs := newFakeHS(t)
	syncOldThenNew(hs)
	var rejected atomic.Int32
	hs.addHook(func(w http.ResponseWriter, r *http.Request, rec recorded) bool {
		if strings.HasSuffix(rec.Path, "/sync") && rec.Query.Get("since") == "stale" {
			rejected.Add(1)
			writeErr(w, http.StatusBadRequest, "M_INVALID_PARAM", "malformed sync token")
			return true
		}
		return false
	})
	// The hook added last runs last: put the rejection first.
	hs.mu.Lock()
	hs.hooks[0], hs.hooks[1] = hs.hooks[1], hs.hooks[0]
	hs.mu.Unlock()
	ps := &memPositions{pos: SyncPosition{Token: "stale", At: time.Now().Add(-time.Hour)}}
	tr := &timelineRecorder{}
	s, _, logs := newTimelineSyncer(t, hs, tr, ps)
	stop := runSyncer(t, s)
	poll.Until(t, "position s2 saved", 10*time.Second, func() bool { return ps.token() == "s2" })
	stop()
	if n := rejected.Load(); n != 1 {
		t.Errorf("syncs with the rejected position = %d, want 1", n)
	}
	if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "rejected the sync position") {
		t.Errorf("no warning about the rejected position: %s", logs)
	}
	if got := tr.got(); !slices.Equal(got, []string{"!one:example.org $r1"}) {
		t.Errorf("timeline events = %q, want only the redaction after the fresh start", got)
	}
}

// gapHS serves /messages pages by their from token and records the
// requests' to tokens.
func gapHS(t *testing.T, hs *fakeHS, pages map[string]string, fail func(from string) (int, bool)) {
	t.Helper()
	hs.addHook(func(w http.ResponseWriter, r *http.Request, rec recorded) bool {
		if !strings.HasSuffix(rec.Path, "/messages") {
			return false
		}
		from := rec.Query.Get("from")
		if rec.Query.Get("dir") != "b" {
			t.Errorf("gap fetched with dir=%q", rec.Query.Get("dir"))
		}
		if fail != nil {
			if status, ok := fail(from); ok {
				writeErr(w, status, "", "failed")
				return true
			}
		}
		page, ok := pages[from]
		if !ok {
			t.Errorf("/messages from an unexpected token %q", from)
			page = `{"chunk":[]}`
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, page)
		return true
	})
}

func TestEphemeralSyncerFillsLimitedTimeline(t *testing.T) {
	now := time.Now()
	since := now.Add(-time.Hour)
	limited := `{"next_batch":"s2","rooms":{"join":{
		"!one:example.org":{"timeline":{"limited":true,"prev_batch":"t10","events":[` +
		redactionJSON("$r4", "$m4", now) + `,` + redactionJSON("$r5", "$m5", now) + `]}},
		"!two:example.org":{"timeline":{"events":[` + redactionJSON("$x1", "$n1", now) + `]}}}}}`
	// Pages newest first, as dir=b returns them: other events are mixed in
	// (Dendrite applies no type filter usefully), the last page reaches
	// events from before the poll's start.
	pages := map[string]string{
		"t10": `{"chunk":[` + messageJSON("$a", now) + `,` + redactionJSON("$r3", "$m3", now) + `,` + messageJSON("$b", now) + `],"end":"t7"}`,
		"t7":  `{"chunk":[` + redactionJSON("$r2", "$m2", now) + `,` + messageJSON("$c", now) + `,` + redactionJSON("$r1", "$m1", since.Add(time.Second)) + `],"end":"t4"}`,
		"t4": `{"chunk":[` + redactionJSON("$r0", "$m0", since.Add(-time.Minute)) + `,` +
			messageJSON("$d", since.Add(-2*gapMargin)) + `],"end":"t2"}`,
		// Only old events: the walk stops here even though the homeserver
		// (like Dendrite) ignores "to" and would go on.
		"t2": `{"chunk":[` + redactionJSON("$old", "$m", since.Add(-2*gapMargin)) + `,` + messageJSON("$e", since.Add(-3*gapMargin)) + `],"end":"t1"}`,
	}
	for i, tc := range []struct {
		name    string
		fail    func(from string) (int, bool)
		want    []string
		warn    bool
		repeats int
	}{{
		name: "gap fetched",
		// $r0 and $old are from before the poll's start: handed over
		// again, which the inbox dedupes.
		want: []string{"$old", "$r0", "$r1", "$r2", "$r3", "$r4", "$r5"},
	}, {
		name: "transient failure repeats the poll",
		fail: func() func(string) (int, bool) {
			var n atomic.Int32
			return func(from string) (int, bool) {
				return http.StatusBadGateway, from == "t7" && n.Add(1) <= int32(fastRetry.MaxAttempts)
			}
		}(),
		want:    []string{"$old", "$r0", "$r1", "$r2", "$r3", "$r4", "$r5"},
		repeats: 1,
	}, {
		name: "refused gap is skipped with a warning",
		fail: func(from string) (int, bool) { return http.StatusForbidden, from == "t7" },
		want: []string{"$r3", "$r4", "$r5"},
		warn: true,
	}} {
		t.Run(fmt.Sprintf("%d:%s", i, tc.name), func(t *testing.T) {
			hs := newFakeHS(t)
			syncBySince(hs, map[string]string{"s1": limited})
			gapHS(t, hs, pages, tc.fail)
			ps := &memPositions{pos: SyncPosition{Token: "s1", At: since}}
			tr := &timelineRecorder{}
			s, _, logs := newTimelineSyncer(t, hs, tr, ps)
			stop := runSyncer(t, s)
			poll.Until(t, "position s2 saved", 10*time.Second, func() bool { return ps.token() == "s2" })
			stop()
			var got []string
			for _, id := range tr.got() {
				if room, ev, _ := strings.Cut(id, " "); room == "!one:example.org" {
					got = append(got, ev)
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("room one's events = %q, want %q", got, tc.want)
			}
			if !slices.Contains(tr.got(), "!two:example.org $x1") {
				t.Errorf("room two's event missing: %q", tr.got())
			}
			if n := len(tr.batches); n != 1 {
				t.Errorf("hand-overs = %d, want 1", n)
			}
			for _, r := range hs.requests(http.MethodGet, "/messages") {
				if r.Query.Get("to") != "s1" || r.Query.Get("from") == "t1" {
					t.Errorf("gap request %v: want to=s1 and no page past the poll's start", r.Query)
				}
			}
			polls := 0
			for _, r := range hs.requests(http.MethodGet, "/sync") {
				if r.Query.Get("since") == "s1" {
					polls++
				}
			}
			if want := 1 + tc.repeats; polls != want {
				t.Errorf("polls from s1 = %d, want %d", polls, want)
			}
			if warned := strings.Contains(logs.String(), "could not all be fetched"); warned != tc.warn {
				t.Errorf("gap warning logged = %t, want %t: %s", warned, tc.warn, logs)
			}
		})
	}
}
