package irc

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ergochat/irc-go/ircmsg"

	"github.com/causewaybridge/causeway/appservice"
	"github.com/causewaybridge/causeway/bridges"
	"github.com/causewaybridge/causeway/intent"
	"github.com/causewaybridge/causeway/matrix"
	"github.com/causewaybridge/causeway/store"
)

// cfgDecoder hands a ready Config to Module.Configure.
type cfgDecoder Config

func (c cfgDecoder) Decode(out any) error { *out.(*Config) = Config(c); return nil }

// adminTestModule configures a module with the given networks (not
// started: no connections) and, when withStore, an SQLite store.
func adminTestModule(t *testing.T, withStore bool, networks ...string) *Module {
	t.Helper()
	cfg := Config{Networks: map[string]*NetworkConfig{}}
	for _, id := range networks {
		cfg.Networks[id] = &NetworkConfig{Address: "127.0.0.1:1"}
	}
	m := New()
	if err := m.Configure(bridges.Env{ServerName: "localhost", BotUserID: "@bot:localhost"}, cfgDecoder(cfg)); err != nil {
		t.Fatal(err)
	}
	m.log = slog.New(slog.DiscardHandler)
	m.ctx, m.cancel = context.WithCancel(t.Context())
	t.Cleanup(m.cancel)
	if withStore {
		st, err := store.Open(t.Context(), "sqlite:"+filepath.Join(t.TempDir(), "db"), nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		useStore(m, st)
	}
	return m
}

func TestPickNetwork(t *testing.T) {
	one := adminTestModule(t, false, "libera")
	two := adminTestModule(t, false, "libera", "oftc")
	for i, tc := range []struct {
		m        *Module
		args     []string
		want     int
		network  string // "" means an error
		restJoin string
	}{
		0: {one, []string{"#go"}, 1, "libera", "#go"},
		1: {one, []string{"libera", "#go"}, 1, "libera", "#go"},
		2: {one, []string{"libera"}, 1, "libera", "libera"}, // a nick that happens to be the network's name
		3: {two, []string{"oftc", "#go"}, 1, "oftc", "#go"},
		4: {two, []string{"OFTC", "#go"}, 1, "oftc", "#go"},
		5: {two, []string{"#go"}, 1, "", ""},
		6: {two, []string{"oftc"}, 0, "oftc", ""},
		7: {two, nil, 0, "", ""},
		8: {one, nil, 0, "libera", ""},
	} {
		t.Run(string(rune('0'+i)), func(t *testing.T) {
			n, rest, err := tc.m.pickNetwork(tc.args, tc.want)
			if tc.network == "" {
				if err == nil || !strings.Contains(err.Error(), "libera, oftc") {
					t.Fatalf("err = %v, want one naming the networks", err)
				}
				return
			}
			if err != nil || n.id != tc.network || strings.Join(rest, " ") != tc.restJoin {
				t.Fatalf("got %v %q %v, want %s %q", n, rest, err, tc.network, tc.restJoin)
			}
		})
	}
}

func TestSplitAccount(t *testing.T) {
	for i, tc := range []struct{ in, account, password string }{
		0: {"alice:s3cret", "alice", "s3cret"},
		1: {"s3cret", "", "s3cret"},
		2: {"alice:pass:with:colons", "alice", "pass:with:colons"},
		3: {":startswithcolon", "", ":startswithcolon"},
		4: {"not valid:x", "", "not valid:x"},
	} {
		a, p := splitAccount(tc.in)
		if a != tc.account || p != tc.password {
			t.Errorf("%d: splitAccount(%q) = %q, %q", i, tc.in, a, p)
		}
	}
}

func TestHistoryMarksSurviveRestart(t *testing.T) {
	m := adminTestModule(t, true, "test")
	n := m.networks["test"]
	n.addPortal("#go", "!go", []byte(`{"name":"#Go"}`))
	t0 := time.UnixMilli(1_700_000_000_000)
	m.noteBridged(intent.Op{Room: "!go", Timestamp: t0.Add(time.Second)}, "b")
	m.noteBridged(intent.Op{Room: "!go", Timestamp: t0}, "a")        // older: ignored
	m.noteBridged(intent.Op{Room: "!elsewhere", Timestamp: t0}, "c") // not a channel portal
	m.noteBridged(intent.Op{Room: "!go"}, "no-time")                 // no server time: ignored
	m.networks["test"].marks.Close(t.Context())

	// A fresh module (a restart) reads the mark from the store.
	m2 := adminTestModule(t, false, "test")
	useStore(m2, storeOf(m))
	mk, ok := m2.networks["test"].historyMark(t.Context(), "#go")
	if !ok || mk.ID != "b" || mk.TS != t0.Add(time.Second).UnixMilli() {
		t.Fatalf("mark after restart = %+v, %v", mk, ok)
	}
	if _, ok := m2.networks["test"].historyMark(t.Context(), "#other"); ok {
		t.Error("a channel without messages has a mark")
	}
}

func TestWhoisLine(t *testing.T) {
	msg := func(cmd string, params ...string) *ircmsg.Message {
		return &ircmsg.Message{Command: cmd, Params: params}
	}
	for i, tc := range []struct {
		m     *ircmsg.Message
		line  string
		known bool
	}{
		0: {msg("311", "me", "bob", "~b", "host.example", "*", "Bob Real"), "~b@host.example (Bob Real)", true},
		1: {msg("330", "me", "bob", "bobacct", "is logged in as"), "logged in as bobacct", true},
		2: {msg("319", "me", "bob", "@#go +#rust"), "channels: @#go +#rust", true},
		3: {msg("401", "me", "nobody", "No such nick"), "no such nick", true},
		4: {msg("318", "me", "bob", "End of WHOIS"), "", true},
		5: {msg("366", "me", "#go", "End of NAMES"), "", false},
	} {
		line, known := whoisLine(tc.m)
		if line != tc.line || known != tc.known {
			t.Errorf("%d: whoisLine = %q, %v; want %q, %v", i, line, known, tc.line, tc.known)
		}
	}
}

func TestWhoisReplyCollectsUntilEnd(t *testing.T) {
	m := adminTestModule(t, false, "test")
	n := m.networks["test"]
	w := &whoisWait{done: make(chan struct{})}
	n.whoises.add("bob", w)
	n.whoisReply(&ircmsg.Message{Command: "311", Params: []string{"me", "Bob", "~b", "h", "*", "Real"}})
	n.whoisReply(&ircmsg.Message{Command: "311", Params: []string{"me", "carol", "~c", "h", "*", "Other"}})
	n.whoisReply(&ircmsg.Message{Command: "318", Params: []string{"me", "BOB", "End"}})
	select {
	case <-w.done:
	default:
		t.Fatal("318 did not end the WHOIS")
	}
	if len(w.lines) != 1 || w.lines[0] != "~b@h (Real)" {
		t.Errorf("lines = %q (another nick's reply must not be mixed in)", w.lines)
	}
}

func TestThirdParty(t *testing.T) {
	m := adminTestModule(t, false, "libera", "oftc")
	ctx := t.Context()
	if _, err := m.ThirdPartyProtocol(ctx, "xmpp"); !errors.Is(err, appservice.ErrUnknownProtocol) {
		t.Errorf("other protocol: err = %v", err)
	}
	p, err := m.ThirdPartyProtocol(ctx, "irc")
	if err != nil || len(p.Instances) != 2 || p.Instances[0].NetworkID != "libera" || p.Instances[1].Fields["network"] != "oftc" {
		t.Fatalf("protocol = %+v, %v", p, err)
	}
	locs, err := m.ThirdPartyLocations(ctx, "irc", map[string]string{"network": "oftc", "channel": "#Go-Nuts"})
	if err != nil || len(locs) != 1 || locs[0].Alias != "#irc_oftc_#go-nuts:localhost" {
		t.Fatalf("locations = %+v, %v", locs, err)
	}
	if locs, _ := m.ThirdPartyLocations(ctx, "irc", map[string]string{"channel": "#go"}); len(locs) != 2 {
		t.Errorf("without a network every network answers: %+v", locs)
	}
	for _, bad := range []map[string]string{{"channel": "go"}, {"channel": "#a b"}, {"network": "nope", "channel": "#go"}} {
		if locs, _ := m.ThirdPartyLocations(ctx, "irc", bad); len(locs) != 0 {
			t.Errorf("fields %v found %+v", bad, locs)
		}
	}
	users, err := m.ThirdPartyUsers(ctx, "irc", map[string]string{"network": "libera", "nickname": "Alice"})
	if err != nil || len(users) != 1 || users[0].UserID != "@irc_libera_alice:localhost" {
		t.Fatalf("users = %+v, %v", users, err)
	}
	if users, _ := m.ThirdPartyUsers(ctx, "irc", map[string]string{"nickname": "bad nick"}); len(users) != 0 {
		t.Errorf("invalid nick found %+v", users)
	}
	back, err := m.ThirdPartyLocationsByAlias(ctx, "#irc_oftc_#go-nuts:localhost")
	if err != nil || len(back) != 1 || back[0].Fields["network"] != "oftc" || back[0].Fields["channel"] != "#go-nuts" {
		t.Fatalf("by alias = %+v, %v", back, err)
	}
	if back, _ := m.ThirdPartyLocationsByAlias(ctx, "#elsewhere:localhost"); len(back) != 0 {
		t.Errorf("foreign alias found %+v", back)
	}
	who, err := m.ThirdPartyUsersByID(ctx, matrix.UserID("@irc_libera_alice:localhost"))
	if err != nil || len(who) != 1 || who[0].Fields["nickname"] != "alice" || who[0].Fields["network"] != "libera" {
		t.Fatalf("by ID = %+v, %v", who, err)
	}
	if who, _ := m.ThirdPartyUsersByID(ctx, "@alice:localhost"); len(who) != 0 {
		t.Errorf("a Matrix user is not an IRC user: %+v", who)
	}
}

func TestCommandTable(t *testing.T) {
	m := adminTestModule(t, false, "test")
	seen := map[string]bool{}
	admin := map[string]bool{"link": true, "unlink": true, "connections": true}
	for _, c := range m.Commands() {
		if seen[c.Name] || c.Run == nil || c.Help == "" {
			t.Errorf("command %q: duplicate, no Run or no help", c.Name)
		}
		seen[c.Name] = true
		if c.AdminOnly != admin[c.Name] {
			t.Errorf("command %q: AdminOnly = %v", c.Name, c.AdminOnly)
		}
	}
	for _, want := range []string{"nick", "join", "part", "whois", "storepass", "removepass", "reconnect", "listrooms", "quit", "irc", "link", "unlink", "connections"} {
		if !seen[want] {
			t.Errorf("no !%s", want)
		}
	}
}
