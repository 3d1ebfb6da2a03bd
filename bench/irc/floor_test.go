//go:build benchirc

package ircbench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"runtime/trace"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/causewaybridge/causeway/internal/integration"
	"github.com/causewaybridge/causeway/matrix"
	"github.com/causewaybridge/causeway/registration"
)

const (
	envFloorProf = "BENCH_IRC_FLOOR_PROFILE" // directory: CPU profiles of both over each burst
	envFloorTrc  = "BENCH_IRC_FLOOR_TRACE"   // directory: runtime traces of both over each burst
	floorChan    = "#floor"                  // the floor program's channel
	floorReply   = "FLOOR "                  // prefix of the floor program's answers
	floorWarmup  = 50                        // messages each sends before the measured bursts
	floorSettle  = time.Second               // after the reader saw the last message: echoes, group commits
	floorBound   = 20 * time.Minute          // bound of one burst (Dendrite took 4 minutes for 2,000 at load 35)
)

// TestIRCBenchFloor compares the bridge's CPU per IRC→Matrix message with
// the floor program's (bench/floor: one commit, one PUT, one echo
// transaction per message), both whole processes from /proc over their
// own bursts, against the same Ergo and Dendrite in the same run. Bursts
// alternate ABBA (bridge first in odd rounds). It runs with the
// appservices on TCP and on unix sockets, each with its own servers.
func TestIRCBenchFloor(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "floor")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/causewaybridge/causeway/bench/floor").CombinedOutput(); err != nil {
		t.Fatalf("build the floor program: %v\n%s", err, out)
	}
	for _, transport := range []string{"tcp", "unix"} {
		t.Run(transport, func(t *testing.T) { floorRun(t, bin, transport) })
	}
}

func floorRun(t *testing.T, bin, transport string) {
	ctx := t.Context()
	msgs := envInt(envMsgs, 2000)
	dir := t.TempDir()
	ergo := startErgo(t)

	// The floor's registration, made by the bridge's generator, goes to
	// the same homeserver beside the bridge's.
	asURL := fmt.Sprintf("http://127.0.0.1:%d", integration.FreePort(t))
	unix := "0"
	if transport == "unix" {
		asURL, unix = "unix://"+filepath.Join(dir, "floor.sock"), "1"
	}
	reg, err := registration.Generate(registration.Spec{ID: "floor", URL: asURL, SenderLocalpart: "floorbot",
		ServerName: "localhost", UserRegexes: []string{`^@floor_.*:localhost$`}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	regPath := filepath.Join(dir, "floor-registration.yaml")
	if err := reg.Save(regPath); err != nil {
		t.Fatal(err)
	}
	c := startChild(t, "bridge", ergo.Addr(), envASUnix+"="+unix, envReg+"="+regPath)
	room := matrix.RoomID(c.do(time.Minute, "portals", -1, 0)[0])
	f := startFloor(t, bin, regPath, c.ready, filepath.Join(dir, "floor.db"), ergo.Addr())
	floorRoom := matrix.RoomID(f.ready)

	reader, err := integration.Register(ctx, c.ready, "reader", "password-reader")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []matrix.RoomID{room, floorRoom} {
		if _, err := reader.Join(ctx, string(r)); err != nil {
			t.Fatal(err)
		}
	}
	sender := integration.DialIRC(t, ergo.Addr(), "sender")
	for _, ch := range []string{benchChan, floorChan} {
		if err := sender.Join(ch); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(time.Second) // let the bot see the sender join

	// burst sends n lines into channel and waits until the reader has the
	// last in room, then floorSettle more; it returns the wall time to the
	// last message and what each process spent meanwhile.
	type spent struct {
		cpu        time.Duration
		vol, invol int64
	}
	sample := func(pid int) spent {
		s, err := ReadProc(pid)
		if err != nil {
			t.Fatal(err)
		}
		v, n, err := ReadSwitches(pid)
		if err != nil {
			t.Fatal(err)
		}
		return spent{s.CPU, v, n}
	}
	pids := map[string]int{"bridge": c.cmd.Process.Pid, "floor": f.cmd.Process.Pid}
	hsPID, err := FindChild(c.cmd.Process.Pid, "dendrite")
	if err != nil {
		t.Fatal(err)
	}
	pids["homeserver"] = hsPID
	burst := func(channel string, room matrix.RoomID, tag string, n int) (time.Duration, map[string]spent) {
		if err := reader.CatchUp(ctx); err != nil {
			t.Fatal(err)
		}
		wctx, cancel := context.WithTimeout(ctx, floorBound)
		defer cancel()
		last := tag + strconv.Itoa(n-1)
		seen := make(chan error, 1)
		go func() {
			_, err := reader.WaitForMessage(wctx, room, last)
			seen <- err
		}()
		before := map[string]spent{}
		for k, pid := range pids {
			before[k] = sample(pid)
		}
		start := time.Now()
		for i := range n {
			if err := sender.Privmsg(channel, tag+strconv.Itoa(i)); err != nil {
				t.Fatal(err)
			}
		}
		if err := <-seen; err != nil {
			t.Fatal(err)
		}
		took := time.Since(start)
		time.Sleep(floorSettle)
		d := map[string]spent{}
		for k, pid := range pids {
			a, b := sample(pid), before[k]
			d[k] = spent{a.cpu - b.cpu, a.vol - b.vol, a.invol - b.invol}
		}
		return took, d
	}
	burst(benchChan, room, "warm-b-", floorWarmup)
	burst(floorChan, floorRoom, "warm-f-", floorWarmup)

	bench := "floor/" + transport
	per := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 / float64(msgs) }
	for run := 1; run <= envInt(envRuns, 3); run++ {
		order := []string{"bridge", "floor"}
		if run%2 == 0 {
			order = []string{"floor", "bridge"}
		}
		cpu := map[string]float64{}
		for _, who := range order {
			ch, r := benchChan, room
			if who == "floor" {
				ch, r = floorChan, floorRoom
			}
			p := startProfiles(t, c, f, fmt.Sprintf("%s-%d-%s", transport, run, who))
			took, d := burst(ch, r, fmt.Sprintf("%s-%d-", who, run), msgs)
			p.stop()
			self, other := d[who], d[map[string]string{"bridge": "floor", "floor": "bridge"}[who]]
			cpu[who] = per(self.cpu)
			record(t, run, bench, who+"_cpu_ms_per_msg", cpu[who])
			record(t, run, bench, who+"_msgs_per_s", float64(msgs)/took.Seconds())
			record(t, run, bench, who+"_voluntary_switches_per_msg", float64(self.vol)/float64(msgs))
			record(t, run, bench, who+"_involuntary_switches_per_msg", float64(self.invol)/float64(msgs))
			record(t, run, bench, who+"_idle_other_cpu_ms", float64(other.cpu.Microseconds())/1000)
			record(t, run, bench, "homeserver_cpu_ms_per_msg_"+who, per(d["homeserver"].cpu))
		}
		record(t, run, bench, "ratio", cpu["bridge"]/cpu["floor"])
	}
	stats := f.do("stats")
	t.Logf("floor: sent, echoed, dropped, PUTs sent again: %v", stats)
	if len(stats) == 4 && stats[2] != "0" {
		t.Errorf("the floor program dropped %s messages", stats[2])
	}
}

// floorProc is a running floor program and its command channel.
type floorProc struct {
	t       *testing.T
	cmd     *exec.Cmd
	in      io.WriteCloser
	replies chan string
	ready   string
}

func startFloor(t *testing.T, bin, reg, hs, db, ergo string) *floorProc {
	t.Helper()
	cmd := exec.Command(bin, "-registration", reg, "-homeserver", hs, "-db", db, "-irc", ergo, "-channel", floorChan)
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
	f := &floorProc{t: t, cmd: cmd, in: in, replies: make(chan string, 4)}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if r, ok := strings.CutPrefix(sc.Text(), floorReply); ok {
				f.replies <- r
			}
		}
		close(f.replies)
	}()
	t.Cleanup(func() {
		_, _ = io.WriteString(in, "quit\n")
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	r := f.wait()
	ready, ok := strings.CutPrefix(r, "ready ")
	if !ok {
		t.Fatalf("floor program did not start: %q", r)
	}
	f.ready = ready
	return f
}

func (f *floorProc) wait() string {
	f.t.Helper()
	select {
	case r, ok := <-f.replies:
		if !ok {
			f.t.Fatal("floor program exited")
		}
		return r
	case <-time.After(time.Minute):
		f.t.Fatal("floor program did not answer within a minute")
	}
	return ""
}

// do sends a command and returns the fields of its "ok" answer.
func (f *floorProc) do(cmd ...string) []string {
	f.t.Helper()
	line := strings.Join(cmd, " ")
	if _, err := io.WriteString(f.in, line+"\n"); err != nil {
		f.t.Fatal(err)
	}
	r := f.wait()
	rest, ok := strings.CutPrefix(r, "ok")
	if !ok {
		f.t.Fatalf("floor: %s: %s", line, r)
	}
	return strings.Fields(rest)
}

// profiler holds the commands that stop the profiles started for a burst.
type profiler struct{ stops []func() }

// startProfiles starts a CPU profile and a runtime trace of the bridge
// child and the floor program over one burst, each when its directory is
// set (BENCH_IRC_FLOOR_PROFILE, BENCH_IRC_FLOOR_TRACE), into
// <dir>/<name>-bridge.pprof, <dir>/<name>-floor.pprof and so on. Both
// processes are profiled over every burst, so each is measured the same
// way whether its own burst runs or the other's.
func startProfiles(t *testing.T, c *childProc, f *floorProc, name string) *profiler {
	p := &profiler{}
	for _, k := range []struct{ env, start, stop, ext string }{
		{envFloorProf, "prof", "profstop", "pprof"},
		{envFloorTrc, "trace", "tracestop", "trace"},
	} {
		dir := os.Getenv(k.env)
		if dir == "" {
			continue
		}
		c.do(time.Minute, k.start, filepath.Join(dir, name+"-bridge."+k.ext))
		f.do(k.start, filepath.Join(dir, name+"-floor."+k.ext))
		p.stops = append(p.stops, func() { c.do(time.Minute, k.stop) }, func() { f.do(k.stop) })
	}
	return p
}

func (p *profiler) stop() {
	for _, s := range p.stops {
		s()
	}
}

// Profiles and traces of the bridge child, started and stopped by
// commands so they cover the bursts only.
var childProfile, childTrace *os.File

// profileCommand runs the child's prof, profstop, trace and tracestop
// commands.
func profileCommand(f []string) error {
	switch f[0] {
	case "prof", "trace":
		if len(f) < 2 {
			return errors.New(f[0] + " needs a file")
		}
		fh, err := os.Create(f[1])
		if err != nil {
			return err
		}
		if f[0] == "prof" {
			err, childProfile = pprof.StartCPUProfile(fh), fh
		} else {
			err, childTrace = trace.Start(fh), fh
		}
		if err != nil {
			fh.Close()
		}
		return err
	case "profstop":
		if childProfile == nil {
			return errors.New("no profile running")
		}
		pprof.StopCPUProfile()
		err := childProfile.Close()
		childProfile = nil
		return err
	default:
		if childTrace == nil {
			return errors.New("no trace running")
		}
		trace.Stop()
		err := childTrace.Close()
		childTrace = nil
		return err
	}
}
