package store_test

import (
	"testing"
	"time"

	"github.com/causewaybridge/causeway/store"
	"github.com/causewaybridge/causeway/store/storetest"
)

// TestOutboxUpgradeFromVersion2 fills the outbox of a version 2 database
// (SQLite numbered items with AUTOINCREMENT then; version 3 rebuilds the
// table) and opens it: the pending item is still pending with its seq,
// attempts and creation time, the delivered item's key is still a
// duplicate, and new items are numbered after the old ones.
func TestOutboxUpgradeFromVersion2(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			ctx := t.Context()
			dsn := b.dsn(t)
			db, err := store.OpenAtVersion(ctx, dsn, 2)
			if err != nil {
				t.Fatalf("create version 2 schema: %v", err)
			}
			for _, q := range []string{
				`INSERT INTO outbox (queue, dedupe_key, payload, created_us, state, result, finished_us) VALUES ('!r:x', 'sent', '{"n":1}', 1700000000000000, 1, '$e1', 1700000000000001)`,
				`INSERT INTO outbox (queue, dedupe_key, payload, created_us, attempts, last_error) VALUES ('!r:x', 'waiting', '{"n":2}', 1700000000000002, 3, '502')`,
			} {
				if _, err := db.ExecContext(ctx, q); err != nil {
					t.Fatalf("fill version 2 schema: %s: %v", q, err)
				}
			}
			var oldSeq int64
			if err := db.QueryRowContext(ctx, `SELECT seq FROM outbox WHERE dedupe_key = 'waiting'`).Scan(&oldSeq); err != nil {
				t.Fatal(err)
			}
			db.Close()

			s := storetest.OpenDSN(t, dsn)
			if v, err := store.SchemaVersionOf(ctx, s); err != nil || v < 3 {
				t.Fatalf("schema version after Open = %d, %v; want >= 3", v, err)
			}
			pending, err := s.PendingOutbox(ctx, 10)
			if err != nil || len(pending) != 1 {
				t.Fatalf("pending after upgrade = %+v, %v; want the waiting item", pending, err)
			}
			p := pending[0]
			if p.Seq != oldSeq || p.Key != "waiting" || p.Attempts != 3 || string(p.Payload) != `{"n":2}` ||
				!p.Created.Equal(time.UnixMicro(1700000000000002)) {
				t.Errorf("pending item after upgrade = %+v (seq %d before)", p, oldSeq)
			}
			if _, dup, err := s.Enqueue(ctx, store.OutboxItem{Queue: "!r:x", Key: "sent"}); err != nil || !dup {
				t.Errorf("delivered item's key after upgrade: duplicate %v, %v", dup, err)
			}
			next, dup, err := s.Enqueue(ctx, store.OutboxItem{Queue: "!r:x", Key: "new", Payload: []byte(`{}`)})
			if err != nil || dup || next.Seq <= oldSeq {
				t.Errorf("new item after upgrade: seq %d, duplicate %v, %v; want a seq after %d", next.Seq, dup, err, oldSeq)
			}
			if err := s.CompleteOutbox(ctx, p.Seq, "$e2"); err != nil {
				t.Errorf("complete the old pending item: %v", err)
			}
		})
	}
}
