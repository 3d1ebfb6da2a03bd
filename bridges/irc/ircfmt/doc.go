// Package ircfmt converts message text between IRC and Matrix.
//
// It is pure: no network, no logging, no global mutable state. It covers
//
//   - mIRC formatting codes (bold, italic, underline, strikethrough,
//     monospace, colours, hex colours, reverse, reset) to the Matrix HTML
//     subset plus a plain body ([ToMatrix]), with optional mention pills;
//   - Matrix HTML back to mIRC-formatted IRC lines ([FromMatrix]);
//   - splitting text into lines that fit the IRC 512-byte limit without
//     cutting UTF-8 sequences and carrying formatting over ([SplitLines],
//     [PayloadLimit]);
//   - nick sanitizing, collision variants and CASEMAPPING casefolding
//     ([SanitizeNick], [NickVariants], [Casefold]).
//
// Nothing produced for IRC contains CR, LF or NUL, and nothing produced for
// Matrix contains HTML that did not come from this package: IRC text is
// always escaped.
package ircfmt
