package integration

import (
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
	"golang.org/x/crypto/bcrypt"
)

// ergoDefaults has every section patchErgoConfig touches, laid out as in
// Ergo's default.yaml.
const ergoDefaults = `
network: {name: ErgoTest}
server:
  name: ergo.test
  listeners: {"127.0.0.1:6667": null, ":6697": {tls: {cert: fullchain.pem}}}
  motd: ergo.motd
  max-sendq: 96k
  lookup-hostnames: false
  check-ident: false
  ip-limits: {count: true, throttle: true, max-concurrent-connections: 16}
  ip-cloaking: {enabled: true}
accounts:
  registration: {enabled: true, throttling: {enabled: true}}
  login-throttling: {enabled: true}
channels: {max-channels-per-client: 100, registration: {max-channels-per-account: 15}}
languages: {enabled: true}
fakelag: {enabled: true}
history: {chathistory-maxmessages: 100}
datastore: {path: ircd.db}
opers: {admin: {class: server-admin, password: "$2a$04$x"}}
logging: []
`

func patchedErgo(t *testing.T, o ergoOptions) map[string]any {
	t.Helper()
	out, err := patchErgoConfig([]byte(ergoDefaults), "127.0.0.1:4567", "/data/ircd.db", o)
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	if err := yaml.Unmarshal(out, &cfg); err != nil {
		t.Fatal(err)
	}
	return cfg
}

func lookup(m map[string]any, path string) any {
	var v any = m
	for _, k := range strings.Split(path, ".") {
		mm, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = mm[k]
	}
	return v
}

func TestPatchErgoConfig(t *testing.T) {
	cfg := patchedErgo(t, ergoOptions{})
	want := map[string]any{
		"server.name":                       ErgoServerName,
		"server.max-sendq":                  "1M",
		"server.ip-limits.count":            false,
		"server.ip-limits.throttle":         false,
		"fakelag.enabled":                   false,
		"languages.enabled":                 false,
		"accounts.login-throttling.enabled": false,
		"channels.max-channels-per-client":  1000,
		"history.chathistory-maxmessages":   1000,
		"datastore.path":                    "/data/ircd.db",
		"server.motd":                       nil,
	}
	for path, v := range want {
		if got := lookup(cfg, path); got != v {
			t.Errorf("%s = %#v, want %#v", path, got, v)
		}
	}
	listeners, _ := lookup(cfg, "server.listeners").(map[string]any)
	if len(listeners) != 1 || listeners["127.0.0.1:4567"] == nil {
		t.Errorf("listeners = %v, want only a plain 127.0.0.1:4567", listeners)
	}
}

func TestPatchErgoConfigOptions(t *testing.T) {
	cfg := patchedErgo(t, ergoOptions{
		settings: []ergoSetting{{"fakelag.enabled", true}},
		opers:    []ergoOper{{"root", "s3cret"}},
	})
	if got := lookup(cfg, "fakelag.enabled"); got != true {
		t.Errorf("WithErgoSetting did not override the test default: fakelag.enabled = %v", got)
	}
	hash, _ := lookup(cfg, "opers.root.password").(string)
	if err := bcrypt.CompareHashAndPassword([]byte(hash), []byte("s3cret")); err != nil {
		t.Errorf("oper password hash %q does not match: %v", hash, err)
	}
	if lookup(cfg, "opers.admin") != nil {
		t.Error("default oper with an unknown password kept")
	}
	_, err := patchErgoConfig([]byte(ergoDefaults), "127.0.0.1:1", "db", ergoOptions{
		settings: []ergoSetting{{"no-such-section.enabled", true}},
	})
	if err == nil {
		t.Error("a setting under a missing section was accepted")
	}
}
