package irc

import (
	"bytes"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ergochat/irc-go/ircmsg"

	"github.com/causewaybridge/causeway/intent"
	"github.com/causewaybridge/causeway/internal/poll"
	"github.com/causewaybridge/causeway/matrix"
	"github.com/causewaybridge/causeway/store"
)

// fakeHomeserver serves the events a test declares and records the
// redactions it is asked for.
type fakeHomeserver struct {
	mu       sync.Mutex
	senders  map[string]matrix.UserID // event ID → sender
	redacted []string                 // event IDs
}

func (h *fakeHomeserver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	defer h.mu.Unlock()
	parts := strings.Split(r.URL.Path, "/")
	switch {
	case r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/register"):
		fmt.Fprint(w, `{"user_id":"@bot:localhost"}`)
	case r.Method == http.MethodPost && strings.Contains(r.URL.Path, "/join/"):
		fmt.Fprintf(w, `{"room_id":%q}`, parts[len(parts)-1])
	case r.Method == http.MethodGet && len(parts) >= 2 && parts[len(parts)-2] == "event":
		id := parts[len(parts)-1]
		sender, ok := h.senders[id]
		if !ok {
			http.Error(w, `{"errcode":"M_NOT_FOUND"}`, http.StatusNotFound)
			return
		}
		fmt.Fprintf(w, `{"event_id":%q,"type":"m.room.message","sender":%q,"content":{"msgtype":"m.text","body":"x"}}`, id, sender)
	case r.Method == http.MethodPut && len(parts) >= 3 && parts[len(parts)-3] == "redact":
		h.redacted = append(h.redacted, parts[len(parts)-2])
		fmt.Fprintf(w, `{"event_id":"$redaction%d"}`, len(h.redacted))
	default:
		http.NotFound(w, r)
	}
}

func (h *fakeHomeserver) redactions() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.redacted...)
}

// TestRedactFromIRC: a REDACT of a bridged message by its author or by a
// channel operator redacts the Matrix event; a REDACT by anyone else, or of
// a msgid the bridge never linked, changes nothing.
func TestRedactFromIRC(t *testing.T) {
	srv := startScriptedServer(t, "message-tags draft/message-redaction")
	m := newTestModule(t, srv.addr)
	ctx := t.Context()
	var logs bytes.Buffer
	m.log = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	hs := &fakeHomeserver{senders: map[string]matrix.UserID{
		"$bob1": "@irc_test_bob:localhost", "$bob2": "@irc_test_bob:localhost", "$bob3": "@irc_test_bob:localhost",
		"$bob4": "@irc_test_bob:localhost",
	}}
	web := httptest.NewServer(hs)
	t.Cleanup(web.Close)
	client, err := intent.New(intent.Options{HomeserverURL: web.URL, ASToken: "as", BotUserID: "@bot:localhost"})
	if err != nil {
		t.Fatal(err)
	}
	ob, err := intent.NewOutbox(intent.OutboxOptions{Client: client, Store: storeOf(m),
		Retry: intent.RetryPolicy{BaseDelay: 10 * time.Millisecond, MaxDelay: 50 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	if err := ob.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ob.Stop(t.Context()) })
	m.client, m.outbox = client, ob

	n := m.networks["test"]
	n.addPortal("#chan", "!chan", []byte(`{"name":"#chan"}`))
	for i, id := range []string{"1", "2", "3", "4"} {
		if err := storeOf(m).PutMessageLink(ctx, store.MessageLink{Module: ID, RemoteID: "m" + id, RoomID: "!chan", EventID: "$bob" + id}); err != nil {
			t.Fatal(i, err)
		}
	}
	if err := storeOf(m).PutMessageLink(ctx, store.MessageLink{Module: ID, RemoteID: "dm", RoomID: "!dm", EventID: "$ev"}); err != nil {
		t.Fatal(err)
	}
	for _, src := range []string{"bob!~b@h", "eve!~e@h", "op!~o@h"} {
		n.state.Join("#chan", src, "", "")
	}
	if _, err := n.state.Mode("#chan", "srv", "+o", []string{"op"}); err != nil {
		t.Fatal(err)
	}
	c, err := n.userConnFor("@u:localhost", "").connect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	redact := func(line string) {
		t.Helper()
		msg, err := ircmsg.ParseLine(line)
		if err != nil {
			t.Fatal(err)
		}
		n.redactFromIRC(ctx, c, &msg)
	}

	redact(":eve!~e@h REDACT #chan m4 :not yours")        // neither author nor operator
	redact(":bob!~b@h REDACT #chan unknown")              // never bridged
	redact(":bob!~b@h REDACT #chan dm")                   // bridged to another room
	redact(":bob!~b@h REDACT #chan m1 :typo")             // the author
	redact(":op!~o@h REDACT #chan m2 :spam")              // a channel operator
	redact(":services.example REDACT #chan m3 :by opers") // a server
	// One room, one ordered lane: a wrongly applied REDACT, sent before the
	// right ones, would arrive before them.
	poll.Until(t, "three redactions", 15*time.Second, func() bool { return len(hs.redactions()) >= 3 })
	if got := strings.Join(hs.redactions(), " "); got != "$bob1 $bob2 $bob3" {
		t.Fatalf("redacted %q, want $bob1 $bob2 $bob3 (in that order)", got)
	}
	for _, want := range []string{"msgid=unknown", "neither the message's author nor a channel operator"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log does not mention %q:\n%s", want, logs.String())
		}
	}
}
