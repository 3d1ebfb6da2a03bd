package irc

import (
	"os"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/causewaybridge/causeway/bridges"
	"github.com/causewaybridge/causeway/config"
)

// yamlKeys lists the yaml keys of t's fields, recursing into nested
// structs, pointers to them, and maps and slices of them.
func yamlKeys(t reflect.Type, into map[string]bool) {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Map || t.Kind() == reflect.Slice {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return
	}
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "" || name == "-" {
			continue
		}
		into[name] = true
		yamlKeys(f.Type, into)
	}
}

// exampleIRCSection returns the text of the bridges.irc section of
// example-config.yaml, comments included.
func exampleIRCSection(t *testing.T) string {
	t.Helper()
	raw, err := os.ReadFile("../../example-config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	text := string(raw)
	start := strings.Index(text, "\n  irc:\n")
	if start < 0 {
		t.Fatal("example-config.yaml has no bridges.irc section")
	}
	section := text[start+1:]
	// The section ends at the next key indented by two spaces or less.
	if end := regexp.MustCompile(`\n {0,2}[a-z]`).FindStringIndex(section[len("  irc:"):]); end != nil {
		section = section[:len("  irc:")+end[0]]
	}
	return section
}

// TestExampleConfigDocumentsEveryIRCKey: every key the IRC module reads is
// shown and explained in example-config.yaml (operators learn the options
// there), and the example's irc section is accepted as it stands.
func TestExampleConfigDocumentsEveryIRCKey(t *testing.T) {
	keys := map[string]bool{}
	yamlKeys(reflect.TypeFor[Config](), keys)
	section := exampleIRCSection(t)
	var missing []string
	for k := range keys {
		// As a key, also inside a flow mapping or a commented-out example.
		if !regexp.MustCompile(`(^|[\s{,#])` + regexp.QuoteMeta(k) + `:`).MatchString(section) {
			missing = append(missing, k)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("keys read by the IRC module but not in example-config.yaml's irc section: %v", missing)
	}

	cfg, err := config.Load("../../example-config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	sec, ok := cfg.Bridges["irc"]
	if !ok {
		t.Fatal("example config has no irc section")
	}
	m := New()
	// Configure decodes strictly: a key in the example that the module
	// does not know fails here.
	if err := m.Configure(bridges.Env{ServerName: "localhost", BotUserID: "@causeway:localhost"}, sec); err != nil {
		t.Fatalf("example irc section rejected: %v", err)
	}
	if len(m.networks) == 0 {
		t.Fatal("example irc section configures no network")
	}
}

// TestNetworkConfigValidate: a bad network setting is refused at start,
// with the key named, instead of misbehaving later.
func TestNetworkConfigValidate(t *testing.T) {
	tests := []struct {
		id   string
		mod  func(*NetworkConfig)
		want string // substring of the error; "" means valid
	}{
		0: {"libera", func(*NetworkConfig) {}, ""},
		1: {"Libera", func(*NetworkConfig) {}, `network ID "Libera"`},
		2: {"libera", func(n *NetworkConfig) { n.Address = "" }, "networks.libera.address is required"},
		3: {"libera", func(n *NetworkConfig) { n.Bot.Nick = "bad nick" }, "networks.libera.bot.nick"},
		4: {"libera", func(n *NetworkConfig) { n.Membership = "eager" }, "networks.libera.membership"},
		5: {"libera", func(n *NetworkConfig) { n.ModePowerLevels = map[string]int{"op": 50} }, "mode_power_levels"},
		6: {"libera", func(n *NetworkConfig) { n.Flood.Rate = -1 }, "must be positive"},
		7: {"libera", func(n *NetworkConfig) { n.Reconnect.PerSecond = -1 }, "must be positive"},
	}
	for i, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			n := &NetworkConfig{Address: "irc.example.org:6697"}
			tt.mod(n)
			c := Config{Networks: map[string]*NetworkConfig{tt.id: n}}
			err := c.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("%d: valid config refused: %v", i, err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("%d: error %v, want one containing %q", i, err, tt.want)
			}
		})
	}
	if err := (&Config{}).Validate(); err == nil || !strings.Contains(err.Error(), "at least one network") {
		t.Errorf("no networks: %v", err)
	}
}

// TestNetworkConfigDefaults: unset keys get the defaults example-config.yaml
// and docs/irc.md promise.
func TestNetworkConfigDefaults(t *testing.T) {
	c := Config{Networks: map[string]*NetworkConfig{"libera": {Address: "irc.example.org:6697"}}}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	n := c.Networks["libera"]
	got := map[string]any{
		"name": n.Name, "bot.nick": n.Bot.Nick, "user_template": n.UserTemplate, "alias_template": n.AliasTemplate,
		"membership": n.Membership, "max_nick_length": n.MaxNickLength, "max_connections": n.MaxConnections,
		"reconnect.min_delay": n.Reconnect.MinDelay.String(), "reconnect.max_delay": n.Reconnect.MaxDelay.String(),
		"reconnect.per_second": n.Reconnect.PerSecond, "flood.rate": n.Flood.Rate, "flood.burst": n.Flood.Burst,
		"netsplit_delay": n.NetsplitDelay.String(), "line_limit": n.LineLimit, "delivery_timeout": n.DeliveryTimeout.String(),
		"plumb_approval_timeout": n.PlumbApprovalTimeout.String(), "mode_power_levels.o": n.ModePowerLevels["o"],
		"mode_power_levels.v": n.ModePowerLevels["v"],
	}
	want := map[string]any{
		"name": "libera", "bot.nick": "causeway", "user_template": "@irc_{network}_{nick}:{server}",
		"alias_template": "#irc_{network}_{channel}:{server}", "membership": "lazy", "max_nick_length": 30,
		"max_connections": 1000, "reconnect.min_delay": "2s", "reconnect.max_delay": "5m0s",
		"reconnect.per_second": 5.0, "flood.rate": 2.0, "flood.burst": 5, "netsplit_delay": "2m0s", "line_limit": 3,
		"delivery_timeout": "2m0s", "plumb_approval_timeout": "5m0s", "mode_power_levels.o": 50, "mode_power_levels.v": 1,
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("default %s = %v, want %v", k, got[k], w)
		}
	}
}
