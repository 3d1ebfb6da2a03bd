//go:build integration

package xmpp

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/causewaybridge/causeway/bridges/xmpp/address"
	"github.com/causewaybridge/causeway/internal/bridgetest"
	"github.com/causewaybridge/causeway/internal/integration"
	"github.com/causewaybridge/causeway/puppet"
)

// TestIntegrationXMPPMUCRestart: occupants survive a bridge restart
// (stored in the module's KV): after it, a Matrix message still reaches
// an XMPP occupant and the occupant's message still reaches Matrix
// without a new join. An occupant whose client went away while the
// bridge was down is no ghost: the first message the room sends it
// bounces, and its puppet leaves the Matrix room.
func TestIntegrationXMPPMUCRestart(t *testing.T) {
	t.Parallel()
	p := integration.StartProsody(t, integration.WithProsodyUser("alice", "pw"), integration.WithProsodyUser("bob", "pw"))
	domain := p.ComponentDomain()
	s := bridgetest.Start(t, bridgetest.Options{
		Bridges: fmt.Sprintf("  xmpp: {server: %q, domain: %q, secret: %q}\n", p.ComponentAddr(), domain, p.ComponentSecret()),
	})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	carol := s.User(ctx, "carol")
	room, err := carol.CreateRoom(ctx, integration.CreateRoomRequest{Preset: "public_chat", RoomAliasName: "Again"})
	if err != nil {
		t.Fatal(err)
	}
	local, err := address.Localpart(string(room)) // by room ID this time
	if err != nil {
		t.Fatal(err)
	}
	muc := local + "@" + domain
	users, _ := puppet.NewUsers("@_xmpp_{name}:{server}", "localhost")
	bobPuppet, err := users.Format(puppet.Values{"name": "bob@" + integration.ProsodyHost})
	if err != nil {
		t.Fatal(err)
	}
	alice := integration.DialXMPP(t, p.C2SAddr(), "alice", "pw")
	bob, err := integration.ConnectXMPP(ctx, p.C2SAddr(), "bob", "pw")
	if err != nil {
		t.Fatal(err)
	}
	defer bob.Close()
	wait := func(c *integration.XMPPClient, what string, match func(integration.XMPPStanza) bool) {
		t.Helper()
		if _, err := c.Wait(ctx, match); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	joinAs := func(c *integration.XMPPClient, nick string) {
		t.Helper()
		for n := 0; ; n++ { // the component connects in the background
			id := fmt.Sprintf("%s-j%d", nick, n)
			if err := c.Send(ctx, `<presence to='`+muc+`/`+nick+`' id='`+id+`'><x xmlns='http://jabber.org/protocol/muc'/></presence>`); err != nil {
				t.Fatal(err)
			}
			st, err := c.Wait(ctx, func(s integration.XMPPStanza) bool {
				return s.Name == "presence" && s.From == muc+"/"+nick
			})
			if err != nil {
				t.Fatal(err)
			}
			if st.Type == "" {
				return
			}
			if !strings.Contains(st.XML, "remote-server-timeout") && !strings.Contains(st.XML, "service-unavailable") {
				t.Fatalf("join as %s: %s", nick, st.XML)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	joinAs(alice, "alice")
	joinAs(bob, "bob")
	if _, err := carol.WaitForMembership(ctx, room, bobPuppet, "join"); err != nil {
		t.Fatal(err)
	}

	s.StopBridge()
	_ = bob.Close() // gone while the bridge is down: its unavailable presence bounces
	time.Sleep(200 * time.Millisecond)
	s.StartBridge()

	if _, err := carol.SendText(ctx, room, "after the restart"); err != nil {
		t.Fatal(err)
	}
	wait(alice, "the message after the restart", func(s integration.XMPPStanza) bool {
		return s.Name == "message" && strings.Contains(s.XML, "after the restart")
	})
	if err := alice.Send(ctx, `<message to='`+muc+`' type='groupchat' id='r1'><body>still here</body></message>`); err != nil {
		t.Fatal(err)
	}
	if _, err := carol.WaitForMessage(ctx, room, "still here"); err != nil {
		t.Fatal(err)
	}
	waitGone(ctx, t, carol, room, bobPuppet)
}
