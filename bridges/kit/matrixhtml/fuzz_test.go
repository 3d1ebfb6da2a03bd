package matrixhtml

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzSanitize: whatever the input, the output is valid UTF-8 within the
// permitted subset (Check: no unknown element or attribute, links only
// to safe schemes), and never holds a script, a style or a frame.
func FuzzSanitize(f *testing.F) {
	for _, s := range []string{"<b>x</b>", `<a href="javascript:x">y</a>`, "<script>x</script>", "</body><evil/>",
		"<p><b>unbalanced</p></i>", strings.Repeat("<i>", 600), "\x00\x01\x7f\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out := Sanitize(in)
		if !utf8.ValidString(out) {
			t.Fatalf("invalid UTF-8: %q", out)
		}
		if err := Check(out); err != nil {
			t.Fatalf("Sanitize(%q) = %q: %v", in, out, err)
		}
		low := strings.ToLower(out)
		for _, bad := range []string{"<script", "<style", "<iframe"} {
			if strings.Contains(low, bad) {
				t.Fatalf("Sanitize(%q) = %q holds %q", in, out, bad)
			}
		}
	})
}
