//go:build benchirc

package ircbench

import (
	"context"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/causewaybridge/causeway/internal/integration"
)

const (
	// stormBound bounds one storm, from Ergo's restart to every user rejoined.
	stormBound = 5 * time.Minute
	// stormTick is how often the storm samples the processes and counts.
	stormTick = 250 * time.Millisecond
	// stormMinDelay is reconnect.min_delay in the child's config: the first
	// backoff is jittered within (min_delay/2, min_delay].
	stormMinDelay = time.Second
	// botNick is the bridge bot's nick in the child's config (the default).
	botNick = "causeway"
)

// stormProc is one process's CPU time and socket traffic at a moment.
type stormProc struct {
	cpu           time.Duration
	read, written int64
}

// sampleStorm reads pid's CPU time and bytes read and written.
func sampleStorm(t *testing.T, pid int) stormProc {
	t.Helper()
	s, err := ReadProc(pid)
	if err != nil {
		t.Fatal(err)
	}
	r, w, err := ReadIO(pid)
	if err != nil {
		t.Fatal(err)
	}
	return stormProc{cpu: s.CPU, read: r, written: w}
}

// stormFloor is the least time a storm of n users can take: the shortest
// first backoff (half of min_delay), then the dial limiter's spacing at
// rate reconnects per second.
func stormFloor(n int, rate float64) time.Duration {
	return stormMinDelay/2 + time.Duration(float64(n)/rate*float64(time.Second))
}

// storm kills and restarts Ergo under n connected and joined users and
// records, from the moment Ergo accepts clients again: when every user is
// registered again (their connection is up: 001 and the end of
// registration), when every user has rejoined (the JOIN echo arrived),
// when the bridge's bot is back on IRC (seen by a watching client's ISON),
// the bridge's and Ergo's CPU over the storm, the bytes the bridge read
// meanwhile (nearly all of it what its users' connections receive: other
// users' JOINs and NAMES replies), and the bridge's peak CPU and RSS.
func storm(t *testing.T, run int, layout string, c *childProc, ergo *integration.IRCServer, n int) {
	bench := "storm/" + layout
	want := strconv.Itoa(n)
	if f := c.do(time.Minute, "counts"); f[0] != want || f[1] != want {
		t.Fatalf("before the storm: %v connected/joined, want %d", f, n)
	}
	rate, err := strconv.ParseFloat(os.Getenv(envRate), 64)
	if err != nil || rate <= 0 {
		rate = 1000 // the child's default
	}
	floor := stormFloor(n, rate)
	bridge0 := sampleStorm(t, c.cmd.Process.Pid)
	killed := time.Now()
	if err := ergo.Kill(); err != nil {
		t.Fatal(err)
	}
	if err := ergo.Start(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	ergoPID := ergo.PID()
	ergo0 := sampleStorm(t, ergoPID)
	var botBack atomic.Int64 // nanoseconds after start, 0 until seen
	ctx, cancel := context.WithCancel(t.Context())
	watched := make(chan struct{})
	go func() { defer close(watched); watchBot(ctx, t, ergo.Addr(), start, &botBack) }()
	defer func() { cancel(); <-watched }()

	prev := c.proc()
	var (
		peakCPU    float64
		peakRSS    int64
		registered time.Duration
		lastLog    string
	)
	for time.Since(start) < stormBound {
		time.Sleep(stormTick)
		s := c.proc()
		peakCPU = max(peakCPU, float64(s.CPU-prev.CPU)/float64(s.At.Sub(prev.At)))
		peakRSS = max(peakRSS, s.RSS)
		prev = s
		f := c.do(time.Minute, "counts")
		elapsed := time.Since(start)
		if registered == 0 && f[0] == want {
			registered = elapsed
		}
		done := f[0] == want && f[1] == want
		if line := strings.Join(f, "/"); line != lastLog && (elapsed.Truncate(time.Second) != (elapsed-stormTick).Truncate(time.Second) || done) {
			b, e := sampleStorm(t, c.cmd.Process.Pid), sampleStorm(t, ergoPID)
			t.Logf("storm %s +%4.1fs: connected/joined %s; CPU bridge %.1fs, Ergo %.1fs; bridge read %.0f MiB",
				layout, elapsed.Seconds(), line, (b.cpu - bridge0.cpu).Seconds(), (e.cpu - ergo0.cpu).Seconds(),
				float64(b.read-bridge0.read)/kib/kib)
			lastLog = line
		}
		if !done {
			continue
		}
		b, e := sampleStorm(t, c.cmd.Process.Pid), sampleStorm(t, ergoPID)
		for time.Since(start) < stormBound && botBack.Load() == 0 {
			time.Sleep(stormTick)
		}
		record(t, run, bench, "s_ergo_restart", start.Sub(killed).Seconds())
		record(t, run, bench, "s_floor", floor.Seconds())
		record(t, run, bench, "s_to_all_registered", registered.Seconds())
		record(t, run, bench, "s_to_all_rejoined", elapsed.Seconds())
		record(t, run, bench, "rejoined_over_floor", elapsed.Seconds()/floor.Seconds())
		record(t, run, bench, "s_bot_back", time.Duration(botBack.Load()).Seconds())
		record(t, run, bench, "bridge_cpu_s", (b.cpu - bridge0.cpu).Seconds())
		record(t, run, bench, "ergo_cpu_s", (e.cpu - ergo0.cpu).Seconds())
		record(t, run, bench, "bridge_read_mib", float64(b.read-bridge0.read)/kib/kib)
		record(t, run, bench, "ergo_written_mib", float64(e.written-ergo0.written)/kib/kib)
		record(t, run, bench, "peak_cpu_cores", peakCPU)
		record(t, run, bench, "peak_rss_mib", float64(peakRSS)/kib/kib)
		return
	}
	t.Fatalf("not all %d users rejoined within %v: %v", n, stormBound, c.do(time.Minute, "counts"))
}

// watchBot connects to the restarted server and asks ISON for the bridge
// bot until it is there; it stores the time that took since start.
func watchBot(ctx context.Context, t *testing.T, addr string, start time.Time, back *atomic.Int64) {
	var w *integration.IRCClient
	for ctx.Err() == nil {
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		c, err := integration.ConnectIRC(cctx, addr, "stormwatch")
		cancel()
		if err == nil {
			w = c
			break
		}
		t.Logf("storm watcher: %v", err)
		time.Sleep(stormTick)
	}
	if w == nil {
		return
	}
	defer w.Close()
	stop := context.AfterFunc(ctx, func() { _ = w.Close() })
	defer stop()
	for ctx.Err() == nil {
		if err := w.Send("ISON " + botNick); err != nil {
			t.Logf("storm watcher: %v", err)
			return
		}
		l, err := w.WaitFor(integration.IsCommand("303"), 30*time.Second)
		if err != nil {
			t.Logf("storm watcher: %v", err)
			return
		}
		if strings.EqualFold(strings.TrimSpace(l.Last()), botNick) {
			back.Store(int64(time.Since(start)))
			return
		}
		time.Sleep(stormTick)
	}
}
