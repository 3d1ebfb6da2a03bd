package integration

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// EnvProsodyBin names Debian's Prosody 0.12 binary (/usr/bin/prosody,
// printed by `scripts/stack.sh env`); prosodyctl is expected next to it.
const EnvProsodyBin = "CAUSEWAY_PROSODY_BIN"

// Names every test Prosody serves.
const (
	// ProsodyHost is the VirtualHost that test users live on.
	ProsodyHost = "localhost"
	// ProsodyMUC is the host's own multi-user chat service (with muc_mam).
	ProsodyMUC = "conference.localhost"
	// ProsodyComponent is the default external component domain (XEP-0114).
	ProsodyComponent = "matrix.localhost"
)

// ProsodyOption configures [StartProsody].
type ProsodyOption func(*prosodyOptions)

type prosodyOptions struct {
	users      [][2]string // name, password
	components [][2]string // domain, secret
	extra      []string
	offline    bool
	modules    []string
}

// WithProsodyUser registers a user name@[ProsodyHost] with password before
// the server starts.
func WithProsodyUser(name, password string) ProsodyOption {
	return func(o *prosodyOptions) { o.users = append(o.users, [2]string{name, password}) }
}

// WithProsodyComponent adds an external component domain with its secret.
// Without it the server has one, [ProsodyComponent], with a random secret
// ([Prosody.ComponentSecret]).
func WithProsodyComponent(domain, secret string) ProsodyOption {
	return func(o *prosodyOptions) { o.components = append(o.components, [2]string{domain, secret}) }
}

// WithProsodyOffline turns mod_offline on: messages to a user with no
// available resource are kept and delivered, in order, on their next
// initial presence (without it they bounce).
func WithProsodyOffline() ProsodyOption {
	return func(o *prosodyOptions) { o.offline = true }
}

// WithProsodyModules loads more Prosody modules on every host, such as
// "vcard" (XEP-0054 vCards stored per account).
func WithProsodyModules(names ...string) ProsodyOption {
	return func(o *prosodyOptions) { o.modules = append(o.modules, names...) }
}

// WithProsodyConfig appends raw Lua lines to the global section of the
// config (before any VirtualHost), such as `c2s_stanza_size_limit = 65536`.
func WithProsodyConfig(lines ...string) ProsodyOption {
	return func(o *prosodyOptions) { o.extra = append(o.extra, lines...) }
}

// Prosody is a private Prosody process run for one test. Its config, data
// directory and ports stay the same across [Prosody.Stop] or [Prosody.Kill]
// and [Prosody.Start], so a restarted server keeps its users and an
// external component reconnects to the same address.
type Prosody struct {
	proc
	ctl        string
	config     string
	c2sAddr    string
	compAddr   string
	components [][2]string
}

// StartProsody starts a private Prosody 0.12 from CAUSEWAY_PROSODY_BIN
// with a config written to t.TempDir(): c2s and component listeners on free
// 127.0.0.1 ports, s2s and HTTP off, no TLS (SASL PLAIN over plain TCP, for
// tests only), no mod_limits, no mod_offline (see [WithProsodyOffline]), VirtualHost [ProsodyHost] with MAM, the MUC
// service [ProsodyMUC] with muc_mam, and the external component domains
// (default [ProsodyComponent] with a random secret). It registers the
// users of [WithProsodyUser], starts the server in the foreground
// (run_as_root when root), waits until both listeners accept connections,
// and stops it by its PID in t.Cleanup. Without CAUSEWAY_PROSODY_BIN the
// test skips, or fails when CI=true.
func StartProsody(t testing.TB, opts ...ProsodyOption) *Prosody {
	t.Helper()
	var o prosodyOptions
	for _, opt := range opts {
		opt(&o)
	}
	if len(o.components) == 0 {
		o.components = [][2]string{{ProsodyComponent, randomHex(t, 16)}}
	}
	bin := RequireEnv(t, EnvProsodyBin)
	dir := t.TempDir()
	p := &Prosody{
		ctl:        filepath.Join(filepath.Dir(bin), "prosodyctl"),
		config:     filepath.Join(dir, "prosody.cfg.lua"),
		c2sAddr:    "127.0.0.1:" + strconv.Itoa(FreePort(t)),
		compAddr:   "127.0.0.1:" + strconv.Itoa(FreePort(t)),
		components: o.components,
	}
	p.proc = proc{
		name:    "prosody",
		dir:     dir,
		logPath: filepath.Join(dir, "prosody.log"),
		outPath: filepath.Join(dir, "prosody.log.out"),
		command: func() *exec.Cmd { return exec.Command(bin, "--config", p.config, "-F") },
		ready:   []string{p.c2sAddr, p.compAddr},
	}
	for _, sub := range []string{"data", "certs"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(p.config, []byte(prosodyConfig(dir, p.c2sAddr, p.compAddr, o)), 0o600); err != nil {
		t.Fatalf("prosody config: %v", err)
	}
	for _, u := range o.users {
		if err := p.Register(u[0], u[1]); err != nil {
			t.Fatal(err)
		}
	}
	startProc(t, &p.proc)
	return p
}

// Register creates the user name@[ProsodyHost] with prosodyctl. It works
// whether or not the server runs.
func (p *Prosody) Register(name, password string) error {
	out, err := exec.Command(p.ctl, "--config", p.config, "register", name, ProsodyHost, password).CombinedOutput()
	if err != nil {
		return fmt.Errorf("prosodyctl register %s: %w: %s", name, err, out)
	}
	return nil
}

// C2SAddr returns the client listener's address (no TLS).
func (p *Prosody) C2SAddr() string { return p.c2sAddr }

// ComponentAddr returns the XEP-0114 component listener's address.
func (p *Prosody) ComponentAddr() string { return p.compAddr }

// ComponentDomain returns the first external component domain.
func (p *Prosody) ComponentDomain() string { return p.components[0][0] }

// ComponentSecret returns the secret of the first component domain.
func (p *Prosody) ComponentSecret() string { return p.components[0][1] }

// ConfigPath returns the path of the generated config file.
func (p *Prosody) ConfigPath() string { return p.config }

// prosodyConfig returns the Lua config of a test server keeping its files
// in dir.
func prosodyConfig(dir, c2sAddr, compAddr string, o prosodyOptions) string {
	_, c2sPort, _ := strings.Cut(c2sAddr, ":")
	_, compPort, _ := strings.Cut(compAddr, ":")
	offline := `, "offline"`
	if o.offline {
		offline = ""
	}
	moreModules := ""
	for _, m := range o.modules {
		moreModules += fmt.Sprintf(", %q", m)
	}
	var b strings.Builder
	fmt.Fprintf(&b, `-- Written by internal/integration StartProsody; for tests only.
run_as_root = %t
data_path = %q
certificates = %q
pidfile = %q
log = { { levels = { min = "info" }, to = "file", filename = %q } }
interfaces = { "127.0.0.1" }
c2s_interfaces = { "127.0.0.1" }
c2s_ports = { %s }
c2s_direct_tls_ports = { }
legacy_ssl_ports = { }
component_interfaces = { "127.0.0.1" }
component_ports = { %s }
s2s_ports = { }
http_ports = { }
https_ports = { }
c2s_require_encryption = false
s2s_require_encryption = false
allow_unencrypted_plain_auth = true
authentication = "internal_plain"
storage = "internal"
modules_enabled = { "disco", "roster", "saslauth", "ping", "mam", "posix"%s }
modules_disabled = { "s2s", "tls", "limits", "http"%s }
archive_expires_after = "never"
`, os.Geteuid() == 0, filepath.Join(dir, "data"), filepath.Join(dir, "certs"), filepath.Join(dir, "prosody.pid"),
		filepath.Join(dir, "prosody.log"), c2sPort, compPort, moreModules, offline)
	for _, l := range o.extra {
		b.WriteString(l + "\n")
	}
	fmt.Fprintf(&b, "\nVirtualHost %q\n\nComponent %q \"muc\"\n\tmodules_enabled = { \"muc_mam\" }\n",
		ProsodyHost, ProsodyMUC)
	for _, c := range o.components {
		fmt.Fprintf(&b, "\nComponent %q\n\tcomponent_secret = %q\n", c[0], c[1])
	}
	return b.String()
}
