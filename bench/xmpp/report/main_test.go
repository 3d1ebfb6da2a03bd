package main

import (
	"strings"
	"testing"
	"time"
)

func TestRenderMediansAndVerdicts(t *testing.T) {
	in := `{"bench":"xmpp-to-matrix","metric":"ratio","value":0.8,"run":1}
{"bench":"xmpp-to-matrix","metric":"ratio","value":0.95,"run":2}
{"bench":"xmpp-to-matrix","metric":"ratio","value":0.99,"run":3}
{"bench":"occupants/memory","metric":"heap_kib_per_occupant_1000","value":5.5,"run":1}
{"bench":"xmpp-to-matrix","metric":"refused","value":0,"run":1}
{"bench":"xmpp-to-matrix","metric":"refused","value":4,"run":2}
{"bench":"xmpp-to-matrix","metric":"refused","value":0,"run":3}
`
	r := &results{vals: map[string][]float64{}}
	if err := r.read(strings.NewReader(in)); err != nil {
		t.Fatal(err)
	}
	out := render(r, "scripts/bench-xmpp.sh", "test machine", time.Date(2026, 12, 8, 0, 0, 0, 0, time.UTC))
	for _, want := range []string{
		"| XMPP→Matrix rate ÷ direct PUTs, same run | ≥ 0.9× | 0.95 × (3 runs) | met |",
		"| Go heap per XMPP occupant, 1,000 occupants | ≤ 4 KiB | 5.5 KiB (1 runs) | **missed** |",
		"| MAM page of 50 ÷ the homeserver's /messages of the same 50 | ≤ 1.2× | not measured |",
		"| xmpp-to-matrix | ratio | 0.95 | 3 | 0.8, 0.95, 0.99 |",
		"| burst messages refused by the bridge (XMPP error), XMPP→Matrix | 0 | 4 in the worst of 3 runs | **missed** |",
		"Written by `scripts/bench-xmpp.sh` on 2026-12-08 00:00 UTC",
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
