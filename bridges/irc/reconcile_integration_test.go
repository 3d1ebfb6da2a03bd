//go:build integration

package irc_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/causewaybridge/causeway/internal/integration"
	"github.com/causewaybridge/causeway/internal/poll"
	"github.com/causewaybridge/causeway/matrix"
)

// TestIntegrationQuitWhileBridgeDown: an IRC user who quits while the
// bridge is down would otherwise stay in the Matrix room forever (no QUIT
// reaches the bridge). When the bridge is back and has the channel's member
// list, that user's puppet leaves; a user still in the channel stays.
func TestIntegrationQuitWhileBridgeDown(t *testing.T) {
	ergo, s := adminStack(t)
	ctx := tctx(t, 3*time.Minute)
	goner := dialJoined(t, ergo.Addr(), "goner", []string{"#gone"})
	stayer := dialJoined(t, ergo.Addr(), "stayer", []string{"#gone"})
	hana := s.User(ctx, "hana")
	room, err := hana.Join(ctx, portalAlias("#gone"))
	if err != nil {
		t.Fatal(err)
	}
	gonerID, stayerID := puppetOf("goner"), puppetOf("stayer")
	for _, c := range []*integration.IRCClient{goner, stayer} {
		if err := c.Privmsg("#gone", "hello from "+c.Nick()); err != nil {
			t.Fatal(err)
		}
	}
	var members []matrix.UserID
	poll.Check(t, "both puppets in the room before the outage", time.Minute, func() error {
		members, err = hana.JoinedMembers(ctx, room)
		if err != nil {
			return err
		}
		if !slices.Contains(members, gonerID) || !slices.Contains(members, stayerID) {
			return fmt.Errorf("members %v", members)
		}
		return nil
	})

	s.StopBridge()
	if err := goner.Quit("gone for good"); err != nil {
		t.Fatal(err)
	}
	// Ergo has processed the QUIT once the other member is told.
	if _, err := stayer.WaitFor(func(l *integration.Line) bool {
		return l.Command == "QUIT" && strings.EqualFold(l.Nick(), "goner")
	}, 30*time.Second); err != nil {
		t.Fatalf("stayer never saw goner quit: %v", err)
	}
	s.StartBridge()

	if _, err := hana.WaitForMembership(ctx, room, gonerID, "leave"); err != nil {
		t.Fatalf("the puppet of a user who quit during the outage did not leave: %v", err)
	}
	members, err = hana.JoinedMembers(ctx, room)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(members, stayerID) {
		t.Fatalf("the puppet of a user still in the channel left: members %v", members)
	}
	// The stayer still reaches Matrix through the restarted bridge.
	say(ctx, t, stayer, "#gone", "still here", hana, room)
}
