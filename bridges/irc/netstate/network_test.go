package netstate

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"
)

func newNet(t *testing.T, tokens ...string) *Network {
	t.Helper()
	n := New(Options{TrackLists: true})
	if err := n.ApplyISupport(tokens...); err != nil {
		t.Fatalf("ApplyISupport: %v", err)
	}
	return n
}

func kinds(cs []Change) []string {
	var out []string
	for _, c := range cs {
		s := c.Kind.String() + " " + c.Channel + " " + c.Nick
		if c.Mode != 0 {
			s += " " + string(c.Mode)
		}
		out = append(out, s)
	}
	return out
}

func wantChanges(t *testing.T, got []Change, want ...string) {
	t.Helper()
	if g := kinds(got); !slices.Equal(g, want) {
		t.Errorf("changes:\n got %q\nwant %q", g, want)
	}
}

func members(n *Network, ch string) []string {
	var out []string
	for _, m := range n.Members(ch) {
		out = append(out, m.Prefix+m.Nick)
	}
	return out
}

func TestNamesAndEndNames(t *testing.T) {
	n := newNet(t, "PREFIX=(qaohv)~&@%+", "CASEMAPPING=rfc1459")
	n.Names("#Go", "~@alice!a@host.a +bob carol!c@host.c")
	if got := members(n, "#go"); got != nil {
		t.Fatalf("members before 366 = %q, want none", got)
	}
	n.Names("#go", "@%dave")
	wantChanges(t, n.EndNames("#GO"),
		"join #Go alice", "prefix_added #Go alice q", "prefix_added #Go alice o",
		"join #Go bob", "prefix_added #Go bob v",
		"join #Go carol",
		"join #Go dave", "prefix_added #Go dave o", "prefix_added #Go dave h")
	if got, want := members(n, "#go"), []string{"~@alice", "+bob", "carol", "@%dave"}; !slices.Equal(got, want) {
		t.Errorf("members = %q, want %q", got, want)
	}
	u, ok := n.User("ALICE")
	if !ok || u.User != "a" || u.Host != "host.a" {
		t.Errorf("User(ALICE) = %+v, %v", u, ok)
	}
	m, _ := n.Member("#go", "alice")
	if m.Modes != "qo" {
		t.Errorf("alice modes = %q, want qo", m.Modes)
	}

	// A second NAMES reply: bob left unseen, carol got voice, erin is new.
	n.Names("#go", "~@alice +carol @%dave erin")
	wantChanges(t, n.EndNames("#go"),
		"part #Go bob", "prefix_added #Go carol v", "join #Go erin")
	if _, ok := n.User("bob"); ok {
		t.Error("bob is still known after leaving his only channel")
	}
	wantChanges(t, n.EndNames("#go")) // no 353 before: nothing changes
}

func TestJoinPartKickQuit(t *testing.T) {
	n := newNet(t)
	wantChanges(t, n.Join("#a", "alice!al@h1", "alice_acct", "Alice A"), "join #a alice")
	wantChanges(t, n.Join("#a", "alice!al@h1", "", ""))
	wantChanges(t, n.Join("#b", "Alice!al@h1", "", ""), "join #b Alice")
	n.Join("#b", "bob!b@h2", "*", "")
	u, _ := n.User("alice")
	if u.Account != "alice_acct" || u.Realname != "Alice A" || u.Nick != "Alice" {
		t.Errorf("alice = %+v", u)
	}
	if got := n.ChannelsOf("ALICE"); !slices.Equal(got, []string{"#a", "#b"}) {
		t.Errorf("ChannelsOf = %q", got)
	}
	wantChanges(t, n.Part("#a", "alice", "bye"), "part #a Alice")
	wantChanges(t, n.Part("#a", "alice", "bye"))
	if _, ok := n.Channel("#a"); ok {
		t.Error("#a is still known with no member")
	}
	k := n.Kick("#b", "bob", "Alice", "out")
	wantChanges(t, k, "kick #b bob")
	if k[0].By != "Alice" || k[0].Text != "out" {
		t.Errorf("kick = %+v", k[0])
	}
	n.Join("#c", "alice", "", "")
	q := n.Quit("alice", "Quit: gone")
	wantChanges(t, q, "quit #b alice", "quit #c alice") // the last JOIN spelled it "alice"
	if q[0].Text != "Quit: gone" {
		t.Errorf("quit reason = %q", q[0].Text)
	}
	if s := n.Stats(); s != (Stats{}) {
		t.Errorf("stats after everyone left = %+v", s)
	}
	wantChanges(t, n.Quit("alice", ""))
}

func TestNick(t *testing.T) {
	n := newNet(t)
	n.Join("#a", "alice!u@h", "", "")
	n.Join("#b", "alice!u@h", "", "")
	n.Join("#b", "bob!u@h", "", "")
	n.Mode("#a", "x", "+o", []string{"alice"})

	wantChanges(t, n.Nick("alice", "Alicia"), "nick #a Alicia", "nick #b Alicia")
	if m, ok := n.Member("#a", "alicia"); !ok || m.Prefix != "@" {
		t.Errorf("renamed member = %+v, %v; want op kept", m, ok)
	}
	if _, ok := n.User("alice"); ok {
		t.Error("old nick still known")
	}
	wantChanges(t, n.Nick("alicia", "ALICIA"), "nick #a ALICIA", "nick #b ALICIA")
	wantChanges(t, n.Nick("ALICIA", "ALICIA"))
	wantChanges(t, n.Nick("nobody", "x"))

	// bob's QUIT was missed; alicia takes his nick.
	c := n.Nick("alicia", "Bob")
	wantChanges(t, c, "quit #b bob", "nick #a Bob", "nick #b Bob")
	if c[0].Text != StaleReason {
		t.Errorf("stale reason = %q", c[0].Text)
	}
	if got := members(n, "#b"); !slices.Equal(got, []string{"Bob"}) {
		t.Errorf("#b members = %q", got)
	}
}

func TestMode(t *testing.T) {
	n := newNet(t, "PREFIX=(ohv)@%+", "CHANMODES=beI,k,l,imnpst")
	n.Join("#c", "alice", "", "")
	n.Join("#c", "bob", "", "")
	tests := []struct {
		modes string
		args  []string
		want  []string
	}{
		0: {"+ov", []string{"alice", "bob"}, []string{"prefix_added #c alice o", "prefix_added #c bob v"}},
		1: {"+o", []string{"alice"}, nil},
		2: {"+imk-v", []string{"sekrit", "bob"}, []string{"mode_set #c  i", "mode_set #c  m", "mode_set #c  k", "prefix_removed #c bob v"}},
		3: {"+l", []string{"10"}, []string{"mode_set #c  l"}},
		4: {"-l+b", []string{"*!*@bad"}, []string{"mode_unset #c  l", "list_added #c  b"}},
		5: {"+b", []string{"*!*@BAD"}, nil},
		6: {"+o", []string{"stranger"}, nil},
		7: {"-kb", []string{"*", "*!*@bad"}, []string{"mode_unset #c  k", "list_removed #c  b"}},
	}
	for i, tc := range tests {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			got, err := n.Mode("#c", "op", tc.modes, tc.args)
			if err != nil {
				t.Fatalf("Mode: %v", err)
			}
			wantChanges(t, got, tc.want...)
		})
	}
	ci, _ := n.Channel("#c")
	if ci.Modes.String() != "+im" || ci.Modes.Key() != "" {
		t.Errorf("modes = %s key %q", ci.Modes, ci.Modes.Key())
	}
	if got := members(n, "#c"); !slices.Equal(got, []string{"@alice", "bob"}) {
		t.Errorf("members = %q", got)
	}
	if l := n.List("#c", 'b'); len(l) != 0 {
		t.Errorf("ban list = %q", l)
	}
}

func TestModeValueKeptAndMalformed(t *testing.T) {
	n := newNet(t)
	n.Join("#c", "alice", "", "")
	got, err := n.Mode("#c", "op", "+k+l", []string{"key1"})
	if err == nil {
		t.Error("missing +l parameter not reported")
	}
	wantChanges(t, got, "mode_set #c  k")
	if got[0].Arg != "key1" {
		t.Errorf("arg = %q", got[0].Arg)
	}
	got, _ = n.Mode("#c", "op", "+k", []string{"key2"})
	wantChanges(t, got, "mode_set #c  k")
	ci, _ := n.Channel("#c")
	if ci.Modes.Key() != "key2" || ci.Modes.String() != "+k" {
		t.Errorf("modes = %s key %q", ci.Modes, ci.Modes.Key())
	}
	if got, _ := n.Mode("#unknown", "op", "+i", nil); got != nil {
		t.Errorf("mode on unknown channel = %v", got)
	}
}

func TestChannelModes(t *testing.T) {
	n := newNet(t)
	n.Join("#c", "alice", "", "")
	n.Mode("#c", "op", "+nt", nil)
	wantChanges(t, n.ChannelModes("#c", "+ksn", nil), "mode_unset #c  t", "mode_set #c  k", "mode_set #c  s")
	ci, _ := n.Channel("#c")
	if JoinRule(ci.Modes) != JoinRuleInvite || Published(ci.Modes) {
		t.Errorf("hidden-key secret channel: join rule %q published %v", JoinRule(ci.Modes), Published(ci.Modes))
	}
}

func TestTopic(t *testing.T) {
	n := newNet(t)
	n.Join("#c", "alice", "", "")
	wantChanges(t, n.Topic("#c", "hello", "", time.Time{}), "topic #c ")
	at := time.Unix(1700000000, 0)
	n.TopicWhoTime("#C", "alice!u@h", at)
	ci, _ := n.Channel("#c")
	if ci.Topic != "hello" || ci.TopicSetBy != "alice!u@h" || !ci.TopicSetAt.Equal(at) {
		t.Errorf("channel = %+v", ci)
	}
	wantChanges(t, n.Topic("#c", "hello", "bob", at))
	c := n.Topic("#c", "", "bob", at)
	wantChanges(t, c, "topic #c ")
	if c[0].By != "bob" || c[0].Text != "" {
		t.Errorf("topic change = %+v", c[0])
	}
}

func TestUserUpdates(t *testing.T) {
	n := newNet(t)
	n.Join("#c", "alice!u@h", "", "")
	wantChanges(t, n.Away("alice", "lunch"), "away  alice")
	wantChanges(t, n.Away("ALICE", "lunch"))
	wantChanges(t, n.Away("alice", ""), "away  alice")
	wantChanges(t, n.Account("alice", "acc"), "account  alice")
	wantChanges(t, n.Account("alice", "*"), "account  alice")
	wantChanges(t, n.Realname("alice", "Alice L"), "realname  alice")
	c := n.ChangeHost("alice", "v", "new.host")
	wantChanges(t, c, "host  alice")
	if c[0].Text != "v@new.host" {
		t.Errorf("host text = %q", c[0].Text)
	}
	wantChanges(t, n.ChangeHost("alice", "v", "new.host"))
	wantChanges(t, n.Away("stranger", "x"))
	u, _ := n.User("alice")
	want := User{Nick: "alice", User: "v", Host: "new.host", Realname: "Alice L"}
	if u != want {
		t.Errorf("user = %+v, want %+v", u, want)
	}
}

func TestCasemappingChange(t *testing.T) {
	n := newNet(t, "CASEMAPPING=ascii")
	n.Join("#a[1]", "nick[x]", "", "")
	if _, ok := n.User("nick{x}"); ok {
		t.Fatal("ascii mapping folded [ to {")
	}
	if err := n.ApplyISupport("CASEMAPPING=rfc1459"); err != nil {
		t.Fatal(err)
	}
	if _, ok := n.User("NICK{X}"); !ok {
		t.Error("rfc1459 mapping does not find nick{x} after re-keying")
	}
	if _, ok := n.Channel("#A{1}"); !ok {
		t.Error("channel not re-keyed")
	}
}

func TestPrefixChangeKeepsModes(t *testing.T) {
	n := newNet(t)
	n.Join("#c", "alice", "", "")
	n.Mode("#c", "op", "+ov", []string{"alice", "alice"})
	if err := n.ApplyISupport("PREFIX=(qaohv)~&@%+"); err != nil {
		t.Fatal(err)
	}
	m, _ := n.Member("#c", "alice")
	if m.Modes != "ov" || m.Prefix != "@+" {
		t.Errorf("after PREFIX change: %+v", m)
	}
}

func TestISupportErrors(t *testing.T) {
	n := New(Options{})
	err := n.ApplyISupport("PREFIX=(ov)@", "CHANMODES=b,k", "CASEMAPPING=ascii", "NETWORK=x")
	if err == nil {
		t.Fatal("malformed tokens accepted")
	}
	is := n.ISupport()
	if is.Prefix.Modes != "ov" || is.ChanModes.A != "beI" || is.CaseMapping != "ascii" {
		t.Errorf("ISupport = %+v", is)
	}
	if err := n.ApplyISupport("-CASEMAPPING", "PREFIX="); err != nil {
		t.Fatal(err)
	}
	if is := n.ISupport(); is.CaseMapping != "rfc1459" || is.Prefix.Modes != "" {
		t.Errorf("ISupport = %+v", is)
	}
}

func TestReader(t *testing.T) {
	n := newNet(t)
	if !n.ClaimReader("#c", "conn1") || n.ClaimReader("#C", "conn2") || !n.ClaimReader("#c", "conn1") {
		t.Fatal("second connection became reader while the first holds it")
	}
	n.Join("#c", "alice", "", "")
	n.Join("#d", "alice", "", "")
	n.ClaimReader("#d", "conn2")
	if !n.ReadsUser("conn1", "alice") || n.ReadsUser("conn2", "alice") {
		t.Error("user-wide lines not read from the reader of alice's first channel only")
	}
	n.ReleaseReader("conn1")
	if !n.ClaimReader("#c", "conn2") {
		t.Error("released channel could not be claimed")
	}
	n.Forget("#c")
	n.Forget("#d")
	if s := n.Stats(); s != (Stats{}) {
		t.Errorf("stats after Forget = %+v", s)
	}
}

// TestConcurrent runs an IRC-side writer against Matrix-side readers; run
// with -race.
func TestConcurrent(t *testing.T) {
	n := newNet(t)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				for _, m := range n.Members("#c") {
					_ = PowerLevel(m.Modes, nil)
				}
				n.Channel("#c")
				n.ChannelsOf("u1")
			}
		})
	}
	for i := range 2000 {
		nick := fmt.Sprintf("u%d", i%50)
		n.Join("#c", nick, "", "")
		n.Mode("#c", "op", "+o", []string{nick})
		if i%3 == 0 {
			n.Quit(nick, "x")
		}
	}
	close(stop)
	wg.Wait()
}
