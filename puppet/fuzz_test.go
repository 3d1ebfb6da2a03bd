package puppet

import (
	"errors"
	"fmt"
	"maps"
	"regexp"
	"strings"
	"testing"

	"github.com/causewaybridge/causeway/matrix"
)

// fuzzTemplates cover both sigils, every separator kind, a bound namespace
// and a literal after the last placeholder. Each has placeholders a and b.
var fuzzTemplates = []string{
	"@irc_{a}_{b}:{server}",
	"#irc_{a}_{b}:{server}",
	"@x.{a}.{b}.y:{server}",
	"@x-{a}/{b}_:{server}",
	"#x#{a}#{b}:{server}",
	"@x{a}zz{b}:{server}",
}

// refEscape is an independent, obviously correct escaper used as an oracle:
// keep the bytes of safe, write every other byte as =xx.
func refEscape(v, safe string) string {
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		if strings.IndexByte(safe, v[i]) >= 0 {
			b.WriteByte(v[i])
		} else {
			fmt.Fprintf(&b, "=%02x", v[i])
		}
	}
	return b.String()
}

// onlyLocalpartBytes reports whether local uses only bytes Matrix allows in
// a localpart of this sigil.
func onlyLocalpartBytes(local string, sigil byte) bool {
	allowed := "abcdefghijklmnopqrstuvwxyz0123456789._=-/"
	if sigil == SigilAlias {
		allowed += "#&+!"
	}
	for i := 0; i < len(local); i++ {
		if strings.IndexByte(allowed, local[i]) < 0 {
			return false
		}
	}
	return true
}

func FuzzRoundTrip(f *testing.F) {
	for _, s := range [][2]string{
		{"libera", "alice"}, {"Libera_Chat", "Al_ice"}, {"=41", "=zz"}, {"a_b_", "_"},
		{"🎉", "#go-nuts"}, {"x y", "a:b@c"}, {"\xff\xfe", "\x00"}, {".", "/"},
	} {
		f.Add(s[0], s[1])
	}
	type ns struct {
		users   *Namespace[matrix.UserID]
		aliases *Namespace[matrix.RoomAlias]
		re      *regexp.Regexp
		claim   *regexp.Regexp
	}
	var all []ns
	for _, tmpl := range fuzzTemplates {
		var n ns
		var err error
		if tmpl[0] == SigilUser {
			n.users, err = NewUsers(tmpl, "example.org:8448")
			if err == nil {
				n.re, n.claim = regexp.MustCompile(n.users.Regex()), regexp.MustCompile(n.users.ClaimRegex())
			}
		} else {
			n.aliases, err = NewAliases(tmpl, "example.org:8448")
			if err == nil {
				n.re, n.claim = regexp.MustCompile(n.aliases.Regex()), regexp.MustCompile(n.aliases.ClaimRegex())
			}
		}
		if err != nil {
			f.Fatal(err)
		}
		all = append(all, n)
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		v := Values{"a": a, "b": b}
		for i, n := range all {
			if n.users != nil {
				checkRoundTrip(t, fuzzTemplates[i], n.users, v, n.re, n.claim)
			} else {
				checkRoundTrip(t, fuzzTemplates[i], n.aliases, v, n.re, n.claim)
			}
		}
	})
}

func checkRoundTrip[T ID](t *testing.T, tmpl string, n *Namespace[T], v Values, re, claim *regexp.Regexp) {
	t.Helper()
	id, err := n.Format(v)
	if v["a"] == "" || v["b"] == "" {
		if !errors.Is(err, ErrEmptyValue) {
			t.Fatalf("%s: Format(%q) = %q, %v; want ErrEmptyValue", tmpl, v, id, err)
		}
		return
	}
	want := refFormat(n, v)
	if len(want) > MaxIDLength {
		if !errors.Is(err, ErrTooLong) {
			t.Fatalf("%s: Format(%q) = %q, %v; want ErrTooLong (%d bytes)", tmpl, v, id, err, len(want))
		}
		return
	}
	if err != nil || string(id) != want {
		t.Fatalf("%s: Format(%q) = %q, %v; want %q", tmpl, v, id, err, want)
	}
	local := strings.TrimSuffix(string(id)[1:], ":"+n.Server())
	if !onlyLocalpartBytes(local, n.tmpl.sigil) {
		t.Fatalf("%s: %q has bytes a localpart cannot hold", tmpl, id)
	}
	if !re.MatchString(string(id)) || !claim.MatchString(string(id)) || !n.Claims(id) {
		t.Fatalf("%s: %q: Regex %v, ClaimRegex %v, Claims %v", tmpl, id,
			re.MatchString(string(id)), claim.MatchString(string(id)), n.Claims(id))
	}
	got, err := n.Parse(id)
	if err != nil || !maps.Equal(got, v) || !n.Owns(id) {
		t.Fatalf("%s: Parse(%q) = %q, %v, Owns %v; want %q", tmpl, id, got, err, n.Owns(id), v)
	}
}

// refFormat formats v with refEscape, from the package's documented rules
// rather than its tables.
func refFormat[T ID](n *Namespace[T], v Values) string {
	base := "abcdefghijklmnopqrstuvwxyz0123456789._-/"
	if n.tmpl.sigil == SigilAlias {
		base += "#&+!"
	}
	var b strings.Builder
	b.WriteByte(n.tmpl.sigil)
	b.WriteString(n.tmpl.prefix)
	for _, p := range n.tmpl.parts {
		safe := base
		if p.after != "" {
			safe = strings.ReplaceAll(base, p.after[:1], "")
		}
		b.WriteString(refEscape(v[p.name], safe))
		b.WriteString(p.after)
	}
	return b.String() + ":" + n.Server()
}

// FuzzParse checks that Parse accepts exactly what Regex matches (within the
// length limit), that Format inverts Parse, and that Claims agrees with
// ClaimRegex, for arbitrary strings.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"@irc_libera_alice:example.org", "@irc_=4cibera_=41:example.org", "@irc_l=5fx_a_b:example.org",
		"@irc_libera_=61:example.org", "@irc_lib_era_x:example.org", "@irc_:example.org", "@irc_a_b:c:example.org",
	} {
		f.Add(s)
	}
	n, err := NewUsers("@irc_{network}_{nick}:{server}", "example.org")
	if err != nil {
		f.Fatal(err)
	}
	re, claim := regexp.MustCompile(n.Regex()), regexp.MustCompile(n.ClaimRegex())
	f.Fuzz(func(t *testing.T, s string) {
		id := matrix.UserID(s)
		v, err := n.Parse(id)
		matches := re.MatchString(s) && len(s) <= MaxIDLength
		if (err == nil) != matches || n.Owns(id) != matches {
			t.Fatalf("%q: Parse error %v, Owns %v, but Regex match %v", s, err, n.Owns(id), matches)
		}
		if n.Claims(id) != claim.MatchString(s) {
			t.Fatalf("%q: Claims %v, ClaimRegex %v", s, n.Claims(id), claim.MatchString(s))
		}
		if err != nil {
			return
		}
		if !n.Claims(id) {
			t.Fatalf("%q owned but not claimed", s)
		}
		if back, err := n.Format(v); err != nil || back != id {
			t.Fatalf("Format(Parse(%q)) = %q, %v", s, back, err)
		}
	})
}
