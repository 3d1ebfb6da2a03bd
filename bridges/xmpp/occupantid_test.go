package xmpp

import (
	"context"
	"regexp"
	"strings"
	"testing"

	"mellium.im/xmpp/jid"

	"github.com/causewaybridge/causeway/matrix"
)

// TestOccupantIDs: ids are opaque (base64url of 32 bytes), the same for
// a user in a room every time and after a restart (the secret is kept),
// different in another room, for another user, and under another secret.
func TestOccupantIDs(t *testing.T) {
	ctx := context.Background()
	_, g, h := testGateway(t)
	if err := g.load(ctx); err != nil {
		t.Fatal(err)
	}
	a := g.occupantID("!r:hs", "alice@x.org")
	if !regexp.MustCompile(`^[A-Za-z0-9_-]{43}$`).MatchString(a) || strings.Contains(a, "alice") {
		t.Fatalf("id %q is not opaque base64url", a)
	}
	// A restart reads the same secret.
	secret, err := loadOccupantSecret(ctx, h.KV())
	if err != nil {
		t.Fatal(err)
	}
	if got := occupantIDWith(secret, "!r:hs", "alice@x.org"); got != a {
		t.Errorf("after a restart: %q, want %q", got, a)
	}
	for _, other := range []string{
		g.occupantID("!other:hs", "alice@x.org"),
		g.occupantID("!r:hs", "bob@x.org"),
		g.occupantID("!r:hs", "@alice:x.org"),
		occupantIDWith([]byte("another secret"), "!r:hs", "alice@x.org"),
	} {
		if other == a {
			t.Errorf("id %q shared", a)
		}
	}
}

// TestOccupantIDOnStanzas: the presences a joiner gets (Matrix members,
// other XMPP occupants, its own) and the room's messages carry the
// occupant-id of the occupant they are about; an occupant-id a client
// puts in its message never crosses.
func TestOccupantIDOnStanzas(t *testing.T) {
	ctx := context.Background()
	m, g, h := testGateway(t)
	if err := g.load(ctx); err != nil {
		t.Fatal(err)
	}
	room := matrix.RoomID("!r:localhost")
	r := g.room(room)
	r.loaded = true
	r.members = map[matrix.UserID]*member{"@carol:localhost": {nick: "Carol", level: 100}}
	bob := &occupant{RoomJID: "room@matrix.test", Nick: "Bob", Real: "bob@x.org", Resources: newResourceSet("bob@x.org/r"),
		Puppet: "@_xmpp_bob=40x.org:localhost"}
	alice := &occupant{RoomJID: "room@matrix.test", Nick: "Alice", Real: "alice@x.org", Resources: newResourceSet("alice@x.org/r"),
		Puppet: "@_xmpp_alice=40x.org:localhost", joining: true}
	r.occupants[bob.Real], r.occupants[alice.Real] = bob, alice
	g.mu.Lock()
	g.sendJoin(ctx, r, alice, "alice@x.org/r", "", true, nil, nil)
	g.mu.Unlock()
	idEl := func(user string) string {
		return `<occupant-id xmlns="urn:xmpp:occupant-id:0" id="` + g.occupantID(room, user) + `">`
	}
	want := map[string]string{
		`from="room@matrix.test/Carol" to="alice@x.org/r"`: idEl("@carol:localhost"),
		`from="room@matrix.test/Bob" to="alice@x.org/r"`:   idEl("bob@x.org"),
		`from="room@matrix.test/Alice" to="alice@x.org/r"`: idEl("alice@x.org"),
		`from="room@matrix.test/Alice" to="bob@x.org/r"`:   idEl("alice@x.org"),
	}
	q := queued(t, h)
	for prefix, el := range want {
		found := false
		for _, s := range q {
			if strings.HasPrefix(s, "<presence "+prefix) {
				found = true
				if strings.Count(s, "<occupant-id") != 1 || !strings.Contains(s, el) {
					t.Errorf("%s: want %s: %s", prefix, el, s)
				}
			}
		}
		if !found {
			t.Errorf("no presence %s in %q", prefix, q)
		}
	}

	spoof := `<message type='groupchat' id='m9' to='room@matrix.test' from='bob@x.org/r'><body>hi</body>` +
		`<occupant-id xmlns='urn:xmpp:occupant-id:0' id='forged'/></message>`
	n := len(q)
	g.say(ctx, jid.MustParse("bob@x.org/r"), jid.MustParse("room@matrix.test"), "m9", "", inboundOf(parse(t, []byte(spoof))))
	m.OnOutboxSent(ctx, h.Sent.Ops()[0], "$ev")
	g.fromMatrix(ctx, room, "@carol:localhost", "$c1", "from carol", nil)
	q = queued(t, h)[n:]
	if len(q) != 4 {
		t.Fatalf("messages: %q", q)
	}
	for _, s := range q {
		who := idEl("bob@x.org")
		if strings.Contains(s, "from carol") {
			who = idEl("@carol:localhost")
		}
		if strings.Contains(s, "forged") || strings.Count(s, "<occupant-id") != 1 || !strings.Contains(s, who) {
			t.Errorf("message: want %s: %s", who, s)
		}
	}
}
