package ircfmt

import (
	"strings"
	"testing"

	"github.com/causewaybridge/causeway/matrix"
)

// benchIRC is a typical formatted IRC message of about 200 bytes.
var benchIRC = "\x02alice\x02: the \x0304,01build\x03 failed again, see https://ci.example.org/job/1234 " +
	"\x1dplease\x1d check \x11go test ./...\x11 before pushing; bob said it was \x1ffine\x1f yesterday"

// benchHTML is a typical Matrix formatted_body with a reply.
var benchHTML = `<mx-reply><blockquote><a href="https://matrix.to/#/!r:x/$e">In reply to</a> ` +
	`<a href="https://matrix.to/#/@bob:x">@bob:x</a><br>earlier</blockquote></mx-reply>` +
	`<p><a href="https://matrix.to/#/@alice:x">alice</a>: the <strong>build</strong> failed, ` +
	`see <a href="https://ci.example.org/job/1234">the log</a></p><ul><li>run <code>go test</code></li>` +
	`<li><font data-mx-color="#ff0000">red</font> means broken</li></ul>`

func BenchmarkToMatrix(b *testing.B) {
	opts := ToMatrixOptions{Mention: func(nick string) (matrix.UserID, bool) {
		if nick == "bob" {
			return "@bob:example.org", true
		}
		return "", false
	}}
	b.SetBytes(int64(len(benchIRC)))
	for b.Loop() {
		ToMatrix(benchIRC, opts)
	}
}

func BenchmarkFromMatrix(b *testing.B) {
	b.SetBytes(int64(len(benchHTML)))
	for b.Loop() {
		FromMatrix(benchHTML, "", FromMatrixOptions{})
	}
}

func BenchmarkSplitLines(b *testing.B) {
	text := strings.Repeat("\x02wörds\x02 and more words ", 100) // ~2.5 KB
	b.SetBytes(int64(len(text)))
	for b.Loop() {
		SplitLines(text, 400)
	}
}
