//go:build integration

package irc_test

import (
	"strings"
	"testing"
	"time"

	"github.com/causewaybridge/causeway/internal/bridgetest"
	"github.com/causewaybridge/causeway/internal/integration"
	"github.com/causewaybridge/causeway/matrix"
)

// TestIntegrationRelayRefusedWithoutIRCv3: on InspIRCd without IRCv3 the
// bot's "<nick> text" relay is only written. In a moderated (+m) channel
// where the bot has no voice the server refuses it with 404, after the
// fact; the Matrix sender, relayed because the connection cap
// (max_connections 1) gave her connection to another user, gets the
// "Not delivered" notice replying to her message, and nothing reaches the
// channel.
func TestIntegrationRelayRefusedWithoutIRCv3(t *testing.T) {
	srv := integration.StartInspIRCd(t, integration.WithoutIRCv3())
	s := bridgetest.Start(t, bridgetest.Options{Bridges: "  irc:\n    networks:\n      test:\n        address: " + srv.Addr() +
		"\n        flood: {rate: 200, burst: 200}\n        reconnect: {min_delay: 200ms, max_delay: 2s, per_second: 50}\n" +
		"        max_connections: 1\n"})
	ctx := tctx(t, 3*time.Minute)
	const wait = 60 * time.Second

	// ircop makes #muted (and is its operator), moderated.
	op := integration.DialIRC(t, srv.Addr(), "ircop")
	if err := op.Join("#muted"); err != nil {
		t.Fatal(err)
	}
	if err := op.Send("MODE #muted +m"); err != nil {
		t.Fatal(err)
	}
	if _, err := op.WaitFor(func(l *integration.Line) bool { return l.Command == "MODE" && strings.Contains(l.Raw, "+m") }, wait); err != nil {
		t.Fatalf("#muted not moderated: %v", err)
	}

	mallory := s.User(ctx, "mallory")
	room, err := mallory.Join(ctx, "#irc_test_#muted:localhost")
	if err != nil {
		t.Fatalf("join portal: %v", err)
	}
	if _, err := op.WaitFor(func(l *integration.Line) bool { return l.Command == "JOIN" && strings.EqualFold(l.Nick(), "mallory") }, wait); err != nil {
		t.Fatalf("mallory never joined on IRC: %v", err)
	}
	// trudy's connection takes the only one: mallory is relayed by the bot.
	trudy := s.User(ctx, "trudy")
	if _, err := trudy.Join(ctx, "#irc_test_#muted:localhost"); err != nil {
		t.Fatal(err)
	}
	if _, err := op.WaitFor(func(l *integration.Line) bool { return l.Command == "QUIT" && strings.EqualFold(l.Nick(), "mallory") }, wait); err != nil {
		t.Fatalf("mallory's connection never gave way to trudy's: %v", err)
	}

	sent, err := mallory.SendText(ctx, room, "can anyone hear me?")
	if err != nil {
		t.Fatal(err)
	}
	ev, err := mallory.WaitForEvent(ctx, func(ev *matrix.Event) bool {
		b := body(ev)
		return ev.RoomID == room && strings.HasPrefix(b.Body, "Not delivered to IRC") &&
			b.RelatesTo != nil && b.RelatesTo.InReplyTo != nil && b.RelatesTo.InReplyTo.EventID == sent
	})
	if err != nil {
		t.Fatalf("no notice for a relay the server refused: %v", err)
	}
	if b := body(ev).Body; !strings.Contains(b, "+m") && !strings.Contains(strings.ToLower(b), "moderated") {
		t.Errorf("notice %q does not say the channel is moderated", b)
	}
	for _, l := range op.Lines() {
		if l.Command == "PRIVMSG" && strings.Contains(l.Raw, "can anyone hear me?") {
			t.Errorf("the refused line reached the channel: %s", l.Raw)
		}
	}
}
