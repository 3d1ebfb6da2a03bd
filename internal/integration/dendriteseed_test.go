package integration

import (
	"os"
	"path/filepath"
	"testing"
)

// TestCopySeed: a seed holds the databases, key, search index and media
// of a data directory and nothing else; it is written whole or not at
// all; copying it into a fresh data directory replaces the fresh files.
func TestCopySeed(t *testing.T) {
	src := t.TempDir()
	files := map[string]string{
		"dendrite_roomserver.db": "rooms",
		"dendrite_userapi.db":    "users",
		"matrix_key.pem":         "key",
		"searchindex/store/a":    "index",
		"media/ab/cd":            "file",
		"dendrite.yaml":          "config",
		"dendrite.log":           "log",
	}
	for name, body := range files {
		p := filepath.Join(src, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	seed := filepath.Join(t.TempDir(), "cache", "seed")
	if err := copySeed(src, seed); err != nil {
		t.Fatal(err)
	}
	if err := copySeed(src, seed); err == nil {
		t.Error("a second copy over an existing seed did not fail")
	}
	if left, _ := filepath.Glob(seed + ".partial-*"); len(left) != 0 {
		t.Errorf("partial copies left: %v", left)
	}
	fresh := t.TempDir()
	if err := os.WriteFile(filepath.Join(fresh, "matrix_key.pem"), []byte("fresh key"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := copyEntries(seed, fresh); err != nil {
		t.Fatal(err)
	}
	for name, body := range files {
		got, err := os.ReadFile(filepath.Join(fresh, name))
		want := name != "dendrite.yaml" && name != "dendrite.log"
		switch {
		case want && (err != nil || string(got) != body):
			t.Errorf("%s: %q, %v; want %q", name, got, err, body)
		case !want && err == nil:
			t.Errorf("%s was copied; it is not part of a seed", name)
		}
	}
	if err := copyEntries(t.TempDir(), fresh); err == nil {
		t.Error("copying from a directory with no Dendrite data did not fail")
	}
}
