package config

import (
	"strings"
	"testing"
)

// FuzzParse: any bytes as a config file give a config or an error, never a
// panic; a successful parse always validates.
func FuzzParse(f *testing.F) {
	f.Add([]byte(minimal))
	f.Add([]byte(minimal + "bridges:\n  irc:\n    networks: {a: {address: x}}\n"))
	f.Add([]byte("homeserver: {url: '${X:-http://h}', server_name: h}\n"))
	f.Add([]byte("&a [*a, *a]"))
	f.Add([]byte("homeserver:\n  url: ${"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data, "fuzz.yaml", func(string) (string, bool) { return "", false })
		if err != nil {
			if !strings.Contains(err.Error(), "fuzz.yaml") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("Parse accepted a config that does not validate: %v", err)
		}
		for _, sec := range c.Bridges {
			var out map[string]any
			_ = sec.Decode(&out)
		}
	})
}
