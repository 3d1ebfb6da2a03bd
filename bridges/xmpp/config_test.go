package xmpp

import (
	"fmt"
	"strings"
	"testing"

	"github.com/causewaybridge/causeway/bridges"
	"github.com/causewaybridge/causeway/config"
)

// testEnv is the configuration environment of the tests.
var testEnv = bridges.Env{ServerName: "localhost", BotUserID: "@causeway:localhost"}

// configure runs Configure on an xmpp section given as YAML flow mapping.
func configure(t *testing.T, section string) (*Module, error) {
	t.Helper()
	noEnv := func(string) (string, bool) { return "", false }
	c, err := config.Parse([]byte("homeserver: {url: http://127.0.0.1:8008, server_name: localhost}\nbridges:\n  xmpp: "+section+"\n"), "c", noEnv)
	if err != nil {
		t.Fatal(err)
	}
	m := New()
	return m, m.Configure(testEnv, c.Bridges[ID])
}

// TestConfigure: valid sections are accepted with defaults filled in;
// invalid ones are refused with an error naming the key.
func TestConfigure(t *testing.T) {
	m, err := configure(t, "{domain: matrix.localhost, secret: s3cret}")
	if err != nil {
		t.Fatal(err)
	}
	if want := DefaultConfig(); m.cfg.Server != want.Server || m.cfg.MaxStanzaBytes != want.MaxStanzaBytes {
		t.Fatalf("defaults not kept: %+v", m.cfg)
	}
	if got := m.Namespaces().UserRegexes; len(got) != 1 || !strings.Contains(got[0], "_xmpp_") {
		t.Fatalf("namespaces %v", got)
	}
	for i, tt := range []struct{ section, want string }{
		0: {"{secret: s}", "domain is required"},
		1: {"{domain: matrix.localhost}", "secret is required"},
		2: {"{domain: u@matrix.localhost, secret: s}", "not a bare domain"},
		3: {"{domain: matrix.localhost, secret: s, server: nohost}", "host:port"},
		4: {"{domain: matrix.localhost, secret: s, max_stanza_bytes: 10}", "max_stanza_bytes"},
		5: {"{domain: matrix.localhost, secret: s, reconnect_max_delay: 1ms}", "reconnect_max_delay"},
		6: {"{domain: matrix.localhost, secret: s, bogus: 1}", "bogus"},
		7: {"{domain: matrix.localhost, secret: s, max_avatar_bytes: 100}", "max_avatar_bytes"},
		8: {"{domain: matrix.localhost, secret: s, max_avatar_bytes: 200000}", "max_avatar_bytes"}, // base64 over 256 KiB
	} {
		if _, err := configure(t, tt.section); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%d: %s: err = %v, want it to mention %q", i, tt.section, err, tt.want)
		}
	}
}

// TestConfigNeverShowsSecret: logging or printing the config hides the
// secret.
func TestConfigNeverShowsSecret(t *testing.T) {
	c := DefaultConfig()
	c.Domain, c.Secret = "matrix.localhost", "hunter2-secret"
	for _, s := range []string{c.String(), fmt.Sprint(c), fmt.Sprintf("%v %+v", c, c), c.LogValue().String()} {
		if strings.Contains(s, "hunter2") {
			t.Fatalf("secret shown: %s", s)
		}
	}
}
