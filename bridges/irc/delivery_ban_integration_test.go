//go:build integration

package irc_test

import (
	"strings"
	"testing"
	"time"

	"github.com/causewaybridge/causeway/internal/integration"
	"github.com/causewaybridge/causeway/matrix"
)

// noLineWith fails when the IRC client saw, or sees within a short
// while, a line carrying text (the notice came after any relay was
// written, so a relay would be there already).
func noLineWith(t *testing.T, irc *integration.IRCClient, text string) {
	t.Helper()
	if l, err := irc.WaitFor(func(l *integration.Line) bool { return strings.Contains(l.Raw, text) }, 3*time.Second); err == nil {
		t.Fatalf("IRC got %q although the message was refused", l.Raw)
	}
}

// TestIntegrationBannedUserIsNotRelayed: a Matrix user banned and kicked
// from a channel on IRC cannot talk there, or read it, through the bridge.
// The kick removes her from the room; when she joins it again, her
// connection cannot rejoin the channel (474) and the bot removes her from
// the room the bridge made for it, so her message cannot be sent and
// nothing reaches IRC. (In a room linked by its Matrix admins she would
// stay, and her messages would get notices instead of being relayed:
// TestIntegrationBanKeepsUserOutOfPortal.)
func TestIntegrationBannedUserIsNotRelayed(t *testing.T) {
	e := startRich(t, "", false)
	if err := e.irc.Send("MODE #rich +b mallory!*@*"); err != nil {
		t.Fatal(err)
	}
	e.waitLine(t, "ircop", "MODE", func(l *integration.Line) bool { return l.Param(1) == "+b" })

	// Kicked: she leaves the room; she comes back, her connection cannot.
	if err := e.irc.Send("KICK #rich mallory :enough"); err != nil {
		t.Fatal(err)
	}
	// The kick from IRC, not any other leave, removes her from the room.
	if _, err := e.user.WaitForEvent(e.ctx, func(ev *matrix.Event) bool {
		return ev.RoomID == e.room && ev.Type == matrix.EventMember && ev.StateKey != nil &&
			*ev.StateKey == string(e.user.UserID) && strings.Contains(string(ev.Content), "Kicked on IRC by ircop")
	}); err != nil {
		t.Fatalf("the IRC kick did not remove mallory from the room: %v", err)
	}
	if _, err := e.user.Join(e.ctx, string(e.room)); err != nil {
		t.Fatal(err)
	}
	if _, err := e.user.WaitForEvent(e.ctx, banKick(e.s, e.room, e.user.UserID, "#rich")); err != nil {
		t.Fatalf("back in the room while banned, she was not removed with the ban as the reason: %v", err)
	}
	if _, err := e.user.SendText(e.ctx, e.room, "let me speak through the bot"); err == nil {
		t.Error("she could still send into the channel's room after the bot removed her")
	}
	noLineWith(t, e.irc, "let me speak")
}
