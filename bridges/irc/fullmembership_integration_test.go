//go:build integration

package irc_test

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/causewaybridge/causeway/internal/integration"
	"github.com/causewaybridge/causeway/internal/poll"
	"github.com/causewaybridge/causeway/matrix"
)

// TestIntegrationFullMembershipAtPortalCreation: with membership "full",
// IRC users who were in the channel before its portal existed appear in
// the new room without having spoken, under their nicks, and the channel
// operator's puppet gets the operator power level. (The bot's NAMES reply
// arrives before the portal is made, so these members must be applied
// once it exists.)
func TestIntegrationFullMembershipAtPortalCreation(t *testing.T) {
	ergo := integration.StartErgo(t)
	s := startBridge(t, ergo, "", flood100+"        membership: full\n")
	ctx := tctx(t, 3*time.Minute)
	op := dialJoined(t, ergo.Addr(), "FullOp", []string{"#full"}) // first in: channel operator
	dialJoined(t, ergo.Addr(), "QuietOne", []string{"#full"})
	waitIRC(t, op, joined("QuietOne"), "QuietOne joining #full")

	user := s.User(ctx, "fiona")
	room, err := user.Join(ctx, portalAlias("#full"))
	if err != nil {
		t.Fatal(err)
	}
	opID, quietID := puppetOf("fullop"), puppetOf("quietone")
	want := map[matrix.UserID]string{opID: "FullOp", quietID: "QuietOne"}
	var names map[matrix.UserID]string
	var level map[string]int
	poll.Check(t, "members already in the channel mirrored", 90*time.Second, func() error {
		evs, err := user.RoomTimeline(ctx, room)
		if err != nil {
			return err
		}
		names, level = joinedNames(evs), powerLevels(evs)
		if names[opID] == want[opID] && names[quietID] == want[quietID] && level[string(opID)] == 50 {
			return nil
		}
		return fmt.Errorf("joined puppets %v (want %v), power levels %v (want %s at 50)", names, want, level, opID)
	})
	if l, ok := level[string(quietID)]; ok && l != 0 {
		t.Fatalf("a user without channel modes got power level %d", l)
	}
}

// joinedNames returns the display names of the users whose latest
// m.room.member event in evs (oldest first) is a join.
func joinedNames(evs []matrix.Event) map[matrix.UserID]string {
	out := map[matrix.UserID]string{}
	for _, ev := range evs {
		if ev.Type != matrix.EventMember || ev.StateKey == nil {
			continue
		}
		var m matrix.MemberContent
		if json.Unmarshal(ev.Content, &m) != nil {
			continue
		}
		if m.Membership == "join" {
			out[matrix.UserID(*ev.StateKey)] = m.Displayname
		} else {
			delete(out, matrix.UserID(*ev.StateKey))
		}
	}
	return out
}

// powerLevels returns the users of the latest m.room.power_levels event in
// evs (oldest first).
func powerLevels(evs []matrix.Event) map[string]int {
	var pl struct {
		Users map[string]int `json:"users"`
	}
	for _, ev := range evs {
		if ev.Type == matrix.EventPowerLevels {
			pl.Users = nil
			_ = json.Unmarshal(ev.Content, &pl)
		}
	}
	return pl.Users
}
