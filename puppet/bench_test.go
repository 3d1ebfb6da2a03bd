package puppet

import (
	"testing"

	"github.com/causewaybridge/causeway/matrix"
)

// BenchmarkFormat formats typical IRC puppet IDs: a plain nick, one with
// uppercase and punctuation to escape. Target: ≤ 500 ns/op.
func BenchmarkFormat(b *testing.B) {
	ns := mustUsers(b, ircUsers)
	for _, bc := range []struct {
		name string
		v    Values
	}{
		{"plain", Values{"network": "libera", "nick": "alice"}},
		{"escaped", Values{"network": "Libera_Chat", "nick": "[Al]ice|away"}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := ns.Format(bc.v); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkFormatBound formats with a per-network namespace from Bind, the
// way a bridge module holds one namespace per network.
func BenchmarkFormatBound(b *testing.B) {
	ns, err := mustUsers(b, ircUsers).Bind("network", "libera")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ns.Format(Values{"nick": "alice"}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParse parses IDs back into values, and Owns checks them without
// building the values.
func BenchmarkParse(b *testing.B) {
	ns := mustUsers(b, ircUsers)
	for _, bc := range []struct {
		name string
		id   matrix.UserID
	}{
		{"plain", "@irc_libera_alice:example.org"},
		{"escaped", "@irc_=4cibera=5f=43hat_=5b=41l=5dice=7caway:example.org"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := ns.Parse(bc.id); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(bc.name+"/owns", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if !ns.Owns(bc.id) {
					b.Fatal("not owned")
				}
			}
		})
	}
}
