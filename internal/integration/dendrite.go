package integration

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// Timeouts for the homeserver process.
const (
	dendriteReadyTimeout = 60 * time.Second
	dendriteStopTimeout  = 20 * time.Second
)

// DendriteOption configures [StartDendrite].
type DendriteOption func(*dendriteOptions)

type dendriteOptions struct {
	registrations []string
	postgres      bool
	durableStream bool
	seed          string // data to start from (dendriteseed.go)
}

// WithRegistration adds appservice registration files to the homeserver's
// app_service_api.config_files. Dendrite reads them at start, so a changed
// file takes effect after [Dendrite.Stop] and [Dendrite.Start].
func WithRegistration(paths ...string) DendriteOption {
	return func(o *dendriteOptions) { o.registrations = append(o.registrations, paths...) }
}

// WithPostgres stores the homeserver's data in a fresh PostgreSQL database
// (see [NewPostgresDB]) instead of the default SQLite files.
func WithPostgres() DendriteOption {
	return func(o *dendriteOptions) { o.postgres = true }
}

// WithDurableJetStream keeps Dendrite's internal JetStream queues on disk
// instead of in memory (the default, as in Dendrite's CI config). In memory,
// events the roomserver accepted but the sync API had not yet consumed are
// lost when the homeserver is killed; on disk they survive a SIGKILL. Use it
// for tests that kill the homeserver and expect nothing to be lost.
func WithDurableJetStream() DendriteOption {
	return func(o *dendriteOptions) { o.durableStream = true }
}

// Dendrite is a private Dendrite homeserver run for one test: server name
// "localhost", federation off, open registration, no rate limits, listening
// on a free 127.0.0.1 port. Its data directory, config and port stay the same
// across [Dendrite.Stop] / [Dendrite.Kill] and [Dendrite.Start].
type Dendrite struct {
	t            testing.TB
	bin          string
	dir          string
	addr         string
	configPath   string
	logPath      string
	sharedSecret string

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{} // closed when cmd has exited
}

// StartDendrite starts a homeserver from CAUSEWAY_DENDRITE_BIN in
// t.TempDir() and waits until it answers. It is stopped in t.Cleanup; if the
// test failed, the tail of its log is written to the test log. Without
// CAUSEWAY_DENDRITE_BIN the test skips, or fails when CI=true.
func StartDendrite(t testing.TB, opts ...DendriteOption) *Dendrite {
	t.Helper()
	var o dendriteOptions
	for _, opt := range opts {
		opt(&o)
	}
	bin := RequireEnv(t, EnvDendriteBin)
	dbURL := ""
	if o.postgres {
		dbURL = NewPostgresDB(t)
	}
	dir := t.TempDir()
	d := &Dendrite{
		t:            t,
		bin:          bin,
		dir:          dir,
		addr:         "127.0.0.1:" + strconv.Itoa(FreePort(t)),
		configPath:   filepath.Join(dir, "dendrite.yaml"),
		logPath:      filepath.Join(dir, "dendrite.log"),
		sharedSecret: randomHex(t, 16),
	}
	if err := d.writeConfig(o, dbURL); err != nil {
		t.Fatalf("dendrite config: %v", err)
	}
	if o.seed != "" {
		if o.postgres {
			t.Fatal("dendrite: a seed holds SQLite data; WithSeed and WithPostgres do not go together")
		}
		if err := copyEntries(o.seed, dir); err != nil {
			t.Fatalf("dendrite: %v", err)
		}
	}
	t.Cleanup(func() {
		if err := d.Stop(); err != nil {
			t.Errorf("stop dendrite: %v", err)
		}
		if t.Failed() {
			t.Logf("dendrite log (%s), last lines:\n%s", d.logPath, tail(d.logPath, 40))
		}
	})
	if err := d.Start(); err != nil {
		t.Fatalf("start dendrite: %v\nlog:\n%s", err, tail(d.logPath, 40))
	}
	return d
}

// NewUser registers localpart with a random password and returns a client
// logged in as it; the test fails if registration does.
func (d *Dendrite) NewUser(t testing.TB, localpart string) *Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := Register(ctx, d.URL(), localpart, "pw-"+randomHex(t, 12))
	if err != nil {
		t.Fatalf("register %s: %v", localpart, err)
	}
	return c
}

// URL returns the homeserver's client-server API base URL, such as
// "http://127.0.0.1:40123".
func (d *Dendrite) URL() string { return "http://" + d.addr }

// ServerName returns the homeserver's server name, the part after the colon
// in its user IDs.
func (d *Dendrite) ServerName() string { return "localhost" }

// SharedSecret returns the registration_shared_secret of the homeserver.
func (d *Dendrite) SharedSecret() string { return d.sharedSecret }

// Dir returns the homeserver's data directory.
func (d *Dendrite) Dir() string { return d.dir }

// LogPath returns the file receiving the homeserver's output.
func (d *Dendrite) LogPath() string { return d.logPath }

// OpenFiles counts the file descriptors the homeserver process has open
// (its sockets among them), from /proc.
func (d *Dendrite) OpenFiles() (int, error) {
	d.mu.Lock()
	cmd := d.cmd
	d.mu.Unlock()
	if cmd == nil || cmd.Process == nil {
		return 0, errors.New("dendrite is not running")
	}
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", cmd.Process.Pid))
	if err != nil {
		return 0, fmt.Errorf("dendrite's open files: %w", err)
	}
	return len(fds), nil
}

// Running reports whether the homeserver process is running.
func (d *Dendrite) Running() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.runningLocked()
}

func (d *Dendrite) runningLocked() bool {
	if d.cmd == nil {
		return false
	}
	select {
	case <-d.exited:
		return false
	default:
		return true
	}
}

// Start starts the homeserver (again) with the same data directory, config
// and port, and waits until GET /_matrix/client/versions answers.
func (d *Dendrite) Start() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.runningLocked() {
		return errors.New("dendrite is already running")
	}
	logFile, err := os.OpenFile(d.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("open log: %w", err)
	}
	defer logFile.Close() // the child has its own copy
	cmd := exec.Command(d.bin, "-config", d.configPath, "-http-bind-address", d.addr,
		"-really-enable-open-registration")
	cmd.Dir = d.dir
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.SysProcAttr = childProcAttr()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("run %s: %w", d.bin, err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait() // killed by us, or it failed: the log says which
		close(exited)
	}()
	d.cmd, d.exited = cmd, exited
	return d.waitReady(exited)
}

func (d *Dendrite) waitReady(exited <-chan struct{}) error {
	ctx, cancel := context.WithTimeout(context.Background(), dendriteReadyTimeout)
	defer cancel()
	url := d.URL() + "/_matrix/client/versions"
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return fmt.Errorf("readiness request: %w", err)
		}
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-exited:
			return fmt.Errorf("dendrite exited during startup (log %s)", d.logPath)
		case <-ctx.Done():
			return fmt.Errorf("dendrite not ready at %s after %s", url, dendriteReadyTimeout)
		case <-tick.C:
		}
	}
}

// Stop sends SIGTERM and waits for the homeserver to exit (SIGKILL after
// 20 s). Stopping a stopped homeserver does nothing.
func (d *Dendrite) Stop() error {
	return d.signal(syscall.SIGTERM, dendriteStopTimeout)
}

// Kill sends SIGKILL, as a crash would, and waits for the process to exit.
func (d *Dendrite) Kill() error {
	return d.signal(syscall.SIGKILL, dendriteStopTimeout)
}

func (d *Dendrite) signal(sig syscall.Signal, timeout time.Duration) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.runningLocked() {
		return nil
	}
	if err := d.cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("signal %v: %w", sig, err)
	}
	select {
	case <-d.exited:
		return nil
	case <-time.After(timeout):
	}
	_ = d.cmd.Process.Kill()
	<-d.exited
	return fmt.Errorf("dendrite ignored %v for %s and was killed", sig, timeout)
}

// writeConfig writes dendrite.yaml: generate-config's CI defaults patched for
// a private test server, and a signing key from generate-keys. Both tools are
// taken from the directory of the dendrite binary.
func (d *Dendrite) writeConfig(o dendriteOptions, dbURL string) error {
	tools := filepath.Dir(d.bin)
	keyPath := filepath.Join(d.dir, "matrix_key.pem")
	if out, err := exec.Command(filepath.Join(tools, "generate-keys"), "-private-key", keyPath).CombinedOutput(); err != nil {
		return fmt.Errorf("generate-keys: %w: %s", err, out)
	}
	args := []string{"-ci", "-server", d.ServerName(), "-dir", d.dir}
	if dbURL != "" {
		args = append(args, "-db", dbURL)
	}
	out, err := exec.Command(filepath.Join(tools, "generate-config"), args...).Output()
	if err != nil {
		return fmt.Errorf("generate-config: %w", err)
	}
	abs := make([]string, 0, len(o.registrations))
	for _, r := range o.registrations {
		a, err := filepath.Abs(r)
		if err != nil {
			return fmt.Errorf("registration path %s: %w", r, err)
		}
		abs = append(abs, a)
	}
	patched, err := patchDendriteConfig(out, dendritePatch{
		PrivateKey:    keyPath,
		SharedSecret:  d.sharedSecret,
		Registrations: abs,
		InMemoryQueue: !o.durableStream,
	})
	if err != nil {
		return err
	}
	return os.WriteFile(d.configPath, patched, 0o600)
}

// dendritePatch holds the values patchDendriteConfig sets.
type dendritePatch struct {
	PrivateKey    string
	SharedSecret  string
	Registrations []string
	InMemoryQueue bool
}

// patchDendriteConfig applies the test settings to a generate-config output.
func patchDendriteConfig(in []byte, p dendritePatch) ([]byte, error) {
	var cfg map[string]any
	if err := yaml.Unmarshal(in, &cfg); err != nil {
		return nil, fmt.Errorf("parse generated config: %w", err)
	}
	regs := p.Registrations
	if regs == nil {
		regs = []string{}
	}
	sets := []struct {
		path  string
		value any
	}{
		{"global.server_name", "localhost"},
		{"global.private_key", p.PrivateKey},
		{"global.disable_federation", true},
		{"global.jetstream.in_memory", p.InMemoryQueue},
		{"global.report_stats.enabled", false},
		{"client_api.registration_disabled", false},
		{"client_api.registration_shared_secret", p.SharedSecret},
		{"client_api.rate_limiting.enabled", false},
		{"app_service_api.config_files", regs},
		{"logging", []any{map[string]any{"type": "std", "level": "info"}}},
	}
	for _, s := range sets {
		if err := setPath(cfg, strings.Split(s.path, "."), s.value); err != nil {
			return nil, fmt.Errorf("set %s: %w", s.path, err)
		}
	}
	out, err := yaml.Marshal(cfg)
	if err != nil {
		return nil, fmt.Errorf("encode config: %w", err)
	}
	return out, nil
}

// setPath sets m[path[0]][path[1]]... = v; every map on the way must exist,
// so a renamed section in a new Dendrite version is an error, not a no-op.
func setPath(m map[string]any, path []string, v any) error {
	for _, k := range path[:len(path)-1] {
		next, ok := m[k].(map[string]any)
		if !ok {
			return fmt.Errorf("no section %q", k)
		}
		m = next
	}
	m[path[len(path)-1]] = v
	return nil
}

// tail returns the last n lines of a file, for failure messages.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(read %s: %v)", path, err)
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
