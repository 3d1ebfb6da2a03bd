package registration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func spec() Spec {
	return Spec{ID: "causeway", URL: "http://127.0.0.1:29300", SenderLocalpart: "causeway", ServerName: "example.org",
		UserRegexes: []string{`^@irc_[a-z0-9._=/-]+:example\.org$`}, AliasRegexes: []string{`^#irc_.+:example\.org$`},
		Protocols: []string{"irc"}}
}

func TestGenerateKeepsTokensAndAnchors(t *testing.T) {
	r, err := Generate(spec(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.ASToken) != 64 || len(r.HSToken) != 64 || r.ASToken == r.HSToken {
		t.Fatalf("tokens: %q %q", r.ASToken, r.HSToken)
	}
	if *r.RateLimited || !r.ReceiveEphemeral || !r.PushEphemeralMSC2409 {
		t.Fatalf("flags: %+v", r)
	}
	if got := r.Namespaces.Users[0].Regex; got != `^@causeway:example\.org$` {
		t.Fatalf("bot regex %q", got)
	}
	for _, ns := range append(r.Namespaces.Users, r.Namespaces.Aliases...) {
		if !ns.Exclusive || !strings.HasPrefix(ns.Regex, "^") || !strings.HasSuffix(ns.Regex, "$") {
			t.Fatalf("namespace not exclusive+anchored: %+v", ns)
		}
	}
	again, err := Generate(spec(), r)
	if err != nil {
		t.Fatal(err)
	}
	if again.ASToken != r.ASToken || again.HSToken != r.HSToken {
		t.Fatal("regeneration changed tokens")
	}
}

func TestSaveLoadRoundTrip(t *testing.T) {
	r, _ := Generate(spec(), nil)
	p := filepath.Join(t.TempDir(), "reg.yaml")
	if err := r.Save(p); err != nil {
		t.Fatal(err)
	}
	st, _ := os.Stat(p)
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, want 0600 (file holds secrets)", st.Mode().Perm())
	}
	got, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if got.ASToken != r.ASToken || got.Namespaces.Users[1].Regex != r.Namespaces.Users[1].Regex || got.Protocols[0] != "irc" {
		t.Fatalf("round trip: %+v", got)
	}
}

func TestParseLenientUnknownStrictRequired(t *testing.T) {
	ok := "id: x\nurl: http://a\nas_token: a\nhs_token: h\nsender_localpart: bot\nsomething_new: 1\nnamespaces: {users: [{exclusive: true, regex: '^@a$'}]}\n"
	if _, err := Parse([]byte(ok)); err != nil {
		t.Fatalf("unknown key should be ignored: %v", err)
	}
	tests := []struct{ doc, want string }{
		{"url: http://a\nas_token: a\nhs_token: h\nsender_localpart: b\n", `"id"`},
		{"id: x\nurl: http://a\nhs_token: h\nsender_localpart: b\n", `"as_token"`},
		{"id: x\nurl: http://a\nas_token: a\nsender_localpart: b\n", `"hs_token"`},
		{"id: x\nurl: http://a\nas_token: a\nhs_token: h\n", `"sender_localpart"`},
		{"id: x\nurl: http://a\nas_token: t\nhs_token: t\nsender_localpart: b\n", "must differ"},
		{"id: x\nurl: http://a\nas_token: a\nhs_token: h\nsender_localpart: b\nnamespaces:\n  aliases: [{regex: '('}]\n", "namespaces.aliases[0].regex"},
		{"id: [\n", "yaml"},
	}
	for i, tc := range tests {
		_, err := Parse([]byte(tc.doc))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("case %d: err = %v, want %q", i, err, tc.want)
		}
	}
}
