package xmpp

import (
	"context"
	"strings"
	"testing"
	"time"

	"mellium.im/xmpp/jid"

	"github.com/causewaybridge/causeway/bridges"
	"github.com/causewaybridge/causeway/intent"
	"github.com/causewaybridge/causeway/internal/poll"
	"github.com/causewaybridge/causeway/matrix"
)

// TestPresenceBook: an XMPP user's Matrix presence is the best of its
// resources; a resource stays while any channel (a room, the roster)
// shows it; a change is due once.
func TestPresenceBook(t *testing.T) {
	type step struct {
		res, via  string
		available bool
		show      string
		status    string
		want      matrixPresence
		due       bool
	}
	const (
		r1, r2 = "a@x.org/one", "a@x.org/two"
		room   = "room@matrix.test"
	)
	online := func(s string) matrixPresence { return matrixPresence{Presence: intent.PresenceOnline, Status: s} }
	away := func(s string) matrixPresence { return matrixPresence{Presence: intent.PresenceUnavailable, Status: s} }
	offline := matrixPresence{Presence: intent.PresenceOffline}
	for i, tc := range []struct {
		name  string
		steps []step
	}{
		{"available then away then back", []step{
			{r1, rosterChannel, true, "", "", online(""), true},
			{r1, rosterChannel, true, "", "", online(""), false},
			{r1, rosterChannel, true, "away", "lunch", away("lunch"), true},
			{r1, rosterChannel, true, "xa", "gone", away("gone"), true},
			{r1, rosterChannel, true, "dnd", "busy", away("busy"), true},
			{r1, rosterChannel, true, "chat", "talk to me", online("talk to me"), true},
			{r1, rosterChannel, false, "", "", offline, true},
		}},
		{"the best resource wins", []step{
			{r1, rosterChannel, true, "away", "r1 away", away("r1 away"), true},
			{r2, rosterChannel, true, "", "r2 here", online("r2 here"), true},
			{r2, rosterChannel, false, "", "", away("r1 away"), true},
		}},
		{"a room leave keeps a resource the roster shows", []step{
			{r1, room, true, "", "", online(""), true},
			{r1, rosterChannel, true, "", "", online(""), false},
			{r1, room, false, "", "", online(""), false},
			{r1, rosterChannel, false, "", "", offline, true},
		}},
		{"offline is not due for someone never seen", []step{
			{r1, room, false, "", "", offline, false},
		}},
	} {
		b := newPresenceBook()
		for j, s := range tc.steps {
			b.update("a@x.org", s.res, s.via, s.available, s.show, s.status)
			if got := b.current("a@x.org"); got != s.want {
				t.Errorf("%d %s, step %d: presence %+v, want %+v", i, tc.name, j, got, s.want)
			}
			if _, due := b.due("a@x.org"); due != s.due {
				t.Errorf("%d %s, step %d: due %t, want %t", i, tc.name, j, due, s.due)
			}
		}
	}
}

// TestSubscriptionApply: the state and answers of each subscription
// presence an XMPP user sends to a Matrix user's JID.
func TestSubscriptionApply(t *testing.T) {
	for i, tc := range []struct {
		start subscription
		typ   string
		want  subscription
		types []string
	}{
		0: {subscription{}, "subscribe", subscription{To: true, Asked: true}, []string{"subscribed", "presence", "subscribe"}},
		1: {subscription{To: true, Asked: true}, "subscribe", subscription{To: true, Asked: true}, []string{"subscribed", "presence"}},
		2: {subscription{To: true, Asked: true}, "subscribed", subscription{To: true, From: true}, nil},
		3: {subscription{To: true, From: true}, "subscribe", subscription{To: true, From: true}, []string{"subscribed", "presence"}},
		4: {subscription{To: true, From: true}, "unsubscribe", subscription{From: true}, []string{"unavailable"}},
		5: {subscription{From: true}, "unsubscribe", subscription{From: true}, nil},
		6: {subscription{To: true, From: true}, "unsubscribed", subscription{To: true}, nil},
		7: {subscription{To: true, Asked: true}, "unsubscribed", subscription{To: true}, nil},
		8: {subscription{}, "probe", subscription{}, nil},
	} {
		s := tc.start
		a := s.apply(tc.typ)
		if s != tc.want || len(a.Types) != len(tc.types) {
			t.Errorf("%d: %s on %+v: %+v answering %v; want %+v answering %v", i, tc.typ, tc.start, s, a.Types, tc.want, tc.types)
			continue
		}
		for j := range a.Types {
			if a.Types[j] != tc.types[j] {
				t.Errorf("%d: answers %v, want %v", i, a.Types, tc.types)
			}
		}
	}
}

// presence offers a presence from alice@x.org/r to the gateway.
func presence(t *testing.T, g *gateway, raw string) {
	t.Helper()
	s := parse(t, []byte(raw))
	g.Presence(s, jid.MustParse(s.Attr("from")), jid.MustParse(s.Attr("to")))
}

// TestSubscriptionsAndPresence: a subscribe to a Matrix user's JID is
// answered subscribed, the user's presence, and a subscribe with the
// displayname as nick; the state is stored; Matrix presence changes
// reach the subscriber until it unsubscribes (answered unavailable); a
// probe gets the current presence; the XMPP user's away presence becomes
// its puppet's Matrix presence.
func TestSubscriptionsAndPresence(t *testing.T) {
	ctx := context.Background()
	m, g, h := testGateway(t)
	h.HS.SetProfile(carol, "displayname", "Carol <C>")
	cj := carolJID(t)
	n := 0
	next := func(what string, want ...string) {
		t.Helper()
		n++
		poll.Until(t, what, 5*time.Second, func() bool { return len(queued(t, h)) >= n })
		got := queued(t, h)[n-1]
		for _, w := range want {
			if !strings.Contains(got, w) {
				t.Fatalf("%s lacks %s: %s", what, w, got)
			}
		}
	}
	presence(t, g, `<presence xmlns='jabber:client' from='alice@x.org' to='`+cj+`' type='subscribe'/>`)
	next("subscribed", `type="subscribed"`, `from="`+cj+`"`, `to="alice@x.org"`)
	next("presence", `<presence from="`+cj+`" to="alice@x.org" type="unavailable">`) // offline on the fake homeserver
	next("subscribe", `type="subscribe"`, `<nick xmlns="http://jabber.org/protocol/nick">Carol &lt;C&gt;</nick>`)
	s, err := g.loadSubscription(ctx, carol, "alice@x.org")
	if err != nil || s != (subscription{To: true, Asked: true}) {
		t.Fatalf("stored: %+v %v", s, err)
	}
	presence(t, g, `<presence xmlns='jabber:client' from='alice@x.org' to='`+cj+`' type='subscribed'/>`)
	poll.Until(t, "subscribed stored", 5*time.Second, func() bool {
		s, _ := g.loadSubscription(ctx, carol, "alice@x.org")
		return s == subscription{To: true, From: true}
	})

	// A restart counts the subscription again.
	g2, err := newGateway(m, h)
	if err != nil {
		t.Fatal(err)
	}
	if err := g2.loadWatched(ctx); err != nil || g2.watched[carol] != 1 {
		t.Fatalf("after a restart: watched %v, %v", g2.watched, err)
	}
	// Presence of a Matrix user nobody follows is dropped at once.
	m.HandleMatrixPresence(ctx, &bridges.Presence{UserID: "@dave:localhost", Presence: "unavailable"})
	g.mxMu.Lock()
	_, kept := g.mx["@dave:localhost"]
	g.mxMu.Unlock()
	if kept {
		t.Fatal("the presence of a Matrix user nobody follows was kept")
	}

	m.HandleMatrixPresence(ctx, &bridges.Presence{UserID: carol, Presence: "unavailable", StatusMsg: "lunch"})
	next("Matrix presence", `from="`+cj+`"`, `to="alice@x.org"`, `<show>away</show>`, `<status>lunch</status>`)
	m.HandleMatrixPresence(ctx, &bridges.Presence{UserID: carol, Presence: "unavailable", StatusMsg: "lunch"})
	presence(t, g, `<presence xmlns='jabber:client' from='alice@x.org' to='`+cj+`' type='probe'/>`)
	next("probe answer (the repeated Matrix presence was not sent again)", `<show>away</show>`, `<status>lunch</status>`)

	presence(t, g, `<presence xmlns='jabber:client' from='alice@x.org' to='`+cj+`' type='unsubscribe'/>`)
	next("unsubscribe answer", `type="unavailable"`, `from="`+cj+`"`)
	m.HandleMatrixPresence(ctx, &bridges.Presence{UserID: carol, Presence: "online"})

	// XMPP → Matrix: the puppet's presence.
	presence(t, g, `<presence xmlns='jabber:client' from='alice@x.org/r' to='`+cj+`'><show>away</show><status>brb</status></presence>`)
	poll.Until(t, "puppet presence", 5*time.Second, func() bool {
		return strings.Contains(h.HS.Presence(alicePuppet), `"status_msg":"brb"`)
	})
	if p := h.HS.Presence(alicePuppet); !strings.Contains(p, `"presence":"unavailable"`) {
		t.Fatalf("puppet presence: %s", p)
	}
	presence(t, g, `<presence xmlns='jabber:client' from='alice@x.org/r' to='`+cj+`' type='unavailable'/>`)
	poll.Until(t, "puppet offline", 5*time.Second, func() bool {
		return strings.Contains(h.HS.Presence(alicePuppet), `"presence":"offline"`)
	})
	if got := len(queued(t, h)); got != n {
		t.Fatalf("%d stanzas queued, want %d (nothing after the unsubscribe): %q", got, n, queued(t, h)[n:])
	}
}

// TestOccupantPresence: an occupant's new availability goes to every
// occupant (its own resource with 110) and to its puppet; a Matrix
// member's presence reaches the occupants from its nick.
func TestOccupantPresence(t *testing.T) {
	ctx := context.Background()
	m, g, h := testGateway(t)
	room := matrix.RoomID("!r:localhost")
	r := g.room(room)
	r.loaded = true
	r.members = map[matrix.UserID]*member{carol: {nick: "Carol"}}
	r.announced = map[matrix.UserID]bool{carol: true}
	alice := &occupant{RoomJID: "room@matrix.test", Nick: "Alice", Real: "alice@x.org", Resources: newResourceSet("alice@x.org/r"), Puppet: alicePuppet}
	bob := &occupant{RoomJID: "room@matrix.test", Nick: "Bob", Real: "bob@x.org", Resources: newResourceSet("bob@x.org/r"), Puppet: "@_xmpp_bob=40x.org:localhost"}
	r.occupants[alice.Real], r.occupants[bob.Real] = alice, bob
	g.mu.Lock()
	g.occupantUpdate(ctx, r, alice, jid.MustParse("alice@x.org/r"), "dnd", "meeting")
	g.mu.Unlock()
	q := queued(t, h)
	if len(q) != 2 {
		t.Fatalf("queued: %q", q)
	}
	for _, s := range q {
		for _, want := range []string{`from="room@matrix.test/Alice"`, `<show>dnd</show>`, `<status>meeting</status>`} {
			if !strings.Contains(s, want) {
				t.Errorf("lacks %s: %s", want, s)
			}
		}
		if self := strings.Contains(s, `to="alice@x.org/r"`); self != strings.Contains(s, `code="110"`) {
			t.Errorf("110 only to the occupant itself: %s", s)
		}
	}
	poll.Until(t, "puppet presence", 5*time.Second, func() bool {
		return strings.Contains(h.HS.Presence(alicePuppet), `"status_msg":"meeting"`)
	})

	m.HandleMatrixPresence(ctx, &bridges.Presence{UserID: carol, Presence: "unavailable", StatusMsg: "away from keyboard"})
	poll.Until(t, "Carol's presence to both", 5*time.Second, func() bool { return len(queued(t, h)) == 4 })
	for _, s := range queued(t, h)[2:] {
		for _, want := range []string{`from="room@matrix.test/Carol"`, `<show>away</show>`, `<status>away from keyboard</status>`, `affiliation="member"`} {
			if !strings.Contains(s, want) {
				t.Errorf("lacks %s: %s", want, s)
			}
		}
	}
}
