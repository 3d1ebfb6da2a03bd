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

// TestIntegrationXMPPGhostCheck: an occupant whose client went away
// while the bridge was down leaves by itself after the restart, before
// anything is said in the room: the other occupant gets its unavailable
// presence and its puppet leaves the Matrix room. The occupant whose
// client is still there (the test client answers pings with
// service-unavailable, like a client without XEP-0199) stays: it gets no
// unavailable presence of its own, its puppet stays joined and its next
// message reaches Matrix.
func TestIntegrationXMPPGhostCheck(t *testing.T) {
	t.Parallel()
	p := integration.StartProsody(t, integration.WithProsodyUser("alice", "pw"), integration.WithProsodyUser("bob", "pw"))
	domain := p.ComponentDomain()
	s := bridgetest.Start(t, bridgetest.Options{
		Bridges: fmt.Sprintf("  xmpp: {server: %q, domain: %q, secret: %q}\n", p.ComponentAddr(), domain, p.ComponentSecret()),
	})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	carol := s.User(ctx, "carol")
	room, err := carol.CreateRoom(ctx, integration.CreateRoomRequest{Preset: "public_chat", RoomAliasName: "Ghosts"})
	if err != nil {
		t.Fatal(err)
	}
	local, err := address.Localpart(string(room))
	if err != nil {
		t.Fatal(err)
	}
	muc := local + "@" + domain
	users, _ := puppet.NewUsers("@_xmpp_{name}:{server}", "localhost")
	alicePuppet, err := users.Format(puppet.Values{"name": "alice@" + integration.ProsodyHost})
	if err != nil {
		t.Fatal(err)
	}
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
	for { // both puppets joined the Matrix room
		members, err := carol.JoinedMembers(ctx, room)
		if err != nil {
			t.Fatal(err)
		}
		if contains(members, alicePuppet) && contains(members, bobPuppet) {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("the puppets did not join: %v", members)
		}
		time.Sleep(50 * time.Millisecond)
	}

	// Everything the room had for bob reached him before the stop (a
	// stanza left in the queue would be sent again after the restart,
	// bounce and remove him without any check): the reflection of
	// alice's message is the last thing the room sends him.
	if err := alice.Send(ctx, `<message to='`+muc+`' type='groupchat' id='g0'><body>before the stop</body></message>`); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*integration.XMPPClient{alice, bob} {
		if _, err := c.Wait(ctx, func(s integration.XMPPStanza) bool {
			return s.Name == "message" && strings.Contains(s.XML, "before the stop")
		}); err != nil {
			t.Fatal(err)
		}
	}
	// The durable queue sends a batch only after the one before was
	// acknowledged (and deleted): once the answer to alice's later ping
	// arrives, nothing for bob is left to resend after the restart.
	if st, err := alice.IQ(ctx, "sync", `<iq type='get' id='sync' to='`+muc+`'><ping xmlns='urn:xmpp:ping'/></iq>`); err != nil || st.Type != "result" {
		t.Fatalf("ping the room: %v %s", err, st.XML)
	}
	s.StopBridge()
	_ = bob.Close() // gone while the bridge is down: its unavailable presence bounces
	restarted := len(alice.Received())
	s.StartBridge()

	// Nothing is said in either side of the room: the check alone finds bob gone.
	if _, err := alice.Wait(ctx, func(s integration.XMPPStanza) bool {
		return s.Name == "presence" && s.From == muc+"/bob" && s.Type == "unavailable"
	}); err != nil {
		t.Fatalf("alice never saw the ghost bob leave: %v", err)
	}
	waitGone(ctx, t, carol, room, bobPuppet)

	// alice was checked too (the ping reached her) and stays.
	if _, err := alice.Wait(ctx, func(s integration.XMPPStanza) bool {
		return s.Name == "iq" && s.Type == "get" && s.From == muc+"/alice" && strings.Contains(s.XML, "urn:xmpp:ping")
	}); err != nil {
		t.Fatalf("alice was not pinged: %v", err)
	}
	if err := alice.Send(ctx, `<message to='`+muc+`' type='groupchat' id='g1'><body>still here</body></message>`); err != nil {
		t.Fatal(err)
	}
	if _, err := carol.WaitForMessage(ctx, room, "still here"); err != nil {
		t.Fatal(err)
	}
	members, err := carol.JoinedMembers(ctx, room)
	if err != nil {
		t.Fatal(err)
	}
	if !contains(members, alicePuppet) {
		t.Fatalf("alice's puppet left the Matrix room: %v", members)
	}
	for _, st := range alice.Received()[restarted:] {
		if st.Name == "presence" && st.From == muc+"/alice" && st.Type == "unavailable" {
			t.Fatalf("alice was removed: %s", st.XML)
		}
		if st.Name == "message" && strings.Contains(st.XML, "<body") && !strings.Contains(st.XML, "still here") &&
			!strings.Contains(st.XML, "before the stop") {
			t.Fatalf("something was said in the room: %s", st.XML)
		}
	}
}
