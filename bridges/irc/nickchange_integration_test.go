//go:build integration

package irc_test

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/causewaybridge/causeway/internal/integration"
	"github.com/causewaybridge/causeway/matrix"
)

// roomOrder reads the timeline of a small room in the homeserver's order,
// in pages of 1000 (RoomTimeline orders by timestamp, and the bridge gives
// IRC's times to messages but not to a puppet's implicit join). Dendrite
// repeats an event at a page boundary: each is kept once.
func roomOrder(ctx context.Context, t *testing.T, c *integration.Client, room matrix.RoomID) []matrix.Event {
	t.Helper()
	var evs []matrix.Event
	seen := map[matrix.EventID]bool{}
	from := ""
	for range 100 {
		page, err := c.Messages(ctx, room, "b", from, 1000)
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range page.Chunk {
			if !seen[ev.ID] {
				seen[ev.ID] = true
				evs = append(evs, ev)
			}
		}
		if len(page.Chunk) == 0 || page.End == "" || page.End == from {
			break
		}
		from = page.End
	}
	slices.Reverse(evs)
	return evs
}

// memberEvent is an m.room.member event of user in a timeline.
type memberEvent struct {
	index       int // position in the timeline
	membership  string
	displayname string
}

// timelineIndex returns the members events of each user and the position
// of each message body in a timeline.
func timelineIndex(evs []matrix.Event) (map[matrix.UserID][]memberEvent, map[string]int, map[string]matrix.UserID) {
	members := map[matrix.UserID][]memberEvent{}
	at, from := map[string]int{}, map[string]matrix.UserID{}
	for i, ev := range evs {
		switch ev.Type {
		case matrix.EventMember:
			var c matrix.MemberContent
			if ev.StateKey != nil && json.Unmarshal(ev.Content, &c) == nil {
				u := matrix.UserID(*ev.StateKey)
				members[u] = append(members[u], memberEvent{i, c.Membership, c.Displayname})
			}
		case matrix.EventMessage:
			b := body(&ev).Body
			at[b], from[b] = i, ev.Sender
		}
	}
	return members, at, from
}

// TestIntegrationNickChange: an IRC user's NICK shows in Matrix as the old
// puppet leaving and the new one joining with the new nick as its name,
// before what the user says next; with lazy membership a user who never
// spoke shows nothing; a change of letter case keeps the puppet and renames
// it; a Matrix user's own nick change shows no puppet at all.
func TestIntegrationNickChange(t *testing.T) {
	srv := integration.StartErgo(t)
	s := startIRCStack(t, srv, "")
	ctx := tctx(t, 3*time.Minute)
	user := s.User(ctx, "nina")
	talker := dialJoined(t, srv.Addr(), "oldnick", []string{"#nick"})
	quiet := dialJoined(t, srv.Addr(), "quiet", []string{"#nick"})
	room, _ := joinPortal(ctx, t, user, "#nick", talker)
	send := func(c *integration.IRCClient, line string) {
		t.Helper()
		if err := c.Send(line); err != nil {
			t.Fatal(err)
		}
	}
	// Spoken, renamed and spoken again without waiting in between: the
	// rename is ordered with the messages.
	send(talker, "PRIVMSG #nick :before the change")
	send(talker, "NICK newnick")
	send(talker, "PRIVMSG #nick :after the change")
	send(quiet, "NICK quieter")
	send(quiet, "PRIVMSG #nick :quiet no more")
	if _, err := user.WaitForMessage(ctx, room, "quiet no more"); err != nil {
		t.Fatal(err)
	}
	send(talker, "NICK NewNick")
	send(talker, "PRIVMSG #nick :in capitals")
	if _, err := user.WaitForMessage(ctx, room, "in capitals"); err != nil {
		t.Fatal(err)
	}
	// The Matrix user's own connection changes nick: no puppet for it.
	dm := adminRoom(ctx, t, s.Stack, user)
	command(ctx, t, s.Stack, user, dm, "!nick nina2", "Your nick on test is now nina2.")
	if _, err := talker.WaitFor(func(l *integration.Line) bool { return l.Command == "NICK" && l.Param(0) == "nina2" }, 30*time.Second); err != nil {
		t.Fatalf("NICK nina2 not seen on IRC: %v", err)
	}
	send(talker, "PRIVMSG #nick :the end")
	if _, err := user.WaitForMessage(ctx, room, "the end"); err != nil {
		t.Fatal(err)
	}

	members, at, from := timelineIndex(roomOrder(ctx, t, user, room))
	const (
		oldID    = matrix.UserID("@irc_test_oldnick:localhost")
		newID    = matrix.UserID("@irc_test_newnick:localhost")
		quietID  = matrix.UserID("@irc_test_quiet:localhost")
		quieter  = matrix.UserID("@irc_test_quieter:localhost")
		ninaPup  = matrix.UserID("@irc_test_nina:localhost")
		nina2Pup = matrix.UserID("@irc_test_nina2:localhost")
	)
	for body, want := range map[string]matrix.UserID{"before the change": oldID, "after the change": newID,
		"quiet no more": quieter, "in capitals": newID, "the end": newID} {
		if _, ok := at[body]; !ok {
			t.Errorf("%q is not in the room", body)
		} else if from[body] != want {
			t.Errorf("%q came from %s, want %s", body, from[body], want)
		}
	}
	left := -1
	for _, m := range members[oldID] {
		if m.membership == "leave" {
			left = m.index
		}
	}
	if left < 0 || left > at["after the change"] || left < at["before the change"] {
		t.Errorf("old puppet's leave at %d, want between the messages at %d and %d; its events: %+v",
			left, at["before the change"], at["after the change"], members[oldID])
	}
	joined := -1
	for _, m := range members[newID] {
		if m.membership == "join" && m.displayname == "newnick" && joined < 0 {
			joined = m.index
		}
		if m.membership != "join" {
			t.Errorf("new puppet's membership went to %q (a change of case must keep it): %+v", m.membership, members[newID])
		}
	}
	if joined < 0 || joined > at["after the change"] {
		t.Errorf("new puppet's join as \"newnick\" at %d, want before %q at %d; its events: %+v",
			joined, "after the change", at["after the change"], members[newID])
	}
	// The case change renames the same puppet.
	renamed := false
	for _, m := range members[newID] {
		renamed = renamed || (m.membership == "join" && m.displayname == "NewNick")
	}
	if !renamed {
		t.Errorf("no member event renaming the puppet to NewNick: %+v", members[newID])
	}
	if p, err := user.Profile(ctx, newID); err != nil || p.Displayname != "NewNick" {
		t.Errorf("puppet profile = %+v, %v; want display name NewNick", p, err)
	}
	// Lazy membership: a user who never spoke shows nothing when renamed.
	if len(members[quietID]) != 0 {
		t.Errorf("the silent user's old puppet appeared: %+v", members[quietID])
	}
	for _, id := range []matrix.UserID{ninaPup, nina2Pup} {
		if len(members[id]) != 0 {
			t.Errorf("the Matrix user's nick change made puppet %s appear: %+v", id, members[id])
		}
	}
}

// TestIntegrationNickChangeFullMembership: with membership: full, a renamed
// IRC user's new puppet joins even if the user never spoke, and the old one
// leaves.
func TestIntegrationNickChangeFullMembership(t *testing.T) {
	srv := integration.StartErgo(t)
	s := &ircStack{IRC: srv, Stack: startBridge(t, srv, "", "        membership: full\n"+stackNetwork)}
	ctx := tctx(t, 2*time.Minute)
	user := s.User(ctx, "fay")
	room, err := user.Join(ctx, portalAlias("#full"))
	if err != nil {
		t.Fatal(err)
	}
	// Joins after the portal exists: the members listed while the portal
	// is being created get no puppet yet (NAMES arrives before the room).
	silent := dialJoined(t, srv.Addr(), "silent", []string{"#full"})
	const oldID, newID = matrix.UserID("@irc_test_silent:localhost"), matrix.UserID("@irc_test_silenter:localhost")
	if _, err := user.WaitForMembership(ctx, room, oldID, "join"); err != nil {
		t.Fatalf("full membership: the channel member's puppet did not join: %v", err)
	}
	if err := silent.Send("NICK silenter"); err != nil {
		t.Fatal(err)
	}
	ev, err := user.WaitForMembership(ctx, room, newID, "join")
	if err != nil {
		t.Fatalf("the renamed user's new puppet did not join: %v", err)
	}
	var c matrix.MemberContent
	if err := json.Unmarshal(ev.Content, &c); err != nil || c.Displayname != "silenter" {
		t.Errorf("new puppet joined as %q (%v), want display name silenter", c.Displayname, err)
	}
	members, _, _ := timelineIndex(roomOrder(ctx, t, user, room))
	if ms := members[oldID]; len(ms) == 0 || ms[len(ms)-1].membership != "leave" {
		t.Errorf("old puppet's memberships %+v, want it to have left", ms)
	}
}
