//go:build integration

package irc_test

import (
	"strings"
	"testing"
	"time"

	"github.com/causewaybridge/causeway/internal/integration"
)

// TestIntegrationRestartKeepsIdentity: a Matrix user with a display name
// is on IRC under a nick made from it. After the bridge restarts, without
// her speaking again, her connection is back in the channel under the same
// nick (not one made from her localpart), and what she says then comes
// from that nick.
func TestIntegrationRestartKeepsIdentity(t *testing.T) {
	srv := integration.StartErgo(t)
	s := startIRCStack(t, srv, "")
	ctx := tctx(t, 4*time.Minute)
	watcher := dialJoined(t, srv.Addr(), "watcher", []string{"#ident"})
	user := s.User(ctx, "k9m62927")
	if err := user.SetDisplayname(ctx, "K9m User"); err != nil {
		t.Fatal(err)
	}
	room, err := user.Join(ctx, portalAlias("#ident"))
	if err != nil {
		t.Fatal(err)
	}
	fromDisplayname := func(l *integration.Line) bool {
		return l.Command == "JOIN" && strings.HasPrefix(strings.ToLower(l.Nick()), "k9m_user")
	}
	nick := waitIRC(t, watcher, fromDisplayname, "K9m User's connection joining").Nick()
	if _, err := user.SendText(ctx, room, "before the restart"); err != nil {
		t.Fatal(err)
	}
	waitIRC(t, watcher, integration.IsPrivmsg(nick, "#ident", "before the restart"), "her message before the restart")

	s.StopBridge()
	waitIRC(t, watcher, func(l *integration.Line) bool { return l.Command == "QUIT" && l.Nick() == nick },
		"her connection quitting with the bridge")
	s.StartBridge()

	// Back without a word from her: the same nick joins, and NAMES lists it.
	// Her JOIN under any nick (from her display name or her localpart).
	rejoin, err := watcher.WaitFor(func(l *integration.Line) bool {
		return l.Command == "JOIN" && strings.HasPrefix(strings.ToLower(l.Nick()), "k9m")
	}, time.Minute)
	if err != nil {
		t.Fatalf("nobody joined #ident after the restart (her connection was not restored): %v", err)
	}
	if rejoin.Nick() != nick {
		t.Fatalf("after the restart %s joined #ident, want %s (her nick before the restart)", rejoin.Nick(), nick)
	}
	if err := watcher.Send("NAMES #ident"); err != nil {
		t.Fatal(err)
	}
	// The reply to this NAMES (the watcher's own join left an older one).
	waitIRC(t, watcher, func(l *integration.Line) bool {
		if l.Command != "353" {
			return false
		}
		for _, n := range strings.Fields(l.Last()) {
			if strings.TrimLeft(n, "~&@%+") == nick {
				return true
			}
		}
		return false
	}, "NAMES #ident listing "+nick)

	if _, err := user.SendText(ctx, room, "after the restart"); err != nil {
		t.Fatal(err)
	}
	got := waitIRC(t, watcher, func(l *integration.Line) bool {
		return l.Command == "PRIVMSG" && l.Param(1) == "after the restart"
	}, "her message after the restart")
	if got.Nick() != nick {
		t.Fatalf("after the restart her message came from %s, want %s", got.Nick(), nick)
	}
}
