package ircfmt

import (
	"slices"
	"strconv"
	"testing"

	"github.com/causewaybridge/causeway/matrix"
)

func TestToMatrix(t *testing.T) {
	tests := []struct {
		in, plain, html string
	}{
		0:  {"hello world", "hello world", ""},
		1:  {"\x02bold\x02 text", "bold text", "<b>bold</b> text"},
		2:  {"\x1ditalic\x1d \x1funder\x1f \x1estrike\x1e \x11mono\x11", "italic under strike mono", "<i>italic</i> <u>under</u> <del>strike</del> <code>mono</code>"},
		3:  {"\x02bold \x1dboth\x02 italic", "bold both italic", "<b>bold <i>both</i></b><i> italic</i>"},
		4:  {"\x0304red\x03 plain", "red plain", `<font data-mx-color="#ff0000">red</font> plain`},
		5:  {"\x0304,02red on blue", "red on blue", `<font data-mx-color="#ff0000" data-mx-bg-color="#00007f">red on blue</font>`},
		6:  {"\x034red", "red", `<font data-mx-color="#ff0000">red</font>`},
		7:  {"\x03041234", "1234", `<font data-mx-color="#ff0000">1234</font>`},
		8:  {"\x0304,text", ",text", `<font data-mx-color="#ff0000">,text</font>`},
		9:  {"\x0352extended \x0398grey", "extended grey", `<font data-mx-color="#ff0000">extended </font><font data-mx-color="#ffffff">grey</font>`},
		10: {"\x0399,99default", "default", ""},
		11: {"\x04FF8800hex\x04 no", "hex no", `<font data-mx-color="#ff8800">hex</font> no`},
		12: {"\x04ff8800,000000hex", "hex", `<font data-mx-color="#ff8800" data-mx-bg-color="#000000">hex</font>`},
		13: {"\x16reversed", "reversed", `<font data-mx-color="#ffffff" data-mx-bg-color="#000000">reversed</font>`},
		14: {"\x0304,02\x16swap", "swap", `<font data-mx-color="#00007f" data-mx-bg-color="#ff0000">swap</font>`},
		15: {"\x02\x1dboth\x0fplain", "bothplain", "<b><i>both</i></b>plain"},
		16: {"\x02\x02no-op", "no-op", ""},
		17: {"trailing\x02\x1d", "trailing", ""},
		18: {"a\x02b\nc", "ab\nc", "a<b>b</b><br>c"},
		19: {"\x02<script>alert(1)</script>&amp;", "<script>alert(1)</script>&amp;", "<b>&lt;script&gt;alert(1)&lt;/script&gt;&amp;amp;</b>"},
		20: {"\x02x\x02 \"q\" 'a'", "x \"q\" 'a'", "<b>x</b> &#34;q&#34; &#39;a&#39;"},
		21: {"bell\x07 ctcp\x01 nul\x00", "bell ctcp nul", ""},
		22: {"\x02see https://example.org/a?b=1&c=<2>. ok", "see https://example.org/a?b=1&c=<2>. ok", `<b>see <a href="https://example.org/a?b=1&amp;c=">https://example.org/a?b=1&amp;c=</a>&lt;2&gt;. ok</b>`},
		23: {"\x02(https://example.org/wiki/Go_(lang))", "(https://example.org/wiki/Go_(lang))", `<b>(<a href="https://example.org/wiki/Go_(lang)">https://example.org/wiki/Go_(lang)</a>)</b>`},
		24: {"bad \xff utf8 \x02x", "bad \ufffd utf8 x", "bad \ufffd utf8 <b>x</b>"},
		25: {"\x02javascript:alert(1)", "javascript:alert(1)", "<b>javascript:alert(1)</b>"},
	}
	for i, tc := range tests {
		t.Run(strconv.Itoa(i), func(t *testing.T) {
			plain, html, mentions := ToMatrix(tc.in, ToMatrixOptions{})
			if plain != tc.plain {
				t.Errorf("plain = %q, want %q", plain, tc.plain)
			}
			if html != tc.html {
				t.Errorf("html = %q, want %q", html, tc.html)
			}
			if mentions != nil {
				t.Errorf("mentions = %v without a Mention func", mentions)
			}
		})
	}
}

func TestToMatrixMentions(t *testing.T) {
	users := map[string]matrix.UserID{
		"alice":    "@alice:example.org",
		"bob[m]":   "@bob:example.org",
		"mallory":  `@x"><script>:example.org`,
		"notvalid": "alice",
	}
	lookup := func(nick string) (matrix.UserID, bool) { id, ok := users[nick]; return id, ok }
	tests := []struct {
		in, plain, html string
		mentions        []matrix.UserID
	}{
		0: {"alice: hi", "alice: hi", `<a href="https://matrix.to/#/@alice:example.org">alice</a>: hi`, []matrix.UserID{"@alice:example.org"}},
		1: {"hi bob[m] and alice, alice!", "hi bob[m] and alice, alice!",
			`hi <a href="https://matrix.to/#/@bob:example.org">bob[m]</a> and <a href="https://matrix.to/#/@alice:example.org">alice</a>, <a href="https://matrix.to/#/@alice:example.org">alice</a>!`,
			[]matrix.UserID{"@bob:example.org", "@alice:example.org"}},
		2: {"malice and alice2 are not alice_", "malice and alice2 are not alice_", "", nil},
		3: {"https://example.org/alice", "https://example.org/alice", "", nil},
		4: {"\x02alice\x02", "alice", `<b><a href="https://matrix.to/#/@alice:example.org">alice</a></b>`, []matrix.UserID{"@alice:example.org"}},
		5: {"notvalid", "notvalid", "", nil},
		6: {"mallory", "mallory", `<a href="https://matrix.to/#/@x%22%3E%3Cscript%3E:example.org">mallory</a>`, []matrix.UserID{`@x"><script>:example.org`}},
	}
	for i, tc := range tests {
		t.Run(strconv.Itoa(i), func(t *testing.T) {
			plain, html, mentions := ToMatrix(tc.in, ToMatrixOptions{Mention: lookup})
			if plain != tc.plain || html != tc.html || !slices.Equal(mentions, tc.mentions) {
				t.Errorf("ToMatrix(%q) = %q, %q, %v; want %q, %q, %v", tc.in, plain, html, mentions, tc.plain, tc.html, tc.mentions)
			}
		})
	}
}

func TestPalette(t *testing.T) {
	// Spot checks against https://modern.ircdocs.horse/formatting#colors.
	for i, want := range map[int]string{0: "#ffffff", 1: "#000000", 7: "#fc7f00", 15: "#d2d2d2", 16: "#470000", 40: "#b50000", 76: "#ff9c9c", 88: "#000000", 98: "#ffffff"} {
		if got := paletteColor(i).css(); got != want {
			t.Errorf("colour %d = %s, want %s", i, got, want)
		}
	}
	if got := paletteColor(99).css(); got != "" {
		t.Errorf("colour 99 = %q, want default", got)
	}
}
