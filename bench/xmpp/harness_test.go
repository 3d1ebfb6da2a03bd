//go:build benchxmpp

package xmppbench

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	ircbench "github.com/causewaybridge/causeway/bench/irc"
	"github.com/causewaybridge/causeway/bridges/xmpp/address"
	"github.com/causewaybridge/causeway/internal/integration"
	"github.com/causewaybridge/causeway/matrix"
)

// Knobs read by the parent tests (scripts/bench-xmpp.sh sets them).
const (
	envRuns      = "BENCH_XMPP_RUNS"        // repetitions of each measurement (default 3)
	envOut       = "BENCH_XMPP_OUT"         // JSON-lines file the results are appended to
	envMsgs      = "BENCH_XMPP_MSGS"        // messages per burst (default 1000)
	envOccupants = "BENCH_XMPP_OCCUPANTS"   // occupant counts, ascending (default "1000,10000")
	envPerRoom   = "BENCH_XMPP_PER_ROOM"    // occupants per hosted room (default 100)
	envMembers   = "BENCH_XMPP_MEMBERS"     // Matrix members of the big room, ascending (default "1000,10000")
	envHeapDir   = "BENCH_XMPP_HEAPPROFILE" // directory for heap profiles of the bridge after the occupants joined
)

const (
	bridgeDomain = integration.ProsodyComponent // matrix.localhost
	loadDomain   = "loadgen.localhost"          // the load generator's component
	loadPrefix   = "load_"                      // localparts of the load generator's Matrix users
	kib          = 1024.0
)

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

func envInts(name string, def []int) []int {
	var out []int
	for _, f := range strings.Split(os.Getenv(name), ",") {
		if v, err := strconv.Atoi(strings.TrimSpace(f)); err == nil && v > 0 {
			out = append(out, v)
		}
	}
	if len(out) == 0 {
		return def
	}
	return out
}

var outMu sync.Mutex

// record logs a figure and appends it to $BENCH_XMPP_OUT.
func record(t *testing.T, run int, bench, metric string, v float64) {
	t.Logf("run %d: %s %s = %.4g", run, bench, metric, v)
	path := os.Getenv(envOut)
	if path == "" {
		return
	}
	outMu.Lock()
	defer outMu.Unlock()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := json.NewEncoder(f).Encode(ircbench.Result{Bench: bench, Metric: metric, Value: v, Run: run}); err != nil {
		t.Fatal(err)
	}
}

func randHex(t *testing.T) string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b[:])
}

// childProc is the measured bridge (TestXMPPBenchChild in a re-executed
// test binary) and its command channel.
type childProc struct {
	t       *testing.T
	cmd     *exec.Cmd
	in      io.WriteCloser
	replies chan string
	hsURL   string
}

func startChild(t *testing.T, env ...string) *childProc {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestXMPPBenchChild$", "-test.count=1", "-test.timeout=100m")
	cmd.Env = append(os.Environ(), append(env, envChild+"=1")...)
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &childProc{t: t, cmd: cmd, in: in, replies: make(chan string, 16)}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if r, ok := strings.CutPrefix(sc.Text(), childReply); ok {
				c.replies <- r
			}
		}
		close(c.replies)
	}()
	t.Cleanup(c.stop)
	r := c.wait(3 * time.Minute)
	ready, ok := strings.CutPrefix(r, "ready ")
	if !ok {
		t.Fatalf("child did not start: %q", r)
	}
	c.hsURL = ready
	return c
}

func (c *childProc) wait(d time.Duration) string {
	c.t.Helper()
	select {
	case r, ok := <-c.replies:
		if !ok {
			c.t.Fatal("child exited")
		}
		return r
	case <-time.After(d):
		c.t.Fatalf("child did not answer within %v", d)
	}
	return ""
}

// proc samples the child's RSS and CPU from /proc.
func (c *childProc) proc() ircbench.ProcSample {
	c.t.Helper()
	s, err := ircbench.ReadProc(c.cmd.Process.Pid)
	if err != nil {
		c.t.Fatal(err)
	}
	return s
}

// settled is the child after a GC that returned freed memory to the OS.
type settled struct {
	ircbench.ProcSample
	heapInuse, heapAlloc int64
	goroutines           int
	stackInuse           int64 // goroutine stacks
	goHeld               int64 // all Go holds from the OS (MemStats Sys - HeapReleased)
}

func (c *childProc) settled() settled {
	c.t.Helper()
	if _, err := io.WriteString(c.in, "gc\n"); err != nil {
		c.t.Fatal(err)
	}
	r := c.wait(time.Minute)
	var s settled
	if _, err := fmt.Sscanf(r, "ok %d %d %d %d %d", &s.heapInuse, &s.heapAlloc, &s.goroutines, &s.stackInuse, &s.goHeld); err != nil {
		c.t.Fatalf("gc answer %q: %v", r, err)
	}
	time.Sleep(200 * time.Millisecond) // let the kernel account the pages returned
	s.ProcSample = c.proc()
	return s
}

// drained is what waiting for the core's outbox to empty found.
type drained struct {
	pending, left int           // items pending before, and still after
	waited        time.Duration // the wait
}

// drain waits until the bridge's outbox is empty (at most limit), so the
// memory read next is of a steady state, not of requests in flight.
func (c *childProc) drain(limit time.Duration) drained {
	c.t.Helper()
	if _, err := fmt.Fprintf(c.in, "drain %d\n", int(limit.Seconds())); err != nil {
		c.t.Fatal(err)
	}
	r := c.wait(limit + time.Minute)
	var d drained
	var ms int64
	if _, err := fmt.Sscanf(r, "ok %d %d %d", &d.pending, &ms, &d.left); err != nil {
		c.t.Fatalf("drain answer %q: %v", r, err)
	}
	d.waited = time.Duration(ms) * time.Millisecond
	return d
}

// heapProfile writes the bridge's live heap to $BENCH_XMPP_HEAPPROFILE/name.pprof
// (and its goroutines to name.goroutines.txt)
// when that directory is set.
func (c *childProc) heapProfile(name string) {
	c.t.Helper()
	dir := os.Getenv(envHeapDir)
	if dir == "" {
		return
	}
	if _, err := io.WriteString(c.in, "heapprofile "+filepath.Join(dir, name+".pprof")+"\n"); err != nil {
		c.t.Fatal(err)
	}
	if r := c.wait(time.Minute); r != "ok" {
		c.t.Errorf("heap profile: %s", r)
	}
}

func (c *childProc) stop() {
	if c.cmd.ProcessState != nil {
		return
	}
	_, _ = io.WriteString(c.in, "quit\n")
	done := make(chan struct{})
	go func() { _ = c.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(40 * time.Second):
		_ = c.cmd.Process.Kill()
		<-done
	}
}

// homeserverCPU returns the CPU time of the child's Dendrite so far.
func (c *childProc) homeserverCPU() time.Duration {
	c.t.Helper()
	pid, err := ircbench.FindChild(c.cmd.Process.Pid, "dendrite")
	if err != nil {
		c.t.Fatal(err)
	}
	s, err := ircbench.ReadProc(pid)
	if err != nil {
		c.t.Fatal(err)
	}
	return s.CPU
}

// stack is one bench's servers: Prosody with the bridge's component and
// the load generator's, Dendrite with the bridge's registration and the
// load generator's (users @load_*), and the bridge in a child process.
type stack struct {
	t          *testing.T
	prosody    *integration.Prosody
	child      *childProc
	loadSecret string
	asToken    string
	http       *http.Client
}

// startStack starts everything; users are Prosody accounts (password "pw").
func startStack(t *testing.T, users ...string) *stack {
	t.Helper()
	return startStackFrom(t, "", users...)
}

// startStackFrom is startStack with Dendrite started from the data in
// seed (bigseed_test.go) when not empty.
func startStackFrom(t *testing.T, seed string, users ...string) *stack {
	t.Helper()
	s := &stack{t: t, loadSecret: randHex(t), asToken: randHex(t), http: &http.Client{Timeout: 2 * time.Minute}}
	opts := []integration.ProsodyOption{
		integration.WithProsodyComponent(bridgeDomain, randHex(t)),
		integration.WithProsodyComponent(loadDomain, s.loadSecret),
	}
	for _, u := range users {
		opts = append(opts, integration.WithProsodyUser(u, "pw"))
	}
	if os.Getenv(envNoNagle) != "" {
		opts = append(opts, integration.WithProsodyConfig(`network_settings = { nagle = false }`))
	}
	s.prosody = integration.StartProsody(t, opts...)
	reg := writeLoadRegistration(t, loadSink(t).URL, s.asToken)
	env := []string{}
	if seed != "" {
		env = append(env, envSeed+"="+seed)
	}
	if os.Getenv(envHeapDir) != "" {
		env = append(env, envMemRate+"=512") // a finer heap profile than the default 512 KiB
	}
	s.child = startChild(t, append(env, envServer+"="+s.prosody.ComponentAddr(), envDomain+"="+bridgeDomain,
		envSecret+"="+s.prosody.ComponentSecret(), envLoadReg+"="+reg)...)
	return s
}

// loadSink is the load generator's appservice: transactions are
// acknowledged and dropped.
func loadSink(t *testing.T) *httptest.Server {
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, "{}")
	}))
	t.Cleanup(sink.Close)
	return sink
}

// writeLoadRegistration writes the load generator's appservice
// registration (users @load_*, at url, with token) and returns its path.
func writeLoadRegistration(t *testing.T, url, token string) string {
	reg := filepath.Join(t.TempDir(), "loadgen.yaml")
	if err := os.WriteFile(reg, []byte(fmt.Sprintf("id: loadgen\nurl: %s\nas_token: %s\nhs_token: %s\n"+
		"sender_localpart: loadgen\nrate_limited: false\nnamespaces:\n  users:\n  - exclusive: true\n    regex: '@%s.*'\n",
		url, token, randHex(t), loadPrefix)), 0o600); err != nil {
		t.Fatal(err)
	}
	return reg
}

// user registers a Matrix user with a password.
func (s *stack) user(ctx context.Context, name string) *integration.Client {
	s.t.Helper()
	c, err := integration.Register(ctx, s.child.hsURL, name, "password-"+name)
	if err != nil {
		s.t.Fatal(err)
	}
	return c
}

// mute turns the master push rule of c on, as the bridge does for its
// puppets: Dendrite stops evaluating push rules for it at the first one.
func (s *stack) mute(ctx context.Context, c *integration.Client) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPut,
		c.HomeserverURL+"/_matrix/client/v3/pushrules/global/override/.m.rule.master/enabled", strings.NewReader(`{"enabled":true}`))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.AccessToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("mute %s: %d %s", c.UserID, resp.StatusCode, b)
	}
	return nil
}

// as is the load generator's appservice on the stack's homeserver.
func (s *stack) as() asClient {
	return asClient{hsURL: s.child.hsURL, token: s.asToken, http: s.http}
}

// asClient makes requests as the load generator's appservice.
type asClient struct {
	hsURL, token string
	http         *http.Client
}

// do makes a request as the appservice, as user (localpart) when not
// empty, and decodes the answer into out when not nil.
func (a asClient) do(ctx context.Context, method, path, user string, body, out any) error {
	q := url.Values{}
	if user != "" {
		q.Set("user_id", "@"+user+":localhost")
	}
	var rd io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(raw)
	}
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	req, err := http.NewRequestWithContext(ctx, method, a.hsURL+path+sep+q.Encode(), rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+a.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := a.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	// A join Dendrite did not finish in time continues in the background
	// (202); the setup counts the members at its end.
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusAccepted && !bytes.Contains(b, []byte("M_USER_IN_USE")) {
		return fmt.Errorf("%s %s as %s: %d %s", method, path, user, resp.StatusCode, b)
	}
	if out != nil && resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("%s %s: %w", method, path, err)
		}
	}
	return nil
}

// register registers the appservice's user localpart (an existing one
// is fine), without a device: the appservice acts for it with its own
// token, and a device costs the homeserver a login and a device list.
func (a asClient) register(ctx context.Context, localpart string) error {
	return a.do(ctx, http.MethodPost, "/_matrix/client/v3/register", "",
		map[string]any{"type": "m.login.application_service", "username": localpart, "inhibit_login": true}, nil)
}

// member registers the load generator's user i and joins it to room.
func (a asClient) member(ctx context.Context, room matrix.RoomID, i int) error {
	name := loadPrefix + strconv.Itoa(i)
	if err := a.register(ctx, name); err != nil {
		return err
	}
	return a.do(ctx, http.MethodPost, "/_matrix/client/v3/join/"+url.PathEscape(string(room)), name, map[string]any{}, nil)
}

// roomJID is the MUC JID of a Matrix room ID or alias on the bridge.
func roomJID(t *testing.T, id string) string {
	local, err := address.Localpart(id)
	if err != nil {
		t.Fatal(err)
	}
	return local + "@" + bridgeDomain
}

// waitComponent pings the bridge's component from c until it answers:
// the bridge connects in the background.
func waitComponent(ctx context.Context, t *testing.T, c *integration.XMPPClient) {
	for n := 0; ; n++ {
		id := fmt.Sprintf("wc%d", n)
		r, err := c.IQ(ctx, id, `<iq type='get' id='`+id+`' to='`+bridgeDomain+`'><ping xmlns='urn:xmpp:ping'/></iq>`)
		if err != nil {
			t.Fatal(err)
		}
		if r.Type == "result" {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// joinMUC joins c to muc/nick and waits for its self-presence.
func joinMUC(ctx context.Context, t *testing.T, c *integration.XMPPClient, muc, nick string) {
	t.Helper()
	if err := c.Send(ctx, `<presence to='`+muc+`/`+nick+`'><x xmlns='http://jabber.org/protocol/muc'/></presence>`); err != nil {
		t.Fatal(err)
	}
	st, err := c.Wait(ctx, func(s integration.XMPPStanza) bool {
		return s.Name == "presence" && s.From == muc+"/"+nick
	})
	if err != nil || st.Type == "error" {
		t.Fatalf("join %s/%s: %v %s", muc, nick, err, st.XML)
	}
}

// parallel runs fn(i) for i in from..to-1 with at most par at once and
// returns the first error.
func parallel(ctx context.Context, from, to, par int, fn func(context.Context, int) error) error {
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		next  = from
		first error
	)
	for range par {
		wg.Go(func() {
			for {
				mu.Lock()
				i := next
				next++
				stop := first != nil
				mu.Unlock()
				if i >= to || stop || ctx.Err() != nil {
					return
				}
				if err := fn(ctx, i); err != nil {
					mu.Lock()
					if first == nil {
						first = fmt.Errorf("item %d: %w", i, err)
					}
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	if first != nil {
		return first
	}
	return ctx.Err()
}
