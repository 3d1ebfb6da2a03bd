package integration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// TestEjabberdRuntime: ERL and ERL_LIBS are read from an ejabberdctl like
// Debian's (quoted either way); a script without them is an error that
// names it.
func TestEjabberdRuntime(t *testing.T) {
	dir := t.TempDir()
	ctl := filepath.Join(dir, "ejabberdctl")
	script := "#!/bin/bash\nERLANG_NODE=ejabberd@localhost\nERL=\"/usr/bin/erl\"\nIEX=\"/usr/bin/iex\"\n" +
		"    ERL_LIBS_NOT=x\nERL_LIBS='/usr/lib/x86_64-linux-gnu'\nexport ERL_LIBS\n"
	if err := os.WriteFile(ctl, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	erl, libs, err := ejabberdRuntime(ctl)
	if err != nil || erl != "/usr/bin/erl" || libs != "/usr/lib/x86_64-linux-gnu" {
		t.Fatalf("ejabberdRuntime = %q, %q, %v", erl, libs, err)
	}
	if err := os.WriteFile(ctl, []byte("#!/bin/sh\nexec something\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, _, err := ejabberdRuntime(ctl); err == nil || !strings.Contains(err.Error(), ctl) {
		t.Fatalf("a script without ERL: %v", err)
	}
	if _, _, err := ejabberdRuntime(filepath.Join(dir, "missing")); err == nil {
		t.Fatal("a missing script is no error")
	}
}

// TestEjabberdConfig: the generated config is YAML with the c2s listener
// without TLS and the component listener on their ports, every component
// domain with its secret (quoted, so odd characters stay data), the
// virtual host, and the MUC service with MAM.
func TestEjabberdConfig(t *testing.T) {
	raw := ejabberdConfig("127.0.0.1:15222", "127.0.0.1:15347", ejabberdOptions{
		components: [][2]string{{"matrix.localhost", `s3cr"et: #x`}, {"other.localhost", "two"}},
	})
	var cfg struct {
		Hosts  []string `yaml:"hosts"`
		Listen []struct {
			IP       string                       `yaml:"ip"`
			Port     int                          `yaml:"port"`
			Module   string                       `yaml:"module"`
			StartTLS bool                         `yaml:"starttls"`
			Hosts    map[string]map[string]string `yaml:"hosts"`
		} `yaml:"listen"`
		Modules map[string]map[string]any `yaml:"modules"`
	}
	if err := yaml.Unmarshal([]byte(raw), &cfg); err != nil {
		t.Fatalf("%v\n%s", err, raw)
	}
	if len(cfg.Hosts) != 1 || cfg.Hosts[0] != ProsodyHost || len(cfg.Listen) != 2 {
		t.Fatalf("hosts %v, listeners %d\n%s", cfg.Hosts, len(cfg.Listen), raw)
	}
	c2s, comp := cfg.Listen[0], cfg.Listen[1]
	if c2s.Module != "ejabberd_c2s" || c2s.Port != 15222 || c2s.IP != "127.0.0.1" || c2s.StartTLS {
		t.Fatalf("c2s listener %+v", c2s)
	}
	if comp.Module != "ejabberd_service" || comp.Port != 15347 || comp.IP != "127.0.0.1" ||
		comp.Hosts["matrix.localhost"]["password"] != `s3cr"et: #x` || comp.Hosts["other.localhost"]["password"] != "two" {
		t.Fatalf("component listener %+v", comp)
	}
	muc := cfg.Modules["mod_muc"]
	if muc["host"] != ProsodyMUC || cfg.Modules["mod_mam"] == nil {
		t.Fatalf("modules %v", cfg.Modules)
	}
	if opts, _ := muc["default_room_options"].(map[string]any); opts["mam"] != true {
		t.Fatalf("MUC rooms are not archived: %v", muc)
	}
}
