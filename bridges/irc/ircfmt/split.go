package ircfmt

import (
	"strings"
	"unicode/utf8"
)

// LineLimit is the maximum length of an IRC line in bytes, CR LF included
// (RFC 1459 section 2.3; message tags are counted separately).
const LineLimit = 512

// ActionOverhead is the number of bytes CTCP ACTION framing adds to a
// message: "\x01ACTION " and the closing "\x01".
const ActionOverhead = len("\x01ACTION \x01")

// SourceLen returns the length of the source prefix a server prepends to a
// relayed message, ":nick!user@host " including the colon and the space.
func SourceLen(nick, user, host string) int {
	return len(":!@ ") + len(nick) + len(user) + len(host)
}

// PayloadLimit returns how many bytes of text fit in one "<command>
// <target> :<text>" line once the server has prepended a source of
// sourceLen bytes (see [SourceLen]) and the line is terminated by CR LF.
// Subtract [ActionOverhead] for CTCP ACTION. The result is never below zero.
func PayloadLimit(command, target string, sourceLen int) int {
	n := LineLimit - len("\r\n") - sourceLen - len(command) - len(" ") - len(target) - len(" :")
	return max(n, 0)
}

// minSplit is the smallest limit SplitLines honours: one UTF-8 sequence.
const minSplit = utf8.UTFMax

// SplitLines splits text into IRC lines of at most maxBytes bytes each.
//
// The text is split at line breaks first (LF, CR LF or a lone CR; NUL is
// dropped, lines with no visible text are skipped), then long lines are split by bytes, at the
// last space that fits when there is one, else between characters, and never
// inside a UTF-8 sequence or a formatting code. The space at a split is
// dropped. When a formatted line is split, each continuation starts with
// the codes that restore the formatting in effect, as long as they leave
// room for text. A maxBytes below [utf8.UTFMax] is treated as
// [utf8.UTFMax], so that any character fits.
func SplitLines(text string, maxBytes int) []string {
	maxBytes = max(maxBytes, minSplit)
	var out []string
	for line := range strings.SplitSeq(normalizeNewlines(text), "\n") {
		line = strings.ReplaceAll(line, "\x00", "")
		if strings.TrimSpace(Strip(line)) == "" {
			continue
		}
		out = splitLine(out, line, maxBytes)
	}
	return out
}

// splitLine appends the pieces of one line to out. Each piece is prefix
// (codes restoring the formatting in effect) followed by a part of line; st
// is the formatting a client sees at the start of line.
func splitLine(out []string, line string, maxBytes int) []string {
	var st style
	prefix := ""
	for len(prefix)+len(line) > maxBytes {
		cut, resume, ok := cutPoint(line, maxBytes-len(prefix))
		if !ok {
			if prefix != "" {
				// The restoring codes leave no room for the next character:
				// continue unformatted.
				prefix, st = "", style{}
				continue
			}
			// Only a formatting code can be longer than the limit (a long
			// colour code with a tiny limit): drop it.
			cut, resume = 0, tokenLen(line)
		}
		if piece := prefix + line[:cut]; strings.TrimSpace(Strip(piece)) != "" {
			out = append(out, piece)
		}
		st = advance(st, line[:resume])
		line = line[resume:]
		prefix = transition(style{}, st, line)
		if len(prefix) > maxBytes/2 {
			prefix, st = "", style{}
		}
	}
	if piece := prefix + line; strings.TrimSpace(Strip(piece)) != "" {
		out = append(out, piece)
	}
	return out
}

// advance returns the formatting after s when it started as st.
func advance(st style, s string) style {
	for i := 0; i < len(s); {
		if isFormatCode(s[i]) {
			i += st.apply(s[i:])
			continue
		}
		i++
	}
	return st
}

// cutPoint finds where to split line so that the piece line[:cut] has at
// most limit bytes; the rest starts at line[resume:]. It prefers the last
// space, and never cuts inside a UTF-8 sequence or a formatting code. ok is
// false when not even the first token fits.
func cutPoint(line string, limit int) (cut, resume int, ok bool) {
	last, space := 0, -1
	for i := 0; i < len(line); {
		n := tokenLen(line[i:])
		if i+n > limit {
			break
		}
		if line[i] == ' ' && i > 0 {
			space = i
		}
		i += n
		last = i
	}
	switch {
	case last == 0:
		return 0, 0, false
	case last < len(line) && line[last] == ' ':
		return last, last + 1, true
	case space > 0:
		return space, space + 1, true
	}
	return last, last, true
}

// tokenLen returns the length of the indivisible token at the start of s:
// a formatting code or one UTF-8 sequence (invalid bytes count alone).
func tokenLen(s string) int {
	if isFormatCode(s[0]) {
		var st style
		return st.apply(s)
	}
	_, n := utf8.DecodeRuneInString(s)
	return n
}
