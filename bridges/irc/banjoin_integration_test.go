//go:build integration

package irc_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/causewaybridge/causeway/internal/bridgetest"
	"github.com/causewaybridge/causeway/internal/integration"
	"github.com/causewaybridge/causeway/matrix"
)

// banHost bans, as op, the user and host of a Matrix user's connection
// (from the JOIN line it sent) in channel, and waits for the server's
// confirmation.
func banHost(t *testing.T, op *integration.IRCClient, channel string, join *integration.Line) {
	t.Helper()
	_, userHost, ok := strings.Cut(join.Source, "!")
	if !ok {
		t.Fatalf("JOIN without a user@host: %s", join.Raw)
	}
	mask := "*!" + userHost
	if err := op.Send("MODE " + channel + " +b " + mask); err != nil {
		t.Fatal(err)
	}
	waitIRC(t, op, func(l *integration.Line) bool {
		return l.Command == "MODE" && strings.EqualFold(l.Param(0), channel) && l.Param(1) == "+b" && l.Param(2) == mask
	}, "the ban of "+mask)
}

// leaveParted makes c leave room and waits until op sees its connection
// part channel.
func leaveParted(ctx context.Context, t *testing.T, c *integration.Client, room matrix.RoomID, channel string, op *integration.IRCClient) {
	t.Helper()
	if err := c.Leave(ctx, room); err != nil {
		t.Fatal(err)
	}
	waitIRC(t, op, func(l *integration.Line) bool {
		return l.Command == "PART" && strings.EqualFold(l.Nick(), nickOf(c)) && strings.EqualFold(l.Param(0), channel)
	}, nickOf(c)+" parting "+channel)
}

// promote gives user level in room, as c (an admin of the room).
func promote(ctx context.Context, t *testing.T, c *integration.Client, room matrix.RoomID, user matrix.UserID, level int) {
	t.Helper()
	raw, err := c.StateEvent(ctx, room, matrix.EventPowerLevels, "")
	if err != nil {
		t.Fatal(err)
	}
	var pl map[string]any
	if err := json.Unmarshal(raw, &pl); err != nil {
		t.Fatal(err)
	}
	users, _ := pl["users"].(map[string]any)
	if users == nil {
		users = map[string]any{}
	}
	users[string(user)] = level
	pl["users"] = users
	if _, err := c.SendState(ctx, room, matrix.EventPowerLevels, "", pl); err != nil {
		t.Fatal(err)
	}
}

// banKick matches the bot's kick of user from room for a ban of channel.
func banKick(s *bridgetest.Stack, room matrix.RoomID, user matrix.UserID, channel string) func(*matrix.Event) bool {
	return func(ev *matrix.Event) bool {
		var m matrix.MemberContent
		return ev.RoomID == room && ev.Type == matrix.EventMember && ev.StateKey != nil && *ev.StateKey == string(user) &&
			ev.Sender == botID(s) && json.Unmarshal(ev.Content, &m) == nil && m.Membership == "leave" &&
			strings.HasPrefix(m.Reason, "Banned from "+channel+" on IRC: ")
	}
}

// TestIntegrationBanKeepsUserOutOfPortal: a Matrix user whose hostmask an
// IRC operator banned cannot read the channel through the room the bridge
// made for it: each time she joins the room, her connection's JOIN is
// refused and the bot removes her, giving the ban as the reason. In a room
// its Matrix admins linked to a channel, a user under the same kind of ban
// stays: he is told his connection could not join, and his message is not
// delivered (nor relayed by the bot, which would evade the ban).
func TestIntegrationBanKeepsUserOutOfPortal(t *testing.T) {
	ergo, s := adminStack(t)
	ctx := tctx(t, 4*time.Minute)
	op := dialJoined(t, ergo.Addr(), "chanop", []string{"#bananas", "#linked"}) // first in: operator of both

	// The linked room: made by carol, linked by a bridge admin.
	carol := s.User(ctx, "carol")
	linked, err := carol.CreateRoom(ctx, integration.CreateRoomRequest{Preset: "public_chat"})
	if err != nil {
		t.Fatal(err)
	}
	admin := s.User(ctx, "admin")
	command(ctx, t, s, admin, adminRoom(ctx, t, s, admin), "!link #linked "+string(linked), "Linked "+string(linked)+" to #linked on test.")
	// Its admins made the bot a moderator, so it could remove people.
	promote(ctx, t, carol, linked, botID(s), 50)

	// trent in the linked room, then banned there by his hostmask.
	trent := s.User(ctx, "trent")
	if _, err := trent.Join(ctx, string(linked)); err != nil {
		t.Fatal(err)
	}
	tjoin := waitIRC(t, op, joined(nickOf(trent)), "trent joining #linked")
	leaveParted(ctx, t, trent, linked, "#linked", op)
	banHost(t, op, "#linked", tjoin)
	if _, err := trent.Join(ctx, string(linked)); err != nil {
		t.Fatal(err)
	}
	waitNotice(ctx, t, s, trent, linked, "could not join #linked")
	sent, err := trent.SendText(ctx, linked, "can anyone hear me")
	if err != nil {
		t.Fatalf("trent could not speak in the linked room: %v", err)
	}
	if _, err := trent.WaitForEvent(ctx, isNotDelivered(linked, sent)); err != nil {
		t.Fatalf("no not-delivered notice for trent's message: %v", err)
	}
	noLineWith(t, op, "can anyone hear me") // the bot did not relay it either

	// mallory in the bridge's own room of #bananas, then banned there.
	mallory := s.User(ctx, "mallory")
	room, mjoin := joinPortal(ctx, t, mallory, "#bananas", op)
	leaveParted(ctx, t, mallory, room, "#bananas", op)
	banHost(t, op, "#bananas", mjoin)
	for attempt := 1; attempt <= 2; attempt++ {
		if _, err := mallory.Join(ctx, portalAlias("#bananas")); err != nil {
			t.Fatalf("attempt %d: join the portal: %v", attempt, err)
		}
		if _, err := mallory.WaitForEvent(ctx, banKick(s, room, mallory.UserID, "#bananas")); err != nil {
			t.Fatalf("attempt %d: mallory, banned from #bananas, was not removed from its portal: %v", attempt, err)
		}
	}

	// trent was never removed from the linked room: he is still in it, and
	// its timeline has no leave of his since he joined the second time.
	raw, err := carol.StateEvent(ctx, linked, matrix.EventMember, string(trent.UserID))
	if err != nil {
		t.Fatal(err)
	}
	var m matrix.MemberContent
	if err := json.Unmarshal(raw, &m); err != nil || m.Membership != "join" {
		t.Fatalf("trent's membership in the linked room: %s (%v), want join", raw, err)
	}
	evs, err := carol.RoomTimeline(ctx, linked)
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range evs {
		if banKick(s, linked, trent.UserID, "#linked")(&ev) {
			t.Errorf("trent was removed from the linked room: %s", ev.Content)
		}
	}
}
