package puppet

import (
	"errors"
	"maps"
	"regexp"
	"strings"
	"testing"

	"github.com/causewaybridge/causeway/matrix"
)

const ircUsers = "@irc_{network}_{nick}:{server}"

func mustUsers(t testing.TB, tmpl string) *Namespace[matrix.UserID] {
	t.Helper()
	ns, err := NewUsers(tmpl, "example.org")
	if err != nil {
		t.Fatal(err)
	}
	return ns
}

func mustAliases(t testing.TB, tmpl string) *Namespace[matrix.RoomAlias] {
	t.Helper()
	ns, err := NewAliases(tmpl, "example.org")
	if err != nil {
		t.Fatal(err)
	}
	return ns
}

func TestFormatUsers(t *testing.T) {
	ns := mustUsers(t, ircUsers)
	re := regexp.MustCompile(ns.Regex())
	for i, tc := range []struct {
		network, nick string
		want          matrix.UserID
	}{
		0:  {"libera", "alice", "@irc_libera_alice:example.org"},
		1:  {"libera", "Alice", "@irc_libera_=41lice:example.org"},
		2:  {"libera", "al_ice", "@irc_libera_al_ice:example.org"},    // _ is safe in the last value
		3:  {"oftc_net", "bob", "@irc_oftc=5fnet_bob:example.org"},    // but not before the "_" separator
		4:  {"libera", "a=b", "@irc_libera_a=3db:example.org"},        // the escape character itself
		5:  {"libera", "[m]x", "@irc_libera_=5bm=5dx:example.org"},    // IRC nick punctuation
		6:  {"libera", "x y", "@irc_libera_x=20y:example.org"},        // space
		7:  {"libera", "héllo", "@irc_libera_h=c3=a9llo:example.org"}, // UTF-8, byte-wise
		8:  {"libera", "🎉", "@irc_libera_=f0=9f=8e=89:example.org"},
		9:  {"libera", "#chan", "@irc_libera_=23chan:example.org"}, // # is not allowed in user IDs
		10: {"libera", "a:b", "@irc_libera_a=3ab:example.org"},
		11: {"libera", "a.b-c/d", "@irc_libera_a.b-c/d:example.org"},
		12: {"libera", "\xff\x00", "@irc_libera_=ff=00:example.org"}, // not even UTF-8
		13: {"l", "=41", "@irc_l_=3d41:example.org"},                 // looks like an escape
	} {
		got, err := ns.Format(Values{"network": tc.network, "nick": tc.nick})
		if err != nil || got != tc.want {
			t.Errorf("%d: Format(%q, %q) = %q, %v; want %q", i, tc.network, tc.nick, got, err, tc.want)
			continue
		}
		if !re.MatchString(string(got)) {
			t.Errorf("%d: %q does not match Regex %s", i, got, ns.Regex())
		}
		v, err := ns.Parse(got)
		if err != nil || v["network"] != tc.network || v["nick"] != tc.nick || len(v) != 2 {
			t.Errorf("%d: Parse(%q) = %q, %v; want network %q nick %q", i, got, v, err, tc.network, tc.nick)
		}
	}
}

func TestFormatAliases(t *testing.T) {
	ns := mustAliases(t, "#irc_{network}_{channel}:{server}")
	for i, tc := range []struct {
		network, channel string
		want             matrix.RoomAlias
	}{
		0: {"libera", "#go-nuts", "#irc_libera_#go-nuts:example.org"},
		1: {"libera", "##c++", "#irc_libera_##c++:example.org"},
		2: {"libera", "&local!", "#irc_libera_&local!:example.org"},
		3: {"libera", "#Go", "#irc_libera_#=47o:example.org"},
		4: {"my#net", "#a_b", "#irc_my#net_#a_b:example.org"},
		5: {"my_net", "#a", "#irc_my=5fnet_#a:example.org"},
	} {
		got, err := ns.Format(Values{"network": tc.network, "channel": tc.channel})
		if err != nil || got != tc.want {
			t.Errorf("%d: Format = %q, %v; want %q", i, got, err, tc.want)
			continue
		}
		v, err := ns.Parse(got)
		if err != nil || v["network"] != tc.network || v["channel"] != tc.channel {
			t.Errorf("%d: Parse(%q) = %q, %v", i, got, v, err)
		}
	}
}

// TestFormatSeparators checks that a value holding the template's own
// separators still parses back, whatever literal follows each placeholder.
func TestFormatSeparators(t *testing.T) {
	vals := Values{"a": "x._-/=y", "b": "._-/=", "c": "_._"}
	for i, tmpl := range []string{
		"@p_{a}_{b}_{c}:{server}",
		"@p.{a}.{b}.{c}.s:{server}",
		"@p-{a}/{b}_{c}-:{server}",
		"@p{a}x{b}zz{c}:{server}",
		"@p_{a}_.{b}._{c}__:{server}",
	} {
		ns := mustUsers(t, tmpl)
		id, err := ns.Format(vals)
		if err != nil {
			t.Errorf("%d: Format: %v", i, err)
			continue
		}
		got, err := ns.Parse(id)
		if err != nil || !maps.Equal(got, vals) {
			t.Errorf("%d: %s: Parse(%q) = %q, %v; want %q", i, tmpl, id, got, err, vals)
		}
		if !regexp.MustCompile(ns.Regex()).MatchString(string(id)) {
			t.Errorf("%d: %q does not match %s", i, id, ns.Regex())
		}
	}
}

func TestFormatErrors(t *testing.T) {
	ns := mustUsers(t, ircUsers)
	long := strings.Repeat("a", MaxIDLength-len("@irc_n_:example.org"))
	for i, tc := range []struct {
		v    Values
		want error
	}{
		0: {Values{"network": "n"}, ErrMissingValue},
		1: {Values{"network": "n", "nick": ""}, ErrEmptyValue},
		2: {Values{"network": "n", "nick": "x", "host": "h"}, ErrUnknownPlaceholder},
		3: {Values{"network": "n", "nik": "x"}, ErrMissingValue},
		4: {Values{"network": "n", "nick": long + "a"}, ErrTooLong},
		5: {Values{"network": "n", "nick": long[2:] + "A"}, ErrTooLong}, // escaping counts
		6: {nil, ErrMissingValue},
		7: {Values{"network": long + "a", "nick": ""}, ErrEmptyValue}, // found by FuzzRoundTrip
		8: {Values{"network": long + "a", "nick": "x", "host": "h"}, ErrUnknownPlaceholder},
	} {
		id, err := ns.Format(tc.v)
		if !errors.Is(err, tc.want) || id != "" {
			t.Errorf("%d: Format(%q) = %q, %v; want %v", i, tc.v, id, err, tc.want)
		}
	}
	// Exactly at the limit is fine and not truncated.
	id, err := ns.Format(Values{"network": "n", "nick": long})
	if err != nil || len(id) != MaxIDLength {
		t.Errorf("Format at the limit = %d bytes, %v; want %d", len(id), err, MaxIDLength)
	}
}

func TestParseRejects(t *testing.T) {
	ns := mustUsers(t, ircUsers)
	re := regexp.MustCompile(ns.Regex())
	for i, id := range []matrix.UserID{
		0:  "@irc_libera_alice:other.org",     // another server
		1:  "@irc_libera_alice:example.org.x", // server suffix
		2:  "@xmpp_libera_alice:example.org",  // another prefix
		3:  "#irc_libera_alice:example.org",   // sigil
		4:  "@irc_libera:example.org",         // no nick
		5:  "@irc_libera_:example.org",        // empty nick
		6:  "@irc__alice:example.org",         // empty network
		7:  "@irc_libera_=61lice:example.org", // "a" escaped: not canonical
		8:  "@irc_libera_=4Clice:example.org", // uppercase hex
		9:  "@irc_libera_=4:example.org",      // short escape
		10: "@irc_libera_=zz:example.org",     // not hex
		11: "@irc_libera_Alice:example.org",   // uppercase unescaped
		12: "@irc_libera_a b:example.org",     // space
		13: "@irc_lib:era_alice:example.org",  // colon
		14: "@irc_libera_=5f:example.org",     // "_" needs no escape in the nick
		15: "@irc_lib=5fera_a=5fb:example.org",
		16: "@irc_:example.org",
		17: "",
		18: "@",
		19: ":example.org",
		20: matrix.UserID("@irc_libera_" + strings.Repeat("a", 240) + ":example.org"), // > 255 bytes
		21: "@irc_libera_al\xffice:example.org",
		22: "@irc_libera_alice=:example.org",
	} {
		if v, err := ns.Parse(id); !errors.Is(err, ErrForeignID) {
			t.Errorf("%d: Parse(%q) = %q, %v; want ErrForeignID", i, id, v, err)
		}
		if ns.Owns(id) {
			t.Errorf("%d: Owns(%q) = true", i, id)
		}
		if re.MatchString(string(id)) && len(id) <= MaxIDLength {
			t.Errorf("%d: Regex matches %q, which Parse rejects", i, id)
		}
	}
}

func TestOwnsAndClaims(t *testing.T) {
	ns := mustUsers(t, "@irc_{network}_{nick}_x:{server}")
	claim := regexp.MustCompile(ns.ClaimRegex())
	for i, tc := range []struct {
		id           matrix.UserID
		owns, claims bool
	}{
		0: {"@irc_libera_alice_x:example.org", true, true},
		1: {"@irc_Libera_alice_x:example.org", false, true}, // a look-alike: claimed, not owned
		2: {"@irc_x:example.org", false, false},             // prefix and suffix would overlap
		3: {"@irc__x:example.org", false, true},
		4: {"@irc_libera_alice_x:other.org", false, false},
		5: {"@irc_libera_alice:example.org", false, false},
		6: {"@ircbot:example.org", false, false},
		7: {"@irc_a:b_x:example.org", false, false},
	} {
		if got := ns.Owns(tc.id); got != tc.owns {
			t.Errorf("%d: Owns(%q) = %v, want %v", i, tc.id, got, tc.owns)
		}
		if got := ns.Claims(tc.id); got != tc.claims {
			t.Errorf("%d: Claims(%q) = %v, want %v", i, tc.id, got, tc.claims)
		}
		if got := claim.MatchString(string(tc.id)); got != tc.claims {
			t.Errorf("%d: ClaimRegex %s matches %q = %v, want %v", i, ns.ClaimRegex(), tc.id, got, tc.claims)
		}
	}
}

func TestBind(t *testing.T) {
	ns := mustUsers(t, ircUsers)
	libera, err := ns.Bind("network", "Libera_Chat")
	if err != nil {
		t.Fatal(err)
	}
	id, err := libera.Format(Values{"nick": "alice"})
	if err != nil {
		t.Fatal(err)
	}
	same, _ := ns.Format(Values{"network": "Libera_Chat", "nick": "alice"})
	if id != same {
		t.Errorf("bound Format = %q, unbound = %q", id, same)
	}
	if _, err := libera.Format(Values{"network": "Libera_Chat", "nick": "alice"}); err != nil {
		t.Errorf("Format repeating the bound value: %v", err)
	}
	if _, err := libera.Format(Values{"network": "oftc", "nick": "alice"}); !errors.Is(err, ErrBoundValue) {
		t.Errorf("Format with another network = %v, want ErrBoundValue", err)
	}
	v, err := libera.Parse(id)
	if err != nil || v["network"] != "Libera_Chat" || v["nick"] != "alice" {
		t.Errorf("Parse(%q) = %q, %v", id, v, err)
	}
	oftc, _ := ns.Format(Values{"network": "oftc", "nick": "alice"})
	if libera.Owns(oftc) || !ns.Owns(oftc) {
		t.Errorf("Owns(%q): bound %v, unbound %v; want false, true", oftc, libera.Owns(oftc), ns.Owns(oftc))
	}
	want := `^@irc_=4cibera=5f=43hat_[^:]*:example\.org$`
	if got := libera.ClaimRegex(); got != want {
		t.Errorf("ClaimRegex = %s, want %s", got, want)
	}
	re := regexp.MustCompile(libera.Regex())
	if !re.MatchString(string(id)) || re.MatchString(string(oftc)) {
		t.Errorf("bound Regex %s: matches %q = %v, %q = %v", libera.Regex(),
			id, re.MatchString(string(id)), oftc, re.MatchString(string(oftc)))
	}
	for i, tc := range []struct {
		name, value string
		want        error
	}{
		0: {"host", "x", ErrUnknownPlaceholder},
		1: {"nick", "", ErrEmptyValue},
		2: {"network", "oftc", ErrBoundValue},
		3: {"nick", strings.Repeat("é", 120), ErrTooLong},
	} {
		if _, err := libera.Bind(tc.name, tc.value); !errors.Is(err, tc.want) {
			t.Errorf("%d: Bind(%q, %q) = %v, want %v", i, tc.name, tc.value, err, tc.want)
		}
	}
}

func TestBindAll(t *testing.T) {
	ns := mustUsers(t, ircUsers)
	a, _ := ns.Bind("nick", "bob")
	ab, err := a.Bind("network", "n")
	if err != nil {
		t.Fatal(err)
	}
	id, err := ab.Format(nil)
	if err != nil || id != "@irc_n_bob:example.org" {
		t.Fatalf("Format = %q, %v", id, err)
	}
	if ab.ClaimRegex() != ab.Regex() || ab.Regex() != `^@irc_n_bob:example\.org$` {
		t.Errorf("Regex %s ClaimRegex %s, want both exact", ab.Regex(), ab.ClaimRegex())
	}
	if !ab.Claims(id) || ab.Claims("@irc_n_bobby:example.org") {
		t.Errorf("Claims wrong for a fully bound namespace")
	}
	if got := a.ClaimRegex(); got != `^@irc_[^:]*_bob:example\.org$` {
		t.Errorf("ClaimRegex with the last value bound = %s", got)
	}
}

func TestNewNamespaceErrors(t *testing.T) {
	tmpl, err := NewTemplate(ircUsers)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewNamespace[matrix.RoomAlias](tmpl, "example.org"); !errors.Is(err, ErrBadTemplate) {
		t.Errorf("alias namespace from a user template: %v, want ErrBadTemplate", err)
	}
	if _, err := NewAliases(ircUsers, "example.org"); !errors.Is(err, ErrBadTemplate) {
		t.Errorf("NewAliases with @: %v, want ErrBadTemplate", err)
	}
	for i, s := range []string{"", "exa mple.org", "example.org:", "example.org:123456", "[::1", "a/b", "ex_ample.org"} {
		if _, err := NewNamespace[matrix.UserID](tmpl, s); !errors.Is(err, ErrBadServerName) {
			t.Errorf("%d: server %q: %v, want ErrBadServerName", i, s, err)
		}
	}
	for i, s := range []string{"localhost", "example.org:8448", "[::1]", "[::1]:8448", "127.0.0.1:8008", "Matrix.ORG"} {
		ns, err := NewNamespace[matrix.UserID](tmpl, s)
		if err != nil {
			t.Errorf("%d: server %q: %v", i, s, err)
			continue
		}
		id, err := ns.Format(Values{"network": "n", "nick": "x"})
		if err != nil || !ns.Owns(id) || !regexp.MustCompile(ns.Regex()).MatchString(string(id)) {
			t.Errorf("%d: server %q: Format = %q, %v, Owns %v", i, s, id, err, ns.Owns(id))
		}
	}
}

func TestRegexGolden(t *testing.T) {
	ns := mustUsers(t, ircUsers)
	want := `^@irc_(?:[\-./0-9a-z]|=(?:[014589a-f][0-9a-f]|2[0-9a-c]|3[a-f]|60|7[b-f]))+` +
		`_(?:[\-./0-9_a-z]|=(?:[01489a-f][0-9a-f]|2[0-9a-c]|3[a-f]|5[0-9a-e]|60|7[b-f]))+:example\.org$`
	if got := ns.Regex(); got != want {
		t.Errorf("Regex =\n%s\nwant\n%s", got, want)
	}
	if got := ns.ClaimRegex(); got != `^@irc_[^:]*:example\.org$` {
		t.Errorf("ClaimRegex = %s", got)
	}
}

// TestEscapeRegexExact checks, for every single byte in every position,
// that the regex accepts "=xx" exactly when Parse does.
func TestEscapeRegexExact(t *testing.T) {
	for _, tmpl := range []string{ircUsers, "#irc_{network}.{channel}:{server}"} {
		tp, err := NewTemplate(tmpl)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range tp.parts {
			re := regexp.MustCompile(`^` + p.safe.valueRegex() + `$`)
			for x := 0; x < 256; x++ {
				for _, s := range []string{"", "=" + hexDigits[x>>4:x>>4+1] + hexDigits[x&15:x&15+1], string([]byte{byte(x)})} {
					_, ok := p.safe.unescape(s, false)
					if ok != re.MatchString(s) {
						t.Errorf("%s {%s}: %q: unescape ok %v, regex %v", tmpl, p.name, s, ok, !ok)
					}
				}
			}
		}
	}
}

// TestOwnsDoesNotAllocate guards the documented promise: Owns and Claims run
// on every event the bridge receives, mostly for IDs that are not puppets.
func TestOwnsDoesNotAllocate(t *testing.T) {
	ns := mustUsers(t, ircUsers)
	for _, id := range []matrix.UserID{
		"@irc_libera_=41lice:example.org", "@alice:example.org", "@irc_libera_alice:other.org",
		"@irc_libera_=61:example.org", "@irc_libera:example.org",
	} {
		if n := testing.AllocsPerRun(100, func() { ns.Owns(id) }); n != 0 {
			t.Errorf("Owns(%q) allocates %v times", id, n)
		}
		if n := testing.AllocsPerRun(100, func() { ns.Claims(id) }); n != 0 {
			t.Errorf("Claims(%q) allocates %v times", id, n)
		}
	}
}

func TestParseErrorNamesPlaceholder(t *testing.T) {
	ns := mustUsers(t, ircUsers)
	_, err := ns.Parse("@irc_libera_=61lice:example.org")
	if err == nil || !strings.Contains(err.Error(), "not canonically escaped value of {nick}") {
		t.Errorf("Parse error = %v, want it to name {nick}", err)
	}
}
