package appservice_test

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/causewaybridge/causeway/appservice"
	"github.com/causewaybridge/causeway/internal/poll"
	"github.com/causewaybridge/causeway/matrix"
	"github.com/causewaybridge/causeway/store"
)

func openSQLite(t testing.TB, path string) *store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), path, discardLogger())
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	return st
}

// TestSQLiteStoreResumeAfterInterruptedStop runs the server on the real
// embedded store: a handler is cut off by a Stop deadline (as in a crash), and
// a new server on the same database resumes with that event, in order, while
// redelivered transactions stay deduplicated.
func TestSQLiteStoreResumeAfterInterruptedStop(t *testing.T) {
	path := filepath.Join(t.TempDir(), "causeway.db")
	st := openSQLite(t, path)
	h := newRecorder()
	h.hook = func(ctx context.Context, evt *matrix.Event) error {
		if evt.ID == "$a3" {
			<-ctx.Done()
			return ctx.Err()
		}
		return nil
	}
	s, err := appservice.New(appservice.Options{HSToken: testToken, Inbox: st, Handler: h, Logger: discardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	var evs []map[string]any
	for i := range 6 {
		evs = append(evs, event(fmt.Sprintf("$a%d", i), "!a:x"), event(fmt.Sprintf("$b%d", i), "!b:x"))
	}
	for i := 0; i < len(evs); i += 4 {
		if rec := putTxn(s, "t"+strconv.Itoa(i), txnBody(t, evs[i:i+4]...)); rec.Code != http.StatusOK {
			t.Fatalf("%d %s", rec.Code, rec.Body)
		}
	}
	poll.Until(t, "room b and the start of room a", 5*time.Second, func() bool {
		return len(h.room("!b:x")) == 6 && h.callCount("$a3") == 1
	})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_ = s.Stop(ctx) // the stuck handler is cancelled
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	st2 := openSQLite(t, path)
	t.Cleanup(func() { _ = st2.Close() })
	h2 := newRecorder()
	s2 := newServer(t, st2, h2, nil)
	// The homeserver redelivers a transaction the first server acknowledged.
	if rec := putTxn(s2, "t0", txnBody(t, evs[0:4]...)); rec.Code != http.StatusOK {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	poll.Until(t, "resumed events", 5*time.Second, func() bool { return len(h2.room("!a:x")) == 3 })
	waitIdle(t, s2)
	if got := idStrings(h2.room("!a:x")); got != "$a3,$a4,$a5" {
		t.Fatalf("resumed room a as %s, want $a3,$a4,$a5", got)
	}
	if got := h2.room("!b:x"); len(got) != 0 {
		t.Fatalf("room b processed again: %v", got)
	}
	poll.Until(t, "inbox drained", 5*time.Second, func() bool {
		p, err := st2.PendingEvents(context.Background(), 10)
		return err == nil && len(p) == 0
	})
}

// BenchmarkTransactionHTTPSQLite is BenchmarkTransactionHTTP on the durable
// embedded SQLite store: each 200 means the 100 events are committed.
func BenchmarkTransactionHTTPSQLite(b *testing.B) {
	st := openSQLite(b, filepath.Join(b.TempDir(), "bench.db"))
	b.Cleanup(func() { _ = st.Close() })
	const perTxn = 100
	s := newServer(b, st, nopHandler{newRecorder()}, nil)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		evs := make([]map[string]any, perTxn)
		for j := range evs {
			evs[j] = event(fmt.Sprintf("$%d_%d", i, j), fmt.Sprintf("!room%d:example.org", j%10))
		}
		if rec := putTxn(s, "b"+strconv.Itoa(i), txnBody(b, evs...)); rec.Code != http.StatusOK {
			b.Fatalf("%d %s", rec.Code, rec.Body)
		}
	}
	b.ReportMetric(float64(b.N*perTxn)/b.Elapsed().Seconds(), "events/s")
}
