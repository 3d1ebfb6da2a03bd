package netstate

// DefaultModePowers maps IRC prefix modes to Matrix power levels when the
// configuration gives no map. It follows matrix-appservice-irc's
// modePowerMap {o: 50, v: 1}, adds halfops at 25, and gives owners (q) and
// admins (a) the operator level 50 rather than 100: a Matrix power level
// the bridge grants can not be taken back by users below it, so IRC ranks
// never reach the room admin level.
var DefaultModePowers = map[rune]int{'q': 50, 'a': 50, 'o': 50, 'h': 25, 'v': 1}

// PowerLevel returns the Matrix power level for a member with the given
// prefix mode letters (such as "ov", see [Member.Modes]): the highest level
// modeMap gives any of them, or 0. A nil modeMap means
// [DefaultModePowers].
func PowerLevel(prefixes string, modeMap map[rune]int) int {
	if modeMap == nil {
		modeMap = DefaultModePowers
	}
	level := 0
	for _, m := range prefixes {
		if l, ok := modeMap[m]; ok && l > level {
			level = l
		}
	}
	return level
}

// Matrix join rules returned by [JoinRule].
const (
	JoinRulePublic = "public"
	JoinRuleInvite = "invite"
)

// JoinRule returns the Matrix join rule a portal room for a channel with
// modes m should have: invite when the channel is invite-only (+i) or needs
// a key (+k), else public.
func JoinRule(m Modes) string {
	if m.Has('i') || m.Has('k') {
		return JoinRuleInvite
	}
	return JoinRulePublic
}

// Published reports whether a portal room for a channel with modes m may be
// listed in the room directory: not when the channel is secret (+s) or
// private (+p), which servers hide from LIST too.
func Published(m Modes) bool {
	return !m.Has('s') && !m.Has('p')
}
