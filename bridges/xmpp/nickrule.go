package xmpp

import (
	"sort"
	"strconv"
	"strings"

	"mellium.im/xmpp/jid"

	"github.com/causewaybridge/causeway/matrix"
)

// The nick rule of hosted rooms (issue 10 §2, Bifrost #204): every
// Matrix member of a room has one MUC nick, distinct from every other
// occupant's, computed from the room's state alone:
//
//  1. A member wants its displayname as nick (nickOf: cleaned, else its
//     user ID's localpart).
//  2. XMPP occupants keep the nick they chose (a join or nick change
//     that takes a used nick is refused with 409): their nicks are
//     reserved.
//  3. Members are ordered by when they took the name they want (the
//     m.room.member event that set it, then arrival), then by user ID.
//     In that order each gets the nick it wants if no XMPP occupant
//     has it and no earlier member got it.
//  4. The others, in the same order, get the first free of
//     "<wanted> (<localpart>)", "<wanted> (<localpart>) [2]", [3]...
//
// So the first to take a name keeps it, a newcomer with the same name is
// the one disambiguated, and a nick freed (its holder leaves or renames,
// an XMPP occupant leaves or renames) goes to the next in line: the
// only changes of a member's nick that the member did not make, each
// sent as a 303 nick change.

// nickClaim is a Matrix member's claim on a MUC nick.
type nickClaim struct {
	user  matrix.UserID
	want  string // the nick it wants (nickOf its displayname)
	since int64  // when it took that name (Unix ms); orders claims
}

// assignNicks applies the nick rule to claims, with reserved the nicks
// XMPP occupants hold, and returns each claim's nick, in claims' order.
// Without a clash (the common case) it neither sorts nor builds more
// than one map.
func assignNicks(claims []nickClaim, reserved func(string) bool) []string {
	out := make([]string, len(claims))
	wanted := make(map[string]int, len(claims))
	for _, c := range claims {
		wanted[c.want]++
	}
	clash := false
	for i, c := range claims {
		out[i] = c.want
		clash = clash || wanted[c.want] > 1 || reserved(c.want)
	}
	if !clash {
		return out
	}
	order := make([]int, len(claims))
	for i := range order {
		order[i] = i
	}
	sort.Slice(order, func(i, j int) bool {
		a, b := claims[order[i]], claims[order[j]]
		if a.since != b.since {
			return a.since < b.since
		}
		return a.user < b.user
	})
	used := make(map[string]bool, len(claims))
	taken := func(n string) bool { return used[n] || reserved(n) }
	for _, i := range order {
		out[i] = ""
		if w := claims[i].want; !taken(w) {
			out[i], used[w] = w, true
		}
	}
	for _, i := range order {
		if out[i] == "" {
			n := disambiguated(claims[i].user, claims[i].want, taken)
			out[i], used[n] = n, true
		}
	}
	return out
}

// disambiguated returns the first of the disambiguated forms of want for
// u (rule 4) that is a valid nick (as its resourcepart normalises it)
// and not taken; the user ID itself if a thousand are not.
func disambiguated(u matrix.UserID, want string, taken func(string) bool) string {
	local := strings.TrimPrefix(strings.SplitN(string(u), ":", 2)[0], "@")
	base := want + " (" + local + ")"
	for i := 1; i <= 1000; i++ {
		n := base
		if i > 1 {
			n += " [" + strconv.Itoa(i) + "]"
		}
		if j, err := jid.New("x", "example.org", n); err == nil && !taken(j.Resourcepart()) {
			return j.Resourcepart()
		}
	}
	return string(u)
}

// nickAmong is the nick the rule gives u wanting want as the newest
// claimant of a room where taken reports the nicks already held: used
// for a sender no longer in the room (history and MAM).
func nickAmong(u matrix.UserID, want string, taken func(string) bool) string {
	if !taken(want) {
		return want
	}
	return disambiguated(u, want, taken)
}
