package integration

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// EnvEjabberdCtl names Debian's ejabberdctl script (/usr/sbin/ejabberdctl,
// printed by `scripts/stack.sh env`). The harness reads from it where the
// Erlang runtime (ERL) and ejabberd's code (ERL_LIBS) are, and runs both
// itself (see [StartEjabberd]).
const EnvEjabberdCtl = "CAUSEWAY_EJABBERDCTL_BIN"

// ejabberdCtlTimeout bounds one `ejabberdctl register`-like command.
const ejabberdCtlTimeout = 30 * time.Second

// EjabberdOption configures [StartEjabberd].
type EjabberdOption func(*ejabberdOptions)

type ejabberdOptions struct {
	users      [][2]string // name, password
	components [][2]string // domain, secret
}

// WithEjabberdUser registers a user name@[ProsodyHost] with password once
// the server runs, before StartEjabberd returns.
func WithEjabberdUser(name, password string) EjabberdOption {
	return func(o *ejabberdOptions) { o.users = append(o.users, [2]string{name, password}) }
}

// WithEjabberdComponent adds an external component domain with its
// secret. Without it the server has one, [ProsodyComponent], with a random
// secret ([Ejabberd.ComponentSecret]).
func WithEjabberdComponent(domain, secret string) EjabberdOption {
	return func(o *ejabberdOptions) { o.components = append(o.components, [2]string{domain, secret}) }
}

// Ejabberd is a private ejabberd process run for one test, serving the
// same names as a test Prosody ([ProsodyHost], [ProsodyMUC],
// [ProsodyComponent]) so that a test runs unchanged on both (see
// [XMPPServer]). Its config, Mnesia spool, ports and Erlang node stay the
// same across [Ejabberd.Stop] or [Ejabberd.Kill] and [Ejabberd.Start], so a
// restarted server keeps its users.
type Ejabberd struct {
	proc
	erl, erlLibs string
	node, cookie string
	distPort     int
	ctlSeq       atomic.Int64
	c2sAddr      string
	compAddr     string
	components   [][2]string
}

// StartEjabberd starts a private ejabberd (Debian's 23.01) with a config
// written to t.TempDir(): c2s (ejabberd_c2s) and component (ejabberd_service,
// XEP-0114) listeners on free 127.0.0.1 ports, no TLS (SASL PLAIN over plain
// TCP, for tests only), no s2s or HTTP, VirtualHost [ProsodyHost] with
// mod_mam, the MUC service [ProsodyMUC] (mod_muc, rooms archived by
// mod_mam), and the external component domains (default [ProsodyComponent]
// with a random secret).
//
// The Erlang VM runs in the foreground as the current user, started the way
// `ejabberdctl foreground` starts it but without the script (which would
// stay the VM's parent and switch to the ejabberd user when root): its node
// name and cookie are random per test, and its distribution port is a free
// port used without epmd (ERL_DIST_PORT), so tests run in parallel without
// sharing anything. Users of [WithEjabberdUser] are registered through
// that port as `ejabberdctl register` does. It waits until both listeners
// accept connections and stops the server by its PID in t.Cleanup. Without
// CAUSEWAY_EJABBERDCTL_BIN the test skips, or fails when CI=true.
func StartEjabberd(t testing.TB, opts ...EjabberdOption) *Ejabberd {
	t.Helper()
	var o ejabberdOptions
	for _, opt := range opts {
		opt(&o)
	}
	if len(o.components) == 0 {
		o.components = [][2]string{{ProsodyComponent, randomHex(t, 16)}}
	}
	ctl := RequireEnv(t, EnvEjabberdCtl)
	erl, erlLibs, err := ejabberdRuntime(ctl)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	e := &Ejabberd{
		erl:        erl,
		erlLibs:    erlLibs,
		node:       "causeway_" + randomHex(t, 6) + "@localhost",
		cookie:     randomHex(t, 16),
		distPort:   FreePort(t),
		c2sAddr:    "127.0.0.1:" + strconv.Itoa(FreePort(t)),
		compAddr:   "127.0.0.1:" + strconv.Itoa(FreePort(t)),
		components: o.components,
	}
	config := filepath.Join(dir, "ejabberd.yml")
	spool := filepath.Join(dir, "spool")
	if err := os.MkdirAll(spool, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(config, []byte(ejabberdConfig(e.c2sAddr, e.compAddr, o)), 0o600); err != nil {
		t.Fatalf("ejabberd config: %v", err)
	}
	e.proc = proc{
		name:    "ejabberd",
		dir:     dir,
		logPath: filepath.Join(dir, "ejabberd.log"),
		outPath: filepath.Join(dir, "ejabberd.out"),
		command: func() *exec.Cmd {
			// What ejabberdctl's "foreground" runs, minus the shell.
			cmd := exec.Command(e.erl, e.erlArgs(e.node,
				"+K", "true", "+P", "250000", "-env", "ERL_CRASH_DUMP_BYTES", "0",
				"-mnesia", "dir", strconv.Quote(spool), "-s", "ejabberd", "-noinput")...)
			cmd.Env = append(e.env(),
				"EJABBERD_CONFIG_PATH="+config,
				"EJABBERD_LOG_PATH="+filepath.Join(dir, "ejabberd.log"),
				"ERL_CRASH_DUMP="+filepath.Join(dir, "erl_crash.dump"),
			)
			return cmd
		},
	}
	// ejabberd listens on its ports while it starts but answers only once
	// it has started: wait for both streams' answers, not for the ports.
	e.proc.readyFunc = func(exited <-chan struct{}) error {
		return waitStreams(exited, "ejabberd", [][2]string{
			{e.c2sAddr, streamHeader(ProsodyHost, "jabber:client")},
			{e.compAddr, streamHeader(e.ComponentDomain(), "jabber:component:accept")},
		})
	}
	startProc(t, &e.proc)
	if err := e.registerAll(o.users); err != nil {
		t.Fatal(err)
	}
	return e
}

// erlArgs returns the VM arguments that make node reachable only through
// the test's distribution port with the test's cookie, followed by more.
func (e *Ejabberd) erlArgs(node string, more ...string) []string {
	return append([]string{
		// Idle schedulers sleep instead of spinning: many VMs share the
		// test machine's cores.
		"+sbwt", "none", "+sbwtdcpu", "none", "+sbwtdio", "none",
		"-sname", node, "-setcookie", e.cookie,
		"-kernel", "inet_dist_use_interface", "{127,0,0,1}",
		"-erl_epmd_port", strconv.Itoa(e.distPort), "-start_epmd", "false",
	}, more...)
}

// env is the environment of the VMs: the caller's, with ERL_LIBS from
// ejabberdctl, and HOME in the test's directory (the VM keeps files there).
func (e *Ejabberd) env() []string {
	return append(os.Environ(), "ERL_LIBS="+e.erlLibs, "HOME="+e.dir)
}

// ejabberdRegister is run by a hidden Erlang node with the arguments
// node, host, then user and password pairs: it calls, on the server's node,
// what `ejabberdctl register` calls (ejabberd_admin:register) for each user,
// then flushes the user table (Mnesia keeps it in a dets file that writes
// with a delay), so that a user registered just before a Kill survives it.
const ejabberdRegister = `[Node0, H | Users] = init:get_plain_arguments(),
Node = list_to_atom(Node0),
Reg = fun Reg([U, P | More]) ->
        case rpc:call(Node, ejabberd_admin, register, [list_to_binary(U), list_to_binary(H), list_to_binary(P)]) of
            {ok, _} -> Reg(More);
            Err -> io:format("register ~s: ~p~n", [U, Err]), error
        end;
    Reg([]) -> ok
end,
R = Reg(Users),
S = rpc:call(Node, dets, sync, [passwd]),
io:format("~p ~p~n", [R, S]),
halt(case {R, S} of {ok, ok} -> 0; _ -> 1 end).`

// Register creates the user name@[ProsodyHost] as `ejabberdctl register`
// does, through the server's Erlang node, and makes it durable at once.
// The server must be running.
func (e *Ejabberd) Register(name, password string) error {
	return e.registerAll([][2]string{{name, password}})
}

// registerAll registers users (name, password) with one short-lived
// Erlang node.
func (e *Ejabberd) registerAll(users [][2]string) error {
	if len(users) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), ejabberdCtlTimeout)
	defer cancel()
	// A node name of its own: several registrations may run at once.
	ctlNode := fmt.Sprintf("ctl%d_%s", e.ctlSeq.Add(1), e.node)
	args := e.erlArgs(ctlNode, "-hidden", "-noinput", "-dist_listen", "false",
		"-eval", ejabberdRegister, "-extra", e.node, ProsodyHost)
	for _, u := range users {
		args = append(args, u[0], u[1])
	}
	cmd := exec.CommandContext(ctx, e.erl, args...)
	cmd.Env = e.env()
	cmd.Dir = e.dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("ejabberd register %d users: %w: %s", len(users), err, out)
	}
	return nil
}

// streamHeader is the opening of an XML stream to domain in namespace ns.
func streamHeader(domain, ns string) string {
	return fmt.Sprintf(`<?xml version='1.0'?><stream:stream to='%s' xmlns='%s' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>`, domain, ns)
}

// waitStreams waits until each listener (address, stream header) answers
// a stream header with one of its own, giving up when exited is closed or
// after procReadyTimeout.
func waitStreams(exited <-chan struct{}, name string, listeners [][2]string) error {
	deadline := time.Now().Add(procReadyTimeout)
	for _, l := range listeners {
		for {
			err := streamAnswers(l[0], l[1])
			if err == nil {
				break
			}
			select {
			case <-exited:
				return fmt.Errorf("%s exited during startup", name)
			default:
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("%s not answering streams on %s after %s: %w", name, l[0], procReadyTimeout, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return nil
}

// streamAnswers opens a stream to addr and reports whether a stream header
// comes back within a second.
func streamAnswers(addr, header string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := io.WriteString(c, header); err != nil {
		return err
	}
	buf := make([]byte, 512)
	var got []byte
	for !bytes.Contains(got, []byte("<stream:stream")) {
		n, err := c.Read(buf)
		if err != nil {
			return fmt.Errorf("no stream header back: %w", err)
		}
		got = append(got, buf[:n]...)
	}
	return nil
}

// C2SAddr returns the client listener's address (no TLS).
func (e *Ejabberd) C2SAddr() string { return e.c2sAddr }

// ComponentAddr returns the XEP-0114 component listener's address.
func (e *Ejabberd) ComponentAddr() string { return e.compAddr }

// ComponentDomain returns the first external component domain.
func (e *Ejabberd) ComponentDomain() string { return e.components[0][0] }

// ComponentSecret returns the secret of the first component domain.
func (e *Ejabberd) ComponentSecret() string { return e.components[0][1] }

// Node returns the server's Erlang node name.
func (e *Ejabberd) Node() string { return e.node }

// ejabberdRuntime reads the Erlang runtime (ERL) and ejabberd's library
// directory (ERL_LIBS) from the ejabberdctl script at ctl.
func ejabberdRuntime(ctl string) (erl, libs string, err error) {
	raw, err := os.ReadFile(ctl)
	if err != nil {
		return "", "", fmt.Errorf("read ejabberdctl: %w", err)
	}
	find := func(name string) string {
		m := regexp.MustCompile(`(?m)^` + name + `=["']?([^"'\n]*)["']?\s*$`).FindSubmatch(raw)
		if m == nil {
			return ""
		}
		return string(m[1])
	}
	erl, libs = find("ERL"), find("ERL_LIBS")
	if erl == "" || libs == "" {
		return "", "", fmt.Errorf("%s sets no ERL or ERL_LIBS line (not Debian's ejabberdctl?)", ctl)
	}
	return erl, libs, nil
}

// ejabberdConfig returns the YAML config of a test server.
func ejabberdConfig(c2sAddr, compAddr string, o ejabberdOptions) string {
	_, c2sPort, _ := strings.Cut(c2sAddr, ":")
	_, compPort, _ := strings.Cut(compAddr, ":")
	var b strings.Builder
	fmt.Fprintf(&b, `# Written by internal/integration StartEjabberd; for tests only.
hosts: [%q]
loglevel: info
log_rotate_count: 0
certfiles: []
auth_method: internal
acl:
  local:
    user_regexp: ""
access_rules:
  local:
    allow: local
  c2s:
    allow: all
  muc_create:
    allow: local
shaper_rules:
  max_user_sessions: 10
listen:
  -
    ip: "127.0.0.1"
    port: %s
    module: ejabberd_c2s
    starttls: false
    access: c2s
  -
    ip: "127.0.0.1"
    port: %s
    module: ejabberd_service
    hosts:
`, ProsodyHost, c2sPort, compPort)
	for _, c := range o.components {
		fmt.Fprintf(&b, "      %q:\n        password: %q\n", c[0], c[1])
	}
	fmt.Fprintf(&b, `modules:
  mod_disco: {}
  mod_ping: {}
  mod_roster: {}
  mod_mam:
    default: always
  mod_muc:
    host: %q
    access: all
    access_create: muc_create
    access_persistent: muc_create
    default_room_options:
      mam: true
`, ProsodyMUC)
	return b.String()
}
