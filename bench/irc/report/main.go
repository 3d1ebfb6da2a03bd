// Command report turns the results of the IRC benchmarks (JSON lines
// written by bench/irc with BENCH_IRC_OUT) into the "IRC" section of
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
	"strings"
	"time"

	ircbench "github.com/causewaybridge/causeway/bench/irc"
)

const (
	begin = "<!-- irc-bench:begin (written by scripts/bench-irc.sh) -->"
	end   = "<!-- irc-bench:end -->"
)

func main() {
	in := flag.String("in", "", "JSON-lines results file")
	out := flag.String("out", "BENCHMARKS.md", "markdown file whose IRC section is replaced")
	command := flag.String("command", "scripts/bench-irc.sh", "command line shown in the section")
	load := flag.String("load", "", "the machine's load averages during the run, shown in the section")
	merge := flag.Bool("merge", false, "keep the existing section's rows of benchmarks this run did not measure")
	flag.Parse()
	if err := run(*in, *out, *command, *load, *merge); err != nil {
		fmt.Fprintln(os.Stderr, "report:", err)
		os.Exit(1)
	}
}

func run(in, out, command, load string, merge bool) error {
	f, err := os.Open(in)
	if err != nil {
		return err
	}
	defer f.Close()
	res, err := readResults(f)
	if err != nil {
		return err
	}
	mach := machine()
	if load != "" {
		mach += "; load averages (1, 5, 15 min): " + load
	}
	old, err := os.ReadFile(out)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	var kept string
	if merge {
		kept = mergeOld(res, string(old))
	}
	section := render(res, command, mach, time.Now().UTC())
	if kept != "" {
		section = strings.Replace(section, "\n\nMachine: ", "\n\n"+kept+"\n\nMachine: ", 1)
	}
	return os.WriteFile(out, replaceSection(old, section), 0o644)
}

// results maps "bench|metric" to the values of every run, in file order.
type results struct {
	vals  map[string][]float64
	order []string
	// origin names, for rows kept from an earlier section, the run that
	// measured them ("`command` on date"), by bench.
	origin map[string]string
}

// originPrefix starts the hidden line recording where a bench's rows came
// from, so that a later partial run names the right run for rows it keeps.
const originPrefix = "<!-- origin "

func readResults(r io.Reader) (*results, error) {
	res := &results{vals: map[string][]float64{}}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		var x ircbench.Result
		if err := json.Unmarshal(sc.Bytes(), &x); err != nil {
			return nil, fmt.Errorf("results: %w", err)
		}
		k := x.Bench + "|" + x.Metric
		if _, ok := res.vals[k]; !ok {
			res.order = append(res.order, k)
		}
		res.vals[k] = append(res.vals[k], x.Value)
	}
	return res, sc.Err()
}

// mergeOld adds to r the rows of the existing section's "All results"
// table whose benchmark r has no figure for, after r's own rows, and
// returns a sentence saying which rows are older and where they came from
// ("" when none were kept).
func mergeOld(r *results, doc string) string {
	i, j := strings.Index(doc, begin), strings.Index(doc, end)
	if i < 0 || j < i {
		return ""
	}
	sec := doc[i:j]
	measured := map[string]bool{}
	for _, k := range r.order {
		b, _, _ := strings.Cut(k, "|")
		measured[b] = true
	}
	keptBenches := map[string]bool{}
	var kept []string
	inTable := false
	for line := range strings.Lines(sec) {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "| benchmark | metric |") {
			inTable = true
			continue
		}
		if !inTable || !strings.HasPrefix(line, "|") {
			if inTable && line != "" {
				break
			}
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		if len(cells) != 5 || strings.HasPrefix(strings.TrimSpace(cells[0]), "---") {
			continue
		}
		bench, metric := strings.TrimSpace(cells[0]), strings.TrimSpace(cells[1])
		if measured[bench] {
			continue
		}
		var vals []float64
		for _, f := range strings.Split(cells[4], ",") {
			var v float64
			if _, err := fmt.Sscanf(strings.TrimSpace(f), "%g", &v); err == nil {
				vals = append(vals, v)
			}
		}
		if len(vals) == 0 {
			continue
		}
		k := bench + "|" + metric
		r.order = append(r.order, k)
		r.vals[k] = vals
		if !keptBenches[bench] {
			keptBenches[bench] = true
			kept = append(kept, bench)
		}
	}
	if len(kept) == 0 {
		return ""
	}
	written := "an earlier run"
	if k := strings.Index(sec, "Written by "); k >= 0 {
		line, _, _ := strings.Cut(sec[k:], "\n")
		written, _, _ = strings.Cut(strings.TrimPrefix(line, "Written by "), ". Each figure")
	}
	older := map[string]string{}
	for line := range strings.Lines(sec) {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(line), originPrefix); ok {
			bench, from, _ := strings.Cut(strings.TrimSuffix(rest, " -->"), ": ")
			older[bench] = from
		}
	}
	if r.origin == nil {
		r.origin = map[string]string{}
	}
	var froms []string
	byFrom := map[string][]string{}
	for _, b := range kept {
		from := older[b]
		if from == "" {
			from = written
		}
		r.origin[b] = from
		if byFrom[from] == nil {
			froms = append(froms, from)
		}
		byFrom[from] = append(byFrom[from], b)
	}
	parts := make([]string, len(froms))
	for i, f := range froms {
		parts[i] = fmt.Sprintf("the rows of %s come from %s", "`"+strings.Join(byFrom[f], "`, `")+"`", f)
	}
	return "Only part of the benchmarks ran this time; " + strings.Join(parts, "; ") + "."
}

// median returns the median of bench|metric and whether it was measured.
func (r *results) median(bench, metric string) (float64, bool) {
	v := r.vals[bench+"|"+metric]
	return ircbench.Median(v), len(v) > 0
}

// target is one line of the targets table.
type target struct {
	what, required, bench, metric, unit string
	ok                                  func(float64) bool
	reference                           string
}

var targets = []target{
	{"RSS per puppeted connection, 1,000 users in one channel", "≤ 32 KiB", "memory/one-channel", "rss_kib_per_conn_1000", "KiB", le(32), "178 KiB (matrix-appservice-irc)"},
	{"RSS per puppeted connection, 5,000 users in one channel", "≤ 32 KiB", "memory/one-channel", "rss_kib_per_conn_5000", "KiB", le(32), ""},
	{"RSS per puppeted connection, 1,000 users, 10 per channel", "≤ 32 KiB", "memory/ten-per-channel", "rss_kib_per_conn_1000", "KiB", le(32), ""},
	{"RSS per puppeted connection, 5,000 users, 10 per channel", "≤ 32 KiB", "memory/ten-per-channel", "rss_kib_per_conn_5000", "KiB", le(32), ""},
	{"floor: bare net.Conn + bufio + 1 goroutine, 5,000 in one channel", "(reference)", "memory/bare", "rss_kib_per_conn_5000", "KiB", nil, "≈ 15 KiB (notes)"},
	{"IRC→Matrix rate ÷ direct PUTs, same run", "≥ 0.9×", "irc-to-matrix", "ratio", "×", ge(0.9), "0.75× / 0.98× (AI on PostgreSQL / SQLite)"},
	{"bridge CPU per IRC→Matrix message", "(reference: the 0.1 ms target is withdrawn, issue 11)", "irc-to-matrix", "bridge_cpu_ms_per_msg", "ms", nil, "2.7–3.2 ms (AI)"},
	{"floor program's CPU per IRC→Matrix message, appservice on TCP", "(reference)", "floor/tcp", "floor_cpu_ms_per_msg", "ms", nil, ""},
	{"bridge CPU per IRC→Matrix message ÷ the floor program's, same run, TCP", "≤ 1.5×", "floor/tcp", "ratio", "×", le(1.5), ""},
	{"floor program's CPU per IRC→Matrix message, appservice on a unix socket", "(reference)", "floor/unix", "floor_cpu_ms_per_msg", "ms", nil, ""},
	{"bridge CPU per IRC→Matrix message ÷ the floor program's, same run, unix socket", "≤ 1.5×", "floor/unix", "ratio", "×", le(1.5), ""},
	{"burst messages out of place in Matrix", "0", "irc-to-matrix", "out_of_place", "", le(0), "1,332 of 2,000 (AI)"},
	{"Matrix→IRC, bridge's own part (transaction in → line out), p99", "≤ 5 ms", "matrix-to-irc/bridge", "p99_ms", "ms", le(5), ""},
	{"Matrix→IRC, end to end (client PUT → IRC client reads), p99", "(reference)", "matrix-to-irc/end-to-end", "p99_ms", "ms", nil, "702 ms (AI)"},
	{"reconnect storm, 5,000 users in one channel: all registered again (001)", "(reference)", "storm/one-channel", "s_to_all_registered", "s", nil, "floor: s_floor below"},
	{"reconnect storm, 5,000 users in one channel: all rejoined (JOIN echo)", "(reference: the server's n² JOIN broadcast)", "storm/one-channel", "s_to_all_rejoined", "s", nil, "hours (AI, #1768)"},
	{"reconnect storm, 5,000 users, 10 per channel: all rejoined", "(reference)", "storm/ten-per-channel", "s_to_all_rejoined", "s", nil, ""},
	{"reconnect storm, 5,000 users, 10 per channel: all rejoined ÷ floor", "≤ 1.2×", "storm/ten-per-channel", "rejoined_over_floor", "×", le(1.2), ""},
	{"reconnect storm: bridge bot back on IRC, 5,000 users in one channel", "≤ 5 s", "storm/one-channel", "s_bot_back", "s", le(5), ""},
}

// notes explain what each figure includes; they hold no numbers, so they
// stay true from run to run.
const notes = `Reading the figures:

- **memory/bare** is the floor: one net.Conn, a bufio.Reader and one goroutine per connection, registered and joined,
  in a process of its own. **memory/ircconn-alone** is bridges/irc/ircconn's BenchmarkConnMemory: registered, joined
  connections to a fake server that sends nothing else, held by a fresh child process that warms up (opens and
  closes a few hundred connections), collects garbage and returns freed memory to the OS before its baseline and
  after the connections are up. (It used to measure inside the benchmark process, whose earlier iterations had
  freed memory the later ones reused: it reported less RSS per connection than its own heap.)
  **memory/one-channel** and **memory/ten-per-channel** are the whole bridge (core + IRC module)
  with every user connected and joined through the module's own path (BenchJoin: userConnFor(...).join, the code a
  Matrix join runs), so the per-user state counted is the real one: userConn, the ircconn connection and its
  goroutines, nick maps, and each user's share of the network's single channel-member table.
- **irc-to-matrix**: one raw IRC client sends a burst of MSGS lines into a bridged channel; the rate is the burst
  divided by the time until a Matrix reader, syncing all along, sees the last one. The baseline in the same run: a
  second Matrix user (the poster) PUTs the same number of messages one by one into a room the same reader is in and
  syncs, timed the same way, so the homeserver does the same per-message fan-out (the reader's /sync, its push rules
  and unread counts) on both paths. The poster's burst runs once before and once after the bridged one, and the
  baseline rate is both together: Dendrite slows down as its rooms grow (its CPU per message rises from run to run),
  which a baseline taken only first would credit to it. The bridge sends one room's messages strictly one after
  the other (order is a requirement), as the poster does.
- **bridge_cpu_ms_per_msg** is the whole bridge process (utime+stime from /proc), not only the IRC module: per message
  it parses and converts the IRC line, stores the outbox item (one SQLite INSERT), makes the HTTP PUT, commits the
  completion with the msgid→event link (group commit: one transaction for the items delivered within 100 ms),
  and receives the homeserver's transaction echoing the event back (an HTTP request, decoded and dropped before
  storage). The store's share alone is BenchmarkOutboxCompletion in the core section. A CPU profile
  (BENCH_IRC_CPUPROFILE=file, then go tool pprof) splits it.
- **floor/tcp** and **floor/unix** (issue 11): bench/floor is the least a bridge can do per IRC message, in a process
  of its own: read the line from its own raw IRC connection, commit it to SQLite (one transaction with the previous
  message's event ID; WAL, synchronous=NORMAL, BEGIN IMMEDIATE, modernc.org/sqlite, as store/ opens it), PUT it as an
  appservice user over a keep-alive connection, and accept the homeserver's transaction echoing it on an appservice
  listener registered with the same Dendrite like the bridge's (hs_token checked, JSON decoded, acknowledged without
  a body as the bridge does for Dendrite), all inline in one goroutine. The bridge and the floor program run beside
  each other on the same Ergo and Dendrite; the IRC client sends MSGS lines into the bridged channel or into the
  floor's, alternating ABBA (bridge first in odd runs). Each process's CPU (utime+stime of the whole process from
  /proc) and context switches (summed over its threads' /proc status) are read from before its burst's first line
  until one second after the Matrix reader saw the last one (echoes and group commits), the same window for both;
  ratio is bridge ÷ floor CPU per message of the same run. *_idle_other_cpu_ms is what the other process spent
  meanwhile (nothing should wake an idle bridge). BENCH_IRC_FLOOR_PROFILE=dir and BENCH_IRC_FLOOR_TRACE=dir write
  a CPU profile and a runtime trace of both processes over each burst. The whole test runs twice, with both
  appservices on TCP (Dendrite opens a connection per transaction) and on unix sockets (kept alive), each with
  fresh servers.
- **homeserver_cpu_ms_per_msg_bridged/direct** is Dendrite's CPU per message on each path in the same run. On the
  bridged path it also pushes each event to the appservice, over a new TCP connection per transaction (Dendrite
  disables keep-alive for appservices except on unix:// URLs; BENCH_IRC_AS_UNIX=1 measures that), and evaluates push
  rules for every local member of the portal; the bridge mutes notifications of its bot and puppets so those
  evaluations stop at the first rule instead of storing an unread notification each. With one homeserver on two
  cores, the homeserver sets both rates.
- **matrix-to-irc/bridge** is timed by two proxies inside the bridge's process: one in front of the appservice port
  (transaction arrives) and one in front of the IRC server (PRIVMSG written); their forwarding cost is included, so it
  is an upper bound. **end-to-end** is a Matrix client's PUT until a raw IRC client in the channel reads the line.
- **storm/one-channel** and **storm/ten-per-channel**: Ergo is SIGKILLed and restarted under the largest user count
  of that layout; times are from the moment Ergo accepts clients again (s_ergo_restart is the kill and restart). The
  floor (s_floor) is the shortest first backoff (min_delay 1 s, jittered down to half) plus users ÷
  reconnect.per_second, the dial limiter's spacing. s_to_all_registered is when every user's connection is registered
  again, s_to_all_rejoined when every JOIN echo has arrived, s_bot_back when a watching client's ISON first sees the
  bridge's bot. bridge_cpu_s and ergo_cpu_s are each process's CPU over the storm (/proc/<pid>/stat);
  bridge_read_mib is what the bridge read from its sockets meanwhile (rchar in /proc/<pid>/io), nearly all of it
  what its users' connections receive. In one channel every rejoin is broadcast to every member already back, and
  every joiner gets a NAMES reply listing them: about users²/2 JOIN lines, which both processes must write, read and
  parse. The ten-per-channel layout runs the same users at the same rate with a few dozen lines per rejoin: when it
  reaches the floor, and the one-channel storm registers everyone near the floor but rejoins much later while the
  bridge reads gigabytes and ergo_cpu_s is most of the storm's length (about a full core on an otherwise idle
  machine, less when other work shares the cores), the one-channel time is the server's broadcast in one channel, not the bridge's reconnect scheduling. The bridge's own
  share is bridge_cpu_s: reading, parsing and collecting those lines in ircconn, one read per line. Peak CPU is the
  bridge's, in cores over 250 ms windows.
`

func le(x float64) func(float64) bool { return func(v float64) bool { return v <= x } }
func ge(x float64) func(float64) bool { return func(v float64) bool { return v >= x } }

func render(r *results, command string, mach string, now time.Time) string {
	var b strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	p("%s\n## IRC\n\n", begin)
	p("Written by `%s` on %s. Each figure is the median over the runs listed; ratios are taken within one run.\n\n", command, now.Format("2006-01-02 15:04 MST"))
	p("Machine: %s.\n\n", mach)
	p("Real servers on 127.0.0.1: Ergo (`.stack/bin/ergo`, fakelag and per-IP limits off) and Dendrite on SQLite, " +
		"each a separate process; the bridge runs alone in a child process whose RSS and CPU are read from /proc, " +
		"so neither the servers nor the load generator are counted. Memory is RSS after GC (`debug.FreeOSMemory`) " +
		"minus the same process's RSS before the connections, divided by the connections; portals are created before the baseline.\n\n")
	p("### Targets\n\n| measure | target | measured (median) | verdict | reference (anchors §5) |\n|---|---|---|---|---|\n")
	for _, t := range targets {
		v, ok := r.median(t.bench, t.metric)
		got, verdict := "not measured", ""
		if ok {
			got = fmt.Sprintf("%.3g %s (%d runs)", v, t.unit, len(r.vals[t.bench+"|"+t.metric]))
			if t.ok != nil {
				verdict = "met"
				if !t.ok(v) {
					verdict = "**missed**"
				}
			}
		}
		p("| %s | %s | %s | %s | %s |\n", t.what, t.required, got, verdict, t.reference)
	}
	seen := map[string]bool{}
	for _, k := range r.order {
		bench, _, _ := strings.Cut(k, "|")
		if seen[bench] {
			continue
		}
		seen[bench] = true
		from := r.origin[bench]
		if from == "" {
			from = fmt.Sprintf("`%s` on %s", command, now.Format("2006-01-02 15:04 MST"))
		}
		p("%s%s: %s -->\n", originPrefix, bench, from)
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
	return fmt.Sprintf("%s, %d cores%s, %s%s", cpu, runtime.NumCPU(), mem, runtime.Version(), kernel)
}
