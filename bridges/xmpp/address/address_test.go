package address

import (
	"errors"
	"testing"

	"mellium.im/xmpp/jid"

	"github.com/causewaybridge/causeway/matrix"
)

var domain = jid.MustParse("matrix.example.org")

// TestJIDs: the documented examples, and the way back.
func TestJIDs(t *testing.T) {
	for i, tt := range []struct {
		id   string
		kind Kind
		want string
	}{
		0: {"@alice:example.org", User, `alice\3aexample.org@matrix.example.org`},
		1: {"#Room:example.org", Alias, `#\52oom\3aexample.org@matrix.example.org`},
		2: {"!AbC:example.org", RoomID, `!\41b\43\3aexample.org@matrix.example.org`},
		3: {"@a/b:example.org:8448", User, `a\2fb\3aexample.org\3a8448@matrix.example.org`},
		4: {"#x y@z:example.org", Alias, `#x\20y\40z\3aexample.org@matrix.example.org`},
		5: {"#ünï:example.org", Alias, `#\c3\bcn\c3\af\3aexample.org@matrix.example.org`},
		6: {"@_xmpp_bob=40x:example.org", User, `_xmpp_bob=40x\3aexample.org@matrix.example.org`},
	} {
		var j jid.JID
		var err error
		switch tt.kind {
		case User:
			j, err = UserJID(domain, matrix.UserID(tt.id))
		case Alias:
			j, err = AliasJID(domain, matrix.RoomAlias(tt.id))
		default:
			j, err = RoomIDJID(domain, matrix.RoomID(tt.id))
		}
		if err != nil || j.String() != tt.want {
			t.Errorf("%d: %s → %s, %v; want %s", i, tt.id, j, err, tt.want)
			continue
		}
		// What a server would hand back: the JID parsed again (PRECIS).
		back, err := jid.Parse(j.String())
		if err != nil {
			t.Fatalf("%d: %v", i, err)
		}
		kind, id, err := Parse(back.Localpart())
		if err != nil || kind != tt.kind || id != tt.id {
			t.Errorf("%d: back = %v %q %v, want %v %q", i, kind, id, err, tt.kind, tt.id)
		}
	}
}

// TestParseRejects: localparts that Escape cannot produce are refused.
func TestParseRejects(t *testing.T) {
	for i, in := range []string{"", `alice`, `alice\3a`, `\3aserver`, `Alice\3ax`, `a\61\3ax`, `a\3Ax`, `a\3`, `a\zz\3ax`, `a b\3ax`, `#`, `!\3ax`} {
		if _, _, err := Parse(in); !errors.Is(err, ErrNotCanonical) {
			t.Errorf("%d: Parse(%q) err = %v, want ErrNotCanonical", i, in, err)
		}
	}
	for i, in := range []string{"", "alice:x", "@alice", "@:x", "@a:", "$ev:x"} {
		if _, err := Localpart(in); err == nil {
			t.Errorf("%d: Localpart(%q) accepted", i, in)
		}
	}
}

// FuzzEscape: Escape is reversible for any bytes, its output is a valid
// JID localpart that PRECIS leaves alone, and every string Unescape
// accepts escapes back to itself (one ID, one JID).
func FuzzEscape(f *testing.F) {
	for _, s := range []string{"alice:example.org", "Room:example.org", `a\b:c`, "ünï:x", "\x00\xff", "x y@z"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		e := Escape(s)
		back, err := Unescape(e)
		if err != nil || back != s {
			t.Fatalf("Unescape(Escape(%q)) = %q, %v", s, back, err)
		}
		if len(e) > 0 && len(e) <= 1023 {
			j, err := jid.New(e, "matrix.example.org", "")
			if err != nil || j.Localpart() != e {
				t.Fatalf("localpart %q: %v (got %q)", e, err, j.Localpart())
			}
		}
		if u, err := Unescape(s); err == nil && Escape(u) != s {
			t.Fatalf("Unescape(%q) = %q escapes to %q", s, u, Escape(u))
		}
	})
}
