package matrix

import "testing"

func TestStripReplyFallback(t *testing.T) {
	for i, c := range []struct{ in, want string }{
		{"plain", "plain"},
		{"> <@a:x> quoted\n\nanswer", "answer"},
		{"> <@a:x> one\n> two\n\nanswer\n> kept", "answer\n> kept"},
		{"> <@a:x> only a quote", ""},
		{">not a fallback", ">not a fallback"},
		{"", ""},
	} {
		if got := StripReplyFallback(c.in); got != c.want {
			t.Errorf("%d: StripReplyFallback(%q) = %q, want %q", i, c.in, got, c.want)
		}
	}
}
