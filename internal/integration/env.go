package integration

import (
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
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

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago,
// for a server the test starts next. It is taken at random below the
// kernel's ephemeral range (ip_local_port_range, 32768 and up here): a
// port the kernel handed out for ":0" is also one it hands to outgoing
// connections, and with thousands of those open in the suites, one took
// such a port between the check and the server's listen ("bind: address
// already in use"). The port stays reserved for the test until it ends:
// no other FreePort, in this test process or another (a lock file per
// port, see reservePort), hands it out meanwhile, since a server may take
// seconds to bind it (ejabberd's two did, and a parallel test's random
// pick took one in between).
func FreePort(t testing.TB) int {
	t.Helper()
	low, high := freePortRange()
	for range 200 {
		port := low + rand.IntN(high-low)
		release, ok := reservePort(port)
		if !ok {
			continue
		}
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err != nil {
			release()
			continue
		}
		_ = l.Close()
		t.Cleanup(release)
		return port
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("find a free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// freePortRange is where FreePort looks: from 10000 to the start of the
// ephemeral range (read from Linux; 32768 elsewhere).
func freePortRange() (low, high int) {
	low, high = 10000, 32768
	raw, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return low, high
	}
	f := strings.Fields(string(raw))
	if len(f) == 2 {
		if start, err := strconv.Atoi(f[0]); err == nil && start > low+1000 {
			high = start
		}
	}
	return low, high
}
