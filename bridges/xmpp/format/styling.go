package format

import (
	"errors"
	"html"
	"io"
	"strings"

	"mellium.im/xmpp/styling"
)

// spanTags are the Matrix elements of the XEP-0393 spans.
var spanTags = []struct {
	style styling.Style
	tag   string
}{
	{styling.SpanStrong, "strong"},
	{styling.SpanEmph, "em"},
	{styling.SpanStrike, "del"},
	{styling.SpanPre, "code"},
}

// stylingToHTML converts a plain body with XEP-0393 styling to Matrix
// HTML, the directives themselves left out; formatted is false when the
// body has no styling at all.
func stylingToHTML(body string) (out string, formatted bool) {
	if len(body) > maxInput || quoteDepth(body) > maxQuoteDepth {
		return "", false // the decoder's time grows with the square of the depth
	}
	c := stylingConv{}
	d := styling.NewDecoder(strings.NewReader(body))
	for d.Next() {
		c.token(d.Token(), d.Style(), int(d.Quote()))
	}
	if err := d.Err(); err != nil && !errors.Is(err, io.EOF) {
		return "", false // a line too long for the scanner: no formatting
	}
	c.closeSpans()
	c.closePre()
	c.setQuote(0)
	return c.b.String(), c.formatted
}

// stylingConv accumulates the HTML of a styled body.
type stylingConv struct {
	b         strings.Builder
	formatted bool
	quote     int      // open blockquotes
	spans     []string // open span tags, innermost last
	pre       bool     // inside a ``` block
	preNL     bool     // a newline of the block not yet written
	breaks    int      // line breaks not yet written
}

func (c *stylingConv) token(t styling.Token, mask styling.Style, quote int) {
	data := string(t.Data)
	switch {
	case mask&styling.BlockPreStart != 0:
		c.flushBreaks(quote)
		c.formatted, c.pre = true, true
		c.b.WriteString("<pre><code")
		if lang := string(t.Info); validLanguage(lang) {
			c.b.WriteString(` class="language-` + lang + `"`)
		}
		c.b.WriteString(">")
		return
	case mask&styling.BlockPreEnd != 0:
		c.closePre()
		return
	case mask&styling.BlockPre != 0:
		// The block's last newline is not part of its text.
		if c.preNL {
			c.b.WriteString("\n")
		}
		data, c.preNL = strings.CutSuffix(data, "\n")
		c.b.WriteString(html.EscapeString(data))
		return
	case mask&styling.BlockQuoteStart != 0:
		c.formatted = true
		return // the "> " markers
	case mask&styling.BlockQuoteEnd != 0 && data == "":
		return
	case mask&styling.SpanStartDirective != 0:
		c.flushBreaks(quote)
		c.formatted = true
		for _, s := range spanTags {
			if mask&s.style != 0 && !c.open(s.tag) {
				c.spans = append(c.spans, s.tag)
				c.b.WriteString("<" + s.tag + ">")
				break
			}
		}
		return
	case mask&styling.SpanEndDirective != 0:
		if n := len(c.spans); n > 0 {
			c.b.WriteString("</" + c.spans[n-1] + ">")
			c.spans = c.spans[:n-1]
		}
		return
	}
	c.text(data, quote)
}

// open reports whether tag is an open span.
func (c *stylingConv) open(tag string) bool {
	for _, s := range c.spans {
		if s == tag {
			return true
		}
	}
	return false
}

// text writes plain text at quote level quote: line breaks wait until
// more text follows on the same level (a quote's last line ends with its
// block, not with a <br>).
func (c *stylingConv) text(s string, quote int) {
	for i, line := range strings.Split(s, "\n") {
		if i > 0 {
			c.closeSpans()
			c.breaks++
		}
		if line == "" {
			continue
		}
		c.flushBreaks(quote)
		c.b.WriteString(html.EscapeString(line))
	}
}

// flushBreaks moves to quote level quote and writes the pending breaks.
func (c *stylingConv) flushBreaks(quote int) {
	if quote != c.quote {
		if c.breaks > 0 {
			c.breaks-- // the line break that ended the previous block
		}
		c.setQuote(quote)
	}
	for ; c.breaks > 0; c.breaks-- {
		c.b.WriteString("<br>")
	}
}

func (c *stylingConv) setQuote(level int) {
	c.closeSpans()
	if level > maxDepth {
		level = maxDepth
	}
	for ; c.quote < level; c.quote++ {
		c.b.WriteString("<blockquote>")
	}
	for ; c.quote > level; c.quote-- {
		c.b.WriteString("</blockquote>")
	}
}

func (c *stylingConv) closeSpans() {
	for i := len(c.spans) - 1; i >= 0; i-- {
		c.b.WriteString("</" + c.spans[i] + ">")
	}
	c.spans = c.spans[:0]
}

func (c *stylingConv) closePre() {
	if c.pre {
		c.b.WriteString("</code></pre>")
		c.pre, c.preNL = false, false
		c.breaks = 0
	}
}

// validLanguage reports whether a ``` block's tag can be a code class.
func validLanguage(s string) bool {
	if s == "" || len(s) > 32 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '+' || r == '#') {
			return false
		}
	}
	return true
}

// maxQuoteDepth is the deepest block quote styling is parsed for; a body
// with deeper quotes gets no formatting.
const maxQuoteDepth = 32

// quoteDepth returns the deepest quote level a line of s starts with
// (each '>' counts, spaces between them are skipped).
func quoteDepth(s string) int {
	deepest := 0
	for line := range strings.SplitSeq(s, "\n") {
		n := 0
		for _, r := range line {
			if r == '>' {
				n++
			} else if r != ' ' {
				break
			}
		}
		deepest = max(deepest, n)
	}
	return deepest
}
