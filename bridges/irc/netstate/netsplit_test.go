package netstate

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeClock fires timers only when advanced.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*fakeTimer
}

type fakeTimer struct {
	c    *fakeClock
	at   time.Time
	f    func()
	done bool
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) AfterFunc(d time.Duration, f func()) Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTimer{c: c, at: c.now.Add(d), f: f}
	c.timers = append(c.timers, t)
	return t
}

func (t *fakeTimer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	was := !t.done
	t.done = true
	return was
}

// Advance moves the clock and runs the timers that are due.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	var due []*fakeTimer
	for _, t := range c.timers {
		if !t.done && !t.at.After(c.now) {
			t.done = true
			due = append(due, t)
		}
	}
	c.mu.Unlock()
	for _, t := range due {
		t.f()
	}
}

func TestIsNetsplitReason(t *testing.T) {
	tests := []struct {
		reason string
		want   bool
	}{
		0:  {"hub.example.net leaf.example.net", true},
		1:  {"*.net *.split", true},
		2:  {"irc.libera.chat zinc.libera.chat", true},
		3:  {"Quit: hub.example.net leaf.example.net", false},
		4:  {"Ping timeout: 240 seconds", false},
		5:  {"a.b a.b", false},
		6:  {"hub.example.net  leaf.example.net", false},
		7:  {"hub.example.net", false},
		8:  {"", false},
		9:  {"hub..net leaf.net", false},
		10: {"Remote host closed the connection", false},
	}
	for i, tc := range tests {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			if got := IsNetsplitReason(tc.reason); got != tc.want {
				t.Errorf("IsNetsplitReason(%q) = %v, want %v", tc.reason, got, tc.want)
			}
		})
	}
}

func newDebouncer(t *testing.T) (*Debouncer, *fakeClock, func() []HeldQuit) {
	t.Helper()
	clock := &fakeClock{now: time.Unix(1000, 0)}
	var mu sync.Mutex
	var released []HeldQuit
	d := NewDebouncer(DebouncerOptions{
		Hold:  time.Minute,
		Fold:  strings.ToLower,
		Clock: clock,
		Release: func(q HeldQuit) {
			mu.Lock()
			defer mu.Unlock()
			released = append(released, q)
		},
	})
	return d, clock, func() []HeldQuit {
		mu.Lock()
		defer mu.Unlock()
		out := released
		released = nil
		return out
	}
}

func TestDebouncerNetjoinCancels(t *testing.T) {
	d, clock, released := newDebouncer(t)
	const split = "hub.net leaf.net"
	if !d.Quit("alice", split, []string{"#a", "#b"}, "") {
		t.Fatal("netsplit quit not held")
	}
	if d.Quit("bob", "Quit: bye", []string{"#a"}, "") {
		t.Fatal("ordinary quit held")
	}
	if d.Quit("carol", "Ping timeout", nil, BatchNetsplit) {
		t.Fatal("quit from no channel held")
	}
	if !d.Quit("carol", "Ping timeout", []string{"#a"}, BatchNetsplit) {
		t.Fatal("quit in a netsplit batch not held")
	}
	clock.Advance(30 * time.Second)
	if !d.Join("ALICE", "#A") || !d.Join("alice", "#b") {
		t.Fatal("rejoin did not cancel the held quit")
	}
	if d.Join("alice", "#b") {
		t.Error("second join reported as netjoin")
	}
	if d.Join("dave", "#a") {
		t.Error("join of a user who never quit reported as netjoin")
	}
	clock.Advance(time.Hour)
	got := released()
	if len(got) != 1 || got[0].Nick != "carol" || !slices.Equal(got[0].Channels, []string{"#a"}) {
		t.Errorf("released = %+v, want carol from #a only", got)
	}
	if !got[0].At.Equal(time.Unix(1000, 0)) {
		t.Errorf("quit time = %v", got[0].At)
	}
	if d.Held() != 0 {
		t.Errorf("Held = %d after release", d.Held())
	}
}

func TestDebouncerPartialRejoinReleasesRest(t *testing.T) {
	d, clock, released := newDebouncer(t)
	d.Quit("alice", "a.net b.net", []string{"#a", "#b", "#c"}, "")
	d.Join("alice", "#b")
	clock.Advance(59 * time.Second)
	if got := released(); got != nil {
		t.Fatalf("released before the hold time: %+v", got)
	}
	clock.Advance(time.Second)
	got := released()
	if len(got) != 1 || !slices.Equal(got[0].Channels, []string{"#a", "#c"}) || got[0].Reason != "a.net b.net" {
		t.Errorf("released = %+v, want alice leaving #a and #c", got)
	}
}

func TestDebouncerFlush(t *testing.T) {
	d, _, released := newDebouncer(t)
	d.Quit("alice", "a.net b.net", []string{"#a"}, "")
	d.Quit("bob", "a.net b.net", []string{"#a"}, "")
	d.Flush()
	if got := released(); len(got) != 2 {
		t.Errorf("Flush released %d quits, want 2", len(got))
	}
	if d.Join("alice", "#a") {
		t.Error("join after Flush cancelled a released quit")
	}
}

func TestPowerLevel(t *testing.T) {
	custom := map[rune]int{'o': 100, 'v': 10}
	tests := []struct {
		modes string
		m     map[rune]int
		want  int
	}{
		0: {"", nil, 0},
		1: {"v", nil, 1},
		2: {"ov", nil, 50},
		3: {"h", nil, 25},
		4: {"qo", nil, 50},
		5: {"ov", custom, 100},
		6: {"h", custom, 0},
		7: {"v", map[rune]int{}, 0},
	}
	for i, tc := range tests {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			if got := PowerLevel(tc.modes, tc.m); got != tc.want {
				t.Errorf("PowerLevel(%q) = %d, want %d", tc.modes, got, tc.want)
			}
		})
	}
}

func TestJoinRulePublished(t *testing.T) {
	tests := []struct {
		modes     string
		args      []string
		rule      string
		published bool
	}{
		0: {"+nt", nil, JoinRulePublic, true},
		1: {"+i", nil, JoinRuleInvite, true},
		2: {"+k", []string{"key"}, JoinRuleInvite, true},
		3: {"+s", nil, JoinRulePublic, false},
		4: {"+p", nil, JoinRulePublic, false},
		5: {"+l", []string{"5"}, JoinRulePublic, true},
	}
	for i, tc := range tests {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			n := New(Options{})
			n.Join("#c", "a", "", "")
			if _, err := n.Mode("#c", "op", tc.modes, tc.args); err != nil {
				t.Fatal(err)
			}
			ci, _ := n.Channel("#c")
			if JoinRule(ci.Modes) != tc.rule || Published(ci.Modes) != tc.published {
				t.Errorf("%s: rule %q published %v, want %q %v", ci.Modes, JoinRule(ci.Modes), Published(ci.Modes), tc.rule, tc.published)
			}
		})
	}
}
