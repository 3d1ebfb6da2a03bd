package integration

import (
	"net"
	"os"
	"testing"
)

// Environment variables read by the harness (printed by `scripts/stack.sh env`).
const (
	// EnvDendriteBin names the Dendrite binary; generate-config and
	// generate-keys are expected next to it.
	EnvDendriteBin = "CAUSEWAY_DENDRITE_BIN"
	// EnvPostgresURL is a PostgreSQL URL of a role that may create databases.
	EnvPostgresURL = "CAUSEWAY_TEST_POSTGRES_URL"
	// EnvStackBin is the directory holding every binary the stack built.
	EnvStackBin = "CAUSEWAY_STACK_BIN"
)

// RequireEnv returns the value of the environment variable name. When it is
// unset the test is skipped with a message saying why, or fails when the CI
// environment variable is "true", so CI can never skip a real-server test.
func RequireEnv(t testing.TB, name string) string {
	t.Helper()
	v := os.Getenv(name)
	if v != "" {
		return v
	}
	msg := name + " is not set; run `eval \"$(bash scripts/stack.sh env)\"` after `bash scripts/stack.sh install` " +
		"(scripts/test.sh does both)"
	if os.Getenv("CI") == "true" {
		t.Fatal("CI=true but " + msg)
	} else {
		t.Skip("skipping real-server test: " + msg)
	}
	return ""
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("find a free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
