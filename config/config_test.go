package config

import (
	"strings"
	"testing"
)

func env(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

const minimal = `
homeserver:
  url: http://127.0.0.1:8008
  server_name: localhost
`

func TestParseDefaults(t *testing.T) {
	c, err := Parse([]byte(minimal), "cfg.yaml", env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.Database.URL != DefaultDatabaseURL || c.Appservice.Address != DefaultAddress ||
		c.Appservice.URL != "http://"+DefaultAddress || c.BotUserID() != "@causeway:localhost" {
		t.Fatalf("defaults not applied: %+v", c)
	}
}

func TestUnknownKeyNamesKeyAndLine(t *testing.T) {
	tests := []struct {
		name, doc, want string
	}{
		{"top", minimal + "bogus: 1\n", `line 5: unknown key "bogus"`},
		{"nested", `
homeserver:
  url: http://127.0.0.1:8008
  server_name: localhost
  colour: red
`, `line 5: unknown key "colour"`},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.doc), "cfg.yaml", env(nil))
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "cfg.yaml") {
				t.Fatalf("case %d: err = %v, want it to contain %q", i, err, tc.want)
			}
		})
	}
}

func TestRequiredAndInvalid(t *testing.T) {
	_, err := Parse([]byte("logging:\n  level: loud\nappservice:\n  ack_body: none\ndatabase:\n  outbox_retention: -1h\n"), "c", env(nil))
	for _, want := range []string{"homeserver.url is required", "homeserver.server_name is required", `logging.level "loud"`,
		`appservice.ack_body "none" must be auto, json or empty`, "database.outbox_retention -1h0m0s must be positive"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("err = %v, want %q", err, want)
		}
	}
}

func TestEnvSecrets(t *testing.T) {
	doc := minimal + "database:\n  url: postgres://cw:${DB_PASS}@db/cw\nappservice:\n  max_body_bytes: ${MAXB:-4096}\n"
	c, err := Parse([]byte(doc), "c", env(map[string]string{"DB_PASS": "s3cret"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.Database.URL != "postgres://cw:s3cret@db/cw" || c.Appservice.MaxBodyBytes != 4096 {
		t.Fatalf("got %q %d", c.Database.URL, c.Appservice.MaxBodyBytes)
	}
	_, err = Parse([]byte(doc), "c", env(nil))
	if err == nil || !strings.Contains(err.Error(), "DB_PASS is not set") || !strings.Contains(err.Error(), "line 6") {
		t.Fatalf("missing env var error = %v", err)
	}
}

func TestBridgeSectionStrictDecode(t *testing.T) {
	doc := minimal + `bridges:
  irc:
    networks: [a, b]
    nickk: x
  xmpp:
    enabled: false
  loopback:
`
	c, err := Parse([]byte(doc), "c.yaml", env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if !c.Bridges["irc"].Enabled || c.Bridges["xmpp"].Enabled || !c.Bridges["loopback"].Enabled {
		t.Fatalf("enabled flags wrong: %+v", c.Bridges)
	}
	var out struct {
		Networks []string `yaml:"networks"`
	}
	err = c.Bridges["irc"].Decode(&out)
	if err == nil || !strings.Contains(err.Error(), `line 8: unknown key "nickk"`) {
		t.Fatalf("err = %v", err)
	}
	var ok struct {
		Networks []string `yaml:"networks"`
		Nickk    string   `yaml:"nickk"`
	}
	if err := c.Bridges["irc"].Decode(&ok); err != nil || len(ok.Networks) != 2 || ok.Nickk != "x" {
		t.Fatalf("decode: %v %+v", err, ok)
	}
	if err := c.Bridges["loopback"].Decode(&ok); err != nil {
		t.Fatalf("empty section: %v", err)
	}
}

func TestMalformedYAML(t *testing.T) {
	if _, err := Parse([]byte("homeserver: [\n"), "c", env(nil)); err == nil {
		t.Fatal("want error")
	}
	if _, err := Parse([]byte(""), "c", env(nil)); err == nil {
		t.Fatal("want error for empty file")
	}
}

func TestUnixSocketAddress(t *testing.T) {
	c, err := Parse([]byte(minimal+"appservice:\n  address: unix:/run/causeway/as.sock\n"), "cfg.yaml", env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.Appservice.URL != "unix:///run/causeway/as.sock" {
		t.Fatalf("URL for a unix address = %q, want unix:///run/causeway/as.sock", c.Appservice.URL)
	}
	for _, bad := range []string{"appservice:\n  address: \"unix:\"\n", "appservice:\n  url: unix://\n"} {
		if _, err := Parse([]byte(minimal+bad), "cfg.yaml", env(nil)); err == nil || !strings.Contains(err.Error(), "socket path") {
			t.Errorf("%q: err = %v, want an error about the socket path", bad, err)
		}
	}
}
