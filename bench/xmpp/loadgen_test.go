package xmppbench

import (
	"strconv"
	"testing"
)

// A marker split across two reads is counted once, with the read that
// completes it; one wholly inside the kept bytes is not counted again.
func TestCountMarksAcrossReads(t *testing.T) {
	first := []byte(`<presence><status code='110'/></presence><status co`)
	if got := countMarks(first, 0, selfMarks); got != 1 {
		t.Fatalf("first read: %d, want 1", got)
	}
	const overlap = 16
	keep := first[len(first)-overlap:]
	second := append(append([]byte{}, keep...), []byte(`de="110"/><x type='error'/>`)...)
	if got := countMarks(second, overlap, selfMarks); got != 1 {
		t.Fatalf("second read: %d self-presences, want 1 (the split one)", got)
	}
	if got := countMarks(second, overlap, errorMarks); got != 1 {
		t.Fatalf("second read: %d errors, want 1", got)
	}
	if got := countMarks([]byte(`code='110'`), len(`code='110'`), selfMarks); got != 0 {
		t.Fatalf("kept bytes counted again: %d", got)
	}
}

// BenchmarkOccupantFloor reports the floor of the memory per occupant
// (FloorHeapPerOccupant) at 1,000 and 10,000 occupants, 100 per room.
func BenchmarkOccupantFloor(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			var v float64
			for range b.N {
				v = FloorHeapPerOccupant(n, 100)
			}
			b.ReportMetric(v, "heap-B/occupant")
		})
	}
}

// TestIQRefuser checks that the load generator answers IQ requests split
// across reads, with the addresses swapped and the id kept, and leaves
// results, errors and other stanzas alone.
func TestIQRefuser(t *testing.T) {
	var sent []string
	a := &iqRefuser{send: func(raw string) { sent = append(sent, raw) }}
	stream := `<presence from='r@b/n' to='u1@l/r'/><iq type='get' id='a1' from='b.x' to="u1@l/r"><pubsub/></iq>` +
		`<iq type='result' id='a2' from='b.x' to='u2@l'/><i`
	a.feed([]byte(stream[:60]))
	a.feed([]byte(stream[60:]))
	a.feed([]byte(`q id='a3' to='u3@l' type='set' from='b.x'><query/></iq>`))
	want := []string{
		`<iq type='error' id='a1' from='u1@l/r' to='b.x'><error type='cancel'><service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>`,
		`<iq type='error' id='a3' from='u3@l' to='b.x'><error type='cancel'><service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>`,
	}
	if len(sent) != len(want) || sent[0] != want[0] || sent[1] != want[1] {
		t.Fatalf("answers:\n%q\nwant\n%q", sent, want)
	}
}
