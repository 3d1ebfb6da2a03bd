// Package puppet maps remote identities (IRC nicks, XMPP JIDs, channel
// names) to Matrix user IDs and room aliases and back, and produces the
// appservice registration regexes for them, all from one template per
// bridge module so the three can never disagree.
//
// # Templates
//
// A template is a sigil (@ for users, # for room aliases), a localpart made of
// literal text and named placeholders in braces, and the fixed suffix
// ":{server}", for example
//
//	@irc_{network}_{nick}:{server}
//	#irc_{network}_{channel}:{server}
//
// {server} is the homeserver name, given once when a [Namespace] is built.
// [NewTemplate] rejects, with an error that says why, every template whose IDs
// could not be parsed back unambiguously: an unknown sigil, a missing
// ":{server}", no literal prefix (the namespace would claim every ID on the
// server), two placeholders with nothing between them, a literal that starts
// with a character used by escape sequences, duplicate or malformed names,
// and literal characters a Matrix localpart cannot hold.
//
// # Escaping
//
// Values may be any byte string: any UTF-8 text (uppercase, spaces, emoji,
// "#", "_", "=") and even invalid UTF-8, as IRC nicks sometimes are. Each
// byte that may not appear in the value's position is written as "=" and two
// lowercase hex digits, as in the Matrix specification's "mapping from other
// character sets" and mautrix. Both also write uppercase as "_" plus the
// lowercase letter; that would make "_" ambiguous as a separator, so here "A"
// becomes "=41" and "=" is the only escape character. Bridges for case-insensitive networks should casefold values (IRC
// CASEMAPPING) before formatting, or "Nick" and "nick" become two puppets.
//
// The bytes left as they are depend on the sigil and the position:
//
//   - in user IDs: a-z 0-9 . _ - / (the localpart grammar without "=");
//   - in room aliases: the same plus # & + ! so that IRC channel names stay
//     readable (#irc_libera_#go-nuts:example.org);
//   - minus the first byte of the literal that follows the placeholder, if
//     any. In @irc_{network}_{nick} an "_" in the network is escaped ("=5f"),
//     while an "_" in the nick, the last placeholder, is not.
//
// So a value ends exactly at the first occurrence of the byte that starts the
// next literal, which makes parsing a single left-to-right scan with one
// possible answer. Parse accepts only the canonical escaping Format writes
// (lowercase hex, and only for bytes that need it), so formatting is a
// bijection: two different sets of values never yield the same ID, and one
// set never has two IDs. An ID longer than Matrix's 255-byte limit is an
// error ([ErrTooLong]), never silently truncated, and an empty value is an
// error ([ErrEmptyValue]).
//
// # Registration regexes
//
// [Namespace.Regex] is anchored (^...$, for Dendrite, which matches
// unanchored) and matches exactly the IDs Format can produce, up to the
// 255-byte limit, which regexes cannot express. [Namespace.ClaimRegex]
// matches every ID with the namespace's literal prefix and suffix, the whole
// area the bridge should claim exclusively so that nobody can register a
// look-alike such as a non-canonical "@irc_Libera_x:example.org". Both are
// plain RE2/Python-compatible strings ready for the registration YAML.
//
// # One namespace per network
//
// [Namespace.Bind] fixes a placeholder, typically the network, so a module
// can hold one namespace per remote network: it formats the same IDs, but
// Parse, Owns and both regexes cover that network only. [Namespace.Owns]
// and [Namespace.Claims] do not allocate, so they are cheap enough to run on
// every event, for example to drop echoes of the bridge's own puppets.
package puppet
