package store_test

import (
	"fmt"
	"testing"

	"github.com/causewaybridge/causeway/store"
	"github.com/causewaybridge/causeway/store/storetest"
)

// BenchmarkIngest measures durable ingest of 100-event appservice
// transactions of ~500-byte m.room.message events spread over a few rooms:
// each iteration is one AddTransaction, committed before it returns.
func BenchmarkIngest(b *testing.B) {
	for _, bk := range []struct {
		name string
		dsn  func(testing.TB) string
	}{
		{"sqlite", storetest.SQLiteDSN},
		{"postgres", storetest.PostgresDSN},
	} {
		b.Run(bk.name, func(b *testing.B) {
			s := storetest.OpenDSN(b, bk.dsn(b))
			const perTxn, rooms = 100, 5
			txns := make([][]store.InboxEvent, b.N)
			for i := range txns {
				txns[i] = make([]store.InboxEvent, perTxn)
				for j := range perTxn {
					txns[i][j] = storetest.Event(fmt.Sprintf("$ev%d_%d:example.org", i, j), fmt.Sprintf("!room%d:example.org", j%rooms))
				}
			}
			b.SetBytes(int64(perTxn * len(txns[0][0].Raw)))
			b.ResetTimer()
			for i := range b.N {
				added, _, err := s.AddTransaction(b.Context(), fmt.Sprintf("txn%d", i), txns[i])
				if err != nil {
					b.Fatal(err)
				}
				if len(added) != perTxn {
					b.Fatalf("added %d events, want %d", len(added), perTxn)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N*perTxn)/b.Elapsed().Seconds(), "events/s")
		})
	}
}
