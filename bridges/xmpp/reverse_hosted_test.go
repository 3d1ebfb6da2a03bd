package xmpp

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"mellium.im/xmpp/jid"

	"github.com/causewaybridge/causeway/bridges/xmpp/address"
	"github.com/causewaybridge/causeway/internal/fakehs"
	"github.com/causewaybridge/causeway/matrix"
)

// TestReversePortalNotHosted: a join to the room ID of a reverse portal
// gets a cancel <gone/> presence error redirecting to the real MUC, and
// neither an occupant nor a puppet join follows; the component's room
// list (disco#items) leaves the portal out.
func TestReversePortalNotHosted(t *testing.T) {
	m, g, h := testGateway(t)
	const portal = matrix.RoomID("!portal:localhost")
	m.rev = newReverse(m, g)
	m.rev.add(portal, "lounge@conference.example.net")
	local, err := address.Localpart(string(portal))
	if err != nil {
		t.Fatal(err)
	}
	roomJID := local + "@matrix.test"
	raw := `<presence id='j1' from='alice@x.org/r1' to='` + roomJID + `/Alice'><x xmlns='` + nsMUC + `'/></presence>`
	g.Presence(parse(t, []byte(raw)), jid.MustParse("alice@x.org/r1"), jid.MustParse(roomJID+"/Alice"))
	got := waitQueued(t, h, `id="j1"`, `to="alice@x.org/r1"`, `type="error"`)
	for _, want := range []string{`type="cancel"`, `<gone xmlns="urn:ietf:params:xml:ns:xmpp-stanzas">xmpp:lounge@conference.example.net?join</gone>`,
		`from="` + roomJID + `/Alice"`, `<x xmlns="` + nsMUC + `">`} {
		if !strings.Contains(got, want) {
			t.Errorf("the refusal lacks %s: %s", want, got)
		}
	}
	g.mu.Lock()
	n := len(g.room(portal).occupants)
	g.mu.Unlock()
	if n != 0 {
		t.Errorf("%d occupants in the reverse portal", n)
	}
	for _, r := range h.HS.Requests() {
		if strings.Contains(r.Path, "/join") {
			t.Errorf("a join reached Matrix: %s %s", r.User, r.Path)
		}
	}

	hs := fakehs.New(t, "hs", "@bot:hs")
	hs.AddPublicRoom(fakehs.PublicRoom{RoomID: "!a:hs", Alias: "#a:hs"})
	hs.AddPublicRoom(fakehs.PublicRoom{RoomID: portal, Alias: "#_xmpp_lounge_conference.example.net:hs"})
	hs.AddPublicRoom(fakehs.PublicRoom{RoomID: "!b:hs"})
	r := &rooms{hs: hs.URL, http: http.DefaultClient, hidden: func(room matrix.RoomID) bool { _, ok := g.reversedMUC(room); return ok }}
	list, err := r.PublicRooms(context.Background(), 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].ID != "#a:hs" || list[1].ID != "!b:hs" {
		t.Fatalf("room list: %+v", list)
	}
}

// TestURIJID: JIDs in xmpp: URIs keep what RFC 5122 allows and
// percent-encode the rest.
func TestURIJID(t *testing.T) {
	for i, c := range []struct{ in, want string }{
		0: {"lounge@conference.example.net", "lounge@conference.example.net"},
		1: {"a&b'c?d#e@muc.x", "a%26b%27c%3Fd%23e@muc.x"},
		2: {"caf\u00e9@muc.x", "caf%C3%A9@muc.x"},
		3: {"a b\\20@muc.x", "a%20b%5C20@muc.x"},
	} {
		if got := uriJID(c.in); got != c.want {
			t.Errorf("%d: uriJID(%q) = %q, want %q", i, c.in, got, c.want)
		}
	}
}
