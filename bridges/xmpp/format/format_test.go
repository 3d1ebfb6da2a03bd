package format

import (
	"encoding/xml"
	"strings"
	"testing"

	"github.com/causewaybridge/causeway/bridges/kit/matrixhtml"
)

// tokens decodes an XML string into tokens, failing the test on bad XML.
func tokens(t testing.TB, s string) []xml.Token {
	t.Helper()
	d := xml.NewDecoder(strings.NewReader(s))
	var out []xml.Token
	for {
		tok, err := d.Token()
		if err != nil {
			if err.Error() != "EOF" {
				t.Fatalf("bad XML %q: %v", s, err)
			}
			return out
		}
		out = append(out, xml.CopyToken(tok))
	}
}

func TestStylingToMatrix(t *testing.T) {
	for i, tc := range []struct{ body, want string }{
		0:  {"plain text", ""},
		1:  {"two\nlines", ""},
		2:  {"*bold*", "<strong>bold</strong>"},
		3:  {"hi *bold* and _em_ ~st~ `pre *x*`\nline2", "hi <strong>bold</strong> and <em>em</em> <del>st</del> <code>pre *x*</code><br>line2"},
		4:  {"*a _b_ c*", "<strong>a <em>b</em> c</strong>"},
		5:  {"> quote *b*\n>> deeper\nafter", "<blockquote>quote <strong>b</strong><blockquote>deeper</blockquote></blockquote>after"},
		6:  {"```go\ncode *x*\n<b>\n```\nafter", "<pre><code class=\"language-go\">code *x*\n&lt;b&gt;</code></pre>after"},
		7:  {"```\nunclosed", "<pre><code>unclosed</code></pre>"},
		8:  {"*unclosed\n_x_", "*unclosed<br><em>x</em>"},
		9:  {"*<script>alert(1)</script>*", "<strong>&lt;script&gt;alert(1)&lt;/script&gt;</strong>"},
		10: {"_</body><evil/>_", "<em>&lt;/body&gt;&lt;evil/&gt;</em>"},
		11: {"```js\" onclick=\"x\nx\n```", "<pre><code>x</code></pre>"},
		12: {"a * b * c", ""},
		13: {"> quoted only", "<blockquote>quoted only</blockquote>"},
		14: {"*bold*\x00\x01", "<strong>bold</strong>"},
	} {
		got := ToMatrix(tc.body, nil, ToMatrixOptions{})
		if got != tc.want {
			t.Errorf("%d: ToMatrix(%q) = %q, want %q", i, tc.body, got, tc.want)
		}
		if err := matrixhtml.Check(got); err != nil {
			t.Errorf("%d: %v", i, err)
		}
	}
}

const (
	xhtmlStart = `<html xmlns='http://jabber.org/protocol/xhtml-im'><body xmlns='http://www.w3.org/1999/xhtml'>`
	xhtmlEnd   = `</body></html>`
)

func TestXHTMLToMatrix(t *testing.T) {
	for i, tc := range []struct{ in, trim, want string }{
		0:  {`<p>just text</p>`, "", ""},
		1:  {`<strong>b</strong> <em>i</em>`, "", "<strong>b</strong> <em>i</em>"},
		2:  {`<p style='font-weight:bold;color:red'>x</p>`, "", `<p><strong><span data-mx-color="#ff0000">x</span></strong></p>`},
		3:  {`<script>alert(1)</script><strong>s</strong>`, "", "<strong>s</strong>"},
		4:  {`<a href='javascript:alert(1)' onclick='x'>j</a><em>e</em>`, "", "j<em>e</em>"},
		5:  {`<a href='https://example.org/?a&amp;b'>l</a>`, "", `<a href="https://example.org/?a&amp;b">l</a>`},
		6:  {`<img src='https://x/y.png' alt='pic'/>`, "", `<a href="https://x/y.png">pic</a>`},
		7:  {`<img src='data:x' alt='pic'/><em>e</em>`, "", `pic<em>e</em>`},
		8:  {`<span style='text-decoration: underline line-through; font-family: monospace'>x</span>`, "", `<u><del><code>x</code></del></u>`},
		9:  {`<span style='color: expression(alert(1)); background: url(javascript:x)'>x</span>`, "", ""},
		10: {`<em>/me waves</em>`, "/me ", "<em>waves</em>"},
		11: {`&lt;/body&gt;&lt;evil/&gt;<strong>&amp;</strong>`, "", "&lt;/body&gt;&lt;evil/&gt;<strong>&amp;</strong>"},
		12: {`<unknown><strong>k</strong></unknown><x:y xmlns:x='urn:other'>gone</x:y>`, "", "<strong>k</strong>"},
		13: {`<q>quoted</q><br/>`, "", ""},
		14: {`<ul><li>one</li></ul><blockquote>q</blockquote><pre>p</pre>`, "", "<ul><li>one</li></ul><blockquote>q</blockquote><pre>p</pre>"},
		15: {`<strong>first</strong></body><body xmlns='http://www.w3.org/1999/xhtml' xml:lang='fr'><em>second</em>`, "", "<strong>first</strong>"},
	} {
		got := ToMatrix("body", FindXHTML(tokens(t, "<m>"+xhtmlStart+tc.in+xhtmlEnd+"</m>")[1:]), ToMatrixOptions{TrimPrefix: tc.trim})
		if got != tc.want {
			t.Errorf("%d: %s → %q, want %q", i, tc.in, got, tc.want)
		}
		if err := matrixhtml.Check(got); err != nil {
			t.Errorf("%d: %v", i, err)
		}
	}
}

// TestXHTMLDeepNesting: 20,000 nested spans keep their text, at most
// maxDepth elements, and take no noticeable time.
func TestXHTMLDeepNesting(t *testing.T) {
	in := xhtmlStart + strings.Repeat("<span style='font-weight:bold'>", 20000) + "deep" + strings.Repeat("</span>", 20000) + xhtmlEnd
	got := ToMatrix("deep", FindXHTML(tokens(t, in)), ToMatrixOptions{})
	if !strings.Contains(got, "deep") || strings.Count(got, "<strong>") > maxDepth {
		t.Fatalf("%d bytes, %d strong", len(got), strings.Count(got, "<strong>"))
	}
}

func TestFindXHTML(t *testing.T) {
	toks := tokens(t, `<body>x</body><html xmlns='urn:other'/><html xmlns='http://jabber.org/protocol/xhtml-im'><body/></html>`)
	got := FindXHTML(toks)
	if len(got) != 4 || got[0].(xml.StartElement).Name.Space != NSXHTMLIM {
		t.Fatalf("FindXHTML: %v", got)
	}
	if FindXHTML(tokens(t, `<body>x</body>`)) != nil {
		t.Fatal("FindXHTML found a payload in a plain message")
	}
}

func TestFromMatrix(t *testing.T) {
	media := func(mxc string) (string, bool) {
		return "https://media.example/" + strings.TrimPrefix(mxc, "mxc://"), strings.HasPrefix(mxc, "mxc://")
	}
	for i, tc := range []struct {
		in     string
		prefix string
		want   string // the content of <body/>; "" for no payload
	}{
		0:  {"", "", ""},
		1:  {"plain", "", ""},
		2:  {"<p>para</p><br>", "", ""},
		3:  {"<b>bold</b> &amp; <i>it</i>", "", "<strong>bold</strong> &amp; <em>it</em>"},
		4:  {"<strong>x</strong><script>alert(1)</script>", "", "<strong>x</strong>"},
		5:  {"<em>a</em></body><evil/>]]>&lt;/body&gt;", "", "<em>a</em>]]&gt;&lt;/body&gt;"},
		6:  {`<a href="javascript:alert(1)">j</a><a href="https://x/?a=1&amp;b=&quot;2">l</a>`, "", `j<a href="https://x/?a=1&amp;b=&#34;2">l</a>`},
		7:  {`<font color="#f00" data-mx-bg-color="#00ff00">c</font>`, "", `<span style="color: #f00; background-color: #00ff00">c</span>`},
		8:  {`<span data-mx-color="red;background:url(x)">c</span><u>u</u>`, "", `c<span style="text-decoration: underline">u</span>`},
		9:  {`<img src="mxc://s/id" alt="cat"><img src="https://evil/x">`, "", `<img src="https://media.example/s/id" alt="cat"></img>`},
		10: {"<b>x</b>", "/me ", "/me <strong>x</strong>"},
		11: {"<mx-reply><blockquote>quoted</blockquote></mx-reply><b>reply</b>", "", "<strong>reply</strong>"},
		12: {"<h1>title</h1><pre><code>a\n  b</code></pre>", "", `<p style="font-weight: bold">title</p><pre><code>a` + "\n" + `  b</code></pre>`},
		13: {"<b>ctl\x00\x01\x1b</b>", "", "<strong>ctl</strong>"},
		14: {"<b>unbalanced <i>tags</b>", "", "<strong>unbalanced <em>tags</em></strong>"},
		15: {"<table><tr><td>a</td><td>b</td></tr></table><del>d</del>", "", `<p>a b </p><span style="text-decoration: line-through">d</span>`},
	} {
		out := FromMatrix(tc.in, FromMatrixOptions{Prefix: tc.prefix, MediaURL: media})
		if tc.want == "" {
			if out != nil {
				t.Errorf("%d: FromMatrix(%q) = %s, want none", i, tc.in, out)
			}
			continue
		}
		want := `<html xmlns="` + NSXHTMLIM + `"><body xmlns="` + NSXHTML + `">` + tc.want + `</body></html>`
		if string(out) != want {
			t.Errorf("%d: FromMatrix(%q) =\n%s\nwant\n%s", i, tc.in, out, want)
		}
		if err := checkXHTML(out); err != nil {
			t.Errorf("%d: %v", i, err)
		}
	}
}

// TestFromMatrixDeepNesting: deep Matrix HTML gives bounded XHTML.
func TestFromMatrixDeepNesting(t *testing.T) {
	out := FromMatrix(strings.Repeat("<b>", 400)+"x", FromMatrixOptions{})
	if err := checkXHTML(out); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(out), "<strong>"); n > maxDepth {
		t.Fatalf("%d nested elements", n)
	}
}

// TestStylingLimits: quotes nested deeper than maxQuoteDepth (the
// styling decoder's time grows with the square of the depth) and bodies
// over maxInput (too large for a Matrix event with its HTML) are left
// plain; up to the limits they are formatted.
func TestStylingLimits(t *testing.T) {
	deep := strings.Repeat(">", maxQuoteDepth) + " *x*"
	if got := ToMatrix(deep, nil, ToMatrixOptions{}); strings.Count(got, "<blockquote>") != maxQuoteDepth {
		t.Errorf("%d levels: %q", maxQuoteDepth, got)
	}
	for i, body := range []string{
		strings.Repeat("> ", maxQuoteDepth+1) + "*x*",
		strings.Repeat(">", 200000) + " *x*",
		strings.Repeat("*a* ", maxInput/4+1),
	} {
		if got := ToMatrix(body, nil, ToMatrixOptions{}); got != "" {
			t.Errorf("%d: %d bytes formatted", i, len(got))
		}
	}
	in := xhtmlStart + strings.Repeat("<strong>a</strong>", maxInput) + xhtmlEnd
	if got := ToMatrix("a", FindXHTML(tokens(t, in)), ToMatrixOptions{}); got != "" {
		t.Errorf("a huge XHTML-IM body gave %d bytes of HTML", len(got))
	}
}
