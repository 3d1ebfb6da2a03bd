package ircfmt

import (
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"golang.org/x/net/html"

	"github.com/causewaybridge/causeway/matrix"
)

// allowedAttr lists, per tag ToMatrix may write, the attributes it may
// carry and the values they may take.
var allowedAttr = map[string]map[string]*regexp.Regexp{
	"b": {}, "i": {}, "u": {}, "del": {}, "code": {}, "br": {},
	"font": {"data-mx-color": regexp.MustCompile(`^#[0-9a-f]{6}$`), "data-mx-bg-color": regexp.MustCompile(`^#[0-9a-f]{6}$`)},
	"a":    {"href": regexp.MustCompile(`^https?://[^\s<>"]+$`)},
}

// checkMatrixHTML fails when body has a tag or attribute ToMatrix must not
// write, or when its text differs from plain.
func checkMatrixHTML(t *testing.T, body, plain string) {
	t.Helper()
	z := html.NewTokenizer(strings.NewReader(body))
	var text strings.Builder
	for {
		switch z.Next() {
		case html.ErrorToken:
			if text.String() != plain {
				t.Fatalf("text of html %q = %q, plain = %q", body, text.String(), plain)
			}
			return
		case html.TextToken:
			text.Write(z.Text())
		case html.StartTagToken, html.SelfClosingTagToken:
			tok := z.Token()
			attrs, ok := allowedAttr[tok.Data]
			if !ok {
				t.Fatalf("html %q has a <%s> tag", body, tok.Data)
			}
			for _, a := range tok.Attr {
				if re := attrs[a.Key]; re == nil || !re.MatchString(a.Val) {
					t.Fatalf("html %q has <%s %s=%q>", body, tok.Data, a.Key, a.Val)
				}
			}
			if tok.Data == "br" {
				text.WriteByte('\n')
			}
		case html.EndTagToken:
		default:
			t.Fatalf("html %q has a comment or doctype", body)
		}
	}
}

func FuzzToMatrix(f *testing.F) {
	for _, s := range []string{
		"plain", "\x02b\x1di\x1fu\x1es\x11m\x16r\x0fx", "\x0304,02c\x03 \x0399,1x", "\x04ff00aa,000000h\x04",
		"<script>alert(1)</script> & \"'", "alice: see https://example.org/?a=<b>&c", "a\nb\r\n\x00c", "\xff\xfe",
	} {
		f.Add(s)
	}
	mention := func(nick string) (matrix.UserID, bool) {
		if nick == "alice" || nick == "bob" {
			return matrix.UserID("@" + nick + ":example.org"), true
		}
		return "", false
	}
	f.Fuzz(func(t *testing.T, in string) {
		plain, body, mentions := ToMatrix(in, ToMatrixOptions{Mention: mention})
		if !utf8.ValidString(plain) || !utf8.ValidString(body) {
			t.Fatalf("invalid UTF-8 out of %q", in)
		}
		for i := 0; i < len(plain); i++ {
			if c := plain[i]; c != '\n' && isControl(c) {
				t.Fatalf("plain %q has control byte %#x", plain, c)
			}
		}
		if body == "" {
			if mentions != nil {
				t.Fatalf("mentions %v without html", mentions)
			}
			return
		}
		checkMatrixHTML(t, body, plain)
	})
}

func FuzzFromMatrix(f *testing.F) {
	for _, s := range [][2]string{
		{"<b>b</b><i>i</i><u>u</u><del>d</del><code>c</code>", ""},
		{`<font data-mx-color="#ff0000" data-mx-bg-color="#00ff00">c</font><span data-mx-spoiler>s</span>`, ""},
		{"<mx-reply><blockquote>q</blockquote></mx-reply><p>a\r\nb</p><pre>x\ny\x00</pre>", "fallback"},
		{`<a href="https://matrix.to/#/@a:b">A</a> <a href="https://x` + "\r\n" + `">x</a>`, ""},
		{"<ul><li>a<ol><li>b</li></ol></li></ul><blockquote>q</blockquote>", ""},
		{"", "plain\r\nQUIT :x\x00\n"},
		{"", "y\rJOIN #x\r\rPART #x\n\r"},
		{"<pre>a\rb\r\nc</pre>", "x\ry"},
		{"", "> <@a:b> quote\r\rreply"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, body, plain string) {
		valid := utf8.ValidString(body) && utf8.ValidString(plain)
		for _, l := range FromMatrix(body, plain, FromMatrixOptions{}) {
			if strings.ContainsAny(l, "\r\n\x00") {
				t.Fatalf("line %q has CR, LF or NUL", l)
			}
			if valid && !utf8.ValidString(l) {
				t.Fatalf("line %q is not valid UTF-8", l)
			}
			if strings.TrimSpace(Strip(l)) == "" {
				t.Fatalf("line %q has no text", l)
			}
			for i := 0; i < len(l); i++ {
				if isControl(l[i]) && !isFormatCode(l[i]) {
					t.Fatalf("line %q has control byte %#x", l, l[i])
				}
			}
		}
	})
}

// squeeze returns the visible text of s without whitespace.
func squeeze(s string) string { return strings.Join(strings.Fields(Strip(s)), "") }

func FuzzSplitLines(f *testing.F) {
	for _, s := range []struct {
		text string
		max  int
	}{
		{"hello world", 5}, {"\x02bold words here\x02 plain", 8}, {"日本語 🎉 text", 4},
		{"\x0304,02colour 12345\x04ABCDEF,123456hex", 9}, {"a\r\nb\x00c\n\n", 1}, {"\xff\xfe\xfd", 2},
		{"y\rJOIN #x\r", 100}, {"\x02a\r\x00\rb\r\n\n\rc", 3}, {"\xff\r\x00\xfe", 4},
	} {
		f.Add(s.text, s.max)
	}
	f.Fuzz(func(t *testing.T, text string, maxBytes int) {
		maxBytes = 1 + (maxBytes&0x7fffffff)%600
		lines := SplitLines(text, maxBytes)
		limit := max(maxBytes, utf8.UTFMax)
		var got strings.Builder
		for _, l := range lines {
			if len(l) > limit {
				t.Fatalf("line %q is %d bytes, limit %d", l, len(l), limit)
			}
			if strings.ContainsAny(l, "\r\n\x00") {
				t.Fatalf("line %q has CR, LF or NUL", l)
			}
			if utf8.ValidString(text) && !utf8.ValidString(l) {
				t.Fatalf("line %q is not valid UTF-8", l)
			}
			got.WriteString(squeeze(l))
		}
		var want strings.Builder
		// A lone CR breaks the line like LF and CR LF; NUL is dropped.
		for l := range strings.SplitSeq(strings.ReplaceAll(strings.ReplaceAll(text, "\r", "\n"), "\x00", ""), "\n") {
			want.WriteString(squeeze(l))
		}
		if got.String() != want.String() {
			t.Fatalf("text changed: %q became %q", want.String(), got.String())
		}
	})
}

func FuzzSanitizeNick(f *testing.F) {
	for _, s := range []string{"alice", "Zoë Smith", "1337", "-x", "李明", "", "a\r\nNICK b", "[m]`^{|}\\"} {
		f.Add(s, 9)
	}
	f.Fuzz(func(t *testing.T, name string, maxLen int) {
		maxLen %= 64
		nick := SanitizeNick(name, maxLen)
		limit := maxLen
		if limit < 1 {
			limit = DefaultNickLen
		}
		if !ValidNick(nick, limit) {
			t.Fatalf("SanitizeNick(%q, %d) = %q is not valid", name, maxLen, nick)
		}
		if again := SanitizeNick(nick, maxLen); again != nick {
			t.Fatalf("SanitizeNick is not idempotent: %q then %q", nick, again)
		}
		for _, v := range NickVariants(nick, name, maxLen) {
			if !ValidNick(v, limit) {
				t.Fatalf("NickVariants(%q, %q, %d) gave invalid %q", nick, name, maxLen, v)
			}
		}
	})
}
