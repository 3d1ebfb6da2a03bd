package irc

import (
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/causewaybridge/causeway/config"
	"go.yaml.in/yaml/v3"
)

// ircExamples are the keys of the irc section whose value in
// example-config.yaml is an example, not a default, and networkExamples
// those of the network "libera". Every other key must show its default
// there.
var (
	ircExamples = map[string]string{
		"password_key": "an environment reference; no key by default",
		"networks":     "required; compared network by network",
	}
	networkExamples = map[string]string{
		"name":    "defaults to the network ID; the example shows a display name",
		"address": "required: the example's server",
		"tls":     "off by default; Libera.Chat's port 6697 wants it",
	}
)

// parseIRCSection decodes the irc section of a configuration file the way
// the module does (strict decode, then Validate).
func parseIRCSection(t *testing.T, doc []byte, name string) Config {
	t.Helper()
	noEnv := func(string) (string, bool) { return "", false }
	c, err := config.Parse(doc, name, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	sec, ok := c.Bridges["irc"]
	if !ok {
		t.Fatalf("%s has no irc section", name)
	}
	var ic Config
	if err := sec.Decode(&ic); err != nil {
		t.Fatal(err)
	}
	if err := ic.Validate(); err != nil {
		t.Fatal(err)
	}
	return ic
}

// minimalIRC is a configuration whose irc section has only the required
// keys: one network "libera" with an address other than the example's.
const minimalIRC = `homeserver:
  url: http://127.0.0.1:8008
  server_name: localhost
bridges:
  irc:
    networks:
      libera:
        address: irc.example.net:6667
`

// TestExampleConfigIRCDefaults: every key of the irc section and of the
// network "libera" that example-config.yaml shows with a default value has
// that value when the section leaves the key out.
// TestExampleConfigDocumentsEveryIRCKey checks that no key is left out of
// the example.
func TestExampleConfigIRCDefaults(t *testing.T) {
	raw := readExampleConfig(t)
	example := parseIRCSection(t, raw, "example-config.yaml")
	empty := parseIRCSection(t, []byte(minimalIRC), "minimal")
	for _, tt := range []struct {
		name      string
		got, want any
		examples  map[string]string
	}{
		0: {"irc", example, empty, ircExamples},
		1: {"irc.networks.libera", example.Networks["libera"], empty.Networks["libera"], networkExamples},
	} {
		if reflect.ValueOf(tt.got).IsZero() {
			t.Fatalf("example-config.yaml has no %s", tt.name)
		}
		seen := map[string]bool{}
		compareDefaults(t, tt.name, reflect.ValueOf(tt.got), reflect.ValueOf(tt.want), tt.examples, seen)
		for k := range tt.examples {
			if !seen[tt.name+"."+k] {
				t.Errorf("the examples of %s list %s, which is no key of it", tt.name, k)
			}
		}
	}
}

// TestNetworkExplicitValuesKept: a key a network's section sets keeps its
// value, also where 0 means something (backfill: 0 is off), and a map
// replaces the default one instead of adding to it.
func TestNetworkExplicitValuesKept(t *testing.T) {
	ic := parseIRCSection(t, []byte(minimalIRC+`        backfill: 0
        catch_up_limit: 0
        idle_timeout: 0s
        flood: {rate: 10}
        mode_power_levels: {o: 100}
        bot: {nick: relay}
`), "explicit")
	n := ic.Networks["libera"]
	got := []any{n.Backfill, n.CatchUpLimit, n.IdleTimeout, n.Flood, n.ModePowerLevels, n.Bot.Nick, n.Bot.Username, n.LineLimit}
	want := []any{0, 0, time.Duration(0), FloodConfig{Rate: 10, Burst: 5}, map[string]int{"o": 100}, "relay", "relay", 3}
	for i := range want {
		if !reflect.DeepEqual(got[i], want[i]) {
			t.Errorf("%d: got %v, want %v", i, got[i], want[i])
		}
	}
	empty := parseIRCSection(t, []byte(minimalIRC), "minimal").Networks["libera"]
	if empty.Backfill != 50 || empty.CatchUpLimit != 1000 {
		t.Errorf("absent backfill, catch_up_limit = %d, %d, want 50, 1000", empty.Backfill, empty.CatchUpLimit)
	}
}

// TestNetworkSectionStrict: decoding a network on top of its defaults still
// rejects unknown keys, naming the key and its line, and Validate refuses
// negative counts.
func TestNetworkSectionStrict(t *testing.T) {
	noEnv := func(string) (string, bool) { return "", false }
	tests := []struct {
		extra, want string
	}{
		0: {"        backfil: 5\n", `line 9: unknown key "backfil"`},
		1: {"        backfill: -1\n", "networks.libera.backfill -1 must not be negative"},
		2: {"        catch_up_limit: -5\n", "networks.libera.catch_up_limit -5 must not be negative"},
	}
	for i, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			c, err := config.Parse([]byte(minimalIRC+tt.extra), "cfg.yaml", noEnv)
			if err != nil {
				t.Fatal(err)
			}
			var ic Config
			err = c.Bridges["irc"].Decode(&ic)
			if err == nil {
				err = ic.Validate()
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("%d: err = %v, want one containing %q", i, err, tt.want)
			}
		})
	}
}

// TestPublicMediaURLDeprecated: irc.public_media_url, replaced by the
// core's homeserver.public_url, is empty by default (links follow
// homeserver.public_url, see TestMediaURL), is documented in
// example-config.yaml as deprecated in favour of that key, and an existing
// configuration that sets it still loads with its value.
func TestPublicMediaURLDeprecated(t *testing.T) {
	raw := readExampleConfig(t)
	var root yaml.Node
	if err := yaml.Unmarshal(raw, &root); err != nil {
		t.Fatal(err)
	}
	key := mapKey(mapValue(mapValue(root.Content[0], "bridges"), "irc"), "public_media_url")
	if key == nil {
		t.Fatal("example-config.yaml's irc section does not show public_media_url")
	}
	if !strings.Contains(key.HeadComment, "Deprecated") || !strings.Contains(key.HeadComment, "homeserver.public_url") {
		t.Errorf("example-config.yaml explains public_media_url as %q, want it marked deprecated in favour of homeserver.public_url", key.HeadComment)
	}
	if got := parseIRCSection(t, []byte(minimalIRC), "minimal").PublicMediaURL; got != "" {
		t.Errorf("public_media_url defaults to %q, want empty", got)
	}
	old := strings.Replace(minimalIRC, "    networks:\n", "    public_media_url: https://media.example.org\n    networks:\n", 1)
	if got := parseIRCSection(t, []byte(old), "old").PublicMediaURL; got != "https://media.example.org" {
		t.Errorf("a configuration setting public_media_url loads it as %q", got)
	}
}

// mapKey returns the key node named key in the mapping n, or nil.
func mapKey(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i]
		}
	}
	return nil
}

// mapValue returns the value of key in the mapping n, or nil.
func mapValue(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

// readExampleConfig returns example-config.yaml from the repository root.
func readExampleConfig(t *testing.T) []byte {
	t.Helper()
	raw, err := os.ReadFile("../../example-config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// compareDefaults reports each key of section where got (decoded from
// example-config.yaml) differs from want (decoded from an empty section),
// skipping the keys in examples and recording in seen the ones it met.
// Nil and empty maps and slices are equal.
func compareDefaults(t *testing.T, section string, got, want reflect.Value, examples map[string]string, seen map[string]bool) {
	t.Helper()
	compareKey(t, section, section, got, want, examples, seen)
}

// compareKey is compareDefaults for the key at path within section.
func compareKey(t *testing.T, section, path string, got, want reflect.Value, examples map[string]string, seen map[string]bool) {
	t.Helper()
	if _, ok := examples[strings.TrimPrefix(path, section+".")]; ok {
		seen[path] = true
		return
	}
	switch got.Kind() {
	case reflect.Struct:
		for i := range got.NumField() {
			f := got.Type().Field(i)
			key, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if key == "" || key == "-" || !f.IsExported() {
				continue
			}
			compareKey(t, section, path+"."+key, got.Field(i), want.Field(i), examples, seen)
		}
		return
	case reflect.Pointer:
		if !got.IsNil() && !want.IsNil() {
			compareKey(t, section, path, got.Elem(), want.Elem(), examples, seen)
			return
		}
	case reflect.Map, reflect.Slice:
		if got.Len() == 0 && want.Len() == 0 {
			return
		}
	}
	if !reflect.DeepEqual(got.Interface(), want.Interface()) {
		t.Errorf("%s: example-config.yaml shows %v, but the default is %v", path, got.Interface(), want.Interface())
	}
}
