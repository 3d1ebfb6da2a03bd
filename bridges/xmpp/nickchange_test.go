package xmpp

import (
	"context"
	"strings"
	"testing"

	"mellium.im/xmpp/jid"

	"github.com/causewaybridge/causeway/bridges/xmpp/address"
	"github.com/causewaybridge/causeway/intent"
	"github.com/causewaybridge/causeway/matrix"
)

// nickRoom is a hosted room (by room ID) with alice (two resources),
// bob and the Matrix member Carol, all announced.
func nickRoom(t *testing.T, g *gateway) (matrix.RoomID, string) {
	t.Helper()
	room := matrix.RoomID("!r:localhost")
	local, err := address.Localpart(string(room))
	if err != nil {
		t.Fatal(err)
	}
	roomJID := local + "@matrix.test"
	r := g.room(room)
	r.loaded = true
	r.members = map[matrix.UserID]*member{"@carol:localhost": {nick: "Carol", level: 100}}
	r.announced["@carol:localhost"] = true
	for _, o := range []*occupant{
		{RoomJID: roomJID, Nick: "Alice", Real: "alice@x.org", Resources: newResourceSet("alice@x.org/r1", "alice@x.org/r2"),
			Puppet: "@_xmpp_alice=40x.org:localhost"},
		{RoomJID: roomJID, Nick: "Bob", Real: "bob@x.org", Resources: newResourceSet("bob@x.org/r"), Puppet: "@_xmpp_bob=40x.org:localhost"},
	} {
		r.occupants[o.Real] = o
	}
	return room, roomJID
}

// TestNickChange: an occupant's presence to a new nick is XEP-0045
// §7.6's pair to every resource of every occupant: the old nick's
// unavailable presence with 303 and the new nick (110 to its own
// resources), then the new nick's available presence; its puppet's
// displayname in the room follows through the outbox. Nicks of other
// occupants, XMPP or Matrix, are refused with 409, and the nick stays.
func TestNickChange(t *testing.T) {
	ctx := context.Background()
	_, g, h := testGateway(t)
	room, roomJID := nickRoom(t, g)
	change := func(nick, id string) {
		raw := `<presence from='alice@x.org/r1' to='` + roomJID + `/` + nick + `' id='` + id + `'><show>away</show></presence>`
		g.join(ctx, parse(t, []byte(raw)), jid.MustParse("alice@x.org/r1"), jid.MustParse(roomJID+"/"+nick))
	}
	change("Alicia", "n1")
	q := queued(t, h)
	if len(q) != 6 {
		t.Fatalf("queued %d stanzas, want 3 unavailable and 3 available: %q", len(q), q)
	}
	for i, s := range q[:3] {
		for _, want := range []string{`type="unavailable"`, `from="` + roomJID + `/Alice"`, `nick="Alicia"`, `code="303"`, `role="participant"`} {
			if !strings.Contains(s, want) {
				t.Errorf("unavailable %d lacks %s: %s", i, want, s)
			}
		}
		if self := strings.Contains(s, `to="alice@x.org/`); self != strings.Contains(s, `code="110"`) {
			t.Errorf("unavailable %d: 110 iff to alice: %s", i, s)
		}
	}
	for i, s := range q[3:] {
		if strings.Contains(s, `type=`) || !strings.Contains(s, `from="`+roomJID+`/Alicia"`) || !strings.Contains(s, "<show>away</show>") {
			t.Errorf("available %d: %s", i, s)
		}
		if self := strings.Contains(s, `to="alice@x.org/`); self != strings.Contains(s, `code="110"`) {
			t.Errorf("available %d: 110 iff to alice: %s", i, s)
		}
	}
	if got := g.rooms[room].occupants["alice@x.org"].Nick; got != "Alicia" {
		t.Errorf("nick after the change: %q", got)
	}
	ops := h.Sent.Ops()
	if len(ops) != 1 || ops[0].Kind != intent.OpState || ops[0].Type != matrix.EventMember || ops[0].StateKey != "@_xmpp_alice=40x.org:localhost" ||
		string(ops[0].Sender) != ops[0].StateKey || !strings.Contains(string(ops[0].Content), `"displayname":"Alicia"`) ||
		!strings.Contains(string(ops[0].Content), `"membership":"join"`) {
		t.Fatalf("the puppet's rename: %+v", ops)
	}

	for i, nick := range []string{"Bob", "Carol"} {
		before := len(queued(t, h))
		change(nick, "c")
		q := queued(t, h)
		if len(q) != before+1 || !strings.Contains(q[before], "conflict") || !strings.Contains(q[before], `type="error"`) ||
			!strings.Contains(q[before], `to="alice@x.org/r1"`) {
			t.Errorf("%d: taking %s: %q", i, nick, q[before:])
		}
	}
	if got := g.rooms[room].occupants["alice@x.org"].Nick; got != "Alicia" || len(h.Sent.Ops()) != 1 {
		t.Errorf("a refused change changed something: nick %q, ops %d", got, len(h.Sent.Ops()))
	}
	// Another client of alice's, not in the room, asking for another nick.
	before := len(queued(t, h))
	raw := `<presence from='alice@x.org/r3' id='x'><x xmlns='http://jabber.org/protocol/muc'/></presence>`
	g.join(ctx, parse(t, []byte(raw)), jid.MustParse("alice@x.org/r3"), jid.MustParse(roomJID+"/Other"))
	if q := queued(t, h); len(q) != before+1 || !strings.Contains(q[before], "not-acceptable") || !strings.Contains(q[before], `join as \"Alicia\"`) &&
		!strings.Contains(q[before], `join as &#34;Alicia&#34;`) {
		t.Errorf("a new resource with another nick: %q", q[before:])
	}
}

// TestMatrixRenameIsNickChange: a Matrix member's new displayname is a
// 303 pair to every XMPP occupant, not a leave and a join.
func TestMatrixRenameIsNickChange(t *testing.T) {
	ctx := context.Background()
	_, g, h := testGateway(t)
	room, roomJID := nickRoom(t, g)
	g.membership(ctx, room, "@carol:localhost", matrix.MemberContent{Membership: "join", Displayname: "Caroline"})
	q := queued(t, h)
	if len(q) != 6 {
		t.Fatalf("queued %d stanzas, want 3 unavailable and 3 available: %q", len(q), q)
	}
	for i, s := range q[:3] {
		for _, want := range []string{`type="unavailable"`, `from="` + roomJID + `/Carol"`, `nick="Caroline"`, `code="303"`, `role="moderator"`} {
			if !strings.Contains(s, want) {
				t.Errorf("unavailable %d lacks %s: %s", i, want, s)
			}
		}
	}
	for i, s := range q[3:] {
		if strings.Contains(s, `type=`) || !strings.Contains(s, `from="`+roomJID+`/Caroline"`) || strings.Contains(s, "303") {
			t.Errorf("available %d: %s", i, s)
		}
	}
	// The same name again: nothing.
	g.membership(ctx, room, "@carol:localhost", matrix.MemberContent{Membership: "join", Displayname: "Caroline"})
	if n := len(queued(t, h)); n != 6 {
		t.Errorf("an unchanged name sent %d stanzas", n-6)
	}
}
