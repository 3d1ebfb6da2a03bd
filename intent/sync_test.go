package intent

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

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
	waitFor(t, "three ephemeral events", func() bool { mu.Lock(); defer mu.Unlock(); return len(got) >= 3 })
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
