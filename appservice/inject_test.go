package appservice_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/causewaybridge/causeway/appservice"
	"github.com/causewaybridge/causeway/internal/poll"
	"github.com/causewaybridge/causeway/matrix"
)

// TestInject: events learned outside transactions (the bot's /sync) are
// processed like pushed ones: once even when the homeserver pushed them too,
// without the bridge's own echoes, and not at all when malformed.
func TestInject(t *testing.T) {
	inbox := newFakeInbox()
	rec := newRecorder()
	s := newServer(t, inbox, rec, func(o *appservice.Options) {
		o.SkipEvent = func(e *matrix.Event) bool { return e.Sender == "@bot:example.org" }
	})
	pushed := event("$red1", "!r:example.org")
	if r := putTxn(s, "t1", txnBody(t, pushed)); r.Code != http.StatusOK {
		t.Fatalf("status %d: %s", r.Code, r.Body)
	}
	echo := event("$echo", "!r:example.org")
	echo["sender"] = "@bot:example.org"
	added, err := s.Inject(t.Context(), "sync.s1", txnBody(t, pushed, event("$red2", "!r:example.org"), echo))
	if err != nil {
		t.Fatal(err)
	}
	if added != 1 {
		t.Fatalf("Inject added %d events, want 1 ($red2: $red1 was pushed before, $echo is the bridge's own)", added)
	}
	poll.Until(t, "the injected event handled", 5*time.Second, func() bool { return rec.callCount("$red2") == 1 })
	waitIdle(t, s)
	if rec.callCount("$red1") != 1 || rec.callCount("$echo") != 0 {
		t.Fatalf("handled $red1 %d times (want 1), $echo %d times (want 0)", rec.callCount("$red1"), rec.callCount("$echo"))
	}
	noRoom := event("$x", "!r:example.org")
	delete(noRoom, "room_id")
	for name, body := range map[string][]byte{"not JSON": []byte("{"), "no room_id": txnBody(t, noRoom)} {
		if _, err := s.Inject(t.Context(), "sync.bad", body); err == nil {
			t.Errorf("%s: injected", name)
		}
	}
	if _, err := s.Inject(t.Context(), "", txnBody(t, event("$y", "!r:example.org"))); err == nil {
		t.Error("empty transaction ID accepted")
	}
}
