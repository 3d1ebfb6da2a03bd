package appservice_test

import (
	"context"
	"net/http"
	"strconv"
	"testing"

	"github.com/causewaybridge/causeway/appservice"
	"github.com/causewaybridge/causeway/matrix"
)

// nopHandler accepts every event.
type nopHandler struct{ *recorder }

func (nopHandler) HandleEvent(context.Context, *matrix.Event) error { return nil }

// BenchmarkTransactionHTTP measures ingest through the HTTP handler: 100-event
// transactions (10 rooms) authenticated, decoded, stored in the in-memory
// fake inbox and queued for processing by a no-op handler. Body generation
// is included in the measured time.
func BenchmarkTransactionHTTP(b *testing.B) {
	const perTxn = 100
	s := newServer(b, newFakeInbox(), nopHandler{newRecorder()}, func(o *appservice.Options) { o.MaxQueuedEvents = 100000 })
	buf := make([]byte, 0, 32<<10)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		buf = append(buf[:0], `{"events":[`...)
		for j := range perTxn {
			if j > 0 {
				buf = append(buf, ',')
			}
			buf = append(buf, `{"type":"m.room.message","event_id":"$`...)
			buf = strconv.AppendInt(buf, int64(i*perTxn+j), 10)
			buf = append(buf, `","room_id":"!room`...)
			buf = strconv.AppendInt(buf, int64(j%10), 10)
			buf = append(buf, `:example.org","sender":"@alice:example.org","origin_server_ts":1700000000000,"content":{"msgtype":"m.text","body":"hello world, this is a bridged message"}}`...)
		}
		buf = append(buf, `]}`...)
		rec := putTxn(s, "b"+strconv.Itoa(i), buf)
		if rec.Code != http.StatusOK {
			b.Fatalf("%d %s", rec.Code, rec.Body)
		}
	}
	b.ReportMetric(float64(b.N*perTxn)/b.Elapsed().Seconds(), "events/s")
}
