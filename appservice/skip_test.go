package appservice_test

import (
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/causewaybridge/causeway/appservice"
	"github.com/causewaybridge/causeway/internal/poll"
	"github.com/causewaybridge/causeway/matrix"
)

// TestSkipEventNotStored: events the SkipEvent option names (the bridge's
// own echoes) are neither stored nor handled; the others are.
func TestSkipEventNotStored(t *testing.T) {
	inbox := newFakeInbox()
	rec := newRecorder()
	s := newServer(t, inbox, rec, func(o *appservice.Options) {
		o.SkipEvent = func(e *matrix.Event) bool { return e.Sender == "@bot:example.org" }
	})
	echo := event("$echo", "!r:example.org")
	echo["sender"] = "@bot:example.org"
	real := event("$real", "!r:example.org")
	if r := putTxn(s, "t1", txnBody(t, echo, real)); r.Code != http.StatusOK {
		t.Fatalf("status %d: %s", r.Code, r.Body)
	}
	poll.Until(t, "the real event handled", 5*time.Second, func() bool { return rec.callCount("$real") == 1 })
	if rec.callCount("$echo") != 0 {
		t.Fatal("skipped echo was handled")
	}
	if n := inbox.stored(); n != 1 {
		t.Fatalf("stored %d events, want 1 (the echo must not be written)", n)
	}
}

// TestOnlySkippedEvents: a transaction holding nothing but skipped echoes is
// acknowledged without touching the store.
func TestOnlySkippedEvents(t *testing.T) {
	inbox := newFakeInbox()
	rec := newRecorder()
	s := newServer(t, inbox, rec, func(o *appservice.Options) {
		o.SkipEvent = func(e *matrix.Event) bool { return e.Sender == "@bot:example.org" }
	})
	echo := event("$echo2", "!r:example.org")
	echo["sender"] = "@bot:example.org"
	if r := putTxn(s, "t2", txnBody(t, echo)); r.Code != http.StatusOK {
		t.Fatalf("status %d: %s", r.Code, r.Body)
	}
	inbox.setFailAdd(errors.New("store down")) // the store must not even be asked
	if r := putTxn(s, "t3", txnBody(t, echo)); r.Code != http.StatusOK {
		t.Fatalf("status %d with the store down: the store was used", r.Code)
	}
	if inbox.stored() != 0 || rec.callCount("$echo2") != 0 {
		t.Fatal("a skipped-only transaction was stored or handled")
	}
}
