package irc

import (
	"encoding/json"
	"fmt"
	"strings"
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

// TestBanMask: a Matrix ban names the host when that is specific to the
// user, the ident on a shared host, and the nick only when nothing else
// tells the user apart.
func TestBanMask(t *testing.T) {
	for i, tc := range []struct {
		members []string // sources in #a and #b ("#b:" prefix)
		nick    string
		want    string
	}{
		0: {[]string{"victim!~vic@home.example", "other!~o@elsewhere.example"}, "victim", "*!*@home.example"},
		1: {[]string{"Victim!vic@home.example"}, "victim", "*!*@home.example"}, // casefolded lookup
		// A gateway host shared with someone else: the ident tells them apart.
		2: {[]string{"victim!~vic@gateway.example", "other!~o@gateway.example"}, "victim", "*!*vic@gateway.example"},
		// Shared in another channel of the bridge counts too.
		3: {[]string{"victim!~vic@gateway.example", "#b:other!~o@gateway.example"}, "victim", "*!*vic@gateway.example"},
		// Same host and ident as someone else: only the nick is left.
		4: {[]string{"victim!~web@gateway.example", "other!web@gateway.example"}, "victim", "victim!*@*"},
		5: {[]string{"victim!~vic@h", "vicious!~vic@h"}, "victim", "victim!*@*"}, // *!*vic@h hits vicious too
		// Host unknown (NAMES without userhost-in-names), or not in any channel.
		6: {[]string{"victim"}, "victim", "victim!*@*"},
		7: {nil, "victim", "victim!*@*"},
		8: {[]string{"victim!@cloak/victim"}, "victim", "*!*@cloak/victim"}, // no ident known
	} {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			m := newTestModule(t, "127.0.0.1:1")
			n := m.networks["test"]
			for _, src := range tc.members {
				ch := "#a"
				if rest, ok := strings.CutPrefix(src, "#b:"); ok {
					ch, src = "#b", rest
				}
				n.state.Join(ch, src, "", "")
			}
			if got := n.banMask(tc.nick); got != tc.want {
				t.Fatalf("banMask(%q) = %q, want %q", tc.nick, got, tc.want)
			}
		})
	}
}

// TestUnbanLiftsTheMaskTheBanSet: after the ban the user's host is
// forgotten (kicked, gone); the unban still lifts the host mask.
func TestUnbanLiftsTheMaskTheBanSet(t *testing.T) {
	m := newTestModule(t, "127.0.0.1:1")
	n := m.networks["test"]
	ctx := t.Context()
	n.state.Join("#a", "victim!~vic@home.example", "", "")
	mask := n.banMask("victim")
	n.rememberBan(ctx, "#a", "Victim", "ban", mask)
	n.state.Part("#a", "victim", "kicked")
	if got := n.bannedMask(ctx, "#A", "victim"); got != "*!*@home.example" {
		t.Fatalf("unban mask %q, want *!*@home.example", got)
	}
	n.rememberBan(ctx, "#a", "victim", "unban", "*!*@home.example")
	if got := n.bannedMask(ctx, "#a", "victim"); got != "victim!*@*" {
		t.Fatalf("after the unban: mask %q, want the nick mask", got)
	}
}
