package puppet

import (
	"regexp"
	"strings"
)

// Regex returns an anchored regular expression matching exactly the IDs
// Format can produce (up to MaxIDLength, which it does not check), for the
// registration file's namespaces. It uses only syntax shared by RE2 (Go,
// Dendrite) and Python (Synapse). One difference remains: Python's "$" also
// matches before a final newline, which no valid Matrix ID contains.
func (n *Namespace[T]) Regex() string { return n.regex }

// ClaimRegex returns an anchored regular expression matching every ID with
// the namespace's literal prefix and suffix on its server: the area the
// bridge should claim exclusively in its registration, so that nobody else
// can register IDs that look like puppets. It matches a superset of Regex.
func (n *Namespace[T]) ClaimRegex() string { return n.claimRegex }

func (n *Namespace[T]) buildRegex() string {
	t := n.tmpl
	var b strings.Builder
	b.WriteByte('^')
	b.WriteString(regexp.QuoteMeta(string(t.sigil)))
	b.WriteString(regexp.QuoteMeta(t.prefix))
	for i, p := range t.parts {
		if n.bound[i] != "" {
			b.WriteString(regexp.QuoteMeta(n.bound[i]))
		} else {
			b.WriteString(p.safe.valueRegex())
		}
		b.WriteString(regexp.QuoteMeta(p.after))
	}
	b.WriteString(":" + regexp.QuoteMeta(n.server) + "$")
	return b.String()
}

func (n *Namespace[T]) buildClaimRegex() string {
	if n.allBound {
		return n.regex
	}
	return "^" + regexp.QuoteMeta(string(n.tmpl.sigil)) + regexp.QuoteMeta(n.lead) +
		"[^:]*" + regexp.QuoteMeta(n.trail) + ":" + regexp.QuoteMeta(n.server) + "$"
}

// valueRegex returns a regex for the non-empty canonical escapings under c:
// bytes of c as they are, and "=xx" for exactly the bytes not in c.
func (c *charset) valueRegex() string {
	return "(?:" + c.class() + "|=(?:" + c.escapeAlternatives() + "))+"
}

// class returns a bracket expression for the bytes of c.
func (c *charset) class() string {
	var b strings.Builder
	b.WriteByte('[')
	for i := 0; i < 256; {
		if !c[i] {
			i++
			continue
		}
		j := i
		for j+1 < 256 && c[j+1] && byteKind(byte(j+1)) == byteKind(byte(i)) {
			j++
		}
		writeClassRange(&b, byte(i), byte(j))
		i = j + 1
	}
	b.WriteByte(']')
	return b.String()
}

// byteKind groups bytes so that class ranges stay readable: digits,
// lowercase and uppercase letters form ranges, other bytes are listed.
func byteKind(x byte) int {
	switch {
	case x >= '0' && x <= '9':
		return 1
	case x >= 'a' && x <= 'z':
		return 2
	case x >= 'A' && x <= 'Z':
		return 3
	}
	return 4 + int(x) // every other byte is its own kind
}

func writeClassRange(b *strings.Builder, lo, hi byte) {
	switch {
	case hi-lo >= 2:
		writeClassByte(b, lo)
		b.WriteByte('-')
		writeClassByte(b, hi)
	case hi != lo:
		writeClassByte(b, lo)
		writeClassByte(b, hi)
	default:
		writeClassByte(b, lo)
	}
}

// writeClassByte writes an ASCII byte so that it means itself in a bracket
// expression in both RE2 and Python.
func writeClassByte(b *strings.Builder, x byte) {
	if strings.IndexByte(`\]^-[`, x) >= 0 {
		b.WriteByte('\\')
	}
	b.WriteByte(x)
}

// escapeAlternatives returns "H[L]|..." matching the two hex digits of
// every byte outside c, grouping high nibbles with the same low nibbles.
func (c *charset) escapeAlternatives() string {
	var masks [16]uint16
	for x := 0; x < 256; x++ {
		if !c[x] {
			masks[x>>4] |= 1 << (x & 15)
		}
	}
	var alts []string
	for hi := 0; hi < 16; {
		if masks[hi] == 0 {
			hi++
			continue
		}
		var his uint16
		for j := hi; j < 16; j++ {
			if masks[j] == masks[hi] {
				his |= 1 << j
			}
		}
		alts = append(alts, hexClass(his)+hexClass(masks[hi]))
		for j := hi; j < 16; j++ {
			if his&(1<<j) != 0 {
				masks[j] = 0
			}
		}
	}
	return strings.Join(alts, "|")
}

// hexClass returns a regex matching the hex digits whose bits are set.
func hexClass(mask uint16) string {
	var b strings.Builder
	count := 0
	for d := 0; d < 16; {
		if mask&(1<<d) == 0 {
			d++
			continue
		}
		e := d
		for e+1 < 16 && e+1 != 10 && mask&(1<<(e+1)) != 0 {
			e++
		}
		writeClassRange(&b, hexDigits[d], hexDigits[e])
		count += e - d + 1
		d = e + 1
	}
	if count == 1 {
		return b.String()
	}
	return "[" + b.String() + "]"
}
