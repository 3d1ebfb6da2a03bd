// Command report turns the results of the XMPP benchmarks (JSON lines
// written by bench/xmpp with BENCH_XMPP_OUT) into the "XMPP" section of
// BENCHMARKS.md: medians over the runs, the targets beside the measured
// values, the command, the machine and the date. The section sits between
// marker comments and is replaced on every run; the rest of the file is
// kept.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"time"

	ircbench "github.com/causewaybridge/causeway/bench/irc"
)

const (
	begin = "<!-- xmpp-bench:begin (written by scripts/bench-xmpp.sh) -->"
	end   = "<!-- xmpp-bench:end -->"
)

func main() {
	in := flag.String("in", "", "JSON-lines results files, comma-separated")
	out := flag.String("out", "BENCHMARKS.md", "markdown file whose XMPP section is replaced")
	command := flag.String("command", "scripts/bench-xmpp.sh", "command line shown in the section")
	load := flag.String("load", "", "the machine's load averages during the run, shown in the section")
	flag.Parse()
	if err := run(strings.Split(*in, ","), *out, *command, *load); err != nil {
		fmt.Fprintln(os.Stderr, "report:", err)
		os.Exit(1)
	}
}

func run(ins []string, out, command, load string) error {
	res := &results{vals: map[string][]float64{}}
	for _, in := range ins {
		f, err := os.Open(in)
		if err != nil {
			return err
		}
		err = res.read(f)
		f.Close()
		if err != nil {
			return fmt.Errorf("%s: %w", in, err)
		}
	}
	mach := machine()
	if load != "" {
		mach += "; load averages (1, 5, 15 min): " + load
	}
	old, err := os.ReadFile(out)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return os.WriteFile(out, replaceSection(old, render(res, command, mach, time.Now().UTC())), 0o644)
}

// results maps "bench|metric" to the values of every run, in file order.
type results struct {
	vals  map[string][]float64
	order []string
}

func (r *results) read(in io.Reader) error {
	sc := bufio.NewScanner(in)
	for sc.Scan() {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		var x ircbench.Result
		if err := json.Unmarshal(sc.Bytes(), &x); err != nil {
			return fmt.Errorf("results: %w", err)
		}
		k := x.Bench + "|" + x.Metric
		if _, ok := r.vals[k]; !ok {
			r.order = append(r.order, k)
		}
		r.vals[k] = append(r.vals[k], x.Value)
	}
	return sc.Err()
}

// target is one line of the targets table.
type target struct {
	what, required, bench, metric, unit string
	ok                                  func(float64) bool
}

var targets = []target{
	{"XMPP→Matrix rate ÷ direct PUTs, same run", "≥ 0.9×", "xmpp-to-matrix", "ratio", "×", ge(0.9)},
	{"Matrix→XMPP rate ÷ the same PUTs to a Matrix reader, same run", "≥ 0.9×", "matrix-to-xmpp", "ratio_to_matrix", "×", ge(0.9)},
	{"Matrix→XMPP rate ÷ XMPP client → client through a Prosody MUC, same run", "≥ 0.9× (as the brief reads it)", "matrix-to-xmpp", "ratio_to_xmpp", "×", ge(0.9)},
	{"bridge CPU per XMPP→Matrix message", "(reference)", "xmpp-to-matrix", "bridge_cpu_ms_per_msg", "ms", nil},
	{"bridge CPU per Matrix→XMPP message", "(reference)", "matrix-to-xmpp", "bridge_cpu_ms_per_msg", "ms", nil},
	{"burst messages out of place, XMPP→Matrix", "0", "xmpp-to-matrix", "out_of_place", "", le(0)},
	{"burst messages out of place, Matrix→XMPP", "0", "matrix-to-xmpp", "out_of_place", "", le(0)},
	{"burst messages reordered (moved), XMPP→Matrix", "0", "xmpp-to-matrix", "moved", "", le(0)},
	{"burst messages reordered (moved), Matrix→XMPP", "0", "matrix-to-xmpp", "moved", "", le(0)},
	{"burst messages refused by the bridge (XMPP error), XMPP→Matrix", "0", "xmpp-to-matrix", "refused", "", le(0)},
	{"burst messages missing in Matrix, XMPP→Matrix", "0", "xmpp-to-matrix", "missing", "", le(0)},
	{"Go heap per XMPP occupant, 1,000 occupants", "≤ 4 KiB", "occupants/memory", "heap_kib_per_occupant_1000", "KiB", le(4)},
	{"RSS per XMPP occupant, 1,000 occupants", "≤ 4 KiB", "occupants/memory", "rss_kib_per_occupant_1000", "KiB", le(4)},
	{"Go heap per XMPP occupant, 10,000 occupants", "≤ 4 KiB", "occupants/memory", "heap_kib_per_occupant_10000", "KiB", le(4)},
	{"RSS per XMPP occupant, 10,000 occupants", "≤ 4 KiB", "occupants/memory", "rss_kib_per_occupant_10000", "KiB", le(4)},
	{"join a 1,000-member Matrix room from XMPP", "(reference)", "big-room/1000", "join_s", "s", nil},
	{"bridge CPU to join a 1,000-member Matrix room", "(reference)", "big-room/1000", "bridge_cpu_ms", "ms", nil},
	{"bridge heap kept while in a 1,000-member room", "(reference)", "big-room/1000", "kept_heap_mib", "MiB", nil},
	{"bridge peak RSS above idle joining a 1,000-member room", "(reference)", "big-room/1000", "peak_rss_mib_above_idle", "MiB", nil},
	{"join a 5,000-member Matrix room from XMPP", "(reference)", "big-room/5000", "join_s", "s", nil},
	{"join a 10,000-member Matrix room from XMPP", "(reference)", "big-room/10000", "join_s", "s", nil},
	{"bridge heap kept while in a 10,000-member room", "(reference)", "big-room/10000", "kept_heap_mib", "MiB", nil},
	{"bridge peak RSS above idle joining a 10,000-member room", "(reference)", "big-room/10000", "peak_rss_mib_above_idle", "MiB", nil},
	{"MAM page of 50 ÷ the homeserver's /messages of the same 50", "≤ 1.2×", "mam", "ratio", "×", le(1.2)},
	{"MAM page of 50 ÷ (/messages + a canned component's page of 50 through Prosody), same run", "(reference: what the bridge adds)", "mam", "ratio_to_messages_plus_canned", "×", nil},
	{"MAM page of 50 ÷ a Prosody MUC's own MAM page of 50, same run", "(reference)", "mam", "ratio_to_prosody_muc", "×", nil},
	{"MAM page of 50 ÷ /messages, Prosody with Nagle off", "(reference)", "mam/prosody-nagle-off", "ratio", "×", nil},
	{"MAM page of 50 ÷ (/messages + canned page), Prosody with Nagle off", "(reference)", "mam/prosody-nagle-off", "ratio_to_messages_plus_canned", "×", nil},
}

// notes explain what each figure includes; they hold no numbers, so they
// stay true from run to run.
const notes = `Reading the figures:

- **xmpp-to-matrix**: an XMPP client (alice, c2s on Prosody) that is an occupant of a hosted room sends a burst of
  MSGS groupchat messages, written back to back; the rate is the burst over the time until a Matrix reader, syncing
  all along, sees the last one. The baseline in the same run: the same number of messages PUT one by one into a plain
  room with the same members as the hosted one (its creator, the reader, the poster, and an idle user muted as the
  bridge mutes its puppets, in the puppet's place), so that Dendrite does the same per-member work (push rules,
  unread counts); the idle user sends this baseline, as the puppet sends the bridged burst. Each baseline runs once
  before and once after the bridged bursts (both together, as in the IRC bench: Dendrite slows down as its rooms
  grow). The bridge sends one room's messages strictly one after the other (order is a requirement), as the
  baseline's sender does.
- **matrix-to-xmpp**: the poster PUTs the burst one by one into the hosted room; the time runs until alice has the
  last one. ratio_to_matrix divides by the poster's own baseline, the same PUTs into the plain room, read by the
  Matrix reader: whether the bridge keeps up with what the homeserver accepts. ratio_to_xmpp divides by an XMPP client (bob)
  sending the burst into a Prosody MUC alice is in (conference.localhost, with muc_mam), which needs no homeserver
  at all: it says how much slower a Matrix-hosted room is than a native one, and the homeserver's PUT is most of it.
- **out_of_place** counts the positions whose message is not the one sent there, so a missing message moves every
  later one out of place; **moved** is the fewest messages that would have to move to restore the order (a
  reordering), **missing** the messages that never arrived, **refused** the messages the bridge answered with an
  XMPP error.
- **bridge_cpu_ms_per_msg** is the whole bridge process (utime+stime from /proc over the burst), core and XMPP
  module: for XMPP→Matrix, the stanza parsed, the outbox item stored, the PUT, the completion, the echo transaction,
  and the reflection to the sender (XEP-0045 §7.4) through the durable outbound queue and its acknowledging ping;
  for Matrix→XMPP, the transaction, the stanza built, stored in the durable queue, sent and acknowledged.
  BENCH_XMPP_CPUPROFILE=file (then go tool pprof) profiles the bridge.
- **occupants**: occupants u<i>@loadgen.localhost join hosted rooms (BENCH_XMPP_PER_ROOM each at the largest count,
  occupant i in room i mod rooms) through a second component on the same Prosody (loadgen.localhost): one
  connection sends presences from many JIDs, as many servers' users would, and Prosody routes them component to
  component. Every occupant is a full join: its Matrix puppet registered, named and joined to the room, the room's
  members read, the join sequence sent, and its presence sent to every other occupant. Memory is read in a
  steady state: once the core's outbox has no pending item (outbox_pending_after_joins is what the joins left
  queued, s_outbox_drain the wait). heap is the bridge
  process's Go heap in use (runtime.MemStats.HeapInuse) and RSS its VmRSS, each after runtime.GC and
  debug.FreeOSMemory, minus the same before the first occupant, divided by the occupants (stack: goroutine
  stacks; non_go_rss: RSS that the Go runtime does not hold, SQLite's page cache mostly): the occupant records,
  the per-room state, the puppets' entries in the core's caches, and what SQLite (modernc, in process) keeps for the
  bigger database (RSS only). joins_per_s and the CPU per join are the join phase's.
- **big-room**: the load generator's appservice users (@load_<i>, a second registration) are members of one public
  room, #big:localhost, built in a Dendrite of its own (setup, timed when it happens: s_<from>_to_<to>_members) whose
  data is kept under $CAUSEWAY_STACK_DIR/bench-cache per Dendrite build and copied into the measured stack's
  Dendrite; then a fresh XMPP account joins the room's alias JID per run:
  join_s runs from the presence sent until the subject arrives (the end of the join sequence: at most
  max_join_occupants member presences, then the self-presence, then the subject); bridge_cpu_ms is the bridge's CPU
  from before the join to then; peak_rss is sampled every 50 ms; kept_heap/kept_rss are held while the occupant
  stays (after GC). The occupant leaves after each run, which drops the room's member table.
- **mam**: a hosted room with 200 messages; alice, an occupant, asks its archive for the 50 latest (XEP-0313 query
  with RSM max 50 and an empty before) and the time runs until the fin (the results come before it); the room's
  creator asks the homeserver's /messages for the same 50 (dir=b, limit=50). Two more pages need no bridge: the
  same query to a Prosody MUC in which bob sent 200 messages (prosody_muc: muc_mam, Prosody's own archive), and to
  a component on loadgen.localhost that answers it at once with 50 canned results shaped like the bridge's and the
  fin in one write (canned_component: what delivering a page of 50 through Prosody costs any component).
  page_first_result is the time until the first result arrives, first_result_to_fin the rest; result_kib are the
  results' sizes as the client re-encodes them. 20 probes of each per run after 4 of warm-up, the four interleaved
  in an order that rotates probe by probe; ratios are of the medians of one run. bridge_cpu_ms_per_page is the
  bridge's CPU over the probes divided by the bridge's pages. **mam/prosody-nagle-off** is the same with Prosody's
  sockets set to TCP_NODELAY (BENCH_XMPP_PROSODY_NODELAY=1: network_settings = { nagle = false }).
`

func le(x float64) func(float64) bool { return func(v float64) bool { return v <= x } }
func ge(x float64) func(float64) bool { return func(v float64) bool { return v >= x } }

func render(r *results, command string, mach string, now time.Time) string {
	var b strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	p("%s\n## XMPP\n\n", begin)
	p("Written by `%s` on %s. Each figure is the median over the runs listed; ratios are taken within one run.\n\n", command, now.Format("2006-01-02 15:04 MST"))
	p("Machine: %s.\n\n", mach)
	p("Real servers on 127.0.0.1: Prosody 0.12 (`/usr/bin/prosody`, c2s and component listeners, mod_limits off) and " +
		"Dendrite on SQLite, each a separate process; the bridge (core + XMPP module only) runs alone in a child process " +
		"whose RSS, heap and CPU are read from /proc and runtime.MemStats, so neither the servers nor the load generators are counted.\n\n")
	p("### Targets\n\n| measure | target | measured (median; counts that must be 0: the worst run) | verdict |\n|---|---|---|---|\n")
	for _, t := range targets {
		vs := r.vals[t.bench+"|"+t.metric]
		got, verdict := "not measured", ""
		if len(vs) > 0 {
			v := ircbench.Median(vs)
			got = fmt.Sprintf("%.3g %s (%d runs)", v, t.unit, len(vs))
			if t.required == "0" {
				// A count that must be zero is judged by its worst run.
				v = slices.Max(vs)
				got = fmt.Sprintf("%.3g in the worst of %d runs", v, len(vs))
			}
			if t.ok != nil {
				verdict = "met"
				if !t.ok(v) {
					verdict = "**missed**"
				}
			}
		}
		p("| %s | %s | %s | %s |\n", t.what, t.required, got, verdict)
	}
	p("\n### All results\n\n| benchmark | metric | median | runs | values |\n|---|---|---|---|---|\n")
	for _, k := range r.order {
		bench, metric, _ := strings.Cut(k, "|")
		vs := r.vals[k]
		parts := make([]string, len(vs))
		for i, v := range vs {
			parts[i] = fmt.Sprintf("%.4g", v)
		}
		p("| %s | %s | %.4g | %d | %s |\n", bench, metric, ircbench.Median(vs), len(vs), strings.Join(parts, ", "))
	}
	p("\n%s", notes)
	p("\n%s\n", end)
	return b.String()
}

// replaceSection puts section in place of the old one in doc, or at its end.
func replaceSection(doc []byte, section string) []byte {
	s := string(doc)
	i := strings.Index(s, begin)
	j := strings.Index(s, end)
	if i >= 0 && j > i {
		return []byte(s[:i] + section + strings.TrimPrefix(s[j+len(end):], "\n"))
	}
	if s != "" && !strings.HasSuffix(s, "\n\n") {
		s = strings.TrimRight(s, "\n") + "\n\n"
	}
	if s == "" {
		s = "# Benchmarks\n\n"
	}
	return []byte(s + section)
}

// machine describes the CPU, cores, memory, Go and kernel.
func machine() string {
	cpu := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.Lines(string(b)) {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				cpu = strings.TrimSpace(v)
				break
			}
		}
	}
	mem := ""
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb int64
		if _, err := fmt.Sscanf(string(b), "MemTotal: %d kB", &kb); err == nil {
			mem = fmt.Sprintf(", %.1f GiB RAM", float64(kb)/1024/1024)
		}
	}
	kernel := ""
	if out, err := exec.Command("uname", "-sr").Output(); err == nil {
		kernel = ", " + strings.TrimSpace(string(out))
	}
	return fmt.Sprintf("%s, %d cores (nproc)%s, %s%s", cpu, runtime.NumCPU(), mem, runtime.Version(), kernel)
}
