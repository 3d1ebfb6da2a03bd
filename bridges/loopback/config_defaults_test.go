package loopback

import (
	"os"
	"reflect"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/causewaybridge/causeway/bridges"
	"github.com/causewaybridge/causeway/config"
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
	got, want := reflect.ValueOf(m.cfg), reflect.ValueOf(e.cfg)
	for i := range got.NumField() {
		key := yamlKey(got.Type().Field(i))
		if !reflect.DeepEqual(got.Field(i).Interface(), want.Field(i).Interface()) {
			t.Errorf("%s: example-config.yaml shows %v, but the default is %v", key, got.Field(i), want.Field(i))
		}
	}

	// Every key is shown, so that the comparison above covers it.
	var root yaml.Node
	if err := yaml.Unmarshal(raw, &root); err != nil {
		t.Fatal(err)
	}
	node := value(value(root.Content[0], "bridges"), ID)
	shown := map[string]bool{}
	for i := 0; i+1 < len(node.Content); i += 2 {
		shown[node.Content[i].Value] = true
	}
	for i := range got.NumField() {
		if key := yamlKey(got.Type().Field(i)); key != "" && !shown[key] {
			t.Errorf("example-config.yaml's loopback section does not show %s", key)
		}
	}
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

// value returns the value of key in mapping n, or an empty node.
func value(n *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return &yaml.Node{}
}

// yamlKey is the key a struct field is decoded from, or "" for none.
func yamlKey(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	if name == "-" || !f.IsExported() {
		return ""
	}
	return name
}
