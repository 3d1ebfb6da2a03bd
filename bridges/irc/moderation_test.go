package irc

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/causewaybridge/causeway/bridges/irc/ircfmt"
	"github.com/causewaybridge/causeway/matrix"
)

func TestMaskMatches(t *testing.T) {
	n := &network{casemap: ircfmt.CaseMappingRFC1459}
	for i, tc := range []struct {
		mask, nick, user, host string
		want                   bool
	}{
		0:  {"victim!*@*", "victim", "v", "host.example", true},
		1:  {"Victim!*@*", "victim", "v", "h", true}, // casefolded nick
		2:  {"victim", "victim", "v", "h", true},     // bare nick
		3:  {"vic*", "victim", "v", "h", true},
		4:  {"*!*@*.example", "anyone", "u", "host.example", true},
		5:  {"*!*@*.example", "anyone", "u", "host.other", false},
		6:  {"*!~v@*", "x", "~v", "h", true},
		7:  {"v?ctim!*@*", "victim", "v", "h", true},
		8:  {"other!*@*", "victim", "v", "h", false},
		9:  {"$a:account", "victim", "v", "h", false}, // extended bans match nobody here
		10: {"[x]!*@*", "[x]", "u", "h", true},        // brackets are literal in IRC masks
		11: {"*!*@gateway/web/*", "w", "u", "gateway/web/1.2.3.4", true},
		12: {"nick{a}!*@*", "NICK[A]", "u", "h", true}, // RFC 1459 casemapping
	} {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			if got := n.maskMatches(tc.mask, tc.nick, tc.user, tc.host); got != tc.want {
				t.Fatalf("maskMatches(%q, %s!%s@%s) = %v, want %v", tc.mask, tc.nick, tc.user, tc.host, got, tc.want)
			}
		})
	}
}

func TestIsOperator(t *testing.T) {
	for modes, want := range map[string]bool{"": false, "v": false, "o": true, "h": true, "qo": true, "a": true} {
		if got := isOperator(modes); got != want {
			t.Errorf("isOperator(%q) = %v", modes, got)
		}
	}
}

func TestPrevMembershipTellsUnbanFromKick(t *testing.T) {
	unban := &matrix.Event{Unsigned: json.RawMessage(`{"prev_content":{"membership":"ban"}}`)}
	kick := &matrix.Event{Unsigned: json.RawMessage(`{"prev_content":{"membership":"join"}}`)}
	if prevMembership(unban) != "ban" || prevMembership(kick) != "join" || prevMembership(&matrix.Event{}) != "" {
		t.Fatal("prev_content membership not read")
	}
}

func TestIdleCheckEvery(t *testing.T) {
	for in, want := range map[time.Duration]time.Duration{
		2 * time.Second: time.Second, 20 * time.Second: 5 * time.Second, time.Hour: time.Minute,
	} {
		if got := idleCheckEvery(in); got != want {
			t.Errorf("idleCheckEvery(%s) = %s, want %s", in, got, want)
		}
	}
}
