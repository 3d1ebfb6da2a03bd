//go:build benchirc

package ircbench

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/causewaybridge/causeway/bridges"
	"github.com/causewaybridge/causeway/bridges/irc"
	"github.com/causewaybridge/causeway/config"
	"github.com/causewaybridge/causeway/core"
	"github.com/causewaybridge/causeway/internal/integration"
	"github.com/causewaybridge/causeway/matrix"
	"github.com/causewaybridge/causeway/registration"
)

// Environment of the child process (the test binary re-executed by the
// parent tests in irc_bench_test.go), whose RSS and CPU are measured alone.
const (
	envChild   = "BENCH_IRC_CHILD"       // "bridge" or "bare"
	envErgo    = "BENCH_IRC_ERGO"        // Ergo's host:port
	envRate    = "BENCH_IRC_RATE"        // reconnect.per_second
	envProf    = "BENCH_IRC_CPUPROFILE"  // file for a CPU profile of the whole child
	envHeap    = "BENCH_IRC_HEAPPROFILE" // heap profile written at each gc command: <path>.<n>
	envProxy   = "BENCH_IRC_PROXY"       // "1": timestamp proxies on the AS and IRC paths
	envASUnix  = "BENCH_IRC_AS_UNIX"     // "1": the appservice listens on a Unix socket
	envReg     = "BENCH_IRC_EXTRA_REG"   // another appservice registration for the homeserver (the floor's)
	childReply = "BENCH "                // prefix of the child's answers on stdout
	benchNet   = "bench"                 // network ID in the child's config
	joinPar    = 200                     // concurrent joins driven by the child
	joinBound  = 10 * time.Minute        // bound of one join command
	cmdBound   = 15 * time.Minute        // bound of the whole child
	userPrefix = "@bu"                   // Matrix users driven through BenchJoin
	userSuffix = ":localhost"            //
	latPrefix  = "lat-"                  // bodies of latency probes
	barePrefix = "bare"                  // nicks of bare connections
	benchChan  = "#bench"                // channel of single-channel runs
	chanPrefix = "#b"                    // channels of many-channel runs: #b0, #b1...
	flood      = "{rate: 0, burst: 1}"   // no flood control
)

// TestIRCBenchChild is the measured process. It does nothing unless started
// by a parent test with BENCH_IRC_CHILD set; it then answers commands on
// stdin, one per line, with "BENCH ok ..." or "BENCH err ..." on stdout.
func TestIRCBenchChild(t *testing.T) {
	mode := os.Getenv(envChild)
	if mode == "" {
		t.Skip("child process of the IRC benchmarks; runs only when started by them (BENCH_IRC_CHILD)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), cmdBound)
	defer cancel()
	ergo := os.Getenv(envErgo)
	c := &child{ergo: ergo}
	if os.Getenv(envHeap) != "" {
		runtime.MemProfileRate = 1 // every allocation, so small per-connection state shows
	}
	if path := os.Getenv(envProf); path != "" {
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			t.Fatal(err)
		}
		defer func() { pprof.StopCPUProfile(); f.Close() }()
	}
	switch mode {
	case "bridge":
		c.startBridge(t, ctx)
		fmt.Printf("%sready %s\n", childReply, c.hsURL)
	case "bare":
		fmt.Printf("%sready -\n", childReply)
	default:
		t.Fatalf("unknown child mode %q", mode)
	}
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		if f[0] == "quit" {
			break
		}
		out, err := c.do(ctx, f)
		if err != nil {
			fmt.Printf("%serr %s\n", childReply, strings.ReplaceAll(err.Error(), "\n", " "))
			continue
		}
		fmt.Printf("%sok %s\n", childReply, out)
	}
	c.close()
}

// child is the state of the measured process.
type child struct {
	ergo   string
	gcs    int // gc commands so far (numbers the heap profiles)
	hsURL  string
	mod    *irc.Module
	bridge *core.Bridge
	bare   []net.Conn
	lat    *latencyProbe
}

func (c *child) do(ctx context.Context, f []string) (string, error) {
	arg := func(i int) int {
		if i >= len(f) {
			return 0
		}
		v, _ := strconv.Atoi(f[i])
		return v
	}
	switch f[0] {
	case "portals": // portals <from> <to>: portals of #b<from>..#b<to-1>, or of #bench when from<0
		return c.portals(ctx, arg(1), arg(2))
	case "join": // join <from> <to> <channels>: users from..to-1; channel #bench, or #b(i/10) spread
		return c.join(ctx, arg(1), arg(2), arg(3))
	case "bare": // bare <n>: n bare connections join #bench
		return c.dialBare(ctx, arg(1))
	case "gc":
		runtime.GC()
		debug.FreeOSMemory()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		c.gcs++
		if path := os.Getenv(envHeap); path != "" {
			if err := writeHeapProfile(fmt.Sprintf("%s.%d", path, c.gcs)); err != nil {
				return "", err
			}
			status, _ := os.ReadFile("/proc/self/status")
			var rss []string
			for _, l := range strings.Split(string(status), "\n") {
				if strings.HasPrefix(l, "Rss") {
					rss = append(rss, strings.Join(strings.Fields(l), " "))
				}
			}
			fmt.Fprintf(os.Stderr, "heap profile %d: heap in use %d, idle %d, released %d, stacks %d, mspan %d, gc %d, other %d, goroutines %d; %s\n",
				c.gcs, ms.HeapInuse, ms.HeapIdle, ms.HeapReleased, ms.StackInuse, ms.MSpanInuse, ms.GCSys, ms.OtherSys,
				runtime.NumGoroutine(), strings.Join(rss, ", "))
			if c.bridge != nil {
				st := c.bridge.Store().PoolStats()
				fmt.Fprintf(os.Stderr, "db pool: open %d, idle %d, max idle closed %d, waits %d\n",
					st.OpenConnections, st.Idle, st.MaxIdleClosed, st.WaitCount)
			}
		}
		return fmt.Sprintf("%d %d", ms.HeapAlloc, runtime.NumGoroutine()), nil
	case "counts":
		conns, joins := c.mod.BenchCounts(benchNet)
		return fmt.Sprintf("%d %d", conns, joins), nil
	case "prof", "profstop", "trace", "tracestop": // prof <file>, trace <file>: of the burst only
		return "", profileCommand(f)
	case "lat": // lat: bridge-side latencies of the probes, "<index>:<µs>"...
		if c.lat == nil {
			return "", fmt.Errorf("no proxies: start the child with %s=1", envProxy)
		}
		return c.lat.report(), nil
	}
	return "", fmt.Errorf("unknown command %q", f[0])
}

// startBridge runs a homeserver (a separate process) and the whole bridge
// in this process, like internal/bridgetest, but keeps the IRC module and
// may put timestamping proxies in front of the appservice and IRC server.
func (c *child) startBridge(t *testing.T, ctx context.Context) {
	dir := t.TempDir()
	asPort := integration.FreePort(t)
	rate := os.Getenv(envRate)
	if rate == "" {
		rate = "1000"
	}
	ircAddr := c.ergo
	listen := fmt.Sprintf("127.0.0.1:%d", asPort)
	asURL := "http://" + listen
	if os.Getenv(envASUnix) == "1" && os.Getenv(envProxy) != "1" {
		sock := filepath.Join(dir, "as.sock")
		listen, asURL = "unix:"+sock, "unix://"+sock
	}
	if os.Getenv(envProxy) == "1" {
		c.lat = newLatencyProbe()
		var err error
		if ircAddr, err = c.lat.proxyIRC(ctx, c.ergo); err != nil {
			t.Fatal(err)
		}
		if asURL, err = c.lat.proxyAS(ctx, asURL); err != nil {
			t.Fatal(err)
		}
	}
	regPath := filepath.Join(dir, "registration.yaml")
	text := func(hsURL string) string {
		return fmt.Sprintf("homeserver:\n  url: %s\n  server_name: localhost\n"+
			"appservice:\n  address: %s\n  registration: %s\n"+
			"database:\n  url: sqlite:%s\nlogging:\n  level: warn\nbridges:\n"+
			"  irc:\n    networks:\n      %s:\n        address: %s\n        flood: %s\n"+
			"        max_connections: 100000\n        reconnect: {per_second: %s, min_delay: 1s, max_delay: 30s}\n",
			hsURL, listen, regPath, filepath.Join(dir, "causeway.db"), benchNet, ircAddr, flood, rate)
	}
	var mu sync.Mutex
	reg := bridges.NewRegistry()
	if err := reg.Add(bridges.Info{ID: irc.ID, Description: irc.Info.Description, New: func() bridges.Module {
		m := irc.New()
		mu.Lock()
		c.mod = m
		mu.Unlock()
		return m
	}}); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse([]byte(text("http://127.0.0.1:1")), "bench-config", os.LookupEnv)
	if err != nil {
		t.Fatal(err)
	}
	mods, err := core.Modules(cfg, reg)
	if err != nil {
		t.Fatal(err)
	}
	r, err := registration.Generate(core.RegistrationSpec(cfg, mods), nil)
	if err != nil {
		t.Fatal(err)
	}
	r.URL = asURL
	if err := r.Save(regPath); err != nil {
		t.Fatal(err)
	}
	regs := []string{regPath}
	if extra := os.Getenv(envReg); extra != "" {
		regs = append(regs, extra)
	}
	hs := integration.StartDendrite(t, integration.WithRegistration(regs...))
	c.hsURL = hs.URL()
	if cfg, err = config.Parse([]byte(text(hs.URL())), "bench-config", os.LookupEnv); err != nil {
		t.Fatal(err)
	}
	if mods, err = core.Modules(cfg, reg); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	b, err := core.New(ctx, core.Options{Config: cfg, Registration: r, Modules: mods, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(ctx); err != nil {
		t.Fatal(err)
	}
	c.bridge = b
}

func (c *child) close() {
	for _, conn := range c.bare {
		_ = conn.Close()
	}
	if c.bridge != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = c.bridge.Stop(ctx)
	}
}

// portals creates the portals of #b<from>..#b<to-1>, or of #bench when
// from < 0, a few at a time.
func (c *child) portals(ctx context.Context, from, to int) (string, error) {
	if from < 0 {
		room, err := c.mod.BenchPortal(ctx, benchNet, benchChan)
		return string(room), err
	}
	start := time.Now()
	err := parallel(ctx, from, to, 8, func(ctx context.Context, i int) error {
		_, err := c.mod.BenchPortal(ctx, benchNet, chanPrefix+strconv.Itoa(i))
		return err
	})
	return strconv.FormatInt(time.Since(start).Milliseconds(), 10), err
}

// join makes users from..to-1 join #bench (spread == 0) or channel
// #b<i/10> (ten users per channel).
func (c *child) join(ctx context.Context, from, to, spread int) (string, error) {
	start := time.Now()
	err := parallel(ctx, from, to, joinPar, func(ctx context.Context, i int) error {
		ch := benchChan
		if spread != 0 {
			ch = chanPrefix + strconv.Itoa(i/10)
		}
		user := matrix.UserID(userPrefix + strconv.Itoa(i) + userSuffix)
		return c.mod.BenchJoin(ctx, benchNet, user, ch)
	})
	return strconv.FormatInt(time.Since(start).Milliseconds(), 10), err
}

// parallel runs fn(i) for i in from..to-1 with at most par at once, bounded
// by joinBound; it returns the first error and how many failed.
func parallel(ctx context.Context, from, to, par int, fn func(context.Context, int) error) error {
	ctx, cancel := context.WithTimeout(ctx, joinBound)
	defer cancel()
	var (
		wg     sync.WaitGroup
		next   atomic.Int64
		failed atomic.Int64
		first  atomic.Value
	)
	next.Store(int64(from))
	for range par {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= to || ctx.Err() != nil {
					return
				}
				if err := fn(ctx, i); err != nil {
					failed.Add(1)
					first.CompareAndSwap(nil, err)
				}
			}
		})
	}
	wg.Wait()
	if err, _ := first.Load().(error); err != nil {
		return fmt.Errorf("%d of %d failed, first: %w", failed.Load(), to-from, err)
	}
	return ctx.Err()
}

// dialBare opens n bare connections to Ergo (the floor: a net.Conn, a
// bufio.Reader and one goroutine each) that register, join #bench and
// answer PINGs.
func (c *child) dialBare(ctx context.Context, n int) (string, error) {
	start := time.Now()
	var mu sync.Mutex
	err := parallel(ctx, len(c.bare), len(c.bare)+n, joinPar, func(ctx context.Context, i int) error {
		conn, err := bareJoin(ctx, c.ergo, barePrefix+strconv.Itoa(i))
		if err != nil {
			return err
		}
		mu.Lock()
		c.bare = append(c.bare, conn)
		mu.Unlock()
		return nil
	})
	return strconv.FormatInt(time.Since(start).Milliseconds(), 10), err
}

func bareJoin(ctx context.Context, addr, nick string) (net.Conn, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	if _, err := fmt.Fprintf(conn, "NICK %s\r\nUSER %s 0 * :bare\r\nJOIN %s\r\n", nick, nick, benchChan); err != nil {
		conn.Close()
		return nil, err
	}
	r := bufio.NewReader(conn)
	joined := make(chan struct{})
	go func() {
		once := sync.Once{}
		for {
			line, err := r.ReadSlice('\n')
			if err != nil {
				once.Do(func() { close(joined) })
				return
			}
			switch {
			case strings.HasPrefix(string(line), "PING"):
				_, _ = conn.Write(append([]byte("PONG"), line[4:]...))
			case strings.Contains(string(line), " JOIN "):
				once.Do(func() { close(joined) })
			}
		}
	}()
	select {
	case <-joined:
		return conn, nil
	case <-ctx.Done():
		conn.Close()
		return nil, ctx.Err()
	}
}

// writeHeapProfile writes the live heap (as of the last GC) to path.
func writeHeapProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("heap profile: %w", err)
	}
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		f.Close()
		return fmt.Errorf("heap profile: %w", err)
	}
	return f.Close()
}
