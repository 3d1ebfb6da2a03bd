//go:build integration

package irc_test

import (
	"strings"
	"testing"
	"time"

	"github.com/causewaybridge/causeway/internal/integration"
	"github.com/causewaybridge/causeway/matrix"
)

// TestIntegrationMultilineToIRC: a Matrix message of several lines leaves
// the user's connection as one draft/multiline message. An IRC client that
// negotiated draft/multiline receives one batch with every line; a client
// without it receives the lines as separate PRIVMSGs (Ergo splits it).
func TestIntegrationMultilineToIRC(t *testing.T) {
	srv := integration.StartErgo(t)
	s := startIRCStack(t, srv, "")
	ctx := tctx(t, 2*time.Minute)
	user := s.User(ctx, "mona")
	modern := dialJoined(t, srv.Addr(), "modern", []string{"#ml"}, integration.WithCaps("batch", "draft/multiline"))
	plain := dialJoined(t, srv.Addr(), "plain", []string{"#ml"})
	room, _ := joinPortal(ctx, t, user, "#ml", plain)
	lines := []string{"first line", "second line", "third line"}
	if _, err := user.SendEvent(ctx, room, matrix.EventMessage, map[string]any{"msgtype": "m.text", "body": strings.Join(lines, "\n")}); err != nil {
		t.Fatal(err)
	}

	open, err := modern.WaitFor(func(l *integration.Line) bool {
		return l.Command == "BATCH" && strings.HasPrefix(l.Param(0), "+") && strings.EqualFold(l.Nick(), "mona")
	}, 30*time.Second)
	if err != nil {
		t.Fatalf("no batch from mona on the multiline client: %v", err)
	}
	if open.Param(1) != "draft/multiline" || !strings.EqualFold(open.Param(2), "#ml") {
		t.Fatalf("batch opened as %q, want draft/multiline #ml", open.Raw)
	}
	ref := strings.TrimPrefix(open.Param(0), "+")
	if _, err := modern.WaitFor(func(l *integration.Line) bool {
		return l.Command == "BATCH" && l.Param(0) == "-"+ref
	}, 30*time.Second); err != nil {
		t.Fatalf("batch %s never closed: %v", ref, err)
	}
	var inBatch []string
	batches := 0
	for _, l := range modern.Lines() {
		if l.Command == "BATCH" && strings.HasPrefix(l.Param(0), "+") && strings.EqualFold(l.Nick(), "mona") {
			batches++
		}
		if tag, _ := l.Tag("batch"); tag == ref && l.Command == "PRIVMSG" {
			inBatch = append(inBatch, l.Last())
		}
		if l.Command == "PRIVMSG" && strings.EqualFold(l.Nick(), "mona") {
			if tag, ok := l.Tag("batch"); !ok || tag != ref {
				t.Errorf("line outside the batch on the multiline client: %s", l.Raw)
			}
		}
	}
	if batches != 1 {
		t.Errorf("%d batches from mona, want one", batches)
	}
	if strings.Join(inBatch, "\n") != strings.Join(lines, "\n") {
		t.Errorf("batch carried %q, want %q", inBatch, lines)
	}

	// The client without the capability gets each line as a PRIVMSG.
	for _, want := range lines {
		l, err := plain.WaitFor(func(l *integration.Line) bool {
			return l.Command == "PRIVMSG" && strings.EqualFold(l.Nick(), "mona")
		}, 30*time.Second)
		if err != nil {
			t.Fatalf("plain client missed %q: %v", want, err)
		}
		if l.Last() != want {
			t.Fatalf("plain client got %q, want %q", l.Last(), want)
		}
		if _, ok := l.Tag("batch"); ok {
			t.Fatalf("plain client got a batched line: %s", l.Raw)
		}
	}
}
