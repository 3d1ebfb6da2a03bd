package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// helperEnv marks the test binary re-executed as the causeway command by
// TestHelperCauseway.
const helperEnv = "CAUSEWAY_TEST_HELPER_PROCESS"

// TestHelperCauseway is not a test: run as a child process by other tests
// (with helperEnv set), it runs the command line after "--" as causeway
// does and exits with its status.
func TestHelperCauseway(t *testing.T) {
	if os.Getenv(helperEnv) != "1" {
		t.Skip("helper process for TestInterruptWhileWaitingForHomeserver")
	}
	args := os.Args
	for i, a := range args {
		if a == "--" {
			args = args[i+1:]
			break
		}
	}
	os.Exit(run(args, os.Stdout, os.Stderr))
}

// closedAddr returns a local TCP address where nothing listens.
func closedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}

// lockedBuffer collects a child process's output for reading while it
// runs.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestInterruptWhileWaitingForHomeserver: Ctrl-C (SIGINT) while causeway
// waits at start-up for a homeserver that does not answer ends it quietly
// with status 0: a user stopping the program is not an error.
func TestInterruptWhileWaitingForHomeserver(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a child process")
	}
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "config.yaml")
	cfg := fmt.Sprintf("homeserver:\n  url: http://%s\n  server_name: example.org\n"+
		"appservice:\n  address: %s\n  registration: %s\n"+
		"database:\n  url: sqlite:%s\nlogging:\n  level: debug\nbridges:\n  loopback:\n",
		closedAddr(t), closedAddr(t), filepath.Join(dir, "registration.yaml"), filepath.Join(dir, "causeway.db"))
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	if code := run([]string{"generate-registration", "-c", cfgPath}, &out, &errb); code != 0 {
		t.Fatalf("generate-registration: exit %d: %s", code, errb.String())
	}

	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperCauseway$", "--", "run", "-c", cfgPath)
	cmd.Env = append(os.Environ(), helperEnv+"=1")
	var output lockedBuffer
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout = &output
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waiting := make(chan struct{})
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		sc := bufio.NewScanner(stderr)
		once := sync.Once{}
		for sc.Scan() {
			fmt.Fprintln(&output, sc.Text())
			if strings.Contains(sc.Text(), "homeserver not reachable yet") {
				once.Do(func() { close(waiting) })
			}
		}
	}()
	exited := make(chan error, 1)
	go func() { <-copied; exited <- cmd.Wait() }()
	select {
	case <-waiting:
	case err := <-exited:
		t.Fatalf("causeway ended before waiting for the homeserver: %v\n%s", err, output.String())
	case <-time.After(60 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatalf("causeway never said it waits for the homeserver:\n%s", output.String())
	}
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	select {
	case err = <-exited:
	case <-time.After(60 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatalf("causeway did not end after SIGINT:\n%s", output.String())
	}
	if ee := (*exec.ExitError)(nil); errors.As(err, &ee) {
		t.Fatalf("exit status %d after SIGINT, want 0:\n%s", ee.ExitCode(), output.String())
	} else if err != nil {
		t.Fatal(err)
	}
	got := output.String()
	for _, bad := range []string{"context canceled", "causeway: ", "level=ERROR"} {
		if strings.Contains(got, bad) {
			t.Errorf("output after SIGINT has %q:\n%s", bad, got)
		}
	}
	if !strings.Contains(got, "stopped before the start completed") {
		t.Errorf("output does not say the start was stopped:\n%s", got)
	}
}
