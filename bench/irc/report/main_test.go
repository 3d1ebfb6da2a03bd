package main

import (
	"strings"
	"testing"
	"time"
)

func TestRenderMediansAndVerdicts(t *testing.T) {
	in := `{"bench":"irc-to-matrix","metric":"ratio","value":0.8,"run":1}
{"bench":"irc-to-matrix","metric":"ratio","value":0.95,"run":2}
{"bench":"irc-to-matrix","metric":"ratio","value":0.99,"run":3}
{"bench":"irc-to-matrix","metric":"bridge_cpu_ms_per_msg","value":1.5,"run":1}
{"bench":"floor/tcp","metric":"ratio","value":1.6,"run":1}
`
	r, err := readResults(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	out := render(r, "scripts/bench-irc.sh", "test machine", time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC))
	for _, want := range []string{
		"| IRC→Matrix rate ÷ direct PUTs, same run | ≥ 0.9× | 0.95 × (3 runs) | met |",
		"| bridge CPU per IRC→Matrix message | (reference: the 0.1 ms target is withdrawn, issue 11) | 1.5 ms (1 runs) |  |",
		"| bridge CPU per IRC→Matrix message ÷ the floor program's, same run, TCP | ≤ 1.5× | 1.6 × (1 runs) | **missed** |",
		"| RSS per puppeted connection, 1,000 users in one channel | ≤ 32 KiB | not measured |",
		"| irc-to-matrix | ratio | 0.95 | 3 | 0.8, 0.95, 0.99 |",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("section lacks %q:\n%s", want, out)
		}
	}
}

func TestReplaceSectionKeepsTheRest(t *testing.T) {
	doc := "# Benchmarks\n\nother\n\n" + begin + "\nold\n" + end + "\ntail\n"
	got := string(replaceSection([]byte(doc), begin+"\nnew\n"+end+"\n"))
	want := "# Benchmarks\n\nother\n\n" + begin + "\nnew\n" + end + "\ntail\n"
	if got != want {
		t.Errorf("replaced:\n%q\nwant:\n%q", got, want)
	}
	got = string(replaceSection([]byte("# Benchmarks\n\nx\n"), "S\n"))
	if got != "# Benchmarks\n\nx\n\nS\n" {
		t.Errorf("appended: %q", got)
	}
}

func TestMergeKeepsUnmeasuredRows(t *testing.T) {
	old := "# Benchmarks\n\n" + render(&results{
		vals:  map[string][]float64{"memory/bare|rss_kib_per_conn_1000": {10.5, 11}, "irc-to-matrix|ratio": {0.5}},
		order: []string{"memory/bare|rss_kib_per_conn_1000", "irc-to-matrix|ratio"},
	}, "RUNS=2 scripts/bench-irc.sh", "test machine", time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC))
	fresh := &results{vals: map[string][]float64{"irc-to-matrix|ratio": {0.95, 1.0}}, order: []string{"irc-to-matrix|ratio"}}
	note := mergeOld(fresh, old)
	if got := fresh.vals["memory/bare|rss_kib_per_conn_1000"]; len(got) != 2 || got[0] != 10.5 || got[1] != 11 {
		t.Fatalf("kept memory row = %v, want [10.5 11]", got)
	}
	if got := fresh.vals["irc-to-matrix|ratio"]; len(got) != 2 || got[0] != 0.95 {
		t.Fatalf("re-measured row = %v, want the new values [0.95 1]", got)
	}
	if !strings.Contains(note, "`memory/bare`") || !strings.Contains(note, "RUNS=2 scripts/bench-irc.sh") || !strings.Contains(note, "2026-11-01") {
		t.Fatalf("note %q does not say which rows are older and where they come from", note)
	}
	if mergeOld(&results{vals: map[string][]float64{}}, "no section here") != "" {
		t.Fatal("note without an old section")
	}
}

// TestMergeNamesEachRowsOwnRun: after two partial runs, rows kept twice
// still name the run that measured them, not the run before the last.
func TestMergeNamesEachRowsOwnRun(t *testing.T) {
	first := render(&results{
		vals:  map[string][]float64{"memory/bare|rss": {10}, "irc-to-matrix|ratio": {0.5}, "matrix-to-irc/bridge|p99_ms": {3}},
		order: []string{"memory/bare|rss", "irc-to-matrix|ratio", "matrix-to-irc/bridge|p99_ms"},
	}, "FULL", "m", time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC))
	tp := &results{vals: map[string][]float64{"irc-to-matrix|ratio": {0.9}}, order: []string{"irc-to-matrix|ratio"}}
	note := mergeOld(tp, first)
	second := render(tp, "TP", "m", time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC))
	second = strings.Replace(second, "\n\nMachine: ", "\n\n"+note+"\n\nMachine: ", 1)
	mem := &results{vals: map[string][]float64{"memory/bare|rss": {11}}, order: []string{"memory/bare|rss"}}
	note = mergeOld(mem, second)
	for _, want := range []string{"`irc-to-matrix` come from `TP` on 2026-11-02", "`matrix-to-irc/bridge` come from `FULL` on 2026-11-01"} {
		if !strings.Contains(note, want) {
			t.Errorf("note %q lacks %q", note, want)
		}
	}
	if got := mem.vals["irc-to-matrix|ratio"]; len(got) != 1 || got[0] != 0.9 {
		t.Errorf("kept ratio = %v, want the TP run's [0.9]", got)
	}
}
