package ircconn

import (
	"strconv"
	"testing"

	"github.com/causewaybridge/causeway/bridges/irc/ircfmt"
)

func TestISupportApply(t *testing.T) {
	tests := []struct {
		tokens []string
		check  func(is ISupport) bool
	}{
		0: {nil, func(is ISupport) bool {
			return is.CaseMapping == ircfmt.CaseMappingRFC1459 && is.NickLen == 9 && is.ChanTypes == "#&" &&
				is.LineLen == 512 && is.Monitor == -1 && is.PrefixForMode('o') == '@'
		}},
		1: {[]string{"CASEMAPPING=rfc8265", "NICKLEN=32", "CHANTYPES=#", "NETWORK=Example\\x20Net"}, func(is ISupport) bool {
			return is.CaseMapping == ircfmt.CaseMappingRFC8265 && is.NickLen == 32 && is.ChanTypes == "#" && is.Network == "Example Net"
		}},
		2: {[]string{"PREFIX=(qaohv)~&@%+", "CHANMODES=beI,k,l,imnpst", "STATUSMSG=~&@%+"}, func(is ISupport) bool {
			return is.ModeForPrefix('~') == 'q' && is.PrefixForMode('v') == '+' && is.ChanModes == [4]string{"beI", "k", "l", "imnpst"} &&
				is.IsChannel("@#chan") && !is.IsChannel("bob")
		}},
		3: {[]string{"TARGMAX=PRIVMSG:4,JOIN:,kick:1", "LINELEN=2048", "UTF8ONLY", "MONITOR=100", "WHOX", "BOT=B"}, func(is ISupport) bool {
			return is.TargMax["PRIVMSG"] == 4 && is.TargMax["JOIN"] == 0 && is.TargMax["KICK"] == 1 && is.LineLen == 2048 &&
				is.UTF8Only && is.Monitor == 100 && is.WHOX && is.Bot == "B"
		}},
		4: {[]string{"PREFIX=(ov)@", "NICKLEN=-3", "LINELEN=100"}, func(is ISupport) bool {
			// Malformed values keep the defaults; LINELEN never shrinks below 512.
			return is.PrefixModes == "ov" && is.PrefixSymbols == "@+" && is.NickLen == 9 && is.LineLen == 512
		}},
		5: {[]string{"UTF8ONLY", "-UTF8ONLY", "CHANTYPES=", "MONITOR", "-MONITOR"}, func(is ISupport) bool {
			return !is.UTF8Only && is.ChanTypes == "" && is.Monitor == -1
		}},
		6: {[]string{"NETWORK=bad\\x0d\\x0a"}, func(is ISupport) bool {
			return is.Network == "bad\\x0d\\x0a" // control characters are not unescaped
		}},
		7: {[]string{"CHATHISTORY=100"}, func(is ISupport) bool { return is.ChatHistory == 100 }},
		8: {[]string{"draft/CHATHISTORY=50", "-draft/CHATHISTORY"}, func(is ISupport) bool { return is.ChatHistory == 0 }},
	}
	for i, tc := range tests {
		t.Run(strconv.Itoa(i), func(t *testing.T) {
			is := defaultISupport()
			for _, tok := range tc.tokens {
				is.apply(nil, tok)
			}
			if !tc.check(is) {
				t.Errorf("after %q: %+v", tc.tokens, is)
			}
		})
	}
}

func TestMultilineCapValue(t *testing.T) {
	var is ISupport
	is.setMultiline("max-bytes=4096,max-lines=24")
	if is.MultilineMaxBytes != 4096 || is.MultilineMaxLines != 24 {
		t.Errorf("got %d/%d", is.MultilineMaxBytes, is.MultilineMaxLines)
	}
}

func TestSplitExact(t *testing.T) {
	for i, tc := range []struct {
		s string
		n int
	}{{"", 10}, {"abc", 10}, {"abcdefghij", 4}, {"ééééé", 5}, {"日本語テキスト", 4}, {"\xff\xfe\xfd\xfc\xfb", 4}} {
		pieces := splitExact(tc.s, tc.n)
		joined := ""
		for _, p := range pieces {
			if len(p) > max(tc.n, 4) {
				t.Errorf("%d: piece %q over %d bytes", i, p, tc.n)
			}
			joined += p
		}
		if joined != tc.s {
			t.Errorf("%d: pieces %q do not rejoin to %q", i, pieces, tc.s)
		}
	}
}
