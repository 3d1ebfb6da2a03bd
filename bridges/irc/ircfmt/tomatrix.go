package ircfmt

import (
	"html"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"github.com/causewaybridge/causeway/matrix"
)

// ToMatrixOptions tune [ToMatrix].
type ToMatrixOptions struct {
	// Mention, when set, is called with every word of the text made only of
	// nick characters (outside URLs). When it returns a user ID, the word
	// becomes a mention pill in the HTML and the ID is returned in the
	// mention list. Deciding which nicks count (bridged Matrix users only,
	// minimum length, casefolding) is up to the function.
	Mention func(nick string) (matrix.UserID, bool)
}

// run is a piece of IRC text with one formatting state. A run with
// newline set stands for a line break.
type run struct {
	st      style
	text    string
	newline bool
}

// ToMatrix converts an IRC message (with mIRC formatting codes) into a
// Matrix plain body and an HTML formatted_body, and lists the users
// mentioned through opts.Mention.
//
// The plain body has every formatting code and control character removed.
// All IRC text is HTML-escaped. Invalid UTF-8 becomes U+FFFD. When the text
// has neither visible formatting nor mentions, html is "" so that the caller
// can send a plain-only message. URLs are kept as they are in the plain body
// and become links in the HTML.
func ToMatrix(text string, opts ToMatrixOptions) (plain, htmlBody string, mentions []matrix.UserID) {
	runs := parseRuns(strings.ToValidUTF8(text, "\uFFFD"))
	var pb strings.Builder
	formatted := false
	for _, r := range runs {
		if r.newline {
			pb.WriteByte('\n')
			continue
		}
		pb.WriteString(r.text)
		formatted = formatted || r.st.visible()
	}
	w := htmlWriter{mention: opts.Mention}
	for _, r := range runs {
		w.run(r)
	}
	w.sync(nil)
	if !formatted && len(w.mentions) == 0 {
		return pb.String(), "", nil
	}
	return pb.String(), w.b.String(), w.mentions
}

// visible reports whether the style changes how text looks.
func (st style) visible() bool { return st != style{} }

// parseRuns splits IRC text into runs of equal formatting. Formatting is
// reset at each newline, as every IRC line starts unformatted.
func parseRuns(s string) []run {
	var runs []run
	var st style
	start := 0
	flush := func(end int) {
		if end > start {
			runs = append(runs, run{st: st, text: s[start:end]})
		}
	}
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '\n':
			flush(i)
			runs = append(runs, run{newline: true})
			st = style{}
			i++
		case isFormatCode(c):
			flush(i)
			i += st.apply(s[i:])
		case isControl(c):
			flush(i)
			i++
		default:
			i++
			continue
		}
		start = i
	}
	flush(len(s))
	return runs
}

// htmlWriter renders runs as Matrix HTML, keeping a stack of open elements
// in a fixed nesting order so that style changes close as little as
// possible.
type htmlWriter struct {
	b        strings.Builder
	open     []string // opening tags currently open, outermost first
	mention  func(string) (matrix.UserID, bool)
	mentions []matrix.UserID
}

func (w *htmlWriter) run(r run) {
	if r.newline {
		w.sync(nil)
		w.b.WriteString("<br>")
		return
	}
	w.sync(r.st.elements())
	w.text(r.text)
}

// sync closes and opens elements so that exactly want is open.
func (w *htmlWriter) sync(want []string) {
	common := 0
	for common < len(w.open) && common < len(want) && w.open[common] == want[common] {
		common++
	}
	for i := len(w.open) - 1; i >= common; i-- {
		w.b.WriteString("</" + tagName(w.open[i]) + ">")
	}
	for _, t := range want[common:] {
		w.b.WriteString(t)
	}
	w.open = append(w.open[:common], want[common:]...)
}

func tagName(open string) string {
	name := open[1:]
	if i := strings.IndexAny(name, " >"); i >= 0 {
		name = name[:i]
	}
	return name
}

// elements returns the opening tags for a style, outermost first.
func (st style) elements() []string {
	var els []string
	fg, bg := st.fg, st.bg
	if st.reverse {
		// mIRC's defaults are black on white; reverse swaps them.
		fg, bg = bg, fg
		if fg.kind == colorNone {
			fg = paletteColor(0)
		}
		if bg.kind == colorNone {
			bg = paletteColor(1)
		}
	}
	if fg.kind != colorNone || bg.kind != colorNone {
		t := "<font"
		if c := fg.css(); c != "" {
			t += ` data-mx-color="` + c + `"`
		}
		if c := bg.css(); c != "" {
			t += ` data-mx-bg-color="` + c + `"`
		}
		els = append(els, t+">")
	}
	for _, e := range []struct {
		on  bool
		tag string
	}{
		{st.bold, "<b>"}, {st.italic, "<i>"}, {st.underline, "<u>"},
		{st.strike, "<del>"}, {st.mono, "<code>"},
	} {
		if e.on {
			els = append(els, e.tag)
		}
	}
	return els
}

// urlPattern finds http and https URLs in IRC text.
var urlPattern = regexp.MustCompile(`(?i)\bhttps?://[^\s<>"\x00-\x1f\x7f]+`)

// text writes escaped text, turning URLs into links and known nicks into
// pills.
func (w *htmlWriter) text(s string) {
	for s != "" {
		if !strings.Contains(s, "://") {
			w.words(s)
			return
		}
		loc := urlPattern.FindStringIndex(s)
		if loc == nil {
			w.words(s)
			return
		}
		end := loc[0] + trimURL(s[loc[0]:loc[1]])
		w.words(s[:loc[0]])
		u := s[loc[0]:end]
		w.b.WriteString(`<a href="` + html.EscapeString(u) + `">` + html.EscapeString(u) + `</a>`)
		s = s[end:]
	}
}

// trimURL returns the length of u without trailing punctuation that most
// likely ends the sentence rather than the URL.
func trimURL(u string) int {
	for len(u) > 0 {
		c := u[len(u)-1]
		switch {
		case strings.IndexByte(".,;:!?'*", c) >= 0:
		case c == ')' && strings.Count(u, "(") < strings.Count(u, ")"):
		default:
			return len(u)
		}
		u = u[:len(u)-1]
	}
	return 0
}

// words writes escaped text, turning nicks known to the mention function
// into pills.
func (w *htmlWriter) words(s string) {
	if w.mention == nil {
		w.b.WriteString(html.EscapeString(s))
		return
	}
	for s != "" {
		i := strings.IndexFunc(s, isNickRune)
		if i < 0 {
			w.b.WriteString(html.EscapeString(s))
			return
		}
		j := strings.IndexFunc(s[i:], func(r rune) bool { return !isNickRune(r) })
		if j < 0 {
			j = len(s)
		} else {
			j += i
		}
		w.b.WriteString(html.EscapeString(s[:i]))
		w.word(s[i:j])
		s = s[j:]
	}
}

func (w *htmlWriter) word(nick string) {
	id, ok := w.mention(nick)
	if !ok || !id.Valid() {
		w.b.WriteString(html.EscapeString(nick))
		return
	}
	w.b.WriteString(`<a href="` + html.EscapeString(matrixToURL(id)) + `">` + html.EscapeString(nick) + `</a>`)
	if !slices.Contains(w.mentions, id) {
		w.mentions = append(w.mentions, id)
	}
}

// matrixToPrefix starts every matrix.to permalink.
const matrixToPrefix = "https://matrix.to/#/"

func matrixToURL(id matrix.UserID) string { return matrixToPrefix + url.PathEscape(string(id)) }

// isNickRune reports whether r may appear in an IRC nick.
func isNickRune(r rune) bool {
	return r < 0x80 && (isAlnum(byte(r)) || strings.ContainsRune(nickSpecial, r))
}

// nickSpecial are the non-alphanumeric characters RFC 2812 allows in nicks.
const nickSpecial = "[]\\`_^{|}-"
