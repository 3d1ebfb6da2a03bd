package ircconn

import (
	"bytes"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/ergochat/irc-go/ircmsg"
)

// recordHandler keeps the commands (and first parameters) it is handed.
type recordHandler struct {
	mu  sync.Mutex
	got []string
}

func (h *recordHandler) HandleMessage(_ *Conn, m *ircmsg.Message) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.got = append(h.got, m.Command+" "+strings.Join(m.Params, " "))
}
func (h *recordHandler) HandleBatch(c *Conn, b *Batch) {
	for _, l := range b.Lines {
		h.HandleMessage(c, l)
	}
}
func (h *recordHandler) HandleClose(*Conn, error) {}

// skipChannelTraffic skips other clients' JOINs and channel messages.
func skipChannelTraffic(command, target []byte) bool {
	switch string(command) {
	case "JOIN":
		return true
	case "PRIVMSG":
		return len(target) > 0 && target[0] == '#'
	}
	return false
}

// TestSkipOthers: lines other clients cause are dropped as SkipOthers
// says; this connection's own lines (its nick in any IRC case mapping),
// the server's, those in a batch or answering a label, private messages
// and whatever SkipOthers keeps all reach the handler.
func TestSkipOthers(t *testing.T) {
	lines := []struct {
		line string
		kept bool
	}{
		{":bob!b@h JOIN #c", false},
		{"@time=2026-01-01T00:00:00Z;account=bob :bob!b@h JOIN :#c", false},
		{":bob!b@h PRIVMSG #c :hi all", false},
		{":bob!b@h PRIVMSG Al{ice} :hi you", true},             // private, to this connection
		{":AL[ICE]!a@h JOIN #c", true},                         // itself (rfc1459 folding)
		{":al[ice]!a@h PRIVMSG #c :echo", true},                // its own echo
		{":bob!b@h KICK #c Al{ice} :out", true},                // not skipped by the policy
		{":irc.example.org 353 Al{ice} = #c :bob carol", true}, // server
		{":bob JOIN #c", true},                                 // no "nick!": cannot tell, kept
		{"@batch=x1 :bob!b@h PRIVMSG #c :in a batch", true},
		{"@label=cw1 :bob!b@h PRIVMSG #c :answers a label", true},
		{"@+draft/label=x :bob!b@h PRIVMSG #c :client tag only", false},
		{"@notags-end", true},
		{":bob!b@h", true},
		{"PING :x", true},
	}
	var in bytes.Buffer
	var want []string
	for _, l := range lines {
		in.WriteString(l.line + "\r\n")
		if l.kept {
			m, err := ircmsg.ParseLine(l.line)
			if err == nil {
				want = append(want, m.Command+" "+strings.Join(m.Params, " "))
			}
		}
	}
	h := &recordHandler{}
	cfg := Config{Addr: "x", Nick: "Al{ice}", PingInterval: -1, Handler: h, SkipOthers: skipChannelTraffic}.withDefaults()
	c := newConn(&scriptConn{r: &in}, cfg)
	c.readLoop()
	// PING is answered by the connection itself; a line of an unknown
	// batch is handled on its own.
	want = slices.DeleteFunc(want, func(w string) bool { return strings.HasPrefix(w, "PING") })
	if !slices.Equal(h.got, want) {
		t.Errorf("handler got\n %q\nwant\n %q", h.got, want)
	}
}

// TestSkipOthersAllocatesNothing: a skipped line costs no allocation.
func TestSkipOthersAllocatesNothing(t *testing.T) {
	line := []byte("@time=2026-01-02T03:04:05.678Z;msgid=ABCDEFGH;account=bob :bob!bob@example.org PRIVMSG #chan :hello there\r\n")
	h := &recordHandler{}
	r := &lineRepeater{line: line, n: 1 << 30}
	cfg := Config{Addr: "x", Nick: "alice", PingInterval: -1, Handler: h, SkipOthers: skipChannelTraffic}.withDefaults()
	c := newConn(&scriptConn{r: r}, cfg)
	allocs := testing.AllocsPerRun(1000, func() {
		if m, err := c.readMessage(); m != nil || err != nil {
			t.Fatalf("line not skipped: %v, %v", m, err)
		}
	})
	if allocs != 0 {
		t.Errorf("a skipped line allocates %.1f times, want 0", allocs)
	}
}
