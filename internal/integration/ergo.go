package integration

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
	"golang.org/x/crypto/bcrypt"
)

// Environment variables for the Ergo IRC server (printed by
// `scripts/stack.sh env`).
const (
	// EnvErgoBin names the Ergo binary built by `scripts/stack.sh install`.
	EnvErgoBin = "CAUSEWAY_ERGO_BIN"
	// EnvErgoDefaultConfig names the default.yaml shipped with that Ergo
	// version; [StartErgo] derives its test config from it. When unset,
	// ergo.default.yaml next to the binary is used.
	EnvErgoDefaultConfig = "CAUSEWAY_ERGO_DEFAULT_CONFIG"
)

// ErgoServerName is the server name of every test Ergo.
const ErgoServerName = "irc.test"

// ErgoOption configures [StartErgo].
type ErgoOption func(*ergoOptions)

type ergoOptions struct {
	settings []ergoSetting
	opers    []ergoOper
}

type ergoSetting struct {
	path  string
	value any
}

type ergoOper struct{ name, password string }

// WithErgoSetting sets one config value, given by its dotted path in Ergo's
// YAML config (such as "fakelag.enabled"), after the test defaults. Every map
// on the path must exist in default.yaml, so a renamed setting fails loudly.
func WithErgoSetting(path string, value any) ErgoOption {
	return func(o *ergoOptions) { o.settings = append(o.settings, ergoSetting{path, value}) }
}

// WithErgoOper adds an IRC operator of the "server-admin" class (KILL,
// SAJOIN, SAMODE, ...) who logs in with `OPER name password`.
func WithErgoOper(name, password string) ErgoOption {
	return func(o *ergoOptions) { o.opers = append(o.opers, ergoOper{name, password}) }
}

// StartErgo starts a private Ergo IRC server from CAUSEWAY_ERGO_BIN in
// t.TempDir(), listening on a free 127.0.0.1 port without TLS, and waits
// until a client can register. The config is Ergo's default.yaml patched for
// tests and load tests: server name [ErgoServerName], no fakelag, no per-IP
// connection limits or throttles, no registration or login throttling, 1 MB
// sendq, 1000 channels per client, 1000 CHATHISTORY messages per request,
// in-memory history. Accounts live in a buntdb datastore in the directory and
// survive [IRCServer.Stop]/[IRCServer.Kill] and [IRCServer.Start]. The server
// is stopped in t.Cleanup. Without CAUSEWAY_ERGO_BIN the test skips, or fails
// when CI=true.
func StartErgo(t testing.TB, opts ...ErgoOption) *IRCServer {
	t.Helper()
	var o ergoOptions
	for _, opt := range opts {
		opt(&o)
	}
	bin := RequireEnv(t, EnvErgoBin)
	defaults := os.Getenv(EnvErgoDefaultConfig)
	if defaults == "" {
		defaults = filepath.Join(filepath.Dir(bin), "ergo.default.yaml")
	}
	dir := t.TempDir()
	s := newIRCServer("ergo", "127.0.0.1:"+strconv.Itoa(FreePort(t)), dir, filepath.Join(dir, "ergo.log"))
	conf := filepath.Join(dir, "ircd.yaml")
	if err := writeErgoConfig(defaults, conf, s.addr, filepath.Join(dir, "ircd.db"), o); err != nil {
		t.Fatalf("ergo config: %v", err)
	}
	if out, err := exec.Command(bin, "initdb", "--conf", conf, "--quiet").CombinedOutput(); err != nil {
		t.Fatalf("ergo initdb: %v: %s", err, out)
	}
	s.command = func() *exec.Cmd { return exec.Command(bin, "run", "--conf", conf) }
	startProc(t, &s.proc)
	return s
}

// writeErgoConfig writes Ergo's default config from defaultsPath, patched
// with the test settings, to path.
func writeErgoConfig(defaultsPath, path, addr, datastore string, o ergoOptions) error {
	in, err := os.ReadFile(defaultsPath)
	if err != nil {
		return fmt.Errorf("read Ergo's default config (set %s or run scripts/stack.sh install): %w",
			EnvErgoDefaultConfig, err)
	}
	out, err := patchErgoConfig(in, addr, datastore, o)
	if err != nil {
		return err
	}
	return os.WriteFile(path, out, 0o600)
}

// patchErgoConfig applies the test settings to Ergo's default.yaml.
func patchErgoConfig(in []byte, addr, datastore string, o ergoOptions) ([]byte, error) {
	var cfg map[string]any
	if err := yaml.Unmarshal(in, &cfg); err != nil {
		return nil, fmt.Errorf("parse default config: %w", err)
	}
	sets := []ergoSetting{
		{"network.name", "CausewayTest"},
		{"server.name", ErgoServerName},
		{"server.listeners", map[string]any{addr: map[string]any{}}},
		{"server.max-sendq", "1M"},
		{"server.ip-limits.count", false},
		{"server.ip-limits.throttle", false},
		{"server.ip-cloaking.enabled", false},
		{"server.lookup-hostnames", false},
		{"server.check-ident", false},
		{"languages.enabled", false},
		{"accounts.registration.enabled", true},
		{"accounts.registration.allow-before-connect", true},
		{"accounts.registration.throttling.enabled", false},
		{"accounts.login-throttling.enabled", false},
		{"channels.max-channels-per-client", 1000},
		{"channels.registration.max-channels-per-account", 1000},
		{"fakelag.enabled", false},
		{"history.chathistory-maxmessages", 1000},
		{"datastore.path", datastore},
		{"logging", []any{map[string]any{"method": "stderr", "type": "* -userinput -useroutput", "level": "info"}}},
	}
	if len(o.opers) > 0 {
		opers := map[string]any{}
		for _, op := range o.opers {
			hash, err := bcrypt.GenerateFromPassword([]byte(op.password), bcrypt.MinCost)
			if err != nil {
				return nil, fmt.Errorf("hash oper password: %w", err)
			}
			opers[op.name] = map[string]any{"class": "server-admin", "password": string(hash)}
		}
		sets = append(sets, ergoSetting{"opers", opers})
	}
	sets = append(sets, o.settings...)
	for _, s := range sets {
		if err := setPath(cfg, strings.Split(s.path, "."), s.value); err != nil {
			return nil, fmt.Errorf("set %s: %w", s.path, err)
		}
	}
	server, ok := cfg["server"].(map[string]any)
	if !ok {
		return nil, fmt.Errorf("default config has no server section")
	}
	delete(server, "motd") // no file to read; tests do not want one
	out, err := yaml.Marshal(cfg)
	if err != nil {
		return nil, fmt.Errorf("encode config: %w", err)
	}
	return out, nil
}
