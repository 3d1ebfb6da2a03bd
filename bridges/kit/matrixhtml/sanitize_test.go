package matrixhtml

import (
	"strings"
	"testing"
)

func TestSanitize(t *testing.T) {
	for i, tc := range []struct{ in, want string }{
		0:  {"", ""},
		1:  {"plain & <b>bold</b>", "plain &amp; <b>bold</b>"},
		2:  {"<script>alert(1)</script>hi", "hi"},
		3:  {`<b onclick="x()">b</b>`, "<b>b</b>"},
		4:  {`<a href="javascript:alert(1)">x</a>`, "<a>x</a>"},
		5:  {`<a href=" JAVASCRIPT:alert(1)">x</a>`, "<a>x</a>"},
		6:  {`<a href="HTTPS://example.org/?a=1&amp;b=2" target="_blank" rel="x">x</a>`, `<a href="HTTPS://example.org/?a=1&amp;b=2" target="_blank">x</a>`},
		7:  {`<img src="https://evil/x.png" alt="a">`, ""},
		8:  {`<img src="mxc://s/id" alt="a" onerror="x">`, `<img src="mxc://s/id" alt="a">`},
		9:  {`<span style="color:red" data-mx-color="#ff0000">r</span>`, `<span data-mx-color="#ff0000">r</span>`},
		10: {`<span data-mx-color="red;x">r</span>`, `<span>r</span>`},
		11: {`<code class="language-go">x</code><code class="x language-go">y</code>`, `<code class="language-go">x</code><code>y</code>`},
		12: {`<b>unclosed <i>nest`, `<b>unclosed <i>nest</i></b>`},
		13: {`</body><evil/>text`, "text"},
		14: {"a\x00b\x01c\td\ne", "abc\td\ne"},
		15: {`<style>b{}</style><mx-reply><blockquote>q</blockquote></mx-reply>ok`, "ok"},
		16: {`<blink>x</blink><marquee>y</marquee>`, "xy"},
		17: {`<svg><script>x</script><desc>d</desc></svg>z`, "z"},
		18: {`<ol start="3" type="a"><li>x</li></ol>`, `<ol start="3"><li>x</li></ol>`},
		19: {`<p>a<br>b</p><hr>`, `<p>a<br>b</p><hr>`},
		20: {`<font color="#abc" face="x">c</font>`, `<font color="#abc">c</font>`},
		21: {`"quotes" 'apos'`, "&#34;quotes&#34; &#39;apos&#39;"},
		22: {`<a href="mailto:a@b">m</a>`, `<a href="mailto:a@b">m</a>`},
		23: {`<b b="1" b="2">x</b>`, `<b>x</b>`},
		24: {"\xff", "\uFFFD"},
	} {
		if got := Sanitize(tc.in); got != tc.want {
			t.Errorf("%d: Sanitize(%q) = %q, want %q", i, tc.in, got, tc.want)
		}
	}
}

// TestSanitizeDepth: nesting deeper than MaxDepth keeps the text and at
// most MaxDepth elements.
func TestSanitizeDepth(t *testing.T) {
	in := strings.Repeat("<span>", 300) + "deep" + strings.Repeat("</span>", 300)
	got := Sanitize(in)
	if n := strings.Count(got, "<span>"); n != MaxDepth {
		t.Errorf("%d spans kept, want %d", n, MaxDepth)
	}
	if !strings.Contains(got, "deep") {
		t.Error("the text is gone")
	}
	if err := Check(got); err != nil {
		t.Error(err)
	}
	// Deeper than the parser goes: the text alone.
	in = strings.Repeat("<b>", 5000) + "<script>x</script>deeper &amp;" + strings.Repeat("</b>", 5000)
	if got := Sanitize(in); got != "deeper &amp;" {
		t.Errorf("5000 levels: %q", got)
	}
}

func TestSafeLink(t *testing.T) {
	for i, tc := range []struct {
		in string
		ok bool
	}{
		{"https://x", true}, {"HTTP://x", true}, {"mailto:a@b", true}, {"magnet:?x", true}, {"ftp://x", true},
		{"javascript:x", false}, {"data:text/html,x", false}, {" https://x", false}, {"//x", false}, {"xmpp:a@b", false},
	} {
		if got := SafeLink(tc.in); got != tc.ok {
			t.Errorf("%d: SafeLink(%q) = %v", i, tc.in, got)
		}
	}
}
