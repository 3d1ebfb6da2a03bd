// Package matrixhtml keeps HTML within what Matrix allows in a message's
// formatted_body (org.matrix.custom.html): the tags and attributes the
// client-server API's m.room.message msgtypes section lists as permitted.
// A module that builds formatted_body from remote markup (XHTML-IM, HTML
// mail, a web chat) passes the result through [Sanitize] before it sends
// it, so that a remote user cannot put scripts, event handlers, style
// sheets or javascript: links in a Matrix room.
//
// It is pure: no I/O, no logging, no global mutable state.
package matrixhtml

import (
	"errors"
	"fmt"
	"html"
	"strings"

	xhtml "golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// MaxDepth is the deepest nesting of elements kept; the spec asks clients
// to limit it to 100. Elements nested deeper are replaced by their
// content.
const MaxDepth = 100

// allowed lists the permitted tags and, for each, the permitted
// attributes (the spec's list, plus the deprecated font and strike that
// clients still render).
var allowed = map[string][]string{
	"font": {"data-mx-bg-color", "data-mx-color", "color"},
	"del":  nil, "s": nil, "strike": nil,
	"h1": nil, "h2": nil, "h3": nil, "h4": nil, "h5": nil, "h6": nil,
	"blockquote": nil, "p": nil,
	"a":  {"name", "target", "href"},
	"ul": nil, "ol": {"start"}, "li": nil,
	"sup": nil, "sub": nil,
	"b": nil, "i": nil, "u": nil, "strong": nil, "em": nil,
	"code": {"class"}, "hr": nil, "br": nil,
	"div":   {"data-mx-maths"},
	"table": nil, "thead": nil, "tbody": nil, "tr": nil, "th": nil, "td": nil, "caption": nil,
	"pre":     nil,
	"span":    {"data-mx-bg-color", "data-mx-color", "data-mx-spoiler", "data-mx-maths"},
	"img":     {"width", "height", "alt", "title", "src"},
	"details": nil, "summary": nil,
}

// void elements have no end tag.
var void = map[string]bool{"br": true, "hr": true, "img": true}

// dropped elements go with everything inside them. mx-reply is a reply
// fallback: only the bridge that makes the reply may write one.
var dropped = map[string]bool{
	"script": true, "style": true, "head": true, "title": true, "template": true,
	"noscript": true, "iframe": true, "object": true, "embed": true, "applet": true,
	"svg": true, "math": true, "select": true, "textarea": true, "button": true,
	"input": true, "form": true, "frameset": true, "frame": true, "noembed": true,
	"noframes": true, "xmp": true, "plaintext": true, "mx-reply": true, "link": true,
	"meta": true, "base": true, "audio": true, "video": true, "source": true, "track": true,
}

// linkSchemes are the schemes an a href may use.
var linkSchemes = []string{"https:", "http:", "ftp:", "mailto:", "magnet:"}

// Sanitize returns s with only the permitted tags and attributes: other
// elements are replaced by their content (or dropped with it, for
// scripts, styles, embedded objects and reply fallbacks), links keep
// only http, https, ftp, mailto and magnet targets, images only mxc://
// sources, colours only #rrggbb values, code classes only language-*.
// Text is escaped again, control characters other than tab and newline
// removed, invalid UTF-8 replaced. Every element is closed, so the
// result cannot open markup around what follows it.
func Sanitize(s string) string {
	if s == "" {
		return ""
	}
	ctx := &xhtml.Node{Type: xhtml.ElementNode, Data: "body", DataAtom: atom.Body}
	nodes, err := xhtml.ParseFragment(strings.NewReader(strings.ToValidUTF8(s, "\uFFFD")), ctx)
	if err != nil {
		return textOnly(s) // nested too deep for the parser
	}
	var b strings.Builder
	w := writer{b: &b}
	for _, n := range nodes {
		w.node(n, 0)
	}
	return b.String()
}

// textOnly returns the escaped text of s without any element, skipping
// the content of dropped elements; the tokenizer has no depth limit.
func textOnly(s string) string {
	z := xhtml.NewTokenizer(strings.NewReader(s))
	var b strings.Builder
	skip := 0
	for {
		switch z.Next() {
		case xhtml.ErrorToken:
			return b.String()
		case xhtml.TextToken:
			if skip == 0 {
				b.WriteString(html.EscapeString(cleanText(string(z.Text()))))
			}
		case xhtml.StartTagToken:
			if name, _ := z.TagName(); dropped[string(name)] {
				skip++
			}
		case xhtml.EndTagToken:
			if name, _ := z.TagName(); dropped[string(name)] && skip > 0 {
				skip--
			}
		}
	}
}

type writer struct {
	b *strings.Builder
}

func (w writer) node(n *xhtml.Node, depth int) {
	switch n.Type {
	case xhtml.TextNode:
		w.b.WriteString(html.EscapeString(cleanText(n.Data)))
		return
	case xhtml.ElementNode:
	default:
		return // comments, doctypes
	}
	name := n.Data
	if n.Namespace != "" || dropped[name] {
		return // SVG and MathML content too
	}
	attrs, ok := allowed[name]
	keep := ok && depth < MaxDepth
	if keep && name == "img" && !hasMXCSource(n) {
		keep = false
	}
	if keep {
		w.start(n, attrs)
		depth++
	}
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		w.node(c, depth)
	}
	if keep && !void[name] {
		w.b.WriteString("</" + name + ">")
	}
}

// start writes n's start tag with its permitted, valid attributes.
func (w writer) start(n *xhtml.Node, permitted []string) {
	w.b.WriteString("<" + n.Data)
	seen := map[string]bool{}
	for _, a := range n.Attr {
		if a.Namespace != "" || seen[a.Key] || !contains(permitted, a.Key) {
			continue
		}
		v, ok := attrValue(n.Data, a.Key, cleanText(a.Val))
		if !ok {
			continue
		}
		seen[a.Key] = true
		w.b.WriteString(" " + a.Key + `="` + html.EscapeString(v) + `"`)
	}
	w.b.WriteString(">")
}

// attrValue checks the value of a permitted attribute and returns what
// to write.
func attrValue(tag, key, v string) (string, bool) {
	switch key {
	case "href":
		return v, SafeLink(v)
	case "src":
		return v, strings.HasPrefix(v, "mxc://")
	case "color", "data-mx-color", "data-mx-bg-color":
		return v, isHexColor(v)
	case "class":
		return v, strings.HasPrefix(v, "language-") && !strings.ContainsAny(v, " \t\n\f\r")
	case "start", "width", "height":
		return v, v != "" && len(v) <= 9 && strings.Trim(v, "0123456789") == ""
	case "target":
		return v, v == "_blank"
	case "data-mx-spoiler", "data-mx-maths", "alt", "title", "name":
		return v, true
	}
	return "", false
}

// SafeLink reports whether href may be the target of a link in Matrix
// HTML: an http, https, ftp, mailto or magnet URL (scheme letters in any
// case, no leading space or control character).
func SafeLink(href string) bool {
	l := strings.ToLower(href)
	for _, s := range linkSchemes {
		if strings.HasPrefix(l, s) {
			return true
		}
	}
	return false
}

func hasMXCSource(n *xhtml.Node) bool {
	for _, a := range n.Attr {
		if a.Namespace == "" && a.Key == "src" {
			return strings.HasPrefix(a.Val, "mxc://")
		}
	}
	return false
}

// isHexColor reports whether v is #rgb or #rrggbb.
func isHexColor(v string) bool {
	if len(v) != 7 && len(v) != 4 || v[0] != '#' {
		return false
	}
	return strings.Trim(v[1:], "0123456789abcdefABCDEF") == ""
}

// cleanText removes control characters other than tab, newline and
// carriage return, and replaces invalid UTF-8.
func cleanText(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	return strings.Map(func(r rune) rune {
		if (r < 0x20 && r != '\t' && r != '\n' && r != '\r') || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return -1
		}
		return r
	}, s)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Check returns an error naming the first element, attribute or value of
// s outside the permitted subset, or nil: what tests and fuzz targets of
// converters assert about the HTML they send to Matrix.
func Check(s string) error {
	ctx := &xhtml.Node{Type: xhtml.ElementNode, Data: "body", DataAtom: atom.Body}
	nodes, err := xhtml.ParseFragment(strings.NewReader(s), ctx)
	if err != nil {
		return fmt.Errorf("matrixhtml: parse: %w", err)
	}
	var walk func(n *xhtml.Node) error
	walk = func(n *xhtml.Node) error {
		if n.Type == xhtml.ElementNode {
			permitted, ok := allowed[n.Data]
			if !ok || n.Namespace != "" {
				return fmt.Errorf("matrixhtml: element <%s> is not permitted", n.Data)
			}
			for _, a := range n.Attr {
				if _, valid := attrValue(n.Data, a.Key, a.Val); !valid || a.Namespace != "" || !contains(permitted, a.Key) {
					return fmt.Errorf("matrixhtml: attribute %s=%q of <%s> is not permitted", a.Key, a.Val, n.Data)
				}
			}
			if n.Data == "img" && !hasMXCSource(n) {
				return errors.New("matrixhtml: <img> without an mxc:// source")
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			if err := walk(c); err != nil {
				return err
			}
		}
		return nil
	}
	for _, n := range nodes {
		if err := walk(n); err != nil {
			return err
		}
	}
	return nil
}
