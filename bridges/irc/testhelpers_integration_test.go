//go:build integration

package irc_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/causewaybridge/causeway/internal/bridgetest"
	"github.com/causewaybridge/causeway/internal/integration"
	"github.com/causewaybridge/causeway/matrix"
)

// Settings of the network "test" that the tests' bridges start with
// (YAML indented 8 spaces, for ircBridges).
const (
	// flood100 is the flood limit most tests use.
	flood100 = "        flood: {rate: 100, burst: 100}\n"
	// stackNetwork is what startIRCStack configures: a faster flood
	// limit and quick reconnects, for tests that restart the server.
	stackNetwork = "        flood: {rate: 200, burst: 200}\n        reconnect: {min_delay: 200ms, max_delay: 2s, per_second: 50}\n"
)

// ircBridges returns the bridges section of a bridge configuration with
// one IRC network "test" at addr: top is extra YAML for the irc section
// (indented 4 spaces), network the network's settings after its address
// (indented 8 spaces).
func ircBridges(addr, top, network string) string {
	return "  irc:\n" + top + "    networks:\n      test:\n        address: " + addr + "\n" + network
}

// startBridge starts a homeserver and a bridge whose network "test" is
// srv, configured as ircBridges says.
func startBridge(t *testing.T, srv *integration.IRCServer, top, network string) *bridgetest.Stack {
	t.Helper()
	return bridgetest.Start(t, bridgetest.Options{Bridges: ircBridges(srv.Addr(), top, network)})
}

// portalAlias is the alias of channel's portal on the network "test".
func portalAlias(channel string) string { return "#irc_test_" + channel + ":localhost" }

// nickOf is the IRC nick of a Matrix user's own connection: the
// localpart of their user ID.
func nickOf(c *integration.Client) string {
	local, _, _ := strings.Cut(strings.TrimPrefix(string(c.UserID), "@"), ":")
	return local
}

// joined matches the JOIN of nick (in any letter case).
func joined(nick string) func(*integration.Line) bool {
	return func(l *integration.Line) bool { return l.Command == "JOIN" && strings.EqualFold(l.Nick(), nick) }
}

// joinPortal joins c to the portal of channel by its alias and waits
// until watcher, in the channel on IRC, sees c's own connection join it;
// it returns the room and that JOIN.
func joinPortal(ctx context.Context, t *testing.T, c *integration.Client, channel string, watcher *integration.IRCClient) (matrix.RoomID, *integration.Line) {
	t.Helper()
	room, err := c.Join(ctx, portalAlias(channel))
	if err != nil {
		t.Fatalf("join the portal of %s: %v", channel, err)
	}
	l := waitIRC(t, watcher, joined(nickOf(c)), nickOf(c)+" joining "+channel)
	return room, l
}

// say sends text to channel from the IRC client from and waits until the
// Matrix user to sees it in room.
func say(ctx context.Context, t *testing.T, from *integration.IRCClient, channel, text string, to *integration.Client, room matrix.RoomID) *matrix.Event {
	t.Helper()
	if err := from.Privmsg(channel, text); err != nil {
		t.Fatal(err)
	}
	ev, err := to.WaitForMessage(ctx, room, text)
	if err != nil {
		t.Fatalf("%q from %s never reached Matrix: %v", text, from.Nick(), err)
	}
	return ev
}

// dialJoined connects an IRC client as nick and joins it to channels.
func dialJoined(t *testing.T, addr, nick string, channels []string, opts ...integration.IRCClientOption) *integration.IRCClient {
	t.Helper()
	c := integration.DialIRC(t, addr, nick, opts...)
	for _, ch := range channels {
		if err := c.Join(ch); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

// hasPowerLevel matches a power levels event of room giving user level.
func hasPowerLevel(room matrix.RoomID, user matrix.UserID, level int) func(*matrix.Event) bool {
	return func(ev *matrix.Event) bool {
		var pl struct {
			Users map[string]int `json:"users"`
		}
		return ev.RoomID == room && ev.Type == matrix.EventPowerLevels && json.Unmarshal(ev.Content, &pl) == nil &&
			pl.Users[string(user)] == level
	}
}

// isNotDelivered matches the bridge's not-delivered notice in room
// replying to event.
func isNotDelivered(room matrix.RoomID, event matrix.EventID) func(*matrix.Event) bool {
	return func(ev *matrix.Event) bool {
		b := body(ev)
		return ev.RoomID == room && strings.HasPrefix(b.Body, "Not delivered to IRC") &&
			b.RelatesTo != nil && b.RelatesTo.InReplyTo != nil && b.RelatesTo.InReplyTo.EventID == event
	}
}

// openDM creates a direct chat of c with user and waits for user to join.
func openDM(ctx context.Context, t *testing.T, c *integration.Client, user matrix.UserID) matrix.RoomID {
	t.Helper()
	room, err := c.CreateRoom(ctx, integration.CreateRoomRequest{Preset: "trusted_private_chat", IsDirect: true,
		Invite: []matrix.UserID{user}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.WaitForMembership(ctx, room, user, "join"); err != nil {
		t.Fatalf("%s did not join the DM: %v", user, err)
	}
	return room
}
