package ircfmt

import (
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/causewaybridge/causeway/matrix"
)

func TestFromMatrix(t *testing.T) {
	tests := []struct {
		html, plain string
		want        []string
	}{
		0:  {"", "hello\nworld", []string{"hello", "world"}},
		1:  {"<b>bold</b> <strong>strong</strong>", "", []string{"\x02bold\x02 \x02strong"}},
		2:  {"<i>i</i><em>em</em> <u>u</u> <s>s</s><del>d</del><strike>k</strike>", "", []string{"\x1diem\x1d \x1fu\x1f \x1esdk"}},
		3:  {"run <code>go test</code> now", "", []string{"run \x11go test\x11 now"}},
		4:  {"<pre><code>line 1\n  line 2\n</code></pre>", "", []string{"\x11line 1", "\x11  line 2"}},
		5:  {`<font data-mx-color="#ff0000">red</font> <span data-mx-color="#00007f" data-mx-bg-color="#ffff00">blue on yellow</span>`, "", []string{"\x0304red\x03 \x0302,08blue on yellow"}},
		6:  {`<font color="#f00">3</font> <font data-mx-color="#fe0101">apples</font>`, "", []string{"\x03043\x03 \x0304apples"}},
		28: {`<font data-mx-color="#ff0000">x</font>5 <font data-mx-color="#ff0000">,5</font>`, "", []string{"\x0304x\x03\x02\x025 \x0304\x02\x02,5"}},
		30: {"<ul><li></li><li><img></li></ul><p>after</p>", "", []string{"after"}},
		29: {`<font data-mx-color="#123457">x</font>ab`, "", []string{"\x0302x\x03ab"}},
		7:  {`<span data-mx-bg-color="#ff0000">bg</span>`, "", []string{"\x0399,04bg"}},
		8:  {`<span data-mx-spoiler="">secret</span>`, "", []string{"\x0301,01secret"}},
		9:  {`<a href="https://matrix.to/#/@bob:example.org">Bob</a>: hi`, "", []string{"Bob: hi"}},
		10: {`<a href="https://go.dev">Go</a> <a href="https://go.dev/">go.dev</a> <a href="mailto:a@b.c">a@b.c</a> <a href="https://x.org"></a>`, "", []string{"Go (https://go.dev) go.dev a@b.c https://x.org"}},
		11: {"<mx-reply><blockquote><a href=\"https://matrix.to/#/!r:x/$e\">In reply to</a> quoted</blockquote></mx-reply>answer", "> quoted\n\nanswer", []string{"answer"}},
		12: {"<p>one</p>\n<p>two<br>three</p><div>four</div><h1>Title</h1>", "", []string{"one", "two", "three", "four", "\x02Title"}},
		13: {"<blockquote><p>quoted</p><p>more</p></blockquote><p>reply</p>", "", []string{"> quoted", "> more", "reply"}},
		14: {"<ul><li>a</li><li>b<ol start=\"3\"><li>c</li><li>d</li></ol></li></ul>", "", []string{"- a", "- b", "  3. c", "  4. d"}},
		15: {"<p>a\n   b\t c</p>", "", []string{"a b c"}},
		16: {"<unknown>kept</unknown> <script>alert(1)</script><style>p{}</style>text", "", []string{"kept text"}},
		17: {"<b>bold <i>both</i></b><i> italic</i>", "", []string{"\x02bold \x1dboth\x02 italic"}},
		18: {`<img alt="cat.png" src="mxc://x/y">`, "", []string{"cat.png"}},
		19: {"<p>a</p><p> </p><br><br><p>b</p>", "", []string{"a", "b"}},
		20: {"x\r\ny\x00z\x01w\x02v", "", []string{"x yzwv"}},
		21: {"", "a\r\nb\x00c\x03\x02d\n\n\n", []string{"a", "bcd"}},
		22: {"<mx-reply>only a reply</mx-reply>", "fallback", []string{"fallback"}},
		23: {"<table><tr><th>k</th><td>v</td></tr><tr><td>1</td><td>2</td></tr></table>", "", []string{"\x02k\x02 v", "1 2"}},
		24: {`<a href="https://evil.example/` + "\r\nQUIT" + `">click</a>`, "", []string{"click (https://evil.example/QUIT)"}},
		25: {"<b>\n</b>", "fallback", []string{"fallback"}},
		26: {`<font data-mx-color="#ff0000">r <font data-mx-color="#00ff00">g</font> r</font>`, "", []string{"\x0304r \x0356g\x0304 r"}},
		27: {`<span data-mx-color="#ff0000" data-mx-bg-color="#0000ff">x</span><span data-mx-color="#ff0000">y</span>`, "", []string{"\x0304,60x\x03\x0304y"}},
		// A lone CR breaks a line like LF and CR LF; it never glues words.
		31: {"", "y\rJOIN", []string{"y", "JOIN"}},
		32: {"", "a\rb\r\nc\nd\r\r\re\r", []string{"a", "b", "c", "d", "e"}},
		33: {"", "\r\n\r", nil},
		34: {"<pre>one\rtwo\r\nthree</pre>", "", []string{"\x11one", "\x11two", "\x11three"}},
		35: {"<p>a\rb</p>", "", []string{"a b"}}, // HTML whitespace outside pre
	}
	for i, tc := range tests {
		t.Run(strconv.Itoa(i), func(t *testing.T) {
			got := FromMatrix(tc.html, tc.plain, FromMatrixOptions{})
			if !slices.Equal(got, tc.want) {
				t.Errorf("FromMatrix(%q, %q)\n got %q\nwant %q", tc.html, tc.plain, got, tc.want)
			}
		})
	}
}

func TestFromMatrixOptions(t *testing.T) {
	nicks := func(id matrix.UserID) (string, bool) {
		if id == "@irc_libera_Bob:example.org" {
			return "Bob", true
		}
		return "", false
	}
	tests := []struct {
		html, plain string
		opts        FromMatrixOptions
		want        []string
	}{
		0: {`<a href="https://matrix.to/#/%40irc_libera_Bob%3Aexample.org">Bob (IRC)</a>: hi`, "", FromMatrixOptions{MentionNick: nicks}, []string{"Bob: hi"}},
		1: {`<a href="https://matrix.to/#/@carol:example.org?via=x">Carol</a>`, "", FromMatrixOptions{MentionNick: nicks}, []string{"Carol"}},
		2: {`<b>b</b> <font data-mx-color="#ff0000">r</font>`, "", FromMatrixOptions{NoFormatting: true}, []string{"b r"}},
		3: {`<font data-mx-color="#123456">x</font><font data-mx-color="#ff0000">y</font>`, "", FromMatrixOptions{HexColors: true}, []string{"\x04123456x\x0304y"}},
		4: {`<font data-mx-color="#123456">x</font>`, "", FromMatrixOptions{}, []string{"\x0302x"}},
		7: {`<font data-mx-color="#123456">,abcdef</font>`, "", FromMatrixOptions{HexColors: true}, []string{"\x04123456\x02\x02,abcdef"}},
		5: {"", "> <@bob:x> quoted\n> more\n\nanswer", FromMatrixOptions{StripReplyFallback: true}, []string{"answer"}},
		6: {"", "> not a reply\n\nanswer", FromMatrixOptions{}, []string{"> not a reply", "answer"}},
	}
	for i, tc := range tests {
		t.Run(strconv.Itoa(i), func(t *testing.T) {
			got := FromMatrix(tc.html, tc.plain, tc.opts)
			if !slices.Equal(got, tc.want) {
				t.Errorf("FromMatrix(%q, %q)\n got %q\nwant %q", tc.html, tc.plain, got, tc.want)
			}
		})
	}
}

// styledChar is one visible character with the look it has on IRC.
type styledChar struct {
	r                                     rune
	bold, italic, underline, strike, mono bool
	fg, bg                                string
}

// look returns the visible characters of an IRC line with their styles,
// colours by RGB value (so that palette 52 and 4 compare equal).
func look(line string) []styledChar {
	var out []styledChar
	for _, r := range parseRuns(line) {
		for _, c := range r.text {
			out = append(out, styledChar{c, r.st.bold, r.st.italic, r.st.underline, r.st.strike, r.st.mono, r.st.fg.css(), r.st.bg.css()})
		}
	}
	return out
}

func TestRoundTrip(t *testing.T) {
	tests := []string{
		0: "plain text",
		1: "\x02bold\x02 and \x1ditalic\x1d and \x1funderline\x1f and \x1estrike\x1e and \x11mono",
		2: "\x02\x1dbold italic\x02 italic\x1d plain",
		3: "\x0304red \x0302,08blue on yellow\x03 plain \x0399,04bg only",
		4: "\x0352extended red\x0f \x0340dark red 3",
		5: "\x0304,08\x02\x1fall\x0f of it 12",
		6: "\x04123456hex\x04 back",
		7: "\x0304,01\x02x\x0301y\x03 z",
		8: "a < b && c > \"d\" \x02<i>",
	}
	for i, in := range tests {
		t.Run(strconv.Itoa(i), func(t *testing.T) {
			plain, html, _ := ToMatrix(in, ToMatrixOptions{})
			lines := FromMatrix(html, plain, FromMatrixOptions{HexColors: true})
			if len(lines) != 1 {
				t.Fatalf("lines = %q, want one line (html %q)", lines, html)
			}
			if got, want := look(lines[0]), look(in); !slices.Equal(got, want) {
				t.Errorf("round trip of %q via %q gave %q", in, html, lines[0])
			}
		})
	}
}

func TestFromMatrixHostile(t *testing.T) {
	inputs := []string{
		"a\rb\nc\x00d",
		"<p>x\r\nPRIVMSG #chan :pwned</p>",
		"<pre>one\r\ntwo\x00three\rfour</pre>",
		`<a href="https://x/` + "\x00\r\n" + `">t</a>`,
		`<img alt="` + "a\r\nQUIT" + `">`,
		"<![CDATA[\r\n]]>&#13;&#10;&#0;&#x0d;",
	}
	for i, in := range inputs {
		for _, lines := range [][]string{FromMatrix(in, "", FromMatrixOptions{}), FromMatrix("", in, FromMatrixOptions{})} {
			for _, l := range lines {
				if strings.ContainsAny(l, "\r\n\x00") {
					t.Errorf("%d: line %q from %q contains CR, LF or NUL", i, l, in)
				}
			}
		}
	}
}
