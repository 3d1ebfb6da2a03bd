package xmpp

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"mellium.im/xmpp/jid"

	"github.com/causewaybridge/causeway/internal/fakehs"
	"github.com/causewaybridge/causeway/matrix"
	"github.com/causewaybridge/causeway/puppet"
)

const bobPuppet = matrix.UserID("@_xmpp_bob=40x.org:localhost")

// TestAdminKickBan: muc#admin sets from an occupant act through its
// puppet only as its Matrix power level allows (the room's kick or ban
// level, and above the target's), and every refusal has its XEP-0045
// condition; kicks by nick, bans and unbans by jid reach the homeserver
// with the reason.
func TestAdminKickBan(t *testing.T) {
	m, g, h := testGateway(t)
	room, roomJID := nickRoom(t, g)
	for _, u := range []matrix.UserID{carol, alicePuppet, bobPuppet} {
		h.HS.SetMembership(room, u, "join")
		if u != carol {
			if err := h.Matrix().Intent(u).EnsureRegistered(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
	}
	key := ""
	h.HS.PutEvent(fakehs.Event{Room: room, Sender: carol, Type: "m.room.power_levels", StateKey: &key,
		Content: json.RawMessage(`{"users":{"@carol:localhost":100,"@_xmpp_alice=40x.org:localhost":50},"kick":50,"ban":50}`)})
	dave, err := m.users.Format(puppet.Values{"name": "dave@x.org"})
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range []struct {
		from, item, want string
	}{
		0: {"bob@x.org/r", `<item nick='Alice' role='none'/>`, "forbidden"},
		1: {"alice@x.org/r1", `<item nick='Carol' role='none'/>`, "not-allowed"},
		2: {"alice@x.org/r1", `<item jid='` + carolJID(t) + `' affiliation='outcast'/>`, "not-allowed"},
		3: {"alice@x.org/r1", `<item nick='Bob' role='none'><reason>spam</reason></item>`, "result"},
		4: {"alice@x.org/r1", `<item nick='Nobody' role='none'/>`, "item-not-found"},
		5: {"alice@x.org/r1", `<item nick='Alice' role='none'/>`, "conflict"},
		6: {"alice@x.org/r1", `<item nick='Carol' role='moderator'/>`, "feature-not-implemented"},
		7: {"mallory@x.org/m", `<item nick='Carol' role='none'/>`, "not-acceptable"},
		8: {"alice@x.org/r1", `<item jid='dave@x.org' affiliation='outcast'><reason>troll</reason></item>`, "result"},
		9: {"alice@x.org/r1", `<item jid='dave@x.org' affiliation='none'/>`, "result"},
	} {
		id := fmt.Sprintf("a%d", i)
		raw := `<iq type='set' id='` + id + `' from='` + c.from + `' to='` + roomJID + `'><query xmlns='` + nsMUCAdmin + `'>` + c.item + `</query></iq>`
		if !g.IQ(parse(t, []byte(raw)), jid.MustParse(c.from), jid.MustParse(roomJID)) {
			t.Fatalf("%d: not taken", i)
		}
		want := `type="result"`
		if c.want != "result" {
			want = "<" + c.want + " "
		}
		waitQueued(t, h, `id="`+id+`"`, want, `to="`+c.from+`"`, `from="`+roomJID+`"`)
		switch i {
		case 3:
			if got := h.HS.Membership(room, bobPuppet); got != "leave" {
				t.Fatalf("bob's puppet after the kick: %q", got)
			}
			// The core drops the echo of a puppet's kick: the gateway
			// tells the occupants itself.
			kick := waitQueued(t, h, `to="bob@x.org/r"`, `type="unavailable"`)
			if !strings.Contains(kick, `code="307"`) || !strings.Contains(kick, `code="110"`) || !strings.Contains(kick, `nick="Alice"></actor>`) {
				t.Fatalf("bob's kick: %s", kick)
			}
			waitQueued(t, h, `to="alice@x.org/r1"`, `from="`+roomJID+`/Bob"`, `type="unavailable"`, `code="307"`, ">spam<")
		case 8:
			if got := h.HS.Membership(room, dave); got != "ban" {
				t.Fatalf("dave's puppet after the ban: %q", got)
			}
		case 9:
			if got := h.HS.Membership(room, dave); got != "leave" {
				t.Fatalf("dave's puppet after the unban: %q", got)
			}
		}
	}
	reasons := ""
	for _, r := range h.HS.Requests() {
		if r.User == alicePuppet && (strings.HasSuffix(r.Path, "/kick") || strings.HasSuffix(r.Path, "/ban")) {
			reasons += string(r.Body)
		}
	}
	if !strings.Contains(reasons, `"reason":"spam"`) || !strings.Contains(reasons, `"reason":"troll"`) {
		t.Errorf("the reasons did not reach Matrix: %s", reasons)
	}
	if got := h.HS.Membership(room, carol); got != "join" {
		t.Errorf("carol after the refusals: %q", got)
	}
}

// TestMatrixKickBanShown: Matrix kicks and bans, of an XMPP occupant's
// puppet or of a Matrix member, are 307 and 301 presences with the
// actor's nick and the reason; a member leaving by itself is a plain
// unavailable presence.
func TestMatrixKickBanShown(t *testing.T) {
	ctx := context.Background()
	_, g, h := testGateway(t)
	room, roomJID := nickRoom(t, g)
	g.rooms[room].members["@dave:localhost"] = &member{nick: "Dave"}
	g.rooms[room].announced["@dave:localhost"] = true
	g.kicked(ctx, room, bobPuppet, alicePuppet, matrix.MemberContent{Membership: "leave", Reason: "spam"})
	self := waitQueued(t, h, `to="bob@x.org/r"`, `from="`+roomJID+`/Bob"`, `type="unavailable"`)
	for _, want := range []string{`code="110"`, `code="307"`, `nick="Alice"></actor>`, `>spam</reason>`} {
		if !strings.Contains(self, want) {
			t.Errorf("bob's kick lacks %s: %s", want, self)
		}
	}
	seen := waitQueued(t, h, `to="alice@x.org/r1"`, `from="`+roomJID+`/Bob"`, `type="unavailable"`)
	if !strings.Contains(seen, `code="307"`) || strings.Contains(seen, `code="110"`) || !strings.Contains(seen, "spam") {
		t.Errorf("bob's kick seen by alice: %s", seen)
	}
	if g.rooms[room].occupants["bob@x.org"] != nil {
		t.Error("bob is still an occupant")
	}

	if !g.memberRemoved(ctx, room, carol, alicePuppet, matrix.MemberContent{Membership: "ban", Reason: "enough"}) {
		t.Fatal("a ban of a member was not taken")
	}
	banned := waitQueued(t, h, `to="alice@x.org/r2"`, `from="`+roomJID+`/Carol"`, `type="unavailable"`)
	if !strings.Contains(banned, `code="301"`) || !strings.Contains(banned, `nick="Alice"></actor>`) || !strings.Contains(banned, `affiliation="outcast"`) || !strings.Contains(banned, "enough") {
		t.Errorf("carol's ban: %s", banned)
	}
	if g.memberRemoved(ctx, room, "@dave:localhost", "@dave:localhost", matrix.MemberContent{Membership: "leave"}) {
		t.Error("a member leaving by itself was taken as a kick")
	}
}

// TestPowerLevelsChangeRoles: new power levels in a hosted room give the
// occupants the presence of each occupant whose role or affiliation
// changed (an XMPP occupant's own resources with 110), and nothing for
// the others.
func TestPowerLevelsChangeRoles(t *testing.T) {
	ctx := context.Background()
	m, g, h := testGateway(t)
	room, roomJID := nickRoom(t, g)
	key := ""
	ev := &matrix.Event{RoomID: room, Sender: carol, Type: matrix.EventPowerLevels, StateKey: &key,
		Content: json.RawMessage(`{"users":{"@carol:localhost":50,"@_xmpp_alice=40x.org:localhost":50,"@_xmpp_bob=40x.org:localhost":10}}`)}
	if err := m.HandleMatrixEvent(ctx, ev); err != nil {
		t.Fatal(err)
	}
	q := queued(t, h)
	if len(q) != 6 {
		t.Fatalf("queued %d stanzas, want 3 for Carol and 3 for Alice: %q", len(q), q)
	}
	var carols, alices int
	for _, s := range q {
		switch {
		case strings.Contains(s, `from="`+roomJID+`/Carol"`):
			carols++
			if !strings.Contains(s, `affiliation="admin"`) || !strings.Contains(s, `role="moderator"`) || strings.Contains(s, "unavailable") {
				t.Errorf("Carol's new affiliation: %s", s)
			}
		case strings.Contains(s, `from="`+roomJID+`/Alice"`):
			alices++
			if !strings.Contains(s, `affiliation="admin"`) || !strings.Contains(s, `role="moderator"`) {
				t.Errorf("Alice's new role: %s", s)
			}
			if self := strings.Contains(s, `to="alice@x.org/`); self != strings.Contains(s, `code="110"`) {
				t.Errorf("110 iff to Alice: %s", s)
			}
		default:
			t.Errorf("unexpected: %s", s)
		}
	}
	if carols != 3 || alices != 3 {
		t.Errorf("Carol's presences %d, Alice's %d; want 3 each", carols, alices)
	}
	// The same levels again: nothing.
	if err := m.HandleMatrixEvent(ctx, ev); err != nil {
		t.Fatal(err)
	}
	if n := len(queued(t, h)); n != 6 {
		t.Errorf("unchanged levels sent %d stanzas", n-6)
	}
}
