package ircfmt

import (
	"slices"
	"strconv"
	"testing"
)

func TestSanitizeNick(t *testing.T) {
	tests := []struct {
		in   string
		max  int
		want string
	}{
		0:  {"alice", 30, "alice"},
		1:  {"Alice Smith", 30, "Alice_Smith"},
		2:  {"Zoë  Ångström", 30, "Zoe_Angstrom"},
		3:  {"Dr. Who?!", 30, "Dr_Who"},
		4:  {"1337 h4x0r", 30, "_1337_h4x0r"},
		5:  {"-dash", 30, "_-dash"},
		6:  {"[m]bot`^{|}\\", 30, "[m]bot`^{|}\\"},
		7:  {"ＡＢＣ", 30, "ABC"},
		8:  {"averyveryverylongdisplayname", 9, "averyvery"},
		9:  {"alice", 0, "alice"},
		10: {"averyveryverylongdisplayname", 0, "averyvery"},
		11: {"李明", 30, "userad55fab2"},
		12: {"", 30, "user811c9dc5"},
		13: {"李明", 6, "userad"},
		14: {"  spaced  out  ", 30, "spaced_out"},
		15: {"a\r\nNICK x\x00", 30, "a_NICK_x"},
		16: {"José 🎉 García", 30, "Jose_Garcia"},
	}
	for i, tc := range tests {
		t.Run(strconv.Itoa(i), func(t *testing.T) {
			got := SanitizeNick(tc.in, tc.max)
			if got != tc.want {
				t.Errorf("SanitizeNick(%q, %d) = %q, want %q", tc.in, tc.max, got, tc.want)
			}
			if !ValidNick(got, max(tc.max, 0)) {
				t.Errorf("SanitizeNick(%q) = %q is not a valid nick", tc.in, got)
			}
		})
	}
	if SanitizeNick("李明", 30) == SanitizeNick("王芳", 30) {
		t.Error("different unusable names got the same fallback nick")
	}
}

func TestValidNick(t *testing.T) {
	for i, tc := range []struct {
		nick string
		max  int
		want bool
	}{
		{"alice", 9, true}, {"[m]x", 9, true}, {"_1", 9, true}, {"", 9, false},
		{"1abc", 9, false}, {"-abc", 9, false}, {"a b", 9, false}, {"a!b", 9, false},
		{"abcdefghij", 9, false}, {"abcdefghij", 0, true}, {"é", 9, false},
	} {
		if got := ValidNick(tc.nick, tc.max); got != tc.want {
			t.Errorf("%d: ValidNick(%q, %d) = %v, want %v", i, tc.nick, tc.max, got, tc.want)
		}
	}
}

func TestNickVariants(t *testing.T) {
	tests := []struct {
		nick, suffix string
		max          int
		want         []string
	}{
		0: {"alice", "[m]", 30, []string{"alice[m]", "alice_[m]", "alice1[m]", "alice2[m]", "alice3[m]", "alice4[m]", "alice5[m]", "alice6[m]", "alice7[m]", "alice8[m]", "alice9[m]"}},
		1: {"alice", "", 30, []string{"alice", "alice_", "alice1", "alice2", "alice3", "alice4", "alice5", "alice6", "alice7", "alice8", "alice9"}},
		2: {"alexander", "[m]", 9, []string{"alexan[m]", "alexa_[m]", "alexa1[m]", "alexa2[m]", "alexa3[m]", "alexa4[m]", "alexa5[m]", "alexa6[m]", "alexa7[m]", "alexa8[m]", "alexa9[m]"}},
		3: {"bob", "|matrix", 8, []string{"bob", "bob_", "bob1", "bob2", "bob3", "bob4", "bob5", "bob6", "bob7", "bob8", "bob9"}},
		4: {"bob", "[m] x", 30, []string{"bob[m]x", "bob_[m]x", "bob1[m]x", "bob2[m]x", "bob3[m]x", "bob4[m]x", "bob5[m]x", "bob6[m]x", "bob7[m]x", "bob8[m]x", "bob9[m]x"}},
		5: {"a", "", 1, []string{"a"}},
	}
	for i, tc := range tests {
		t.Run(strconv.Itoa(i), func(t *testing.T) {
			got := NickVariants(tc.nick, tc.suffix, tc.max)
			if !slices.Equal(got, tc.want) {
				t.Errorf("NickVariants(%q, %q, %d)\n got %q\nwant %q", tc.nick, tc.suffix, tc.max, got, tc.want)
			}
			for _, v := range got {
				if !ValidNick(v, tc.max) {
					t.Errorf("variant %q is not a valid nick", v)
				}
			}
		})
	}
}

func TestCasefold(t *testing.T) {
	tests := []struct {
		m        CaseMapping
		in, want string
	}{
		0: {CaseMappingASCII, "Alice[]\\^~", "alice[]\\^~"},
		1: {CaseMappingRFC1459, "Alice[]\\^~", "alice{}|~~"},
		2: {CaseMappingRFC1459Strict, "Alice[]\\^~", "alice{}|^~"},
		3: {"", "NICK[m]", "nick{m}"},
		4: {"unknown", "NICK[m]", "nick{m}"},
		5: {CaseMappingASCII, "ÉCOLE", "École"},
		6: {CaseMappingRFC8265, "ÉCOLE", "école"},
		7: {CaseMappingRFC7613, "Bob", "bob"},
		8: {CaseMappingRFC8265, "two words", "two words"},
	}
	for i, tc := range tests {
		t.Run(strconv.Itoa(i), func(t *testing.T) {
			if got := Casefold(tc.m, tc.in); got != tc.want {
				t.Errorf("Casefold(%q, %q) = %q, want %q", tc.m, tc.in, got, tc.want)
			}
		})
	}
	if Casefold(CaseMappingRFC1459, "Foo[m]") != Casefold(CaseMappingRFC1459, "fOO{M}") {
		t.Error("rfc1459 does not treat Foo[m] and fOO{M} as the same nick")
	}
}
