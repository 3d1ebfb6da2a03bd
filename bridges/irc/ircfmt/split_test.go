package ircfmt

import (
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestSplitLines(t *testing.T) {
	tests := []struct {
		in   string
		max  int
		want []string
	}{
		0:  {"short", 10, []string{"short"}},
		1:  {"one\ntwo\r\n\nthree\n", 10, []string{"one", "two", "three"}},
		2:  {"hello world foo", 11, []string{"hello world", "foo"}},
		3:  {"hello wonderful world", 12, []string{"hello", "wonderful", "world"}},
		4:  {"abcdefghijkl", 5, []string{"abcde", "fghij", "kl"}},
		5:  {"a bcdefghijkl", 5, []string{"a", "bcdef", "ghijk", "l"}},
		6:  {"héllo wörld", 6, []string{"héllo", "wörld"}},
		7:  {"日本語の文", 7, []string{"日本", "語の", "文"}},
		8:  {"\x02bold text here\x02 plain", 10, []string{"\x02bold text", "\x02here\x02", "plain"}},
		9:  {"\x0304,02colored words go\x03 on", 13, []string{"\x0304,02colored", "\x0304,02words", "\x0304,02go\x03 on"}},
		10: {"nul\x00 in\x00side", 20, []string{"nul inside"}},
		11: {"\x02\x02\n   \n\x0304", 10, nil},
		12: {"\x0304abc", 2, []string{"\x0304a", "bc"}},
		13: {"🎉🎉🎉", 1, []string{"🎉", "🎉", "🎉"}},
		14: {"\x0304123456789", 8, []string{"\x030412345", "\x03046789"}},
		15: {"\x0304,021 2", 6, []string{"1 2"}},             // the colour code alone fills a line: text wins
		16: {"\x0304,021 2", 8, []string{"\x0304,021", "2"}}, // a 6-byte prefix leaves too little room
		// A lone CR breaks a line like LF and CR LF; it never glues words.
		17: {"y\rJOIN", 20, []string{"y", "JOIN"}},
		18: {"a\rb\r\nc\r\r\nd\r", 20, []string{"a", "b", "c", "d"}},
		19: {"\x02bold\rnext\x00 line", 20, []string{"\x02bold", "next line"}},
	}
	for i, tc := range tests {
		t.Run(strconv.Itoa(i), func(t *testing.T) {
			got := SplitLines(tc.in, tc.max)
			if !slices.Equal(got, tc.want) {
				t.Errorf("SplitLines(%q, %d)\n got %q\nwant %q", tc.in, tc.max, got, tc.want)
			}
		})
	}
}

func TestSplitLinesLong(t *testing.T) {
	word := "wörd "
	in := "\x02" + strings.Repeat(word, 200)
	lines := SplitLines(in, 100)
	var text strings.Builder
	for i, l := range lines {
		if len(l) > 100 || !utf8.ValidString(l) {
			t.Fatalf("line %d = %q: %d bytes or invalid UTF-8", i, l, len(l))
		}
		if !strings.HasPrefix(l, "\x02") {
			t.Errorf("line %d = %q does not continue bold", i, l)
		}
		text.WriteString(Strip(l) + " ")
	}
	if got, want := strings.Fields(text.String()), strings.Fields(Strip(in)); !slices.Equal(got, want) {
		t.Errorf("words changed: got %d words, want %d", len(got), len(want))
	}
}

func TestPayloadLimit(t *testing.T) {
	src := SourceLen("alice[m]", "~alice", "user/alice")
	if src != len(":alice[m]!~alice@user/alice ") {
		t.Fatalf("SourceLen = %d", src)
	}
	limit := PayloadLimit("PRIVMSG", "#go-nuts", src)
	line := ":alice[m]!~alice@user/alice PRIVMSG #go-nuts :" + strings.Repeat("x", limit) + "\r\n"
	if len(line) != LineLimit {
		t.Errorf("a full line is %d bytes, want %d", len(line), LineLimit)
	}
	if got := PayloadLimit("PRIVMSG", strings.Repeat("#", 600), src); got != 0 {
		t.Errorf("PayloadLimit with a huge target = %d, want 0", got)
	}
	if ActionOverhead != 9 {
		t.Errorf("ActionOverhead = %d, want 9", ActionOverhead)
	}
}
