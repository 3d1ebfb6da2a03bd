package irc

import (
	"strings"
	"testing"
	"time"

	"github.com/causewaybridge/causeway/bridges"
	"github.com/causewaybridge/causeway/intent"
	"github.com/causewaybridge/causeway/internal/poll"
)

// TestAwayRestoredAfterReconnect: a Matrix user away on Matrix is AWAY
// again on the connection that replaces a dropped one; a user who came
// back in the meantime is not.
func TestAwayRestoredAfterReconnect(t *testing.T) {
	srv := startScriptedServer(t, "")
	m := newTestModule(t, srv.addr)
	ctx := t.Context()
	u := m.networks["test"].userConnFor("@u:localhost", "")
	c, err := u.connect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	m.HandleMatrixPresence(ctx, &bridges.Presence{UserID: "@u:localhost", Presence: intent.PresenceUnavailable, StatusMsg: "brb"})
	if l := srv.next(t); l != "AWAY brb" && l != "AWAY :brb" {
		t.Fatalf("server got %q, want AWAY brb", l)
	}
	// The connection drops (not a close on purpose): the bridge reconnects.
	if err := c.Close("dropped"); err != nil {
		t.Fatal(err)
	}
	var lines []string
	for {
		l := srv.next(t)
		lines = append(lines, l)
		if strings.HasPrefix(l, "AWAY") {
			break
		}
	}
	if l := lines[len(lines)-1]; l != "AWAY brb" && l != "AWAY :brb" {
		t.Fatalf("after the reconnect the server got %q, want AWAY brb", lines)
	}

	// Back on Matrix while the connection is down: the next one stays present.
	u.mu.Lock()
	c = u.conn
	u.mu.Unlock()
	m.HandleMatrixPresence(ctx, &bridges.Presence{UserID: "@u:localhost", Presence: intent.PresenceOnline})
	if l := srv.next(t); l != "AWAY" {
		t.Fatalf("server got %q, want AWAY (back)", l)
	}
	if err := c.Close("dropped again"); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, "the reconnect", 15*time.Second, func() bool {
		u.mu.Lock()
		defer u.mu.Unlock()
		return u.conn != nil && u.conn != c
	})
	u.mu.Lock()
	c = u.conn
	u.mu.Unlock()
	if err := c.Send(ctx, nil, "PING", "marker"); err != nil {
		t.Fatal(err)
	}
	for l := srv.next(t); l != "PING marker"; l = srv.next(t) {
		if strings.HasPrefix(l, "AWAY") {
			t.Fatalf("server got %q on the new connection of a user who is back", l)
		}
	}
}
