package loopback

import (
	"os"
	"testing"

	"github.com/causewaybridge/causeway/bridges"
	"github.com/causewaybridge/causeway/config"
	"github.com/causewaybridge/causeway/internal/configtest"
)

// TestExampleConfigLoopbackDefaults: the loopback section of
// example-config.yaml shows every key the module reads, each with the value
// the module uses when the section leaves it out (the section has no
// example-only values).
func TestExampleConfigLoopbackDefaults(t *testing.T) {
	raw, err := os.ReadFile("../../example-config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	noEnv := func(string) (string, bool) { return "", false }
	c, err := config.Parse(raw, "example-config.yaml", noEnv)
	if err != nil {
		t.Fatal(err)
	}
	sec, ok := c.Bridges[ID]
	if !ok {
		t.Fatal("example-config.yaml has no loopback section")
	}
	m := New()
	if err := m.Configure(bridges.Env{ServerName: "localhost", BotUserID: "@causeway:localhost"}, sec); err != nil {
		t.Fatalf("example loopback section rejected: %v", err)
	}
	empty, err := config.Parse([]byte("homeserver: {url: http://127.0.0.1:8008, server_name: localhost}\nbridges:\n  loopback:\n"), "empty", noEnv)
	if err != nil {
		t.Fatal(err)
	}
	e := New()
	if err := e.Configure(bridges.Env{ServerName: "localhost", BotUserID: "@causeway:localhost"}, empty.Bridges[ID]); err != nil {
		t.Fatal(err)
	}
	configtest.CheckSection(t, raw, []string{"bridges", ID}, m.cfg, e.cfg, nil)
}

// TestExplicitEchoOff: echo: false in the section is kept, not replaced by
// the default.
func TestExplicitEchoOff(t *testing.T) {
	noEnv := func(string) (string, bool) { return "", false }
	c, err := config.Parse([]byte("homeserver: {url: http://127.0.0.1:8008, server_name: localhost}\nbridges:\n  loopback: {echo: false}\n"), "c", noEnv)
	if err != nil {
		t.Fatal(err)
	}
	m := New()
	if err := m.Configure(bridges.Env{ServerName: "localhost", BotUserID: "@causeway:localhost"}, c.Bridges[ID]); err != nil {
		t.Fatal(err)
	}
	if want := (Config{UserTemplate: DefaultConfig().UserTemplate, AliasTemplate: DefaultConfig().AliasTemplate}); m.cfg != want {
		t.Fatalf("cfg = %+v, want %+v", m.cfg, want)
	}
}
