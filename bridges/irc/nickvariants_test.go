package irc

import (
	"slices"
	"testing"
)

// TestNickVariants: the nicks a Matrix user's connection falls back to keep
// the whole nick before the network's suffix, and a nick chosen with !nick
// without the suffix is varied as it is (it lost its last characters, or
// made the dial panic when shorter than the suffix).
func TestNickVariants(t *testing.T) {
	n := &network{cfg: &NetworkConfig{NickSuffix: "[m]", MaxNickLength: 16}}
	for _, tc := range []struct {
		nick string
		want []string // the first variants
	}{
		{"alice[m]", []string{"alice[m]", "alice_[m]", "alice1[m]"}},
		{"bobby", []string{"bobby", "bobby_", "bobby1"}},
		{"ab", []string{"ab", "ab_", "ab1"}},
		{"[m]", []string{"[m]", "[m]_", "[m]1"}},
	} {
		got := n.nickVariants(tc.nick)
		if len(got) < len(tc.want) || !slices.Equal(got[:len(tc.want)], tc.want) {
			t.Errorf("nickVariants(%q) = %q, want it to start with %q", tc.nick, got, tc.want)
		}
	}
	plain := &network{cfg: &NetworkConfig{MaxNickLength: 16}}
	if got := plain.nickVariants("carol"); len(got) < 2 || got[0] != "carol" || got[1] != "carol_" {
		t.Errorf("without a suffix: nickVariants(carol) = %q", got)
	}
}
