//go:build integration

package irc_test

import (
	"strings"
	"testing"
	"time"

	"github.com/causewaybridge/causeway/internal/integration"
	"github.com/causewaybridge/causeway/matrix"
)

// TestIntegrationMentionKickAndLeave: an IRC line naming a bridged Matrix
// user's nick mentions them (m.mentions and a pill); a Matrix kick (not a
// ban) by a moderator who is a channel operator becomes an IRC KICK; a
// Matrix user leaving the room parts the channel.
func TestIntegrationMentionKickAndLeave(t *testing.T) {
	ergo, s, ctx := startCoverage(t, "")
	op := dialJoined(t, ergo.Addr(), "chanop", []string{"#mkl"}) // first in: channel operator
	user := s.User(ctx, "vera")
	room, _ := joinPortal(ctx, t, user, "#mkl", op)

	// Mention → pill.
	ev := say(ctx, t, op, "#mkl", "vera: have a look", user, room)
	c := body(ev)
	if c.Mentions == nil || len(c.Mentions.UserIDs) != 1 || c.Mentions.UserIDs[0] != user.UserID ||
		!strings.Contains(c.FormattedBody, "https://matrix.to/#/"+string(user.UserID)) {
		t.Fatalf("mention not a pill: %s", ev.Content)
	}

	// Matrix kick with ops on IRC → KICK from vera's connection.
	victim := dialJoined(t, ergo.Addr(), "noisy", []string{"#mkl"})
	say(ctx, t, victim, "#mkl", "noise", user, room) // lazy membership: speak to appear
	if err := op.Send("MODE #mkl +o vera"); err != nil {
		t.Fatal(err)
	}
	// The room's power levels follow +o: once vera has 50 from it, the
	// bridge has seen her operator status; 50 is enough to kick.
	if _, err := user.WaitForEvent(ctx, hasPowerLevel(room, user.UserID, 50)); err != nil {
		t.Fatalf("+o never reached the room: %v", err)
	}
	if _, err := user.SendState(ctx, room, matrix.EventMember, "@irc_test_noisy:localhost", map[string]any{"membership": "leave", "reason": "calm down"}); err != nil {
		t.Fatal(err)
	}
	if _, err := op.WaitFor(func(l *integration.Line) bool {
		return l.Command == "KICK" && strings.EqualFold(l.Nick(), "vera") && l.Param(1) == "noisy" && l.Param(2) == "calm down"
	}, 30*time.Second); err != nil {
		t.Fatalf("Matrix kick did not become an IRC KICK: %v", err)
	}
	for _, l := range op.Lines() {
		if l.Command == "MODE" && strings.Contains(l.Raw, "+b") {
			t.Errorf("a kick set a ban: %s", l.Raw)
		}
	}

	// Leaving the room parts the channel.
	if err := user.Leave(ctx, room); err != nil {
		t.Fatal(err)
	}
	if _, err := op.WaitFor(func(l *integration.Line) bool {
		return (l.Command == "PART" || l.Command == "QUIT") && strings.EqualFold(l.Nick(), "vera")
	}, 30*time.Second); err != nil {
		t.Fatalf("leaving the Matrix room did not part the channel: %v", err)
	}
}
