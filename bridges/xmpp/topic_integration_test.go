//go:build integration

package xmpp

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/causewaybridge/causeway/bridges/xmpp/address"
	"github.com/causewaybridge/causeway/internal/integration"
	"github.com/causewaybridge/causeway/matrix"
	"github.com/causewaybridge/causeway/puppet"
)

// TestIntegrationXMPPSubjectAndUserQuery: on Dendrite and Prosody, a Matrix user's
// new topic in a hosted room reaches a joined XMPP occupant at once as a
// subject from the user's nick; the occupant's subject change is refused
// (forbidden) while its puppet's power level is below m.room.topic's,
// and once the Matrix user raises it, sets the Matrix topic and comes
// back to the occupant from its own nick. Then checkUserQuery.
func TestIntegrationXMPPSubjectAndUserQuery(t *testing.T) {
	t.Parallel()
	p := integration.StartProsody(t, integration.WithProsodyUser("alice", "pw"))
	s := startBridge(t, p)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	domain := p.ComponentDomain()
	carol := s.User(ctx, "carol")
	if err := carol.SetDisplayname(ctx, "Carol"); err != nil {
		t.Fatal(err)
	}
	room, err := carol.CreateRoom(ctx, integration.CreateRoomRequest{Preset: "public_chat", Visibility: "public",
		RoomAliasName: "subj", Topic: "First"})
	if err != nil {
		t.Fatal(err)
	}
	local, err := address.Localpart("#subj:localhost")
	if err != nil {
		t.Fatal(err)
	}
	muc := local + "@" + domain
	users, err := puppet.NewUsers("@_xmpp_{name}:{server}", "localhost")
	if err != nil {
		t.Fatal(err)
	}
	alicePuppet, err := users.Format(puppet.Values{"name": "alice@" + integration.ProsodyHost})
	if err != nil {
		t.Fatal(err)
	}
	alice := integration.DialXMPP(t, p.C2SAddr(), "alice", "pw")
	waitComponent(ctx, t, alice, domain)
	wait := func(what string, match func(integration.XMPPStanza) bool) integration.XMPPStanza {
		t.Helper()
		st, err := alice.Wait(ctx, match)
		if err != nil {
			for _, r := range alice.Received() {
				t.Log(r.XML)
			}
			t.Fatalf("%s: %v", what, err)
		}
		return st
	}
	subject := func(from, text string) func(integration.XMPPStanza) bool {
		return func(s integration.XMPPStanza) bool {
			return s.Name == "message" && s.From == from && strings.Contains(s.XML, "<subject") && strings.Contains(s.XML, ">"+text+"</subject>")
		}
	}
	if err := alice.Send(ctx, `<presence to='`+muc+`/Alice' id='j1'><x xmlns='http://jabber.org/protocol/muc'/></presence>`); err != nil {
		t.Fatal(err)
	}
	wait("the subject on join", subject(muc, "First"))

	if _, err := carol.SendState(ctx, room, "m.room.topic", "", map[string]string{"topic": "Second <&>"}); err != nil {
		t.Fatal(err)
	}
	wait("Carol's new topic", subject(muc+"/Carol", "Second &lt;&amp;&gt;"))

	change := func(id, text string) {
		t.Helper()
		if err := alice.Send(ctx, `<message type='groupchat' id='`+id+`' to='`+muc+`'><subject>`+text+`</subject></message>`); err != nil {
			t.Fatal(err)
		}
	}
	change("s1", "Alice's")
	if r := wait("the refused subject", func(s integration.XMPPStanza) bool { return s.Name == "message" && s.ID == "s1" }); r.Type != "error" || !strings.Contains(r.XML, "forbidden") {
		t.Fatalf("subject change below the power level: %s", r.XML)
	}
	raw, err := carol.StateEvent(ctx, room, "m.room.power_levels", "")
	if err != nil {
		t.Fatal(err)
	}
	var pl map[string]any
	if err := json.Unmarshal(raw, &pl); err != nil {
		t.Fatal(err)
	}
	pl["users"].(map[string]any)[string(alicePuppet)] = 50
	if _, err := carol.SendState(ctx, room, "m.room.power_levels", "", pl); err != nil {
		t.Fatal(err)
	}
	// The role change tells the occupant its level reached the bridge.
	wait("the moderator role", func(s integration.XMPPStanza) bool {
		return s.Name == "presence" && s.From == muc+"/Alice" && strings.Contains(s.XML, `role="moderator"`)
	})
	change("s2", "Third")
	wait("the reflected subject", subject(muc+"/Alice", "Third"))
	got, err := carol.WaitForEvent(ctx, func(ev *matrix.Event) bool {
		return ev.RoomID == room && ev.Type == "m.room.topic" && ev.Sender == alicePuppet
	})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(got.Content), `"Third"`) {
		t.Fatalf("the Matrix topic: %s", got.Content)
	}
	checkUserQuery(ctx, t, carol, room)
}
