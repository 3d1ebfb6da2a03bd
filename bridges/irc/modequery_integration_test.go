//go:build integration

package irc_test

import (
	"strings"
	"testing"
	"time"

	"github.com/causewaybridge/causeway/internal/integration"
)

// TestIntegrationPortalFollowsChannelModes: a portal created for a +s
// (secret) channel stays out of the room directory, while an ordinary
// channel's portal is listed: the bot asks the server for the channel's
// modes before it creates the room (servers do not send them on JOIN).
func TestIntegrationPortalFollowsChannelModes(t *testing.T) {
	ergo, s := adminStack(t)
	ctx := tctx(t, 2*time.Minute)
	op := dialJoined(t, ergo.Addr(), "chanop", []string{"#hidden", "#open"})
	if err := op.Send("MODE #hidden +s"); err != nil {
		t.Fatal(err)
	}
	if _, err := op.WaitFor(func(l *integration.Line) bool {
		return l.Command == "MODE" && strings.EqualFold(l.Param(0), "#hidden") && strings.Contains(l.Param(1), "s")
	}, 10*time.Second); err != nil {
		t.Fatalf("+s not set: %v", err)
	}
	ivy := s.User(ctx, "ivy")
	for ch, want := range map[string]string{"#hidden": "private", "#open": "public"} {
		room, err := ivy.Join(ctx, portalAlias(ch))
		if err != nil {
			t.Fatalf("join portal of %s: %v", ch, err)
		}
		got, err := ivy.RoomVisibility(ctx, room)
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("portal of %s is %q in the room directory, want %q", ch, got, want)
		}
	}
}
