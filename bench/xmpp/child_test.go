//go:build benchxmpp

package xmppbench

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/causewaybridge/causeway/bridges"
	"github.com/causewaybridge/causeway/bridges/xmpp"
	"github.com/causewaybridge/causeway/config"
	"github.com/causewaybridge/causeway/core"
	"github.com/causewaybridge/causeway/internal/integration"
	"github.com/causewaybridge/causeway/registration"
)

// Environment of the child process (the test binary re-executed by the
// parent tests), the bridge whose RSS, heap and CPU are measured alone.
const (
	envChild   = "BENCH_XMPP_CHILD"      // "1" in the child
	envServer  = "BENCH_XMPP_SERVER"     // Prosody's component listener
	envDomain  = "BENCH_XMPP_DOMAIN"     // the bridge's component domain
	envSecret  = "BENCH_XMPP_SECRET"     // its secret
	envLoadReg = "BENCH_XMPP_LOAD_REG"   // the load generator's appservice registration
	envSeed    = "BENCH_XMPP_SEED"       // Dendrite data to start from (bigseed_test.go)
	envProf    = "BENCH_XMPP_CPUPROFILE" // file for a CPU profile of the whole child
	envMemRate = "BENCH_XMPP_MEMRATE"    // runtime.MemProfileRate of the child, for heap profiles
	childReply = "BENCH "                // prefix of the child's answers on stdout
	childBound = 90 * time.Minute        // bound of the whole child
)

// TestXMPPBenchChild is the measured process: Dendrite (a process of its
// own) and the whole bridge (core + XMPP module) in this one. It does
// nothing unless started by a parent test with BENCH_XMPP_CHILD set; it
// then answers commands on stdin, one per line, with "BENCH ok ..." or
// "BENCH err ..." on stdout.
func TestXMPPBenchChild(t *testing.T) {
	if os.Getenv(envChild) == "" {
		t.Skip("child process of the XMPP benchmarks; runs only when started by them (BENCH_XMPP_CHILD)")
	}
	if r, err := strconv.Atoi(os.Getenv(envMemRate)); err == nil && r > 0 {
		runtime.MemProfileRate = r
	}
	ctx, cancel := context.WithTimeout(context.Background(), childBound)
	defer cancel()
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
	b, hsURL := startBridge(t, ctx)
	fmt.Printf("%sready %s\n", childReply, hsURL)
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		switch f[0] {
		case "quit":
			stop(b)
			return
		case "gc":
			runtime.GC()
			debug.FreeOSMemory()
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			// Then the stacks, and all the Go runtime holds from the OS
			// (heap, stacks, its own structures), so that RSS can be
			// split into Go's and the rest (SQLite's C heap).
			fmt.Printf("%sok %d %d %d %d %d\n", childReply, ms.HeapInuse, ms.HeapAlloc, runtime.NumGoroutine(),
				ms.StackInuse, ms.Sys-ms.HeapReleased)
		case "drain": // drain <seconds>: wait until the core's outbox is empty
			limit := 10 * time.Minute
			if len(f) > 1 {
				if n, err := strconv.Atoi(f[1]); err == nil && n > 0 {
					limit = time.Duration(n) * time.Second
				}
			}
			pending, waited, left, err := drainOutbox(ctx, b, limit)
			if err != nil {
				fmt.Printf("%serr %s\n", childReply, strings.ReplaceAll(err.Error(), "\n", " "))
				continue
			}
			fmt.Printf("%sok %d %d %d\n", childReply, pending, waited.Milliseconds(), left)
		case "heapprofile": // heapprofile <file>: the live heap after a GC
			if len(f) < 2 {
				fmt.Printf("%serr heapprofile needs a file\n", childReply)
				continue
			}
			runtime.GC()
			err := writeHeapProfile(f[1])
			if err != nil {
				fmt.Printf("%serr %s\n", childReply, strings.ReplaceAll(err.Error(), "\n", " "))
				continue
			}
			fmt.Printf("%sok\n", childReply)
		default:
			fmt.Printf("%serr unknown command %q\n", childReply, f[0])
		}
	}
	stop(b)
}

// drainOutbox waits, up to limit, until the core's outbox (the Matrix
// requests queued by the bridge: puppets' names, joins, messages) has
// no pending item, so that memory is read in a steady state and not with
// work in flight. It returns the items pending at the start, the time
// waited, and the items still pending at the end (0 unless the limit
// was reached).
func drainOutbox(ctx context.Context, b *core.Bridge, limit time.Duration) (pending int, waited time.Duration, left int, err error) {
	start := time.Now()
	items, err := b.Store().PendingOutbox(ctx, 1<<20)
	if err != nil {
		return 0, 0, 0, fmt.Errorf("read the outbox: %w", err)
	}
	pending, items = len(items), nil
	for {
		head, err := b.Store().PendingOutbox(ctx, 1)
		if err != nil {
			return pending, time.Since(start), 0, fmt.Errorf("read the outbox: %w", err)
		}
		if len(head) == 0 {
			return pending, time.Since(start), 0, nil
		}
		if time.Since(start) > limit {
			rest, err := b.Store().PendingOutbox(ctx, 1<<20)
			if err != nil {
				return pending, time.Since(start), 0, fmt.Errorf("read the outbox: %w", err)
			}
			return pending, time.Since(start), len(rest), nil
		}
		time.Sleep(250 * time.Millisecond) // polls the store: the core has no drain signal
	}
}

func writeHeapProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := pprof.WriteHeapProfile(f); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	// The goroutines beside it (as text, grouped by stack): what holds
	// the stacks counted in stack_kib_per_occupant.
	g, err := os.Create(strings.TrimSuffix(path, ".pprof") + ".goroutines.txt")
	if err != nil {
		return err
	}
	if err := pprof.Lookup("goroutine").WriteTo(g, 1); err != nil {
		g.Close()
		return err
	}
	return g.Close()
}

func stop(b *core.Bridge) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_ = b.Stop(ctx)
}

// startBridge writes the bridge's config and registration, starts
// Dendrite with it and the load generator's registration, and runs the
// bridge with only the XMPP module, logging errors only.
func startBridge(t *testing.T, ctx context.Context) (*core.Bridge, string) {
	dir := t.TempDir()
	listen := fmt.Sprintf("127.0.0.1:%d", integration.FreePort(t))
	regPath := filepath.Join(dir, "registration.yaml")
	text := func(hsURL string) string {
		return fmt.Sprintf("homeserver:\n  url: %s\n  server_name: localhost\n"+
			"appservice:\n  address: %s\n  registration: %s\n"+
			"database:\n  url: sqlite:%s\nlogging:\n  level: warn\nbridges:\n"+
			"  xmpp: {server: %q, domain: %q, secret: %q}\n",
			hsURL, listen, regPath, filepath.Join(dir, "causeway.db"),
			os.Getenv(envServer), os.Getenv(envDomain), os.Getenv(envSecret))
	}
	reg := bridges.NewRegistry()
	if err := reg.Add(xmpp.Info); err != nil {
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
	r.URL = "http://" + listen
	if err := r.Save(regPath); err != nil {
		t.Fatal(err)
	}
	regs := []string{regPath}
	if p := os.Getenv(envLoadReg); p != "" {
		regs = append(regs, p)
	}
	hsOpts := []integration.DendriteOption{integration.WithRegistration(regs...)}
	if seed := os.Getenv(envSeed); seed != "" {
		hsOpts = append(hsOpts, integration.WithSeed(seed))
	}
	hs := integration.StartDendrite(t, hsOpts...)
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
	return b, hs.URL()
}
