package xmpp

import (
	"os"
	"reflect"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/causewaybridge/causeway/config"
)

// xmppExamples are the keys of the xmpp section whose value in
// example-config.yaml is an example, not a default. Every other key must
// show its default there.
var xmppExamples = map[string]string{
	"domain": "required: the example's component domain",
	"secret": "required: an environment reference",
}

// decodeSection decodes the xmpp section of doc over DefaultConfig, as
// Configure does, without validating it.
func decodeSection(t *testing.T, doc []byte, name string) (Config, config.Section) {
	t.Helper()
	noEnv := func(string) (string, bool) { return "", false }
	c, err := config.Parse(doc, name, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	sec, ok := c.Bridges[ID]
	if !ok {
		t.Fatalf("%s has no xmpp section", name)
	}
	cfg := DefaultConfig()
	if err := sec.Decode(&cfg); err != nil {
		t.Fatal(err)
	}
	return cfg, sec
}

// TestExampleConfigXMPPDefaults: example-config.yaml's xmpp section is
// disabled, shows every key the module reads, and each key outside
// xmppExamples has the value the module uses when the section leaves it
// out.
func TestExampleConfigXMPPDefaults(t *testing.T) {
	raw, err := os.ReadFile("../../example-config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	example, sec := decodeSection(t, raw, "example-config.yaml")
	if sec.Enabled {
		t.Error("the example's xmpp section is enabled: it must stay off until configured")
	}
	empty, _ := decodeSection(t, []byte("homeserver: {url: http://127.0.0.1:8008, server_name: localhost}\nbridges:\n  xmpp:\n"), "empty")
	got, want := reflect.ValueOf(example), reflect.ValueOf(empty)
	for i := range got.NumField() {
		key := yamlKey(got.Type().Field(i))
		if _, ok := xmppExamples[key]; ok {
			continue
		}
		if !reflect.DeepEqual(got.Field(i).Interface(), want.Field(i).Interface()) {
			t.Errorf("%s: example-config.yaml shows %v, but the default is %v", key, got.Field(i), want.Field(i))
		}
	}
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
			t.Errorf("example-config.yaml's xmpp section does not show %s", key)
		}
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
