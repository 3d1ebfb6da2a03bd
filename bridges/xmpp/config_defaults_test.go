package xmpp

import (
	"os"
	"testing"

	"github.com/causewaybridge/causeway/config"
	"github.com/causewaybridge/causeway/internal/configtest"
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
	configtest.CheckSection(t, raw, []string{"bridges", ID}, example, empty, xmppExamples)
}
