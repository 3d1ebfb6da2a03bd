//go:build benchirc

package ircbench

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/causewaybridge/causeway/internal/integration"
	"github.com/causewaybridge/causeway/matrix"
)

// Knobs read by the parent tests (scripts/bench-irc.sh sets them).
const (
	envRuns  = "BENCH_IRC_RUNS"  // repetitions of each measurement (default 3)
	envUsers = "BENCH_IRC_USERS" // connection counts, ascending (default "1000,5000")
	envOut   = "BENCH_IRC_OUT"   // JSON-lines file the results are appended to
	envMsgs  = "BENCH_IRC_MSGS"  // IRC→Matrix burst size (default 2000)
)

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

func userCounts() []int {
	var out []int
	for _, f := range strings.Split(os.Getenv(envUsers), ",") {
		if v, err := strconv.Atoi(strings.TrimSpace(f)); err == nil && v > 0 {
			out = append(out, v)
		}
	}
	if len(out) == 0 {
		return []int{1000, 5000}
	}
	return out
}

var outMu sync.Mutex

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
	if err := json.NewEncoder(f).Encode(Result{bench, metric, v, run}); err != nil {
		t.Fatal(err)
	}
}

// childProc is a running child (TestIRCBenchChild in a re-executed test
// binary) and its command channel.
type childProc struct {
	t       *testing.T
	cmd     *exec.Cmd
	in      io.WriteCloser
	replies chan string
	ready   string
}

func startChild(t *testing.T, mode, ergo string, env ...string) *childProc {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestIRCBenchChild$", "-test.count=1", "-test.timeout=20m")
	cmd.Env = append(os.Environ(), append(env, envChild+"="+mode, envErgo+"="+ergo)...)
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
		sc.Buffer(make([]byte, 1<<20), 16<<20)
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
	c.ready = ready
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

// do sends a command and returns the fields of its "ok" answer.
func (c *childProc) do(d time.Duration, cmd string, args ...any) []string {
	c.t.Helper()
	line := cmd
	for _, a := range args {
		line += " " + fmt.Sprint(a)
	}
	if _, err := io.WriteString(c.in, line+"\n"); err != nil {
		c.t.Fatal(err)
	}
	r := c.wait(d)
	rest, ok := strings.CutPrefix(r, "ok")
	if !ok {
		c.t.Fatalf("child: %s: %s", line, r)
	}
	return strings.Fields(rest)
}

func (c *childProc) proc() ProcSample {
	c.t.Helper()
	s, err := ReadProc(c.cmd.Process.Pid)
	if err != nil {
		c.t.Fatal(err)
	}
	return s
}

// settled collects garbage in the child and samples it.
func (c *childProc) settled() ProcSample {
	c.do(time.Minute, "gc")
	time.Sleep(300 * time.Millisecond)
	return c.proc()
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

func startErgo(t *testing.T) *integration.IRCServer {
	return integration.StartErgo(t, integration.WithErgoSetting("server.max-sendq", "16M"))
}

const kib = 1024.0

// TestIRCBenchMemory measures RSS per connection of the bare floor and of
// the bridge's puppeted connections (one channel; ten users per channel),
// and, on the one-channel bridge, a reconnect storm after an Ergo restart.
func TestIRCBenchMemory(t *testing.T) {
	counts := userCounts()
	for run := 1; run <= envInt(envRuns, 3); run++ {
		t.Run("bare", func(t *testing.T) { memoryRun(t, run, "bare", counts) })
		t.Run("one-channel", func(t *testing.T) { memoryRun(t, run, "one-channel", counts) })
		t.Run("ten-per-channel", func(t *testing.T) { memoryRun(t, run, "ten-per-channel", counts) })
	}
}

func memoryRun(t *testing.T, run int, layout string, counts []int) {
	ergo := startErgo(t)
	mode := "bridge"
	if layout == "bare" {
		mode = "bare"
	}
	c := startChild(t, mode, ergo.Addr(), envRate+"="+os.Getenv(envRate))
	switch layout {
	case "one-channel":
		c.do(time.Minute, "portals", -1, 0)
	case "ten-per-channel":
		res := c.do(10*time.Minute, "portals", 0, (counts[len(counts)-1]+9)/10)
		ms, _ := strconv.Atoi(res[0])
		record(t, run, "portals/ten-per-channel", "portals_per_s", float64((counts[len(counts)-1]+9)/10)/(float64(ms)/1000))
	}
	base := c.settled()
	done := 0
	for _, n := range counts {
		before := c.proc()
		if mode == "bare" {
			c.do(10*time.Minute, "bare", n-done)
		} else {
			spread := 0
			if layout == "ten-per-channel" {
				spread = 1
			}
			c.do(10*time.Minute, "join", done, n, spread)
		}
		after := c.proc()
		if done == 0 {
			record(t, run, "bringup/"+layout, fmt.Sprintf("s_for_%d", n), after.At.Sub(before.At).Seconds())
			record(t, run, "bringup/"+layout, fmt.Sprintf("cpu_s_for_%d", n), (after.CPU - before.CPU).Seconds())
		}
		done = n
		s := c.settled()
		record(t, run, "memory/"+layout, fmt.Sprintf("rss_kib_per_conn_%d", n), float64(s.RSS-base.RSS)/kib/float64(n))
	}
	if layout != "bare" {
		storm(t, run, layout, c, ergo, done)
	}
}

// TestIRCBenchThroughput sends a burst from an IRC client into a bridged
// channel and compares its arrival rate in the homeserver with the same
// messages PUT straight to it by a Matrix client; it also reads the bridge
// process's CPU time and the order the messages landed in.
func TestIRCBenchThroughput(t *testing.T) {
	ctx := t.Context()
	msgs := envInt(envMsgs, 2000)
	ergo := startErgo(t)
	c := startChild(t, "bridge", ergo.Addr())
	room := matrix.RoomID(c.do(time.Minute, "portals", -1, 0)[0])
	reader, err := integration.Register(ctx, c.ready, "reader", "password-reader")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := reader.Join(ctx, string(room)); err != nil {
		t.Fatal(err)
	}
	// The baseline room has the same observer as the portal: the reader,
	// syncing while a second user (the poster) PUTs the messages, so the
	// homeserver does the same fan-out work (push rules, unread counts, the
	// reader's /sync) on both paths.
	poster, err := integration.Register(ctx, c.ready, "poster", "password-poster")
	if err != nil {
		t.Fatal(err)
	}
	directRoom, err := poster.CreateRoom(ctx, integration.CreateRoomRequest{Preset: "public_chat"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := reader.Join(ctx, string(directRoom)); err != nil {
		t.Fatal(err)
	}
	sender := integration.DialIRC(t, ergo.Addr(), "sender")
	if err := sender.Join(benchChan); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second) // let the bot see the sender join
	hsPID, err := FindChild(c.cmd.Process.Pid, "dendrite")
	if err != nil {
		t.Fatal(err)
	}
	hsCPU := func() time.Duration {
		s, err := ReadProc(hsPID)
		if err != nil {
			t.Fatal(err)
		}
		return s.CPU
	}
	// burst starts the reader waiting for last in room, runs send and
	// returns the time from the first send until the reader saw last.
	burst := func(room matrix.RoomID, last string, send func()) time.Duration {
		if err := reader.CatchUp(ctx); err != nil {
			t.Fatal(err)
		}
		wctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
		defer cancel()
		seen := make(chan error, 1)
		go func() {
			_, err := reader.WaitForMessage(wctx, room, last)
			seen <- err
		}()
		start := time.Now()
		send()
		if err := <-seen; err != nil {
			t.Fatal(err)
		}
		return time.Since(start)
	}
	// direct PUTs msgs messages as the poster (tag names the burst) and
	// returns how long they took to reach the reader and the homeserver's
	// CPU time meanwhile.
	direct := func(tag string) (time.Duration, time.Duration) {
		hs0 := hsCPU()
		hsProfile(t, "direct-"+tag)
		base := "base-" + tag + "-"
		took := burst(directRoom, base+strconv.Itoa(msgs-1), func() {
			for i := range msgs {
				if _, err := poster.SendText(ctx, directRoom, base+strconv.Itoa(i)); err != nil {
					t.Fatal(err)
				}
			}
		})
		return took, hsCPU() - hs0
	}
	for run := 1; run <= envInt(envRuns, 3); run++ {
		// Baseline: the poster PUTs the same messages one by one, once
		// before and once after the bridged burst. The homeserver slows
		// down as its rooms grow, so a baseline taken only before would
		// favour it; the two together cancel that drift.
		tookBefore, hsBefore := direct(fmt.Sprintf("%d-before", run))

		// Through the bridge.
		prefix := fmt.Sprintf("tp-%d-", run)
		cpu0 := c.proc()
		hs0 := hsCPU()
		hsProfile(t, fmt.Sprintf("bridged-%d", run))
		elapsed := burst(room, prefix+strconv.Itoa(msgs-1), func() {
			for i := range msgs {
				if err := sender.Privmsg(benchChan, prefix+strconv.Itoa(i)); err != nil {
					t.Fatal(err)
				}
			}
		})
		cpu1 := c.proc()
		hsBridged := hsCPU() - hs0
		tookAfter, hsAfter := direct(fmt.Sprintf("%d-after", run))
		baseRate := float64(2*msgs) / (tookBefore + tookAfter).Seconds()
		hsDirect := (hsBefore + hsAfter) / 2
		o := CheckOrder(readBack(t, ctx, reader, room, prefix, msgs, 500), msgs)
		if o.Missing > 0 {
			// Dendrite 0.15.2's backward pagination can skip an event at
			// a page boundary (see integration.Client.RoomTimeline): read
			// again with small pages and keep the more complete reading.
			if o2 := CheckOrder(readBack(t, ctx, reader, room, prefix, msgs, 7), msgs); o2.Missing < o.Missing {
				o = o2
			}
		}
		bridgeRate := float64(msgs) / elapsed.Seconds()
		record(t, run, "irc-to-matrix", "bridge_msgs_per_s", bridgeRate)
		record(t, run, "irc-to-matrix", "direct_msgs_per_s", baseRate)
		record(t, run, "irc-to-matrix", "ratio", bridgeRate/baseRate)
		record(t, run, "irc-to-matrix", "bridge_cpu_ms_per_msg", float64((cpu1.CPU-cpu0.CPU).Microseconds())/1000/float64(msgs))
		record(t, run, "irc-to-matrix", "homeserver_cpu_ms_per_msg_bridged", float64(hsBridged.Microseconds())/1000/float64(msgs))
		record(t, run, "irc-to-matrix", "homeserver_cpu_ms_per_msg_direct", float64(hsDirect.Microseconds())/1000/float64(msgs))
		record(t, run, "irc-to-matrix", "out_of_place", float64(o.OutOfPlace))
		record(t, run, "irc-to-matrix", "moved", float64(o.Moved))
		record(t, run, "irc-to-matrix", "missing", float64(o.Missing))
		record(t, run, "irc-to-matrix", "duplicates", float64(o.Duplicates))
	}
}

// hsProfile fetches an 8-second CPU profile of the homeserver into
// $BENCH_IRC_HS_PROFILE/name.pprof when that directory and PPROFLISTEN (the
// homeserver's pprof address, inherited by Dendrite) are set.
func hsProfile(t *testing.T, name string) {
	dir, addr := os.Getenv("BENCH_IRC_HS_PROFILE"), os.Getenv("PPROFLISTEN")
	if dir == "" || addr == "" {
		return
	}
	go func() {
		resp, err := http.Get("http://" + addr + "/debug/pprof/profile?seconds=8")
		if err != nil {
			t.Logf("homeserver profile %s: %v", name, err)
			return
		}
		defer resp.Body.Close()
		f, err := os.Create(filepath.Join(dir, name+".pprof"))
		if err != nil {
			t.Logf("homeserver profile %s: %v", name, err)
			return
		}
		defer f.Close()
		_, _ = io.Copy(f, resp.Body)
	}()
}

// readBack pages /messages backwards, size events a page, until want
// messages with prefix were seen (or the room's start) and returns their
// indexes oldest first, in the order the homeserver lists them (not sorted
// by timestamp, so a reordering shows).
func readBack(t *testing.T, ctx context.Context, c *integration.Client, room matrix.RoomID, prefix string, want, size int) []int {
	var idx []int
	from := ""
	for page := 0; page < 2*want/size+10 && len(idx) < want; page++ {
		m, err := c.Messages(ctx, room, "b", from, size)
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range m.Chunk {
			var mc matrix.MessageContent
			if ev.Type != matrix.EventMessage || json.Unmarshal(ev.Content, &mc) != nil {
				continue
			}
			if s, ok := strings.CutPrefix(mc.Body, prefix); ok {
				if i, err := strconv.Atoi(s); err == nil {
					idx = append(idx, i)
				}
			}
		}
		if len(m.Chunk) == 0 || m.End == "" {
			break
		}
		from = m.End
	}
	for i, j := 0, len(idx)-1; i < j; i, j = i+1, j-1 {
		idx[i], idx[j] = idx[j], idx[i]
	}
	return idx
}

// TestIRCBenchLatency sends Matrix messages one at a time and times them to
// a raw IRC client in the channel (end to end) and, with proxies in front
// of the bridge, from the transaction's arrival to the line written to IRC
// (the bridge's own part). Flood control is off.
func TestIRCBenchLatency(t *testing.T) {
	ctx := t.Context()
	const probes, warmup = 200, 10
	ergo := startErgo(t)
	c := startChild(t, "bridge", ergo.Addr(), envProxy+"=1")
	room := matrix.RoomID(c.do(time.Minute, "portals", -1, 0)[0])
	watcher := integration.DialIRC(t, ergo.Addr(), "watcher")
	if err := watcher.Join(benchChan); err != nil {
		t.Fatal(err)
	}
	alice, err := integration.Register(ctx, c.ready, "alice", "password-alice")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := alice.Join(ctx, string(room)); err != nil {
		t.Fatal(err)
	}
	for run := 1; run <= envInt(envRuns, 3); run++ {
		var e2e []time.Duration
		for i := range probes + warmup {
			text := fmt.Sprintf("%s%d", latPrefix, run*10000+i)
			start := time.Now()
			if _, err := alice.SendText(ctx, room, text); err != nil {
				t.Fatal(err)
			}
			l, err := watcher.WaitFor(func(l *integration.Line) bool {
				return l.Command == "PRIVMSG" && strings.HasSuffix(l.Last(), text)
			}, 30*time.Second)
			if err != nil {
				t.Fatalf("probe %s: %v", text, err)
			}
			if i >= warmup {
				e2e = append(e2e, l.Received.Sub(start))
			}
		}
		var own []time.Duration
		for _, f := range c.do(time.Minute, "lat") {
			k, us, _ := strings.Cut(f, ":")
			i, _ := strconv.Atoi(k)
			v, _ := strconv.Atoi(us)
			if i/10000 == run && i%10000 >= warmup {
				own = append(own, time.Duration(v)*time.Microsecond)
			}
		}
		if len(own) != probes {
			t.Errorf("run %d: bridge-side timestamps for %d of %d probes", run, len(own), probes)
		}
		ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
		record(t, run, "matrix-to-irc/end-to-end", "p50_ms", ms(Percentile(e2e, 50)))
		record(t, run, "matrix-to-irc/end-to-end", "p99_ms", ms(Percentile(e2e, 99)))
		record(t, run, "matrix-to-irc/bridge", "p50_ms", ms(Percentile(own, 50)))
		record(t, run, "matrix-to-irc/bridge", "p99_ms", ms(Percentile(own, 99)))
	}
}
