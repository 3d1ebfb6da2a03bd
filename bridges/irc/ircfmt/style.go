package ircfmt

import (
	"fmt"
	"strings"
)

// mIRC formatting control characters.
const (
	codeBold      = '\x02'
	codeColor     = '\x03'
	codeHexColor  = '\x04'
	codeReset     = '\x0f'
	codeMonospace = '\x11'
	codeReverse   = '\x16'
	codeItalic    = '\x1d'
	codeStrike    = '\x1e'
	codeUnderline = '\x1f'
)

// style is the formatting state of an IRC text run.
type style struct {
	bold, italic, underline, strike, mono, reverse bool
	fg, bg                                         color
}

// isFormatCode reports whether b starts a mIRC formatting code.
func isFormatCode(b byte) bool {
	switch b {
	case codeBold, codeColor, codeHexColor, codeReset, codeMonospace,
		codeReverse, codeItalic, codeStrike, codeUnderline:
		return true
	}
	return false
}

// isControl reports whether b is a C0 control character or DEL that has no
// place in message text (everything but tab; newlines are handled by the
// callers before they get here).
func isControl(b byte) bool { return (b < 0x20 && b != '\t') || b == 0x7f }

// apply reads the formatting code at the start of s, updates st and returns
// the number of bytes the code occupies. s must start with a byte for which
// isFormatCode is true.
func (st *style) apply(s string) int {
	switch s[0] {
	case codeBold:
		st.bold = !st.bold
	case codeItalic:
		st.italic = !st.italic
	case codeUnderline:
		st.underline = !st.underline
	case codeStrike:
		st.strike = !st.strike
	case codeMonospace:
		st.mono = !st.mono
	case codeReverse:
		st.reverse = !st.reverse
	case codeReset:
		*st = style{}
	case codeColor:
		return st.applyColor(s)
	case codeHexColor:
		return st.applyHexColor(s)
	}
	return 1
}

// applyColor handles \x03[N[N][,N[N]]]. Without digits it resets both
// colours; a comma not followed by a digit is text.
func (st *style) applyColor(s string) int {
	fg, n := readDigits(s, 1)
	if n == 1 {
		st.fg, st.bg = color{}, color{}
		return 1
	}
	st.fg = paletteColor(fg)
	if n+1 < len(s) && s[n] == ',' && isDigit(s[n+1]) {
		bg, m := readDigits(s, n+1)
		st.bg = paletteColor(bg)
		return m
	}
	return n
}

// readDigits reads up to two decimal digits at s[i:] and returns their value
// and the index after them.
func readDigits(s string, i int) (v, end int) {
	for end = i; end < len(s) && end < i+2 && isDigit(s[end]); end++ {
		v = v*10 + int(s[end]-'0')
	}
	return v, end
}

// applyHexColor handles \x04[RRGGBB[,RRGGBB]]. Without a full hex value it
// resets both colours.
func (st *style) applyHexColor(s string) int {
	fg, ok := readHex(s, 1)
	if !ok {
		st.fg, st.bg = color{}, color{}
		return 1
	}
	st.fg = color{kind: colorHex, v: fg}
	if len(s) > 7 && s[7] == ',' {
		if bg, ok := readHex(s, 8); ok {
			st.bg = color{kind: colorHex, v: bg}
			return 14
		}
	}
	return 7
}

// readHex reads exactly six hex digits at s[i:].
func readHex(s string, i int) (uint32, bool) {
	if len(s) < i+6 {
		return 0, false
	}
	var v uint32
	for _, c := range []byte(s[i : i+6]) {
		d, ok := hexVal(c)
		if !ok {
			return 0, false
		}
		v = v<<4 | uint32(d)
	}
	return v, true
}

func hexVal(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// transition returns the mIRC codes that turn formatting from into to.
// next is the text that will follow the codes; it is used to keep a digit
// or comma from being read as part of a colour code.
func transition(from, to style, next string) string {
	if from == to {
		return ""
	}
	var b strings.Builder
	colorCode := ""
	if from.fg != to.fg || from.bg != to.bg {
		colorCode = colorCodes(from, to)
		b.WriteString(colorCode)
	}
	n := b.Len()
	toggle := func(a, c bool, code byte) {
		if a != c {
			b.WriteByte(code)
		}
	}
	toggle(from.bold, to.bold, codeBold)
	toggle(from.italic, to.italic, codeItalic)
	toggle(from.underline, to.underline, codeUnderline)
	toggle(from.strike, to.strike, codeStrike)
	toggle(from.mono, to.mono, codeMonospace)
	toggle(from.reverse, to.reverse, codeReverse)
	if colorCode != "" && b.Len() == n && swallows(colorCode, next) {
		// An empty bold toggle keeps the text from being read as part of
		// the colour code.
		b.WriteString("\x02\x02")
	}
	return b.String()
}

// swallows reports whether the last code in codes would read part of the
// text that follows it (digits after \x03, hex digits after \x04, a comma
// and digits after a foreground colour).
func swallows(codes, next string) bool {
	i := strings.LastIndexAny(codes, "\x03\x04")
	if i < 0 || next == "" {
		return false
	}
	last := codes[i:]
	var st style
	return st.apply(last+next[:min(len(next), 16)]) > len(last)
}

func isAlnum(c byte) bool {
	return isDigit(c) || (c|0x20 >= 'a' && c|0x20 <= 'z')
}

// colorCodes returns the codes that change the colours of from into those
// of to.
func colorCodes(from, to style) string {
	fg, bg := to.fg, to.bg
	if fg.kind == colorNone && bg.kind == colorNone {
		return "\x03"
	}
	reset := ""
	if bg.kind == colorNone && from.bg.kind != colorNone {
		// There is no portable way to clear only the background.
		reset = "\x03"
	}
	if fg.kind == colorHex || bg.kind == colorHex {
		if fg.kind != colorNone {
			return reset + hexColorCode(fg, bg)
		}
		bg = bg.nearestPalette()
	}
	if fg.kind == colorHex {
		fg = fg.nearestPalette()
	}
	code := reset + "\x03"
	if fg.kind == colorNone {
		code += "99"
	} else {
		code += fmt.Sprintf("%02d", fg.v)
	}
	if bg.kind != colorNone {
		code += fmt.Sprintf(",%02d", bg.v)
	}
	return code
}

func hexColorCode(fg, bg color) string {
	f, _ := fg.rgb()
	code := fmt.Sprintf("\x04%06X", f)
	if v, ok := bg.rgb(); ok {
		code += fmt.Sprintf(",%06X", v)
	}
	return code
}

// Strip removes mIRC formatting codes and other control characters (except
// tab and newline) from s.
func Strip(s string) string {
	var b strings.Builder
	var st style
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case isFormatCode(c):
			i += st.apply(s[i:])
			continue
		case c == '\n' || !isControl(c):
			b.WriteByte(c)
		}
		i++
	}
	return b.String()
}
