// Package netstate keeps the state of one IRC network as the bridge sees it:
// channels (topic, modes, members with their prefix modes) and the users in
// them (nick, user, host, account, away message, realname).
//
// A [Network] holds each channel once and each user once, however many
// puppet connections of the bridge share them. Channels refer to users by
// pointer and store a member's prefix modes as a small bit set, so a member
// costs one map slot in its channel and one slice slot in its user, not a
// copy of its strings. Names are compared with the server's CASEMAPPING
// ([ircfmt.Casefold]).
//
// The update methods mirror what an IRC connection receives — [Network.Names]
// and [Network.EndNames] (353/366), [Network.Join], [Network.Part],
// [Network.Kick], [Network.Quit], [Network.Nick], [Network.Mode],
// [Network.Topic], [Network.Away], [Network.ChangeHost], [Network.Account],
// [Network.Realname] — and return the [Change] values the bridge turns into
// Matrix events. Updates are idempotent, so the same line seen by several
// connections changes the state once; the bridge should still feed a
// channel's lines from one connection (see [Network.ClaimReader]) because
// copies arriving in a different order (JOIN then PART seen late by a second
// connection) would replay stale events.
//
// All methods are safe for concurrent use: the IRC reader updates a Network
// while Matrix-side code reads it.
//
// The package also maps prefix modes to Matrix power levels ([PowerLevel]),
// channel modes to room join rules and directory visibility ([JoinRule],
// [Published]), and holds back netsplit quits until the users rejoin or a
// timeout passes ([Debouncer]).
package netstate
