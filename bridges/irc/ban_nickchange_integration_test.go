//go:build integration

package irc_test

import (
	"testing"

	"github.com/causewaybridge/causeway/internal/integration"
	"github.com/causewaybridge/causeway/matrix"
)

// TestIntegrationBanSurvivesNickChange: a Matrix ban of an IRC user bans
// their user@host, so coming back under another nick fails; the Matrix
// unban lifts that same mask.
func TestIntegrationBanSurvivesNickChange(t *testing.T) {
	// Ergo's default config gives everyone the ident "~u"; with real
	// idents, victim is told apart from the others on 127.0.0.1.
	// ircop connects without caps.
	e := startRichEnv(t, richSetup{ergo: []integration.ErgoOption{integration.WithErgoSetting("server.coerce-ident", "")}})
	victim := dialJoined(t, e.ergo.Addr(), "victim", []string{"#rich"})
	say(e.ctx, t, victim, "#rich", "spam spam spam", e.user, e.room)
	if err := e.s.Bridge.Client().Bot().SetUserPowerLevel(e.ctx, e.room, e.user.UserID, 100); err != nil {
		t.Fatal(err)
	}
	if err := e.irc.Send("MODE #rich +o mallory"); err != nil {
		t.Fatal(err)
	}
	e.waitLine(t, "ircop", "MODE", func(l *integration.Line) bool { return l.Param(2) == "mallory" })
	// The bot reads the channel: once it bridged a later line, it has seen the +o.
	say(e.ctx, t, victim, "#rich", "still here", e.user, e.room)
	puppet := "@irc_test_victim:localhost"
	if _, err := e.user.SendState(e.ctx, e.room, matrix.EventMember, puppet, map[string]any{"membership": "ban", "reason": "spam"}); err != nil {
		t.Fatal(err)
	}
	ban := e.waitLine(t, "mallory", "MODE", func(l *integration.Line) bool { return l.Param(1) == "+b" })
	// Everyone here connects from 127.0.0.1: the ident tells victim apart.
	if mask := ban.Param(2); mask != "*!*victim@127.0.0.1" {
		t.Fatalf("ban mask %q, want *!*victim@127.0.0.1", mask)
	}
	if _, err := victim.WaitFor(func(l *integration.Line) bool { return l.Command == "KICK" && l.Param(1) == "victim" }, richWait); err != nil {
		t.Fatal(err)
	}
	if err := victim.Send("NICK reformed"); err != nil {
		t.Fatal(err)
	}
	if _, err := victim.WaitFor(func(l *integration.Line) bool { return l.Command == "NICK" && l.Param(0) == "reformed" }, richWait); err != nil {
		t.Fatal(err)
	}
	if err := victim.Send("JOIN #rich"); err != nil {
		t.Fatal(err)
	}
	if _, err := victim.WaitFor(func(l *integration.Line) bool { return l.Command == "474" }, richWait); err != nil {
		t.Fatalf("a new nick got past the ban: %v", err)
	}

	if _, err := e.user.SendState(e.ctx, e.room, matrix.EventMember, puppet, map[string]any{"membership": "leave"}); err != nil {
		t.Fatal(err)
	}
	e.waitLine(t, "mallory", "MODE", func(l *integration.Line) bool { return l.Param(1) == "-b" && l.Param(2) == ban.Param(2) })
	if err := victim.Join("#rich"); err != nil {
		t.Fatalf("still banned after the Matrix unban: %v", err)
	}
}
