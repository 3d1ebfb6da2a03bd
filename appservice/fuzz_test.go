package appservice_test

import (
	"net/http"
	"testing"

	"github.com/causewaybridge/causeway/appservice"
)

// FuzzTransaction posts arbitrary bodies as transactions: the server must
// never panic and must answer 200, 400 or 413 (with a Matrix error code for
// the refusals).
func FuzzTransaction(f *testing.F) {
	for _, seed := range []string{
		`{"events":[]}`,
		`{"events":[{"event_id":"$a","room_id":"!r:x","type":"m.room.message","content":{"body":"hi"}}]}`,
		`{"events":[],"ephemeral":[{"type":"m.typing","room_id":"!r:x","content":{}}]}`,
		`{"events":[],"de.sorunome.msc2409.ephemeral":[{"type":"m.presence","sender":"@a:x"}]}`,
		`{"events":[{"type":"m.room.member","event_id":"$m","state_key":"@a:x","content":{"membership":"join"}}]}`,
		`{"events":{}}`, `[]`, `null`, `{`, ``, `{"events":[null]}`, `{"events":[{"event_id":"$x"}]}`,
	} {
		f.Add([]byte(seed))
	}
	s, err := appservice.New(appservice.Options{
		HSToken: testToken, Inbox: newFakeInbox(), Handler: newRecorder(), Logger: discardLogger(), MaxBodyBytes: 4096,
	})
	if err != nil {
		f.Fatal(err)
	}
	n := 0
	f.Fuzz(func(t *testing.T, body []byte) {
		n++
		rec := putTxn(s, "fuzz"+string(rune('a'+n%26)), body)
		switch rec.Code {
		case http.StatusOK:
		case http.StatusBadRequest, http.StatusRequestEntityTooLarge:
			if code := errcode(t, rec); code == "" {
				t.Fatalf("%d without errcode: %s", rec.Code, rec.Body)
			}
		default:
			t.Fatalf("body %q: status %d %s", body, rec.Code, rec.Body)
		}
	})
}
