package xmpp

import (
	"context"
	"strings"
	"testing"
	"time"

	"mellium.im/xmpp/jid"

	"github.com/causewaybridge/causeway/bridges"
	"github.com/causewaybridge/causeway/internal/bridgetest"
	"github.com/causewaybridge/causeway/internal/poll"
	"github.com/causewaybridge/causeway/matrix"
)

// ephemeralRoom is a hosted room with a joined XMPP occupant (alice, two
// resources) and a Matrix member (Carol) the occupants were shown.
func ephemeralRoom(t *testing.T, g *gateway) *mucRoom {
	t.Helper()
	r := g.room("!r:localhost")
	r.loaded = true
	r.members = map[matrix.UserID]*member{"@carol:localhost": {nick: "Carol"}, "@dan:localhost": {nick: "Dan"}}
	r.announced = map[matrix.UserID]bool{"@carol:localhost": true}
	r.occupants["alice@x.org"] = &occupant{RoomJID: "room@matrix.test", Nick: "Alice", Real: "alice@x.org",
		Resources: newResourceSet("alice@x.org/r", "alice@x.org/phone"), Puppet: "@_xmpp_alice=40x.org:localhost"}
	return r
}

// requests returns the homeserver requests whose path contains part.
func requests(h *bridgetest.Host, part string) []string {
	var out []string
	for _, r := range h.HS.Requests() {
		if strings.Contains(r.Path, part) {
			out = append(out, r.Method+" "+r.Path+" "+string(r.Body))
		}
	}
	return out
}

func groupchat(t *testing.T, g *gateway, from, inner string) {
	t.Helper()
	raw := `<message type='groupchat' from='` + from + `' to='room@matrix.test'>` + inner + `</message>`
	g.Message(parse(t, []byte(raw)), jid.MustParse(from), jid.MustParse("room@matrix.test"))
}

// TestChatStatesFromXMPP: an occupant's <composing/> makes its puppet
// type (once while it keeps composing), <paused/> stops it, a message
// with a body stops it too; a stranger's chat states do nothing.
func TestChatStatesFromXMPP(t *testing.T) {
	_, g, h := testGateway(t)
	ephemeralRoom(t, g)
	const cs = `xmlns='http://jabber.org/protocol/chatstates'`
	typing := func(n int) []string {
		t.Helper()
		var got []string
		poll.Until(t, "typing requests", 5*time.Second, func() bool { got = requests(h, "/typing/"); return len(got) >= n })
		return got
	}
	groupchat(t, g, "alice@x.org/r", `<composing `+cs+`/>`)
	got := typing(1)
	if !strings.Contains(got[0], "PUT /_matrix/client/v3/rooms/!r:localhost/typing/@_xmpp_alice=40x.org:localhost") ||
		!strings.Contains(got[0], `"typing":true`) || !strings.Contains(got[0], `"timeout":30000`) {
		t.Fatalf("composing: %q", got)
	}
	groupchat(t, g, "alice@x.org/r", `<composing `+cs+`/>`)
	groupchat(t, g, "alice@x.org/r", `<paused `+cs+`/>`)
	got = typing(2)
	if !strings.Contains(got[1], `"typing":false`) {
		t.Fatalf("paused: %q", got)
	}
	groupchat(t, g, "alice@x.org/r", `<active `+cs+`/>`) // not typing: nothing to stop
	groupchat(t, g, "mallory@x.org/r", `<composing `+cs+`/>`)
	groupchat(t, g, "alice@x.org/r", `<composing `+cs+`/>`)
	groupchat(t, g, "alice@x.org/r", `<body>done</body><active `+cs+`/>`)
	got = typing(4)
	if len(got) != 4 || !strings.Contains(got[2], `"typing":true`) || !strings.Contains(got[3], `"typing":false`) {
		t.Fatalf("typing requests: %q", got)
	}
	if n := len(requests(h, "/typing/")); n != 4 {
		t.Fatalf("%d typing requests, want 4", n)
	}
}

// TestChatStatesFromMatrix: Matrix users who start typing are composing
// from their occupant JID to every resource, those who stop are active,
// with a no-store hint and no body; members the occupants were not shown
// are not told.
func TestChatStatesFromMatrix(t *testing.T) {
	ctx := context.Background()
	m, g, h := testGateway(t)
	ephemeralRoom(t, g)
	m.HandleMatrixTyping(ctx, &bridges.Typing{RoomID: "!r:localhost", UserIDs: []matrix.UserID{"@carol:localhost", "@dan:localhost"}})
	q := queued(t, h)
	if len(q) != 2 {
		t.Fatalf("composing: %q", q)
	}
	for _, s := range q {
		for _, want := range []string{`from="room@matrix.test/Carol"`, `type="groupchat"`,
			`<composing xmlns="http://jabber.org/protocol/chatstates"></composing>`, `<no-store xmlns="urn:xmpp:hints"></no-store>`,
			`<occupant-id xmlns="urn:xmpp:occupant-id:0" id="` + g.occupantID("!r:localhost", "@carol:localhost") + `">`} {
			if !strings.Contains(s, want) {
				t.Errorf("composing lacks %s: %s", want, s)
			}
		}
		if strings.Contains(s, "<body") {
			t.Errorf("a chat state with a body: %s", s)
		}
	}
	if !strings.Contains(q[0]+q[1], `to="alice@x.org/r"`) || !strings.Contains(q[0]+q[1], `to="alice@x.org/phone"`) {
		t.Errorf("not to both resources: %q", q)
	}
	m.HandleMatrixTyping(ctx, &bridges.Typing{RoomID: "!r:localhost", UserIDs: []matrix.UserID{"@carol:localhost"}})
	if q := queued(t, h); len(q) != 2 {
		t.Fatalf("no change sent something: %q", q[2:])
	}
	m.HandleMatrixTyping(ctx, &bridges.Typing{RoomID: "!r:localhost", UserIDs: nil})
	q = queued(t, h)
	if len(q) != 4 || !strings.Contains(q[2], `<active xmlns="http://jabber.org/protocol/chatstates">`) {
		t.Fatalf("stopped: %q", q)
	}
}
