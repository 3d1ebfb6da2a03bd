package appservice_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/causewaybridge/causeway/appservice"
	"github.com/causewaybridge/causeway/matrix"
)

// echoEvent is what the homeserver pushes back after the bridge sent an IRC
// message as a puppet: a one-event transaction of the bridge's own event,
// shaped like Dendrite's (content with the outbox marker, unsigned age).
const echoEvent = `{"events":[{"content":{"io.causeway.txn_id":"cw5d41402abc4b2a76.1234","body":"message 1234 of the burst, with a few words in it","msgtype":"m.text","format":"org.matrix.custom.html","formatted_body":"message 1234 of the <b>burst</b>, with a few words in it"},"event_id":"$Qm9vZ1pXbVpYc2hBbmRUaGVSZXN0T2ZJdA","origin_server_ts":1763700000000,"room_id":"!AbCdEfGhIjKlMnOp:localhost","sender":"@irc_ergo_alice:localhost","type":"m.room.message","unsigned":{"age":12}}]}`

// BenchmarkEchoTransaction measures the homeserver's echo of one of the
// bridge's own events through the HTTP handler: token check, body read,
// decode, SkipEvent, 200. Under an IRC burst the homeserver sends one such
// transaction per bridged message, so this is paid once per message.
// "fresh-goroutine" serves each request on a new goroutine, as net/http
// does for every connection (Dendrite opens one per transaction), so stack
// growth is paid as it is in production.
func BenchmarkEchoTransaction(b *testing.B) {
	for _, fresh := range []bool{false, true} {
		name := "same-goroutine"
		if fresh {
			name = "fresh-goroutine"
		}
		b.Run(name, func(b *testing.B) {
			inbox := newFakeInbox()
			s := newServer(b, inbox, nopHandler{newRecorder()}, func(o *appservice.Options) {
				o.SkipEvent = func(e *matrix.Event) bool { return !e.IsState() && e.Sender == "@irc_ergo_alice:localhost" }
			})
			h := s.HTTPHandler()
			body := []byte(echoEvent)
			rd := bytes.NewReader(nil)
			done := make(chan struct{})
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				rd.Reset(body)
				req := httptest.NewRequest(http.MethodPut, "/_matrix/app/v1/transactions/"+strconv.Itoa(i), rd)
				req.Header.Set("Authorization", "Bearer "+testToken)
				rec := httptest.NewRecorder()
				if fresh {
					go func() { h.ServeHTTP(rec, req); done <- struct{}{} }()
					<-done
				} else {
					h.ServeHTTP(rec, req)
				}
				if rec.Code != http.StatusOK {
					b.Fatalf("%d %s", rec.Code, rec.Body)
				}
			}
			b.StopTimer()
			if n := inbox.stored(); n != 0 {
				b.Fatalf("stored %d echoes, want 0", n)
			}
		})
	}
}
