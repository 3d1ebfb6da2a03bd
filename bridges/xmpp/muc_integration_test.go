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
	"github.com/causewaybridge/causeway/matrix"
	"github.com/causewaybridge/causeway/puppet"
)

// TestIntegrationXMPPMUCGateway: on Dendrite and Prosody, an XMPP client
// joins the JID of a public Matrix room's alias as a MUC: its puppet joins
// the Matrix room, and the client gets the Matrix user's presence, then
// its own with 110, then the subject (the topic). A Matrix message (with
// markup-looking text) reaches it from the sender's nick with a
// stanza-id; its own message reaches Matrix from the puppet and comes
// back to it with a stanza-id; a Matrix user joining and leaving appears
// and disappears; a second client taking a used nick (of an XMPP or a
// Matrix occupant) gets 409; a missing room is item-not-found and a
// private room registration-required; with another nick it joins, both
// XMPP occupants see each other and get the room's messages; a Matrix
// kick of a puppet ends its occupant with 307; a Matrix user's new
// displayname is a new nick; leaving sends the unavailable self-presence
// and the puppet leaves the Matrix room.
func TestIntegrationXMPPMUCGateway(t *testing.T) {
	t.Parallel()
	p := integration.StartProsody(t, integration.WithProsodyUser("alice", "pw"), integration.WithProsodyUser("bob", "pw"))
	s := startBridge(t, p)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	checkMUCGateway(ctx, t, s, p)
}

// startBridge starts Dendrite and the bridge with its XMPP module as a
// component of p.
func startBridge(t *testing.T, p integration.XMPPServer) *bridgetest.Stack {
	t.Helper()
	return bridgetest.Start(t, bridgetest.Options{
		Bridges: fmt.Sprintf("  xmpp: {server: %q, domain: %q, secret: %q}\n", p.ComponentAddr(), p.ComponentDomain(), p.ComponentSecret()),
	})
}

// checkMUCGateway is TestIntegrationXMPPMUCGateway's flow on the bridge s
// and the server p, which has the users alice and bob (password "pw").
func checkMUCGateway(ctx context.Context, t *testing.T, s *bridgetest.Stack, p integration.XMPPServer) {
	t.Helper()
	domain := p.ComponentDomain()
	carol := s.User(ctx, "carol")
	if err := carol.SetDisplayname(ctx, "Carol"); err != nil {
		t.Fatal(err)
	}
	room, err := carol.CreateRoom(ctx, integration.CreateRoomRequest{Preset: "public_chat", Visibility: "public",
		Name: "Lobby", RoomAliasName: "Lobby", Topic: "Welcome <here> & there"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := carol.CreateRoom(ctx, integration.CreateRoomRequest{Preset: "private_chat", RoomAliasName: "secret"}); err != nil {
		t.Fatal(err)
	}
	jidOf := func(id string) string {
		local, err := address.Localpart(id)
		if err != nil {
			t.Fatal(err)
		}
		return local + "@" + domain
	}
	muc := jidOf("#Lobby:localhost")
	users, err := puppet.NewUsers("@_xmpp_{name}:{server}", "localhost")
	if err != nil {
		t.Fatal(err)
	}
	alicePuppet, err := users.Format(puppet.Values{"name": "alice@" + integration.ProsodyHost})
	if err != nil {
		t.Fatal(err)
	}

	alice := integration.DialXMPP(t, p.C2SAddr(), "alice", "pw")
	bob := integration.DialXMPP(t, p.C2SAddr(), "bob", "pw")
	// The component connects in the background.
	for n := 0; ; n++ {
		id := fmt.Sprintf("c%d", n)
		r, err := alice.IQ(ctx, id, `<iq type='get' id='`+id+`' to='`+domain+`'><ping xmlns='urn:xmpp:ping'/></iq>`)
		if err != nil {
			t.Fatal(err)
		}
		if r.Type == "result" {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	wait := func(c *integration.XMPPClient, what string, match func(integration.XMPPStanza) bool) integration.XMPPStanza {
		t.Helper()
		st, err := c.Wait(ctx, match)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		return st
	}
	index := func(c *integration.XMPPClient, st integration.XMPPStanza) int {
		for i, r := range c.Received() {
			if r == st {
				return i
			}
		}
		return -1
	}
	// The first joiner taking a Matrix member's nick: 409, and its
	// puppet does not stay.
	bobPuppet, err := users.Format(puppet.Values{"name": "bob@" + integration.ProsodyHost})
	if err != nil {
		t.Fatal(err)
	}
	if err := bob.Send(ctx, `<presence to='`+muc+`/Carol' id='b0'><x xmlns='http://jabber.org/protocol/muc'/></presence>`); err != nil {
		t.Fatal(err)
	}
	if r := wait(bob, "first join as Carol", func(s integration.XMPPStanza) bool { return s.Name == "presence" && s.ID == "b0" }); r.Type != "error" || !strings.Contains(r.XML, "conflict") {
		t.Fatalf("first join as Carol: %s", r.XML)
	}
	waitGone(ctx, t, carol, room, bobPuppet)

	join := `<presence to='` + muc + `/Alice' id='j1'><x xmlns='http://jabber.org/protocol/muc'/></presence>`
	if err := alice.Send(ctx, join); err != nil {
		t.Fatal(err)
	}
	self := wait(alice, "self-presence", func(s integration.XMPPStanza) bool {
		return s.Name == "presence" && s.From == muc+"/Alice"
	})
	if self.Type != "" || !strings.Contains(self.XML, `code="110"`) || !strings.Contains(self.XML, `code="100"`) {
		t.Fatalf("self-presence: %s", self.XML)
	}
	other := wait(alice, "Carol's presence", func(s integration.XMPPStanza) bool {
		return s.Name == "presence" && s.From == muc+"/Carol"
	})
	if !strings.Contains(other.XML, `affiliation="owner"`) || !strings.Contains(other.XML, `role="moderator"`) || strings.Contains(other.XML, `code="110"`) {
		t.Fatalf("Carol's presence: %s", other.XML)
	}
	subject := wait(alice, "subject", func(s integration.XMPPStanza) bool {
		return s.Name == "message" && strings.Contains(s.XML, "subject")
	})
	if subject.From != muc || !strings.Contains(subject.XML, "Welcome &lt;here&gt; &amp; there") {
		t.Fatalf("subject: %s", subject.XML)
	}
	if a, b, c := index(alice, other), index(alice, self), index(alice, subject); !(a < b && b < c) {
		t.Fatalf("join order: others %d, self %d, subject %d; want increasing", a, b, c)
	}
	// The puppet is in the Matrix room once the join completed.
	if members, err := carol.JoinedMembers(ctx, room); err != nil || !contains(members, alicePuppet) {
		t.Fatalf("members after the join: %v %v (want %s)", members, err, alicePuppet)
	}

	// Matrix → XMPP, with content that would be markup.
	evil := `hi </body><evil/> & <b>bold</b>`
	ev, err := carol.SendText(ctx, room, evil)
	if err != nil {
		t.Fatal(err)
	}
	got := wait(alice, "Carol's message", func(s integration.XMPPStanza) bool {
		return s.Name == "message" && s.From == muc+"/Carol" && strings.Contains(s.XML, "<body")
	})
	if got.Type != "groupchat" || strings.Contains(got.XML, "<evil") ||
		!strings.Contains(got.XML, "hi &lt;/body&gt;&lt;evil/&gt; &amp; &lt;b&gt;bold&lt;/b&gt;") ||
		!strings.Contains(got.XML, `id="`+string(ev)+`"`) || !strings.Contains(got.XML, `by="`+muc+`"`) ||
		!strings.Contains(got.XML, "urn:xmpp:sid:0") {
		t.Fatalf("Carol's message: %s", got.XML)
	}

	// XMPP → Matrix, and the reflection.
	if err := alice.Send(ctx, `<message to='`+muc+`' type='groupchat' id='m1'><body>hello from xmpp</body><origin-id xmlns='urn:xmpp:sid:0' id='o1'/></message>`); err != nil {
		t.Fatal(err)
	}
	mev, err := carol.WaitForMessage(ctx, room, "hello from xmpp")
	if err != nil {
		t.Fatal(err)
	}
	if mev.Sender != alicePuppet {
		t.Fatalf("the message came from %s, want the puppet %s", mev.Sender, alicePuppet)
	}
	refl := wait(alice, "reflection", func(s integration.XMPPStanza) bool {
		return s.Name == "message" && s.From == muc+"/Alice" && s.ID == "m1"
	})
	if !strings.Contains(refl.XML, `id="`+string(mev.ID)+`"`) || !strings.Contains(refl.XML, `by="`+muc+`"`) ||
		!strings.Contains(refl.XML, "hello from xmpp") {
		t.Fatalf("reflection: %s", refl.XML)
	}

	// A Matrix user joins and leaves.
	dave := s.User(ctx, "dave")
	if _, err := dave.Join(ctx, string(room)); err != nil {
		t.Fatal(err)
	}
	wait(alice, "dave's presence", func(s integration.XMPPStanza) bool {
		return s.Name == "presence" && s.From == muc+"/dave" && s.Type == ""
	})
	if err := dave.SetDisplayname(ctx, "Dave D"); err != nil {
		t.Fatal(err)
	}
	wait(alice, "dave's old nick leaving", func(s integration.XMPPStanza) bool {
		return s.Name == "presence" && s.From == muc+"/dave" && s.Type == "unavailable"
	})
	wait(alice, "dave's new nick", func(s integration.XMPPStanza) bool {
		return s.Name == "presence" && s.From == muc+"/Dave D" && s.Type == ""
	})
	if err := dave.Leave(ctx, room); err != nil {
		t.Fatal(err)
	}
	wait(alice, "dave's departure", func(s integration.XMPPStanza) bool {
		return s.Name == "presence" && s.From == muc+"/Dave D" && s.Type == "unavailable"
	})

	// Nick conflicts, a missing room, a private room.
	refused := func(to, id, cond string) {
		t.Helper()
		if err := bob.Send(ctx, `<presence to='`+to+`' id='`+id+`'><x xmlns='http://jabber.org/protocol/muc'/></presence>`); err != nil {
			t.Fatal(err)
		}
		r := wait(bob, id, func(s integration.XMPPStanza) bool { return s.Name == "presence" && s.ID == id })
		if r.Type != "error" || r.From != to || !strings.Contains(r.XML, cond) || !strings.Contains(r.XML, "<text") {
			t.Fatalf("%s: want %s: %s", to, cond, r.XML)
		}
	}
	refused(muc+"/Alice", "b1", "conflict")
	refused(muc+"/Carol", "b2", "conflict")
	refused(jidOf("#nope:localhost")+"/bob", "b3", "item-not-found")
	refused(jidOf("#secret:localhost")+"/bob", "b4", "registration-required")

	// A second XMPP occupant: both see each other, both get the room's
	// messages.
	if err := bob.Send(ctx, `<presence to='`+muc+`/Bob'><x xmlns='http://jabber.org/protocol/muc'/></presence>`); err != nil {
		t.Fatal(err)
	}
	bobSelf := wait(bob, "bob's self-presence", func(s integration.XMPPStanza) bool {
		return s.Name == "presence" && s.From == muc+"/Bob" && strings.Contains(s.XML, `code="110"`)
	})
	aliceSeen := wait(bob, "alice's presence to bob", func(s integration.XMPPStanza) bool {
		return s.Name == "presence" && s.From == muc+"/Alice"
	})
	if index(bob, aliceSeen) > index(bob, bobSelf) {
		t.Fatal("bob got alice's presence after his own")
	}
	wait(alice, "bob's presence to alice", func(s integration.XMPPStanza) bool {
		return s.Name == "presence" && s.From == muc+"/Bob" && s.Type == ""
	})
	if _, err := carol.SendText(ctx, room, "to both"); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*integration.XMPPClient{alice, bob} {
		wait(c, "a message to both", func(s integration.XMPPStanza) bool {
			return s.Name == "message" && s.From == muc+"/Carol" && strings.Contains(s.XML, "to both")
		})
	}
	// Carol kicks bob's puppet: bob is out of the MUC (307), alice sees it.
	if _, err := carol.SendState(ctx, room, "m.room.member", string(bobPuppet), map[string]string{"membership": "leave"}); err != nil {
		t.Fatal(err)
	}
	kicked := wait(bob, "bob's kick", func(s integration.XMPPStanza) bool {
		return s.Name == "presence" && s.From == muc+"/Bob" && s.Type == "unavailable"
	})
	if !strings.Contains(kicked.XML, `code="307"`) || !strings.Contains(kicked.XML, `code="110"`) {
		t.Fatalf("bob's kick: %s", kicked.XML)
	}
	wait(alice, "bob's kick seen by alice", func(s integration.XMPPStanza) bool {
		return s.Name == "presence" && s.From == muc+"/Bob" && s.Type == "unavailable"
	})

	// A second resource of alice shares her occupant: it gets the join
	// sequence and the room's messages, and its leaving keeps her in.
	phone := integration.DialXMPPResource(t, p.C2SAddr(), "alice", "pw", "phone")
	if phone.JID() == alice.JID() {
		t.Fatalf("two sessions with one JID %s", phone.JID())
	}
	if err := phone.Send(ctx, `<presence to='`+muc+`/Alice'><x xmlns='http://jabber.org/protocol/muc'/></presence>`); err != nil {
		t.Fatal(err)
	}
	phoneSelf := wait(phone, "the second resource's self-presence", func(s integration.XMPPStanza) bool {
		return s.Name == "presence" && s.From == muc+"/Alice"
	})
	if phoneSelf.Type != "" || !strings.Contains(phoneSelf.XML, `code="110"`) {
		t.Fatalf("second resource's join: %s", phoneSelf.XML)
	}
	if _, err := carol.SendText(ctx, room, "to both resources"); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*integration.XMPPClient{alice, phone} {
		wait(c, "a message to both resources", func(s integration.XMPPStanza) bool {
			return s.Name == "message" && strings.Contains(s.XML, "to both resources")
		})
	}
	if err := phone.Send(ctx, `<presence to='`+muc+`/Alice' type='unavailable'/>`); err != nil {
		t.Fatal(err)
	}
	wait(phone, "the second resource's leave", func(s integration.XMPPStanza) bool {
		return s.Name == "presence" && s.From == muc+"/Alice" && s.Type == "unavailable"
	})
	if members, err := carol.JoinedMembers(ctx, room); err != nil || !contains(members, alicePuppet) {
		t.Fatalf("alice's puppet left with one of her resources: %v %v", members, err)
	}
	for _, st := range alice.Received() {
		if st.Name == "presence" && st.From == muc+"/Alice" && st.Type == "unavailable" {
			t.Fatalf("alice's first resource was told it left: %s", st.XML)
		}
	}

	// Leaving.
	if err := alice.Send(ctx, `<presence to='`+muc+`/Alice' type='unavailable'/>`); err != nil {
		t.Fatal(err)
	}
	gone := wait(alice, "unavailable self-presence", func(s integration.XMPPStanza) bool {
		return s.Name == "presence" && s.From == muc+"/Alice" && s.Type == "unavailable"
	})
	if !strings.Contains(gone.XML, `code="110"`) {
		t.Fatalf("unavailable self-presence: %s", gone.XML)
	}
	waitGone(ctx, t, carol, room, alicePuppet)
}

// waitGone waits until u is no longer joined to room, polled (a sync
// may hold it together with an event a Wait call matched before).
func waitGone(ctx context.Context, t *testing.T, c *integration.Client, room matrix.RoomID, u matrix.UserID) {
	t.Helper()
	for {
		members, err := c.JoinedMembers(ctx, room)
		if err != nil {
			t.Fatal(err)
		}
		if !contains(members, u) {
			return
		}
		if ctx.Err() != nil {
			t.Fatalf("%s stays in the room", u)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func contains(list []matrix.UserID, u matrix.UserID) bool {
	for _, x := range list {
		if x == u {
			return true
		}
	}
	return false
}
