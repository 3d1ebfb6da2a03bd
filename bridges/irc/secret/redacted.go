package secret

import (
	"fmt"
	"log/slog"
)

// RedactedText is what a [Redacted] value prints as.
const RedactedText = "[REDACTED]"

// Redacted is a string that must not be printed, such as a password from
// the configuration. Every way of formatting or logging it (fmt verbs,
// %#v, slog, JSON) shows [RedactedText]; [Redacted.Reveal] returns the
// value for the one place that needs it. It decodes from YAML like a
// plain string.
type Redacted string

// Reveal returns the secret value.
func (r Redacted) Reveal() string { return string(r) }

// String returns [RedactedText].
func (r Redacted) String() string { return RedactedText }

// GoString returns [RedactedText] quoted, for %#v.
func (r Redacted) GoString() string { return `"` + RedactedText + `"` }

// Format prints [RedactedText] for every verb, so that %d or %x do not
// expose the value either.
func (r Redacted) Format(f fmt.State, verb rune) {
	if verb == 'v' && f.Flag('#') {
		_, _ = f.Write([]byte(r.GoString()))
		return
	}
	if verb == 'q' {
		_, _ = fmt.Fprintf(f, "%q", RedactedText)
		return
	}
	_, _ = f.Write([]byte(RedactedText))
}

// LogValue makes slog print [RedactedText].
func (r Redacted) LogValue() slog.Value { return slog.StringValue(RedactedText) }

// MarshalJSON encodes [RedactedText], so that a configuration dumped as
// JSON does not contain the value.
func (r Redacted) MarshalJSON() ([]byte, error) { return []byte(`"` + RedactedText + `"`), nil }

// IsSet reports whether a value was configured.
func (r Redacted) IsSet() bool { return r != "" }

var (
	_ fmt.Stringer   = Redacted("")
	_ fmt.GoStringer = Redacted("")
	_ fmt.Formatter  = Redacted("")
	_ slog.LogValuer = Redacted("")
)
