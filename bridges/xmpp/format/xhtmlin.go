package format

import (
	"encoding/xml"
	"html"
	"strconv"
	"strings"

	"github.com/causewaybridge/causeway/bridges/kit/matrixhtml"
)

// FindXHTML returns the tokens of the XHTML-IM payload among a message's
// content tokens (its <html xmlns='http://jabber.org/protocol/xhtml-im'>
// child, start and end element included), or nil.
func FindXHTML(inner []xml.Token) []xml.Token {
	depth, start := 0, -1
	for i, t := range inner {
		switch t := t.(type) {
		case xml.StartElement:
			if depth == 0 && start < 0 && t.Name.Space == NSXHTMLIM && t.Name.Local == "html" {
				start = i
			}
			depth++
		case xml.EndElement:
			depth--
			if depth == 0 && start >= 0 {
				return inner[start : i+1]
			}
		}
	}
	return nil
}

// xhtmlTags maps XHTML-IM elements to the Matrix element written for
// them ("" for none: only their content).
var xhtmlTags = map[string]string{
	"p": "p", "div": "div", "br": "br",
	"strong": "strong", "b": "strong",
	"em": "em", "i": "em", "cite": "em", "dfn": "em", "var": "em",
	"code": "code", "kbd": "code", "samp": "code", "tt": "code",
	"pre": "pre", "blockquote": "blockquote",
	"ul": "ul", "ol": "ol", "li": "li",
	"u": "u", "s": "del", "del": "del", "strike": "del",
	"sub": "sub", "sup": "sup", "hr": "hr",
	"h1": "h1", "h2": "h2", "h3": "h3", "h4": "h4", "h5": "h5", "h6": "h6",
	"span": "", "a": "", "img": "", "q": "", "abbr": "", "acronym": "",
	"address": "", "body": "",
}

// xhtmlSkipped elements go with their content.
var xhtmlSkipped = map[string]bool{
	"script": true, "style": true, "head": true, "title": true, "object": true,
	"iframe": true, "embed": true, "applet": true, "noscript": true, "template": true,
	"form": true, "input": true, "button": true, "select": true, "textarea": true,
}

// plainTags do not make a message formatted: a body of paragraphs and
// line breaks says no more than the plain body.
var plainTags = map[string]bool{"p": true, "div": true, "br": true}

// xhtmlToHTML converts the tokens of an XHTML-IM payload (see FindXHTML)
// to Matrix HTML, not yet sanitized. The first <body/> counts (others
// are translations). trim is removed from the start of the text (the
// "/me " of an emote). formatted is false when nothing but paragraphs
// and line breaks were found.
func xhtmlToHTML(toks []xml.Token, trim string) (out string, formatted bool) {
	c := xhtmlConv{trim: trim}
	depth := 0 // in toks
	in := false
	for _, t := range toks {
		switch t := t.(type) {
		case xml.StartElement:
			depth++
			if depth == 2 && !in && !c.done && t.Name.Space == NSXHTML && t.Name.Local == "body" {
				in = true
				continue
			}
			if in {
				c.start(t)
			}
		case xml.EndElement:
			if in && depth == 2 {
				in, c.done = false, true
			} else if in {
				c.end()
			}
			depth--
		case xml.CharData:
			if in {
				c.text(string(t))
			}
		}
	}
	return c.b.String(), c.formatted
}

// xhtmlConv accumulates the Matrix HTML of an XHTML-IM body.
type xhtmlConv struct {
	b         strings.Builder
	formatted bool
	done      bool     // the first body was read
	trim      string   // prefix still to remove from the text
	closers   []string // what each open input element closes with
	open      []int    // output elements each open input element opened
	depth     int      // output elements open
	skip      int      // depth inside a skipped element
}

// wrapper is an output element with its attributes (escaped, with a
// leading space).
type wrapper struct{ tag, attrs string }

func (c *xhtmlConv) start(t xml.StartElement) {
	if c.skip > 0 || t.Name.Space != NSXHTML || xhtmlSkipped[t.Name.Local] {
		c.skip++
		return
	}
	var ws []wrapper
	if tag := xhtmlTags[t.Name.Local]; tag != "" {
		ws = append(ws, wrapper{tag: tag})
	}
	var text, after string
	switch t.Name.Local {
	case "a":
		if href := attr(t, "href"); matrixhtml.SafeLink(href) {
			ws = append(ws, wrapper{"a", ` href="` + html.EscapeString(href) + `"`})
		}
	case "img":
		// Matrix images must be mxc://: a link to the image instead.
		src, alt := attr(t, "src"), attr(t, "alt")
		if alt == "" {
			alt = src
		}
		if matrixhtml.SafeLink(src) {
			ws = append(ws, wrapper{"a", ` href="` + html.EscapeString(src) + `"`})
		}
		text = html.EscapeString(alt)
	case "q":
		text, after = "“", "”"
	}
	ws = append(ws, styleWrappers(attr(t, "style"))...)
	closer := ""
	n := 0
	for _, w := range ws {
		if c.depth+n >= maxDepth {
			break
		}
		if !plainTags[w.tag] {
			c.formatted = true
		}
		c.b.WriteString("<" + w.tag + w.attrs + ">")
		if w.tag == "br" || w.tag == "hr" {
			continue
		}
		closer = "</" + w.tag + ">" + closer
		n++
	}
	c.b.WriteString(text)
	c.depth += n
	c.open = append(c.open, n)
	c.closers = append(c.closers, after+closer)
}

func (c *xhtmlConv) end() {
	if c.skip > 0 {
		c.skip--
		return
	}
	i := len(c.closers) - 1
	if i < 0 {
		return
	}
	c.b.WriteString(c.closers[i])
	c.depth -= c.open[i]
	c.closers, c.open = c.closers[:i], c.open[:i]
}

func (c *xhtmlConv) text(s string) {
	if c.skip > 0 {
		return
	}
	if c.trim != "" {
		if t := strings.TrimLeft(s, " \t\n"); t != "" {
			s = strings.TrimPrefix(t, c.trim)
			c.trim = ""
		}
	}
	c.b.WriteString(html.EscapeString(s))
}

// attr returns the value of t's attribute name (no namespace), or "".
func attr(t xml.StartElement, name string) string {
	for _, a := range t.Attr {
		if a.Name.Space == "" && a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}

// cssColors are the colour names understood in style attributes.
var cssColors = map[string]string{
	"black": "#000000", "silver": "#c0c0c0", "gray": "#808080", "grey": "#808080", "white": "#ffffff",
	"maroon": "#800000", "red": "#ff0000", "purple": "#800080", "fuchsia": "#ff00ff",
	"green": "#008000", "lime": "#00ff00", "olive": "#808000", "yellow": "#ffff00",
	"navy": "#000080", "blue": "#0000ff", "teal": "#008080", "aqua": "#00ffff", "orange": "#ffa500",
}

// styleWrappers returns the Matrix elements for the CSS of a style
// attribute: bold, italic, underline, line-through, monospace, colour
// and background colour; anything else is ignored.
func styleWrappers(style string) []wrapper {
	var ws []wrapper
	for _, decl := range strings.Split(style, ";") {
		prop, val, ok := strings.Cut(decl, ":")
		if !ok {
			continue
		}
		prop = strings.ToLower(strings.TrimSpace(prop))
		val = strings.ToLower(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(val), "!important")))
		switch prop {
		case "font-weight":
			if n, err := strconv.Atoi(val); val == "bold" || val == "bolder" || err == nil && n >= 600 {
				ws = append(ws, wrapper{tag: "strong"})
			}
		case "font-style":
			if val == "italic" || val == "oblique" {
				ws = append(ws, wrapper{tag: "em"})
			}
		case "text-decoration", "text-decoration-line":
			if strings.Contains(val, "underline") {
				ws = append(ws, wrapper{tag: "u"})
			}
			if strings.Contains(val, "line-through") {
				ws = append(ws, wrapper{tag: "del"})
			}
		case "font-family":
			if strings.Contains(val, "monospace") {
				ws = append(ws, wrapper{tag: "code"})
			}
		case "color", "background-color", "background":
			if c, ok := cssColor(val); ok {
				a := "data-mx-color"
				if prop != "color" {
					a = "data-mx-bg-color"
				}
				ws = append(ws, wrapper{"span", " " + a + `="` + c + `"`})
			}
		}
	}
	return ws
}

// cssColor returns a CSS colour as #rrggbb: #rgb, #rrggbb or a basic name.
func cssColor(v string) (string, bool) {
	if c, ok := cssColors[v]; ok {
		return c, true
	}
	if len(v) == 4 && v[0] == '#' && isHex(v[1:]) {
		return "#" + string([]byte{v[1], v[1], v[2], v[2], v[3], v[3]}), true
	}
	if len(v) == 7 && v[0] == '#' && isHex(v[1:]) {
		return v, true
	}
	return "", false
}

func isHex(s string) bool { return strings.Trim(s, "0123456789abcdef") == "" }
