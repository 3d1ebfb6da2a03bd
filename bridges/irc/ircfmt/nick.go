package ircfmt

import (
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"
	"unicode"

	"golang.org/x/text/secure/precis"
	"golang.org/x/text/unicode/norm"
)

// DefaultNickLen is the nick length limit of RFC 1459, used when a server
// advertises no NICKLEN.
const DefaultNickLen = 9

// nickFallbackPrefix starts the nick made for display names with no usable
// character.
const nickFallbackPrefix = "user"

// SanitizeNick turns a Matrix display name into a valid IRC nick of at most
// maxLen bytes (RFC 1459/2812: letters, digits and []\`_^{|}-, not starting
// with a digit or '-'). A maxLen below 1 means [DefaultNickLen].
//
// Accents are removed and compatibility forms folded (Zoë → Zoe, Ａ → A);
// spaces and punctuation become a single '_'; other characters are dropped;
// a leading digit or '-' gets a '_' in front. When nothing is left, the nick
// is "user" followed by a hash of the display name, so that different names
// still get different nicks. The result depends only on the arguments, and
// a valid nick is returned unchanged (but truncated).
func SanitizeNick(displayName string, maxLen int) string {
	if maxLen < 1 {
		maxLen = DefaultNickLen
	}
	var b strings.Builder
	sep := false
	for _, r := range norm.NFKD.String(displayName) {
		switch {
		case r < utf8RuneSelf && isNickRune(r):
			if sep && b.Len() > 0 {
				b.WriteByte('_')
			}
			sep = false
			b.WriteRune(r)
		case unicode.Is(unicode.Mn, r):
		case unicode.IsSpace(r) || unicode.IsPunct(r) || unicode.IsSymbol(r) || r < 0x20:
			sep = true
		}
	}
	nick := b.String()
	if nick != "" && (isDigit(nick[0]) || nick[0] == '-') {
		nick = "_" + nick
	}
	if nick == "" {
		h := fnv.New32a()
		h.Write([]byte(displayName))
		nick = nickFallbackPrefix + fmt.Sprintf("%08x", h.Sum32())
	}
	return nick[:min(len(nick), maxLen)]
}

const utf8RuneSelf = 0x80

// ValidNick reports whether nick is a valid RFC 2812 nick of at most maxLen
// bytes (a maxLen below 1 means no limit).
func ValidNick(nick string, maxLen int) bool {
	if nick == "" || (maxLen > 0 && len(nick) > maxLen) {
		return false
	}
	if isDigit(nick[0]) || nick[0] == '-' {
		return false
	}
	for _, r := range nick {
		if !isNickRune(r) {
			return false
		}
	}
	return true
}

// nickVariantCount is the number of numbered variants NickVariants adds.
const nickVariantCount = 9

// NickVariants returns the nicks to try, in order, for a Matrix user whose
// sanitized nick is nick: nick+suffix, then nick+"_"+suffix and
// nick+"1"+suffix … nick+"9"+suffix. The suffix (for example "[m]") stays
// at the end so that the nick still shows the user is bridged; the nick part
// is truncated so that every variant fits maxLen (below 1 means
// [DefaultNickLen]), and the suffix is left out when it would not leave room
// for a nick. Every variant is valid; duplicates are removed.
func NickVariants(nick, suffix string, maxLen int) []string {
	if maxLen < 1 {
		maxLen = DefaultNickLen
	}
	nick = SanitizeNick(nick, maxLen)
	suffix = strings.Map(func(r rune) rune {
		if isNickRune(r) {
			return r
		}
		return -1
	}, suffix)
	if len(suffix)+2 > maxLen {
		suffix = ""
	}
	markers := []string{"", "_"}
	for i := 1; i <= nickVariantCount; i++ {
		markers = append(markers, strconv.Itoa(i))
	}
	var out []string
	seen := map[string]bool{}
	for _, m := range markers {
		tail := m + suffix
		room := maxLen - len(tail)
		if room < 1 {
			continue
		}
		v := nick[:min(len(nick), room)] + tail
		if !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	return out
}

// CaseMapping is an IRC CASEMAPPING value from RPL_ISUPPORT.
type CaseMapping string

// Case mappings understood by [Casefold].
const (
	// CaseMappingASCII folds only A–Z.
	CaseMappingASCII CaseMapping = "ascii"
	// CaseMappingRFC1459 also folds []\^ to {}|~; it is the default when a
	// server advertises nothing.
	CaseMappingRFC1459 CaseMapping = "rfc1459"
	// CaseMappingRFC1459Strict folds []\ to {}| but leaves ~ alone.
	CaseMappingRFC1459Strict CaseMapping = "rfc1459-strict"
	// CaseMappingRFC8265 is the PRECIS UsernameCaseMapped profile (Ergo's
	// "precis" setting; older servers call it rfc7613).
	CaseMappingRFC8265 CaseMapping = "rfc8265"
	// CaseMappingRFC7613 is the former name of CaseMappingRFC8265.
	CaseMappingRFC7613 CaseMapping = "rfc7613"
)

// Casefold returns s folded by the given CASEMAPPING, so that two nicks or
// channel names are the same on the server exactly when their folded forms
// are equal. Unknown mappings fold as rfc1459. For the PRECIS mappings, a
// string the profile rejects is folded as ascii.
func Casefold(m CaseMapping, s string) string {
	switch m {
	case CaseMappingASCII:
		return foldASCII(s, "")
	case CaseMappingRFC1459Strict:
		return foldASCII(s, "[]\\")
	case CaseMappingRFC8265, CaseMappingRFC7613:
		if f, err := precis.UsernameCaseMapped.String(s); err == nil {
			return f
		}
		return foldASCII(s, "")
	}
	return foldASCII(s, "[]\\^")
}

// foldASCII lowercases A–Z and the extra characters, which must be among
// []\^ (their lowercase forms {}|~ are 0x20 above them, as for letters).
func foldASCII(s, extra string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'A' && r <= 'Z':
			return r + 'a' - 'A'
		case r < utf8RuneSelf && strings.ContainsRune(extra, r):
			return r + 0x20
		}
		return r
	}, s)
}
