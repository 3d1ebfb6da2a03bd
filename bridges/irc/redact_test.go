package irc

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/ergochat/irc-go/ircmsg"

	"github.com/causewaybridge/causeway/internal/fakehs"
	"github.com/causewaybridge/causeway/internal/poll"
	"github.com/causewaybridge/causeway/matrix"
	"github.com/causewaybridge/causeway/store"
)

// redactions returns the events redacted in room, in order.
func redactions(hs *fakehs.Homeserver, room matrix.RoomID) []string {
	var out []string
	for _, e := range hs.Events(room) {
		if e.Type == matrix.EventRedaction {
			out = append(out, string(e.Redacts))
		}
	}
	return out
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
	hs := useHomeserver(t, m)
	hs.SetMembership("!chan", hs.Bot, "join")
	for _, id := range []matrix.EventID{"$bob1", "$bob2", "$bob3", "$bob4"} {
		hs.PutEvent(fakehs.Event{ID: id, Room: "!chan", Sender: "@irc_test_bob:localhost", Type: matrix.EventMessage,
			Content: []byte(`{"msgtype":"m.text","body":"x"}`)})
	}

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
	poll.Until(t, "three redactions", 15*time.Second, func() bool { return len(redactions(hs, "!chan")) >= 3 })
	if got := strings.Join(redactions(hs, "!chan"), " "); got != "$bob1 $bob2 $bob3" {
		t.Fatalf("redacted %q, want $bob1 $bob2 $bob3 (in that order)", got)
	}
	for _, want := range []string{"msgid=unknown", "neither the message's author nor a channel operator"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log does not mention %q:\n%s", want, logs.String())
		}
	}
}
