package intent

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/causewaybridge/causeway/internal/poll"
	"github.com/causewaybridge/causeway/matrix"
	"github.com/causewaybridge/causeway/store"
)

// ctxStore is a memOutboxStore that, like a database, refuses to commit on
// a context that is done.
type ctxStore struct {
	*memOutboxStore
}

func (s ctxStore) CompleteOutboxBatch(ctx context.Context, done []store.OutboxCompletion) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.memOutboxStore.CompleteOutboxBatch(ctx, done)
}

// levelRecorder is a slog handler that keeps the records at Warn and
// above.
type levelRecorder struct {
	mu      sync.Mutex
	records []slog.Record
}

func (h *levelRecorder) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }

func (h *levelRecorder) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.records = append(h.records, r.Clone())
	return nil
}

func (h *levelRecorder) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *levelRecorder) WithGroup(string) slog.Handler      { return h }

func (h *levelRecorder) messages() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for _, r := range h.records {
		out = append(out, r.Level.String()+" "+r.Message)
	}
	return out
}

// TestOutboxStopCommitsQuietly: items delivered while their completions
// wait for the group commit are committed when the outbox stops, although
// Stop cancels the delivery context, and nothing is logged at Warn or
// above (a graceful stop is quiet). Both ways into the stop are covered:
// the commit loop gathering a batch, and waiting for the first item.
func TestOutboxStopCommitsQuietly(t *testing.T) {
	for _, tc := range []struct {
		name        string
		commitDelay time.Duration
	}{
		{"gathering", time.Hour},  // the delivered item waits in the gather step
		{"idle", time.Nanosecond}, // committed at once; the stop finds the loop idle
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			hs := newFakeHS(t)
			hs.makeRoom(room1, false, alice)
			st := ctxStore{newMemOutboxStore()}
			logs := &levelRecorder{}
			var sent sync.Map
			o, err := NewOutbox(OutboxOptions{Client: newTestClient(t, hs, nil), Store: st, Retry: fastRetry,
				Logger: slog.New(logs), CommitDelay: tc.commitDelay,
				OnSent: func(ctx context.Context, item store.OutboxItem, _ Op, _ matrix.EventID) {
					sent.Store(item.Seq, ctx.Err())
				}})
			if err != nil {
				t.Fatal(err)
			}
			if err := o.Start(ctx); err != nil {
				t.Fatal(err)
			}
			const n = 3
			for j := range n {
				if _, err := o.Send(ctx, textOp(room1, alice, "msg", fmt.Sprintf("remote-%d", j))); err != nil {
					t.Fatal(err)
				}
			}
			// Delivered as far as the outbox knows: the homeserver has the
			// event and the outbox has its answer (completion gathered or
			// committed). Stopping while an answer is still on its way
			// rightly leaves that item pending (it is searched for in the
			// room at the next start), which is not what this test is about.
			poll.Until(t, "every message delivered", 10*time.Second, func() bool {
				o.mu.Lock()
				gathered := len(o.completing)
				o.mu.Unlock()
				_, done, _ := st.counts()
				return len(hs.roomEvents(room1)) == n && gathered+done == n
			})
			stopCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			if err := o.Stop(stopCtx); err != nil {
				t.Fatal(err)
			}
			if pending, done, failed := st.counts(); done != n {
				t.Fatalf("after Stop: %d pending, %d done, %d failed; want all %d done", pending, done, failed, n)
			}
			for seq := int64(1); seq <= n; seq++ {
				if err, ok := sent.Load(seq); !ok || err != nil {
					t.Fatalf("OnSent for item %d: called %t, ctx error %v", seq, ok, err)
				}
			}
			if got := logs.messages(); len(got) > 0 {
				t.Fatalf("a graceful stop logged %q", got)
			}
		})
	}
}
