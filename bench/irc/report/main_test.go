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
`
	r, err := readResults(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	out := render(r, "scripts/bench-irc.sh", "test machine", time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC))
	for _, want := range []string{
		"| IRC→Matrix rate ÷ direct PUTs, same run | ≥ 0.9× | 0.95 × (3 runs) | met |",
		"| bridge CPU per IRC→Matrix message | ≤ 0.1 ms | 1.5 ms (1 runs) | **missed** |",
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
