package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/causewaybridge/causeway/bridges"
	"github.com/causewaybridge/causeway/config"
	"github.com/causewaybridge/causeway/core"
	"github.com/causewaybridge/causeway/registration"
)

// TestExampleRegistrationGolden keeps example-registration.yaml equal to what
// the generator writes for example-config.yaml, tokens aside. Regenerate with
// UPDATE_GOLDEN=1 go test ./cmd/causeway -run Golden.
func TestExampleRegistrationGolden(t *testing.T) {
	cfg, err := config.Load("../../example-config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	mods, err := core.Modules(cfg, bridges.Default)
	if err != nil {
		t.Fatal(err)
	}
	placeholder := &registration.Registration{ASToken: "CHANGE_ME_as_token", HSToken: "CHANGE_ME_hs_token"}
	reg, err := registration.Generate(core.RegistrationSpec(cfg, mods), placeholder)
	if err != nil {
		t.Fatal(err)
	}
	got, err := reg.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	golden := "../../example-registration.yaml"
	if os.Getenv("UPDATE_GOLDEN") == "1" {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("example-registration.yaml is stale; run UPDATE_GOLDEN=1 go test ./cmd/causeway -run Golden\n--- got ---\n%s", got)
	}
}

func TestGenerateRegistrationKeepsTokens(t *testing.T) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "config.yaml")
	regPath := filepath.Join(dir, "reg.yaml")
	cfg := "homeserver:\n  url: http://127.0.0.1:8008\n  server_name: example.org\nbridges:\n  loopback:\n"
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	if code := run([]string{"generate-registration", "-c", cfgPath, "-o", regPath}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	first, err := registration.Load(regPath)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(first.Namespaces.Users[1].Regex, "loop_") || first.Protocols[0] != "loopback" {
		t.Fatalf("module namespaces missing: %+v", first.Namespaces)
	}
	if code := run([]string{"generate-registration", "-c", cfgPath, "-o", regPath}, &out, &errb); code != 0 {
		t.Fatalf("second run exit %d: %s", code, errb.String())
	}
	second, _ := registration.Load(regPath)
	if second.ASToken != first.ASToken || second.HSToken != first.HSToken {
		t.Fatal("regenerating changed the tokens")
	}
	if !strings.Contains(out.String(), "kept the existing tokens") {
		t.Fatalf("output: %s", out.String())
	}
}

func TestCLIErrors(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"frobnicate"}, &out, &errb); code != 2 || !strings.Contains(errb.String(), "unknown command") {
		t.Fatalf("unknown command: %d %q", code, errb.String())
	}
	errb.Reset()
	if code := run([]string{"run", "-c", "/nonexistent.yaml"}, &out, &errb); code != 1 || !strings.Contains(errb.String(), "read config") {
		t.Fatalf("missing config: %d %q", code, errb.String())
	}
	out.Reset()
	if code := run([]string{"--help"}, &out, &errb); code != 0 || !strings.Contains(out.String(), "generate-registration") {
		t.Fatalf("help: %d %q", code, out.String())
	}
	// The help promises only modules that are compiled in.
	if _, ok := bridges.Default.Get("xmpp"); !ok && strings.Contains(strings.ToLower(out.String()), "xmpp") {
		t.Fatalf("help mentions XMPP, which is not a module: %q", out.String())
	}
	out.Reset()
	if code := run([]string{"version"}, &out, &errb); code != 0 || !strings.Contains(out.String(), "loopback") {
		t.Fatalf("version: %d %q", code, out.String())
	}
}
