package xmpp

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"testing"

	"mellium.im/xmpp/jid"

	"github.com/causewaybridge/causeway/matrix"
)

// TestAssignNicks: the nick rule on its own. Every case lists the
// claims and the XMPP nicks and wants every member's nick.
func TestAssignNicks(t *testing.T) {
	for i, tc := range []struct {
		name     string
		claims   []nickClaim
		reserved []string
		want     map[matrix.UserID]string
	}{
		0: {name: "no clash", claims: []nickClaim{{"@a:x", "Ann", 1}, {"@b:x", "Bob", 2}},
			want: map[matrix.UserID]string{"@a:x": "Ann", "@b:x": "Bob"}},
		1: {name: "two Matrix members: the first to take the name keeps it",
			claims: []nickClaim{{"@zed:x", "Sam", 1}, {"@amy:x", "Sam", 2}},
			want:   map[matrix.UserID]string{"@zed:x": "Sam", "@amy:x": "Sam (amy)"}},
		2: {name: "same time: user ID order", claims: []nickClaim{{"@zed:x", "Sam", 5}, {"@amy:x", "Sam", 5}},
			want: map[matrix.UserID]string{"@amy:x": "Sam", "@zed:x": "Sam (zed)"}},
		3: {name: "an XMPP occupant keeps its nick", claims: []nickClaim{{"@sam:x", "Sam", 1}}, reserved: []string{"Sam"},
			want: map[matrix.UserID]string{"@sam:x": "Sam (sam)"}},
		4: {name: "same localpart on two servers", claims: []nickClaim{{"@sam:x", "Sam", 1}, {"@sam:y", "Sam", 2}, {"@sam:z", "Sam", 3}},
			want: map[matrix.UserID]string{"@sam:x": "Sam", "@sam:y": "Sam (sam)", "@sam:z": "Sam (sam) [2]"}},
		5: {name: "a displayname that is another's disambiguated form is its own",
			claims:   []nickClaim{{"@sam:x", "Sam", 1}, {"@bob:x", "Sam", 2}, {"@eve:x", "Sam (bob)", 3}},
			reserved: nil,
			want:     map[matrix.UserID]string{"@sam:x": "Sam", "@eve:x": "Sam (bob)", "@bob:x": "Sam (bob) [2]"}},
		6: {name: "the disambiguated form taken by XMPP", claims: []nickClaim{{"@sam:x", "Sam", 1}}, reserved: []string{"Sam", "Sam (sam)"},
			want: map[matrix.UserID]string{"@sam:x": "Sam (sam) [2]"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := map[string]bool{}
			for _, n := range tc.reserved {
				res[n] = true
			}
			got := byUser(tc.claims, assignNicks(tc.claims, func(n string) bool { return res[n] }))
			for u, w := range tc.want {
				if got[u] != w {
					t.Errorf("%d: %s got %q, want %q", i, u, got[u], w)
				}
			}
			seen := map[string]bool{}
			for _, n := range got {
				if seen[n] || res[n] {
					t.Errorf("%d: nick %q given twice", i, n)
				}
				seen[n] = true
			}
		})
	}
}

// byUser maps claims' users to nicks.
func byUser(claims []nickClaim, nicks []string) map[matrix.UserID]string {
	m := map[matrix.UserID]string{}
	for i, c := range claims {
		m[c.user] = nicks[i]
	}
	return m
}

// TestAssignNicksStable: the rule depends on the claims, not on their
// order nor on who joins later: a newcomer with a taken name never takes
// it, and a name freed goes to the earliest claimant left.
func TestAssignNicksStable(t *testing.T) {
	none := func(string) bool { return false }
	a, b, c := nickClaim{"@zed:x", "Sam", 1}, nickClaim{"@amy:x", "Sam", 2}, nickClaim{"@bob:x", "Sam", 3}
	first := byUser([]nickClaim{a, b}, assignNicks([]nickClaim{a, b}, none))
	for _, order := range [][]nickClaim{{b, a}, {a, b, c}, {c, b, a}} {
		got := byUser(order, assignNicks(order, none))
		for u, n := range first {
			if got[u] != n {
				t.Errorf("%v: %s is %q, was %q", order, u, got[u], n)
			}
		}
	}
	// zed renames: Sam is freed and goes to amy (the next claimant), not bob.
	a.want, a.since = "Zed", 4
	got := byUser([]nickClaim{a, b, c}, assignNicks([]nickClaim{a, b, c}, none))
	if got["@amy:x"] != "Sam" || got["@bob:x"] != "Sam (bob)" || got["@zed:x"] != "Zed" {
		t.Errorf("after the rename: %v", got)
	}
	// zed takes Sam again: it is the newest claimant now.
	a.want, a.since = "Sam", 5
	got = byUser([]nickClaim{a, b, c}, assignNicks([]nickClaim{a, b, c}, none))
	if got["@amy:x"] != "Sam" || got["@zed:x"] != "Sam (zed)" {
		t.Errorf("after renaming back: %v", got)
	}
	if n := disambiguated("@x:y", strings.Repeat("n", 1100), none); n != "@x:y" {
		t.Errorf("an over-long name: %q", n)
	}
}

// TestMatrixNickClash: in a hosted room, two Matrix members with one
// displayname, and a Matrix member with an XMPP occupant's nick, are
// distinct occupants; a rename freeing a name is a 303 nick change of
// the next in line; an XMPP occupant leaving frees its nick the same
// way; a former member in the archive gets the rule's nick against
// today's.
func TestMatrixNickClash(t *testing.T) {
	ctx := context.Background()
	_, g, h := testGateway(t)
	room, roomJID := nickRoom(t, g) // Carol (Matrix); Alice and Bob (XMPP)
	r := g.room(room)
	nickOf := func(u matrix.UserID) string {
		g.mu.Lock()
		defer g.mu.Unlock()
		return r.members[u].nick
	}
	g.membership(ctx, room, "@carl:localhost", matrix.MemberContent{Membership: "join", Displayname: "Carol"})
	g.membership(ctx, room, "@al:localhost", matrix.MemberContent{Membership: "join", Displayname: "Alice"})
	if n := nickOf("@carl:localhost"); n != "Carol (carl)" {
		t.Errorf("second Carol: %q", n)
	}
	if n := nickOf("@carol:localhost"); n != "Carol" {
		t.Errorf("first Carol: %q", n)
	}
	if n := nickOf("@al:localhost"); n != "Alice (al)" {
		t.Errorf("Matrix Alice: %q", n)
	}
	q := queued(t, h)
	for _, s := range q {
		if strings.Contains(s, `from="`+roomJID+`/Carol"`) || strings.Contains(s, `from="`+roomJID+`/Alice"`) {
			t.Errorf("a newcomer took a used nick: %s", s)
		}
	}
	// Carol renames: carl gets Carol, as a 303 pair.
	g.membership(ctx, room, "@carol:localhost", matrix.MemberContent{Membership: "join", Displayname: "Caro"})
	if a, b := nickOf("@carol:localhost"), nickOf("@carl:localhost"); a != "Caro" || b != "Carol" {
		t.Fatalf("after the rename: %q and %q", a, b)
	}
	q2 := queued(t, h)[len(q):]
	var promoted bool
	for _, s := range q2 {
		if strings.Contains(s, `from="`+roomJID+`/Carol (carl)"`) && strings.Contains(s, `code="303"`) && strings.Contains(s, `nick="Carol"`) {
			promoted = true
		}
	}
	if !promoted {
		t.Errorf("no 303 from Carol (carl) to Carol: %q", q2)
	}
	// Alice (XMPP) leaves: the Matrix Alice gets the nick.
	g.leave(ctx, jid.MustParse("alice@x.org/r1"), jid.MustParse(roomJID), false)
	g.leave(ctx, jid.MustParse("alice@x.org/r2"), jid.MustParse(roomJID), false)
	if n := nickOf("@al:localhost"); n != "Alice" {
		t.Errorf("after the XMPP Alice left: %q", n)
	}
	// An XMPP join with a Matrix member's nick is refused: a joiner
	// does not take the nick while the members are read.
	g.mu.Lock()
	r.occupants["dan@x.org"] = &occupant{RoomJID: roomJID, Nick: "Carol", Real: "dan@x.org", joining: true,
		Resources: newResourceSet("dan@x.org/r"), Puppet: "@_xmpp_dan=40x.org:localhost"}
	g.settleLocked(ctx, r)
	delete(r.occupants, "dan@x.org")
	g.mu.Unlock()
	if n := nickOf("@carl:localhost"); n != "Carol" {
		t.Errorf("a joining XMPP user took Carol: %q", n)
	}
	g.mu.Lock()
	who := r.nickTaken("Carol", "dan@x.org")
	former := g.formerNickLocked(r, "@old:localhost", "Carol")
	g.mu.Unlock()
	if who == "" {
		t.Error("Carol is free for XMPP")
	}
	if former != "Carol (old)" {
		t.Errorf("a former member named Carol in the archive: %q", former)
	}
}

// FuzzAssignNicks: whatever the names (one line each, "user|want|since"
// in claims, one nick a line in reserved), every member gets one nick,
// none twice, none reserved, a member gets the name it wants when
// nobody else claims it and no XMPP occupant has it, and the answer does
// not depend on the claims' order.
func FuzzAssignNicks(f *testing.F) {
	f.Add("@a:x|Sam|1\n@b:x|Sam|2\n@c:y|Sam (b)|3", "Sam (a)")
	f.Add("@sam:x|Sam|1\n@sam:y|Sam|1", "Sam\nSam (sam)")
	f.Fuzz(func(t *testing.T, lines, xmppNicks string) {
		var claims []nickClaim
		users := map[matrix.UserID]bool{}
		wants := map[string]int{}
		for _, l := range strings.Split(lines, "\n") {
			p := strings.SplitN(l, "|", 3)
			if len(p) != 3 || users[matrix.UserID(p[0])] {
				continue
			}
			want := cleanNick(p[1])
			if want == "" || !validNick(want) {
				continue
			}
			since, _ := strconv.ParseInt(p[2], 10, 64)
			users[matrix.UserID(p[0])] = true
			wants[want]++
			claims = append(claims, nickClaim{user: matrix.UserID(p[0]), want: want, since: since})
		}
		res := map[string]bool{}
		for _, n := range strings.Split(xmppNicks, "\n") {
			res[n] = true
		}
		reserved := func(n string) bool { return res[n] }
		got := assignNicks(claims, reserved)
		seen := map[string]bool{}
		for i, n := range got {
			if n == "" || seen[n] || res[n] {
				t.Fatalf("%s got %q (twice or reserved): %v", claims[i].user, n, got)
			}
			seen[n] = true
			if wants[claims[i].want] == 1 && !res[claims[i].want] && n != claims[i].want {
				t.Fatalf("%s alone wanting %q got %q", claims[i].user, claims[i].want, n)
			}
		}
		rev := append([]nickClaim(nil), claims...)
		slices.Reverse(rev)
		a, b := byUser(claims, got), byUser(rev, assignNicks(rev, reserved))
		for u, n := range a {
			if b[u] != n {
				t.Fatalf("order changed %s: %q vs %q", u, n, b[u])
			}
		}
	})
}

// validNick reports whether n is a resourcepart as it is.
func validNick(n string) bool {
	j, err := jid.New("x", "example.org", n)
	return err == nil && j.Resourcepart() == n
}

// TestReloadMembersDeparted: when the members are read again, an
// announced member no longer among them leaves for the occupants
// (unavailable presence) before its nick may go to someone else.
func TestReloadMembersDeparted(t *testing.T) {
	ctx := context.Background()
	_, g, h := testGateway(t)
	room, roomJID := nickRoom(t, g) // Carol announced, not on the homeserver
	h.HS.SetMembership(room, "@carl:localhost", "join")
	r := g.room(room)
	before := len(queued(t, h))
	if err := g.loadMembers(ctx, r, g.m.host.Matrix().BotUserID()); err != nil {
		t.Fatal(err)
	}
	var left bool
	for _, s := range queued(t, h)[before:] {
		if strings.Contains(s, `from="`+roomJID+`/Carol"`) && strings.Contains(s, `type="unavailable"`) {
			left = true
		}
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if !left || r.announced["@carol:localhost"] || r.members["@carl:localhost"] == nil {
		t.Errorf("Carol left: %v; announced: %v; members: %v", left, r.announced, r.members)
	}
}
