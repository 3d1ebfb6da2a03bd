package puppet

import (
	"math"
	"strings"
)

// charset marks the bytes that are written unescaped in one position.
type charset [256]bool

const hexDigits = "0123456789abcdef"

// escapeChar starts an escape sequence: "=" and two lowercase hex digits.
const escapeChar = '='

var (
	userBase  = newCharset("abcdefghijklmnopqrstuvwxyz0123456789._-/")
	aliasBase = newCharset("abcdefghijklmnopqrstuvwxyz0123456789._-/#&+!")
)

func newCharset(chars string) *charset {
	var c charset
	for i := 0; i < len(chars); i++ {
		c[chars[i]] = true
	}
	return &c
}

// baseCharset returns the bytes allowed unescaped in IDs with this sigil.
func baseCharset(sigil byte) (*charset, bool) {
	switch sigil {
	case SigilUser:
		return userBase, true
	case SigilAlias:
		return aliasBase, true
	}
	return nil, false
}

// without returns a copy of c that also escapes the first byte of sep, the
// literal that ends the value, so the value cannot contain it.
func (c *charset) without(sep string) *charset {
	d := *c
	if sep != "" {
		d[sep[0]] = false
	}
	return &d
}

// isEscapeByte reports whether b can occur inside an escape sequence.
func isEscapeByte(b byte) bool {
	return b == escapeChar || strings.IndexByte(hexDigits, b) >= 0
}

// describe lists the bytes of c for error messages.
func (c *charset) describe() string {
	var b strings.Builder
	for i := range c {
		if c[i] {
			b.WriteByte(byte(i))
		}
	}
	return b.String()
}

// escapedLen returns the length of v once escaped.
func (c *charset) escapedLen(v string) int {
	n := len(v)
	for i := 0; i < len(v); i++ {
		if !c[v[i]] {
			n += 2
		}
	}
	return n
}

// appendEscaped appends v escaped to dst while it fits in budget bytes. It
// returns the extended slice, the budget left and whether all of v fit.
func (c *charset) appendEscaped(dst []byte, v string, budget int) ([]byte, int, bool) {
	for i := 0; i < len(v); i++ {
		x := v[i]
		if c[x] {
			if budget < 1 {
				return dst, budget, false
			}
			dst = append(dst, x)
			budget--
			continue
		}
		if budget < 3 {
			return dst, budget, false
		}
		dst = append(dst, escapeChar, hexDigits[x>>4], hexDigits[x&15])
		budget -= 3
	}
	return dst, budget, true
}

// escape returns v escaped.
func (c *charset) escape(v string) string {
	b, _, _ := c.appendEscaped(make([]byte, 0, c.escapedLen(v)), v, math.MaxInt)
	return string(b)
}

// unescape validates that s is the canonical escaping of a non-empty value
// and returns that value. With decode false it only validates and returns "".
func (c *charset) unescape(s string, decode bool) (string, bool) {
	if s == "" {
		return "", false
	}
	escapes := 0
	for i := 0; i < len(s); i++ {
		x := s[i]
		if c[x] {
			continue
		}
		if x != escapeChar || i+2 >= len(s) {
			return "", false
		}
		d, ok := unhex(s[i+1], s[i+2])
		if !ok || c[d] {
			return "", false // malformed, or an escape Format would not write
		}
		escapes++
		i += 2
	}
	if !decode || escapes == 0 {
		return s, true
	}
	out := make([]byte, 0, len(s)-2*escapes)
	for i := 0; i < len(s); i++ {
		if s[i] == escapeChar {
			d, _ := unhex(s[i+1], s[i+2])
			out = append(out, d)
			i += 2
			continue
		}
		out = append(out, s[i])
	}
	return string(out), true
}

func unhex(hi, lo byte) (byte, bool) {
	h, ok1 := hexVal(hi)
	l, ok2 := hexVal(lo)
	return h<<4 | l, ok1 && ok2
}

func hexVal(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}
