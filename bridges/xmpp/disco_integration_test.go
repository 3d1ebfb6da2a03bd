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
)

// TestIntegrationXMPPDiscoRooms: with the whole bridge on Dendrite and its
// component on Prosody, an XMPP client's disco#info to the JID of a room
// alias answers as a MUC named like the Matrix room (a public room and a
// private one the bot is not in), a public room's ID answers too, an
// alias that resolves to nothing gets item-not-found, and disco#items on
// the component lists the public directory (the public room, not the
// private one).
func TestIntegrationXMPPDiscoRooms(t *testing.T) {
	t.Parallel()
	p := integration.StartProsody(t, integration.WithProsodyUser("alice", "pw"))
	s := startBridge(t, p)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	checkDiscoRooms(ctx, t, s, p)
}

// checkDiscoRooms is TestIntegrationXMPPDiscoRooms's flow on the bridge s
// and the server p, which has the user alice (password "pw").
func checkDiscoRooms(ctx context.Context, t *testing.T, s *bridgetest.Stack, p integration.XMPPServer) {
	t.Helper()
	domain := p.ComponentDomain()
	erin := s.User(ctx, "erin")
	pub, err := erin.CreateRoom(ctx, integration.CreateRoomRequest{Preset: "public_chat", Visibility: "public",
		Name: "Public Room", RoomAliasName: "Pub"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := erin.CreateRoom(ctx, integration.CreateRoomRequest{Preset: "private_chat", Name: "Hidden Room",
		RoomAliasName: "hidden"}); err != nil {
		t.Fatal(err)
	}
	alice := integration.DialXMPPResource(t, p.C2SAddr(), "alice", "pw", "disco")
	n := 0
	iq := func(to, query string) integration.XMPPStanza {
		t.Helper()
		n++
		id := fmt.Sprintf("q%d", n)
		r, err := alice.IQ(ctx, id, `<iq type='get' id='`+id+`' to='`+to+`'><query xmlns='http://jabber.org/protocol/disco#`+query+`'/></iq>`)
		if err != nil {
			t.Fatalf("%s disco#%s: %v", to, query, err)
		}
		return r
	}
	// The component connects in the background.
	for r := iq(domain, "info"); r.Type != "result"; r = iq(domain, "info") {
		if ctx.Err() != nil {
			t.Fatalf("component never answered: %s", r.XML)
		}
		time.Sleep(100 * time.Millisecond)
	}
	jidOf := func(id string) string {
		local, err := address.Localpart(id)
		if err != nil {
			t.Fatal(err)
		}
		return local + "@" + domain
	}

	pubJID := jidOf("#Pub:localhost")
	r := iq(pubJID, "info")
	for _, want := range []string{`category="conference"`, `type="text"`, `name="Public Room"`,
		`var="http://jabber.org/protocol/muc"`} {
		if r.Type != "result" || r.From != pubJID || !strings.Contains(r.XML, want) {
			t.Fatalf("disco#info of %s lacks %s: %s", pubJID, want, r.XML)
		}
	}
	if r := iq(jidOf("#hidden:localhost"), "info"); r.Type != "result" || !strings.Contains(r.XML, `category="conference"`) {
		t.Fatalf("private room by alias: %s", r.XML)
	}
	if r := iq(jidOf(string(pub)), "info"); r.Type != "result" || !strings.Contains(r.XML, `name="Public Room"`) {
		t.Fatalf("public room by ID: %s", r.XML)
	}
	for _, id := range []string{"#nope:localhost", string(matrix.RoomID("!nope:localhost"))} {
		if r := iq(jidOf(id), "info"); r.Type != "error" || !strings.Contains(r.XML, "item-not-found") || r.From != jidOf(id) {
			t.Fatalf("%s: %s", id, r.XML)
		}
	}

	// The directory may list a new room a moment later.
	for {
		r = iq(domain, "items")
		if strings.Contains(r.XML, pubJID) || ctx.Err() != nil {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if r.Type != "result" || !strings.Contains(r.XML, `jid="`+pubJID+`"`) || !strings.Contains(r.XML, `name="Public Room"`) {
		t.Fatalf("disco#items lacks the public room %s: %s", pubJID, r.XML)
	}
	if strings.Contains(r.XML, "Hidden") {
		t.Fatalf("disco#items lists the private room: %s", r.XML)
	}
}
