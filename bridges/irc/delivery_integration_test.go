//go:build integration

package irc_test

import (
	"strings"
	"testing"
	"time"

	"github.com/causewaybridge/causeway/internal/integration"
	"github.com/causewaybridge/causeway/matrix"
)

// TestIntegrationRelayAtConnectionCap: with max_connections 1 a second
// Matrix user's connection disconnects the first, who is then relayed by
// the bot: with RELAYMSG (as "mallory/m") while the bot is a channel
// operator.
func TestIntegrationRelayAtConnectionCap(t *testing.T) {
	e := startRich(t, "        max_connections: 1\n", false)
	// The bot needs ops for RELAYMSG; once the bot relays ircop's next
	// line into the room it has read the MODE before it.
	if err := e.irc.Send("MODE #rich +o causeway"); err != nil {
		t.Fatal(err)
	}
	e.waitLine(t, "ircop", "MODE", func(l *integration.Line) bool { return l.Param(2) == "causeway" })
	if err := e.irc.Privmsg("#rich", "the bot is an operator now"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.user.WaitForMessage(e.ctx, e.room, "the bot is an operator now"); err != nil {
		t.Fatal(err)
	}

	trudy := e.s.User(e.ctx, "trudy")
	if _, err := trudy.Join(e.ctx, "#irc_test_#rich:localhost"); err != nil {
		t.Fatal(err)
	}
	e.waitLine(t, "trudy", "JOIN", func(*integration.Line) bool { return true })
	q := e.waitLine(t, "mallory", "QUIT", func(*integration.Line) bool { return true })
	if !strings.Contains(q.Last(), "limit") {
		t.Errorf("mallory quit with %q, not the connection limit", q.Last())
	}

	if _, err := e.user.SendText(e.ctx, e.room, "relayed while the network is full"); err != nil {
		t.Fatal(err)
	}
	l := e.waitLine(t, "mallory/m", "PRIVMSG", func(l *integration.Line) bool {
		return l.Param(0) == "#rich" && l.Param(1) == "relayed while the network is full"
	})
	if v, _ := l.Tag("draft/relaymsg"); v != "causeway" {
		t.Errorf("relayed line not tagged as relayed by the bot: %s", l.Raw)
	}
	// trudy keeps her own connection.
	if _, err := trudy.SendText(e.ctx, e.room, "trudy speaks for herself"); err != nil {
		t.Fatal(err)
	}
	e.waitPrivmsg(t, "trudy", "trudy speaks for herself")
}

// TestIntegrationLateErrorWithoutIRCv3: on a server without echo-message
// or labeled-response a message is only written; the 401 that answers a
// private message to a nick nobody uses comes later and is shown in the DM
// as a notice replying to the message.
func TestIntegrationLateErrorWithoutIRCv3(t *testing.T) {
	srv := integration.StartInspIRCd(t, integration.WithoutIRCv3())
	s := startIRCStack(t, srv, "")
	ctx := tctx(t, 2*time.Minute)
	user := s.User(ctx, "peggy")
	puppet := matrix.UserID("@irc_test_nobody:localhost")
	room, err := user.CreateRoom(ctx, integration.CreateRoomRequest{Preset: "trusted_private_chat", IsDirect: true, Invite: []matrix.UserID{puppet}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := user.WaitForMembership(ctx, room, puppet, "join"); err != nil {
		t.Fatalf("puppet did not join the DM: %v", err)
	}
	sent, err := user.SendText(ctx, room, "is anybody there?")
	if err != nil {
		t.Fatal(err)
	}
	ev, err := user.WaitForEvent(ctx, func(ev *matrix.Event) bool {
		b := body(ev)
		return ev.RoomID == room && strings.HasPrefix(b.Body, "Not delivered to IRC") &&
			b.RelatesTo != nil && b.RelatesTo.InReplyTo != nil && b.RelatesTo.InReplyTo.EventID == sent
	})
	if err != nil {
		t.Fatalf("no notice for a PM to a nick that does not exist: %v", err)
	}
	if b := body(ev).Body; !strings.Contains(strings.ToLower(b), "no such nick") {
		t.Errorf("notice %q does not say the nick does not exist", b)
	}
}
