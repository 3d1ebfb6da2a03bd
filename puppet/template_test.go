package puppet

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestNewTemplate(t *testing.T) {
	for i, tc := range []struct {
		in    string
		sigil byte
		names []string
	}{
		0: {"@irc_{network}_{nick}:{server}", '@', []string{"network", "nick"}},
		1: {"#irc_{network}_{channel}:{server}", '#', []string{"network", "channel"}},
		2: {"@xmpp_{jid}:{server}", '@', []string{"jid"}},
		3: {"@irc.{network}.{nick}.puppet:{server}", '@', []string{"network", "nick"}},
		4: {"@b/{a_1}-{b2}/x:{server}", '@', []string{"a_1", "b2"}},
		5: {"#irc_{network}#{channel}:{server}", '#', []string{"network", "channel"}},
		6: {"@x{n}z{m}:{server}", '@', []string{"n", "m"}},
	} {
		tmpl, err := NewTemplate(tc.in)
		if err != nil {
			t.Errorf("%d: NewTemplate(%q): %v", i, tc.in, err)
			continue
		}
		if tmpl.Sigil() != tc.sigil || !slices.Equal(tmpl.Placeholders(), tc.names) || tmpl.String() != tc.in {
			t.Errorf("%d: got sigil %q names %q string %q, want %q %q %q",
				i, tmpl.Sigil(), tmpl.Placeholders(), tmpl.String(), tc.sigil, tc.names, tc.in)
		}
	}
}

func TestNewTemplateRejects(t *testing.T) {
	for i, tc := range []struct {
		in, why string
	}{
		0:  {"", "empty template"},
		1:  {"!irc_{nick}:{server}", "unknown sigil '!'"},
		2:  {"irc_{nick}:{server}", "unknown sigil 'i'"},
		3:  {"@irc_{nick}", "must end with :{server}"},
		4:  {"@irc_{nick}:example.org", "must end with :{server}"},
		5:  {"@{network}_{nick}:{server}", "literal text before the first placeholder"},
		6:  {"@irc_{network}{nick}:{server}", "directly followed by another placeholder"},
		7:  {"@irc_:{server}", "has no placeholder"},
		8:  {"@irc_{nick}_{nick}:{server}", "{nick} appears twice"},
		9:  {"@irc_{Nick}:{server}", `placeholder name "Nick"`},
		10: {"@irc_{}:{server}", `placeholder name ""`},
		11: {"@irc_{1st}:{server}", `placeholder name "1st"`},
		12: {"@irc_{server}_{nick}:{server}", "{server} may appear only"},
		13: {"@irc_{nick:{server}", `unclosed placeholder "{nick"`},
		14: {"@IRC_{nick}:{server}", `holds 'I'`},
		15: {"@irc={nick}:{server}", `holds '='`},
		16: {"@irc_{nick}a:{server}", "starts with 'a', which also occurs inside escape sequences"},
		17: {"@irc_{nick}1x:{server}", "starts with '1'"},
		18: {"@irc {nick}:{server}", `holds ' '`},
		19: {"@irc_#{nick}:{server}", `holds '#'`},
		20: {"@irc:_{nick}:{server}", `holds ':'`},
		21: {"@irc_{nick}}:{server}", `holds '}'`},
		22: {"@irc_{nick}:{server}:{server}", `holds ':'`},
		23: {"@irc_{ni ck}:{server}", `placeholder name "ni ck"`},
	} {
		_, err := NewTemplate(tc.in)
		if !errors.Is(err, ErrBadTemplate) {
			t.Errorf("%d: NewTemplate(%q) = %v, want ErrBadTemplate", i, tc.in, err)
			continue
		}
		if !strings.Contains(err.Error(), tc.why) {
			t.Errorf("%d: NewTemplate(%q) = %q, want it to say %q", i, tc.in, err, tc.why)
		}
	}
}
