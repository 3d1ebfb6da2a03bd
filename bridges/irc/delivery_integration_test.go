//go:build integration

package irc_test

import (
	"strings"
	"testing"
	"time"

	"github.com/causewaybridge/causeway/internal/integration"
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
	say(e.ctx, t, e.irc, "#rich", "the bot is an operator now", e.user, e.room)

	trudy := e.s.User(e.ctx, "trudy")
	joinPortal(e.ctx, t, trudy, "#rich", e.irc)
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
	room := openDM(ctx, t, user, puppetOf("nobody"))
	sent, err := user.SendText(ctx, room, "is anybody there?")
	if err != nil {
		t.Fatal(err)
	}
	ev, err := user.WaitForEvent(ctx, isNotDelivered(room, sent))
	if err != nil {
		t.Fatalf("no notice for a PM to a nick that does not exist: %v", err)
	}
	if b := body(ev).Body; !strings.Contains(strings.ToLower(b), "no such nick") {
		t.Errorf("notice %q does not say the nick does not exist", b)
	}
}
