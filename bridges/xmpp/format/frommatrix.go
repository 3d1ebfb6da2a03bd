package format

import (
	"bytes"
	"encoding/xml"
	"strings"

	xhtml "golang.org/x/net/html"
	"golang.org/x/net/html/atom"

	"github.com/causewaybridge/causeway/bridges/kit/matrixhtml"
)

// FromMatrixOptions tune [FromMatrix].
type FromMatrixOptions struct {
	// Prefix is text written before the content: "/me " for an emote,
	// as in its body.
	Prefix string
	// MediaURL returns the public link of an mxc:// image; without it,
	// or when it returns false, an image is replaced by its alt text.
	MediaURL func(mxc string) (string, bool)
}

// xhtmlOut maps Matrix elements to XHTML-IM: the element written (""
// for none: only the content) and its style attribute.
var xhtmlOut = map[string]struct{ tag, style string }{
	"b": {"strong", ""}, "strong": {"strong", ""},
	"i": {"em", ""}, "em": {"em", ""},
	"u":   {"span", "text-decoration: underline"},
	"del": {"span", "text-decoration: line-through"}, "s": {"span", "text-decoration: line-through"},
	"strike": {"span", "text-decoration: line-through"},
	"code":   {"code", ""}, "pre": {"pre", ""}, "blockquote": {"blockquote", ""},
	"p": {"p", ""}, "div": {"p", ""}, "tr": {"p", ""}, "caption": {"p", ""}, "summary": {"p", ""},
	"h1": {"p", "font-weight: bold"}, "h2": {"p", "font-weight: bold"}, "h3": {"p", "font-weight: bold"},
	"h4": {"p", "font-weight: bold"}, "h5": {"p", "font-weight: bold"}, "h6": {"p", "font-weight: bold"},
	"ul": {"ul", ""}, "ol": {"ol", ""}, "li": {"li", ""},
}

// FromMatrix returns the XHTML-IM payload (XEP-0071) of a Matrix
// formatted_body: a well-formed <html xmlns='http://jabber.org/protocol/xhtml-im'>
// element holding one <body xmlns='http://www.w3.org/1999/xhtml'>, or
// nil when formatted has no formatting beyond paragraphs and line
// breaks (the plain body says it all). The HTML is sanitized to the
// Matrix subset first; text and attributes are written by
// encoding/xml, so nothing in formatted can close or open elements of
// the stanza.
func FromMatrix(formatted string, opts FromMatrixOptions) []byte {
	clean := matrixhtml.Sanitize(formatted)
	if clean == "" {
		return nil
	}
	ctx := &xhtml.Node{Type: xhtml.ElementNode, Data: "body", DataAtom: atom.Body}
	nodes, err := xhtml.ParseFragment(strings.NewReader(clean), ctx)
	if err != nil {
		return nil
	}
	var buf bytes.Buffer
	w := &xhtmlWriter{enc: xml.NewEncoder(&buf), opts: opts}
	root := xml.StartElement{Name: xml.Name{Space: NSXHTMLIM, Local: "html"}}
	body := xml.StartElement{Name: xml.Name{Space: NSXHTML, Local: "body"}}
	w.tok(root)
	w.tok(body)
	if opts.Prefix != "" {
		w.tok(xml.CharData(opts.Prefix))
	}
	for _, n := range nodes {
		w.node(n, 0)
	}
	w.tok(body.End())
	w.tok(root.End())
	if w.err != nil || w.enc.Flush() != nil || !w.formatted {
		return nil
	}
	return buf.Bytes()
}

// xhtmlWriter writes the XHTML-IM tokens of a sanitized Matrix tree.
type xhtmlWriter struct {
	enc       *xml.Encoder
	opts      FromMatrixOptions
	formatted bool
	err       error
}

func (w *xhtmlWriter) tok(t xml.Token) {
	if w.err == nil {
		w.err = w.enc.EncodeToken(t)
	}
}

func (w *xhtmlWriter) node(n *xhtml.Node, depth int) {
	switch n.Type {
	case xhtml.TextNode:
		w.tok(xml.CharData(n.Data))
		return
	case xhtml.ElementNode:
	default:
		return
	}
	var start xml.StartElement
	switch n.Data {
	case "br", "hr":
		w.empty("br", nil)
		return
	case "img":
		w.image(n)
		return
	case "a":
		if href := htmlAttr(n, "href"); href != "" {
			start = element("a", xml.Attr{Name: xml.Name{Local: "href"}, Value: href})
		}
	case "font", "span":
		start = colorSpan(n)
	case "td", "th":
		defer w.tok(xml.CharData(" "))
	default:
		if m, ok := xhtmlOut[n.Data]; ok && m.tag != "" {
			start = element(m.tag)
			if m.style != "" {
				start.Attr = append(start.Attr, xml.Attr{Name: xml.Name{Local: "style"}, Value: m.style})
			}
		}
	}
	open := start.Name.Local != "" && depth < maxDepth
	if open {
		if start.Name.Local != "p" {
			w.formatted = true
		}
		w.tok(start)
		depth++
	}
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		w.node(c, depth)
	}
	if open {
		w.tok(start.End())
	}
}

// image writes an mxc image as an <img/> with its public link, or its
// alt text.
func (w *xhtmlWriter) image(n *xhtml.Node) {
	alt := htmlAttr(n, "alt")
	if w.opts.MediaURL != nil {
		if link, ok := w.opts.MediaURL(htmlAttr(n, "src")); ok {
			if alt == "" {
				alt = "image"
			}
			w.empty("img", []xml.Attr{{Name: xml.Name{Local: "src"}, Value: link}, {Name: xml.Name{Local: "alt"}, Value: alt}})
			return
		}
	}
	w.tok(xml.CharData(alt))
}

// empty writes an element without content.
func (w *xhtmlWriter) empty(tag string, attrs []xml.Attr) {
	start := element(tag, attrs...)
	w.tok(start)
	w.tok(start.End())
	if tag != "br" {
		w.formatted = true
	}
}

// colorSpan is the styled <span/> of a Matrix font or span with colours,
// or nothing.
func colorSpan(n *xhtml.Node) xml.StartElement {
	var css []string
	fg := htmlAttr(n, "data-mx-color")
	if fg == "" {
		fg = htmlAttr(n, "color")
	}
	if fg != "" {
		css = append(css, "color: "+fg)
	}
	if bg := htmlAttr(n, "data-mx-bg-color"); bg != "" {
		css = append(css, "background-color: "+bg)
	}
	if len(css) == 0 {
		return xml.StartElement{}
	}
	return element("span", xml.Attr{Name: xml.Name{Local: "style"}, Value: strings.Join(css, "; ")})
}

func element(tag string, attrs ...xml.Attr) xml.StartElement {
	return xml.StartElement{Name: xml.Name{Local: tag}, Attr: attrs}
}

// htmlAttr returns the value of n's attribute key, or "".
func htmlAttr(n *xhtml.Node, key string) string {
	for _, a := range n.Attr {
		if a.Namespace == "" && a.Key == key {
			return a.Val
		}
	}
	return ""
}
