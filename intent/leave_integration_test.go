//go:build integration

package intent

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/causewaybridge/causeway/internal/integration"
	"github.com/causewaybridge/causeway/matrix"
)

// TestIntegrationLeaveNotInRoomOnDendrite: Dendrite refuses the leave of a
// user who is not in the room with 400 M_UNKNOWN (not 403 M_FORBIDDEN);
// such leaves are done, not errors: a puppet that never joined, one that
// left already while the state cache does not know it (a new client, as
// after a restart with the cache lost), and a room that does not exist.
// A puppet in the room still really leaves.
func TestIntegrationLeaveNotInRoomOnDendrite(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	hs := startHomeserver(t)
	newClient := func() *Client {
		c, err := New(Options{HomeserverURL: hs.URL(), ASToken: integrationASToken, ServerName: hs.ServerName(),
			BotLocalpart: "causewaybot", Retry: fastRetry})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	c := newClient()
	user, err := integration.Register(ctx, hs.URL(), "alice", "alice-password")
	if err != nil {
		t.Fatal(err)
	}
	room, err := user.CreateRoom(ctx, integration.CreateRoomRequest{Preset: "public_chat", Name: "leaves"})
	if err != nil {
		t.Fatal(err)
	}
	never, left := c.Intent("@irc_never:localhost"), c.Intent("@irc_left:localhost")
	for _, in := range []*Intent{never, left} {
		if err := in.EnsureRegistered(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if err := never.Leave(ctx, room, "quit"); err != nil {
		t.Errorf("leave of a puppet that never joined: %v", err)
	}
	if err := left.EnsureJoined(ctx, room); err != nil {
		t.Fatal(err)
	}
	if err := left.Leave(ctx, room, "part"); err != nil {
		t.Fatalf("leave of a joined puppet: %v", err)
	}
	members, err := user.JoinedMembers(ctx, room)
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(members, left.UserID()) {
		t.Fatalf("the puppet is still joined after its leave: %v", members)
	}
	again := newClient().Intent(left.UserID())
	if err := again.Leave(ctx, room, "quit"); err != nil {
		t.Errorf("second leave, with a cache that does not know the first: %v", err)
	}
	if err := again.Leave(ctx, matrix.RoomID("!nosuchroom:localhost"), "quit"); err != nil {
		t.Errorf("leave of a room that does not exist: %v", err)
	}
}
