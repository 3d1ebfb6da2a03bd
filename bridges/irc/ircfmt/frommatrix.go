package ircfmt

import (
	"net/url"
	"strconv"
	"strings"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"

	"github.com/causewaybridge/causeway/matrix"
)

// FromMatrixOptions tune [FromMatrix].
type FromMatrixOptions struct {
	// MentionNick, when set, maps the user of a mention pill to the nick to
	// write (for example the IRC nick of a puppet). When it is nil or
	// returns false, the pill's display text is written.
	MentionNick func(matrix.UserID) (string, bool)
	// HexColors sends colours that have no exact mIRC palette entry as
	// \x04RRGGBB; otherwise they become the nearest of the 16 standard
	// colours, which every client understands.
	HexColors bool
	// NoFormatting drops all formatting and writes text only.
	NoFormatting bool
	// StripReplyFallback removes the "> <@user> quote" lines a client may
	// put at the start of the plain body of a reply. Set it for replies
	// only: in other messages these lines are the user's own text.
	StripReplyFallback bool
}

// FromMatrix converts a Matrix message into IRC lines with mIRC formatting.
//
// htmlBody is the formatted_body (org.matrix.custom.html); when it is empty,
// or yields no text, plainFallback (the body) is used. Block elements, br
// and newlines give separate lines; empty lines are dropped. No line
// contains CR, LF, NUL or any other control character except tab and the
// formatting codes this function writes. A line break in the plain body is
// LF, CR LF or a lone CR. Lines are not length-limited: pass each one
// through [SplitLines].
func FromMatrix(htmlBody, plainFallback string, opts FromMatrixOptions) []string {
	if strings.TrimSpace(htmlBody) != "" {
		if lines := fromHTML(htmlBody, opts); len(lines) > 0 {
			return lines
		}
	}
	plainFallback = normalizeNewlines(plainFallback)
	if opts.StripReplyFallback {
		plainFallback = matrix.StripReplyFallback(plainFallback)
	}
	var lines []string
	for l := range strings.SplitSeq(plainFallback, "\n") {
		l = cleanText(l)
		if strings.TrimSpace(l) != "" {
			lines = append(lines, l)
		}
	}
	return lines
}

// normalizeNewlines turns each line break of s, CR LF or a lone CR, into
// LF. A lone CR ends a line as LF does (old Mac text, or a client sending
// one by mistake): dropped, it would glue the words around it together.
func normalizeNewlines(s string) string {
	if strings.IndexByte(s, '\r') < 0 {
		return s
	}
	return strings.ReplaceAll(strings.ReplaceAll(s, "\r\n", "\n"), "\r", "\n")
}

// cleanText removes control characters (except tab) and turns invalid
// UTF-8 into U+FFFD.
func cleanText(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if strings.IndexFunc(s, func(r rune) bool { return r < 0x80 && isControl(byte(r)) }) < 0 {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if !isControl(s[i]) {
			b.WriteByte(s[i])
		}
	}
	return b.String()
}

// segment is text with one formatting state on an output line.
type segment struct {
	st   style
	text string
}

// converter walks the HTML tree and collects lines.
type converter struct {
	opts   FromMatrixOptions
	lines  [][]segment
	cur    []segment
	prefix []string // blockquote and list indentation, outermost first
	marker string   // list marker for the next line
	lists  []int    // counters of open lists; -1 for unordered
	pre    int
}

func fromHTML(body string, opts FromMatrixOptions) []string {
	ctx := &html.Node{Type: html.ElementNode, Data: "body", DataAtom: atom.Body}
	nodes, err := html.ParseFragment(strings.NewReader(strings.ToValidUTF8(body, "\uFFFD")), ctx)
	if err != nil {
		return nil
	}
	c := &converter{opts: opts}
	for _, n := range nodes {
		c.walk(n, style{})
	}
	c.endLine()
	out := make([]string, 0, len(c.lines))
	for _, l := range c.lines {
		out = append(out, c.render(l))
	}
	return out
}

// skipped elements are dropped with their content.
var skipped = map[string]bool{
	"mx-reply": true, "script": true, "style": true, "head": true, "title": true,
	"template": true, "noscript": true, "iframe": true, "object": true, "svg": true,
	"math": true, "select": true, "textarea": true,
}

// blocks are elements that start and end a line.
var blocks = map[string]bool{
	"p": true, "div": true, "blockquote": true, "pre": true, "ul": true, "ol": true,
	"li": true, "h1": true, "h2": true, "h3": true, "h4": true, "h5": true, "h6": true,
	"table": true, "tr": true, "hr": true, "details": true, "summary": true,
	"dl": true, "dt": true, "dd": true, "section": true, "article": true,
	"header": true, "footer": true, "caption": true, "figure": true, "figcaption": true,
}

func (c *converter) walk(n *html.Node, st style) {
	switch n.Type {
	case html.TextNode:
		c.text(n.Data, st)
		return
	case html.ElementNode, html.DocumentNode:
	default:
		return
	}
	name := n.Data
	if skipped[name] {
		return
	}
	if blocks[name] {
		c.endLine()
		defer c.endLine()
	}
	st = elementStyle(n, st, c.opts.HexColors)
	switch name {
	case "br":
		c.endLine()
	case "img":
		c.write(attr(n, "alt"), st)
	case "a":
		c.link(n, st)
		return
	case "td", "th":
		c.write(" ", st)
	case "pre":
		c.pre++
		defer func() { c.pre-- }()
	case "blockquote":
		c.prefix = append(c.prefix, "> ")
		defer func() { c.prefix = c.prefix[:len(c.prefix)-1] }()
	case "ul", "ol":
		c.list(n)
		defer func() { c.lists = c.lists[:len(c.lists)-1]; c.prefix = c.prefix[:len(c.prefix)-1] }()
	case "li":
		c.item()
		defer func() { c.marker = "" }()
	}
	c.children(n, st)
}

func (c *converter) children(n *html.Node, st style) {
	for ch := n.FirstChild; ch != nil; ch = ch.NextSibling {
		c.walk(ch, st)
	}
}

// list opens a list: items are indented by the depth of enclosing lists.
func (c *converter) list(n *html.Node) {
	counter := -1
	if n.Data == "ol" {
		counter = 1
		if s, err := strconv.Atoi(attr(n, "start")); err == nil && s >= 0 && s < 1e9 {
			counter = s
		}
	}
	indent := ""
	if len(c.lists) > 0 {
		indent = "  "
	}
	c.lists = append(c.lists, counter)
	c.prefix = append(c.prefix, indent)
}

// item sets the marker for the first line of a list item.
func (c *converter) item() {
	if len(c.lists) == 0 {
		c.marker = "- "
		return
	}
	i := len(c.lists) - 1
	if c.lists[i] < 0 {
		c.marker = "- "
		return
	}
	c.marker = strconv.Itoa(c.lists[i]) + ". "
	c.lists[i]++
}

// elementStyle returns the style for the content of n.
func elementStyle(n *html.Node, st style, hex bool) style {
	switch n.Data {
	case "b", "strong", "h1", "h2", "h3", "h4", "h5", "h6", "th":
		st.bold = true
	case "i", "em", "cite":
		st.italic = true
	case "u", "ins":
		st.underline = true
	case "s", "del", "strike":
		st.strike = true
	case "code", "pre", "tt", "kbd", "samp":
		st.mono = true
	case "font", "span":
		st = colorStyle(n, st, hex)
	}
	return st
}

func colorStyle(n *html.Node, st style, hex bool) style {
	fg := attr(n, "data-mx-color")
	if fg == "" {
		fg = attr(n, "color")
	}
	if v, ok := parseCSSColor(fg); ok {
		st.fg = fromRGB(v, hex)
	}
	if v, ok := parseCSSColor(attr(n, "data-mx-bg-color")); ok {
		st.bg = fromRGB(v, hex)
	}
	if hasAttr(n, "data-mx-spoiler") {
		// The classic IRC spoiler: the same colour for text and background.
		st.fg, st.bg = paletteColor(1), paletteColor(1)
	}
	return st
}

// link writes a link: a pill becomes the nick or its text; other links
// become their text followed by the URL when the two differ.
func (c *converter) link(n *html.Node, st style) {
	href := strings.TrimSpace(cleanText(attr(n, "href")))
	if id, ok := pillUser(href); ok && c.opts.MentionNick != nil {
		if nick, ok := c.opts.MentionNick(id); ok {
			c.write(nick, st)
			return
		}
	}
	c.children(n, st)
	if href == "" || isMatrixTo(href) {
		return
	}
	text := strings.Join(strings.Fields(textContent(n)), " ")
	switch {
	case text == "":
		c.write(href, st)
	case !sameLink(text, href):
		c.write(" ("+strings.ReplaceAll(href, " ", "%20")+")", st)
	}
}

// sameLink reports whether the visible text of a link already shows its
// target.
func sameLink(text, href string) bool {
	for _, p := range []string{"", "mailto:", "http://", "https://"} {
		if href == p+text || href == p+text+"/" {
			return true
		}
	}
	return false
}

func isMatrixTo(href string) bool {
	return len(href) >= len(matrixToPrefix) && strings.EqualFold(href[:len(matrixToPrefix)], matrixToPrefix)
}

// pillUser returns the user a matrix.to user link points at.
func pillUser(href string) (matrix.UserID, bool) {
	if !isMatrixTo(href) {
		return "", false
	}
	rest := href[len(matrixToPrefix):]
	if i := strings.IndexByte(rest, '?'); i >= 0 {
		rest = rest[:i]
	}
	s, err := url.PathUnescape(rest)
	if err != nil {
		return "", false
	}
	id := matrix.UserID(s)
	return id, id.Valid()
}

func textContent(n *html.Node) string {
	var b strings.Builder
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.TextNode {
			b.WriteString(n.Data)
		}
		if n.Type == html.ElementNode && skipped[n.Data] {
			return
		}
		for ch := n.FirstChild; ch != nil; ch = ch.NextSibling {
			walk(ch)
		}
	}
	walk(n)
	return cleanText(b.String())
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Namespace == "" && a.Key == key {
			return a.Val
		}
	}
	return ""
}

func hasAttr(n *html.Node, key string) bool {
	for _, a := range n.Attr {
		if a.Namespace == "" && a.Key == key {
			return true
		}
	}
	return false
}

// text writes a text node: whitespace collapses outside pre, newlines
// inside pre end lines.
func (c *converter) text(s string, st style) {
	if c.pre > 0 {
		for i, l := range strings.Split(normalizeNewlines(s), "\n") {
			if i > 0 {
				c.endLine()
			}
			c.writeRaw(cleanText(l), st)
		}
		return
	}
	c.write(s, st)
}

// write adds text with HTML whitespace collapsed.
func (c *converter) write(s string, st style) {
	s = cleanText(collapseSpace(s))
	if c.lineEmpty() || c.endsInSpace() {
		s = strings.TrimLeft(s, " ")
	}
	c.writeRaw(s, st)
}

func (c *converter) writeRaw(s string, st style) {
	if s == "" {
		return
	}
	if len(c.cur) == 0 {
		if p := strings.Join(c.prefix, "") + c.marker; p != "" {
			c.cur = append(c.cur, segment{text: p})
		}
		c.marker = ""
	}
	if n := len(c.cur); n > 0 && c.cur[n-1].st == st {
		c.cur[n-1].text += s
		return
	}
	c.cur = append(c.cur, segment{st: st, text: s})
}

// lineEmpty reports whether the current line has no text yet.
func (c *converter) lineEmpty() bool { return len(c.cur) == 0 }

func (c *converter) endsInSpace() bool {
	n := len(c.cur)
	return n > 0 && strings.HasSuffix(c.cur[n-1].text, " ")
}

// endLine finishes the current line, trimming trailing spaces and dropping
// it when it has no text.
func (c *converter) endLine() {
	for n := len(c.cur); n > 0; n = len(c.cur) {
		t := strings.TrimRight(c.cur[n-1].text, " ")
		if t != "" {
			c.cur[n-1].text = t
			break
		}
		c.cur = c.cur[:n-1]
	}
	hasText := false
	for _, s := range c.cur {
		hasText = hasText || strings.TrimSpace(s.text) != ""
	}
	if hasText {
		c.lines = append(c.lines, c.cur)
	}
	c.cur = nil
}

// collapseSpace replaces each run of HTML whitespace with one space.
func collapseSpace(s string) string {
	if !strings.ContainsAny(s, "\t\n\f\r") && !strings.Contains(s, "  ") {
		return s
	}
	var b strings.Builder
	space := false
	for _, r := range s {
		if r == ' ' || r == '\t' || r == '\n' || r == '\f' || r == '\r' {
			if !space {
				b.WriteByte(' ')
			}
			space = true
			continue
		}
		space = false
		b.WriteRune(r)
	}
	return b.String()
}

// render writes a line with mIRC codes.
func (c *converter) render(l []segment) string {
	var b strings.Builder
	var cur style
	for _, s := range l {
		if !c.opts.NoFormatting {
			b.WriteString(transition(cur, s.st, s.text))
			cur = s.st
		}
		b.WriteString(s.text)
	}
	return b.String()
}
