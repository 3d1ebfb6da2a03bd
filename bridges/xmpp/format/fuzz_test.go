package format

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/causewaybridge/causeway/bridges/kit/matrixhtml"
)

// xhtmlElements are the elements FromMatrix may write inside <body/>.
var xhtmlElements = map[string]bool{
	"strong": true, "em": true, "span": true, "code": true, "pre": true, "blockquote": true,
	"p": true, "br": true, "a": true, "ul": true, "ol": true, "li": true, "img": true,
}

// xhtmlAttrs are the attributes it may write.
var xhtmlAttrs = map[string]bool{"href": true, "style": true, "src": true, "alt": true}

// checkXHTML decodes out inside a message stanza, strictly: it must be
// one <html/> element of XHTML-IM with one <body/>, only known elements
// and attributes, links only to safe schemes, and leave the stanza
// intact (one root, the body before it untouched).
func checkXHTML(out []byte) error {
	if out == nil {
		return nil
	}
	doc := append(append([]byte(`<message><body>plain</body>`), out...), `</message>`...)
	d := xml.NewDecoder(bytes.NewReader(doc))
	d.Strict = true
	depth, roots, htmls := 0, 0, 0
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("not well-formed: %v: %s", err, out)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
			switch {
			case depth == 1:
				roots++
			case depth == 2 && t.Name.Local == "html":
				htmls++
				if t.Name.Space != NSXHTMLIM {
					return fmt.Errorf("html in %q", t.Name.Space)
				}
			case depth == 3:
				if t.Name.Space != NSXHTML || t.Name.Local != "body" {
					return fmt.Errorf("<%s> in <html/>", t.Name.Local)
				}
			case depth > 3:
				if !xhtmlElements[t.Name.Local] || t.Name.Space != NSXHTML {
					return fmt.Errorf("element <%s xmlns=%q> written", t.Name.Local, t.Name.Space)
				}
				for _, a := range t.Attr {
					if !xhtmlAttrs[a.Name.Local] || a.Name.Space != "" {
						return fmt.Errorf("attribute %s on <%s>", a.Name.Local, t.Name.Local)
					}
					if a.Name.Local == "href" && !matrixhtml.SafeLink(a.Value) {
						return fmt.Errorf("link to %q", a.Value)
					}
				}
			}
		case xml.EndElement:
			depth--
		case xml.CharData:
			if !utf8.Valid(t) {
				return fmt.Errorf("invalid UTF-8 %q", t)
			}
		}
	}
	if roots != 1 || htmls != 1 {
		return fmt.Errorf("%d roots, %d html elements: %s", roots, htmls, out)
	}
	return nil
}

// checkMatrix fails unless out is sanitized Matrix HTML in valid UTF-8.
func checkMatrix(t *testing.T, in, out string) {
	t.Helper()
	if !utf8.ValidString(out) {
		t.Fatalf("%q: invalid UTF-8 %q", in, out)
	}
	if err := matrixhtml.Check(out); err != nil {
		t.Fatalf("%q → %q: %v", in, out, err)
	}
	if strings.Contains(strings.ToLower(out), "<script") {
		t.Fatalf("%q → %q: a script", in, out)
	}
}

// FuzzStylingToMatrix: any plain body gives sanitized Matrix HTML.
func FuzzStylingToMatrix(f *testing.F) {
	for _, s := range []string{"*b* _i_ ~s~ `p`", "> q\n>> qq\n", "```x\ny\n```", "*<script>*", "_\x00_"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		checkMatrix(t, body, ToMatrix(body, nil, ToMatrixOptions{}))
	})
}

// FuzzXHTMLToMatrix: any XHTML-IM body (that is well-formed XML, as a
// stanza must be) gives sanitized Matrix HTML.
func FuzzXHTMLToMatrix(f *testing.F) {
	for _, s := range []string{"<strong>b</strong>", "<a href='javascript:x'>j</a>", "<script>x</script>",
		"<span style='color:red;font-weight:bold'>x</span>", "<img src='https://x' alt='a'/>"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, inner string) {
		d := xml.NewDecoder(strings.NewReader(xhtmlStart + inner + xhtmlEnd))
		var toks []xml.Token
		for len(toks) < 100000 {
			tok, err := d.Token()
			if err != nil {
				if !errors.Is(err, io.EOF) {
					return // not XML: a stanza reader would have refused it
				}
				break
			}
			toks = append(toks, xml.CopyToken(tok))
		}
		checkMatrix(t, inner, ToMatrix("body", FindXHTML(toks), ToMatrixOptions{TrimPrefix: "/me "}))
	})
}

// FuzzFromMatrix: any Matrix HTML gives well-formed, contained XHTML-IM.
func FuzzFromMatrix(f *testing.F) {
	for _, s := range []string{"<b>x</b>", "</body><evil/>", "]]><![CDATA[", "<a href='javascript:x'>j</a>",
		"<img src='mxc://a/b'>", "<b>\x00\x0b</b>"} {
		f.Add(s)
	}
	media := func(mxc string) (string, bool) { return "https://m/" + mxc, true }
	f.Fuzz(func(t *testing.T, in string) {
		out := FromMatrix(in, FromMatrixOptions{Prefix: "/me ", MediaURL: media})
		if err := checkXHTML(out); err != nil {
			t.Fatalf("FromMatrix(%q): %v", in, err)
		}
	})
}
