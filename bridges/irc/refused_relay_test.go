package irc

import (
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/causewaybridge/causeway/internal/poll"
	"github.com/causewaybridge/causeway/matrix"
)

// TestRefusedUserIsNotRelayedAfterEviction: a Matrix user whose JOIN IRC
// refused (here a ban) is not relayed by the bot into that channel after
// the connection cap disconnected them either, which would evade the ban;
// the message gets a notice with IRC's reason. Once their connection joins
// the channel (the ban lifted), the refusal no longer stands.
func TestRefusedUserIsNotRelayedAfterEviction(t *testing.T) {
	const text = "speaking through the bot"
	var banned atomic.Bool
	banned.Store(true)
	srv := startDeliveryServer(t, "", func(nick, line string) ([]string, bool) {
		if nick == "a" && strings.HasPrefix(line, "JOIN ") && banned.Load() {
			return []string{fmt.Sprintf(":srv 474 a %s :Cannot join channel (+b)", strings.Fields(line)[1])}, false
		}
		return nil, false
	})
	n := newDeliveryModule(t, srv.addr, nil, func(c *Config) {
		c.Networks["test"].MaxConnections = 1
		c.Networks["test"].DeliveryTimeout = 300 * time.Millisecond
	})
	ctx := t.Context()
	startBot(t, n)
	poll.Until(t, "the bot in #chan", 15*time.Second, func() bool { _, ok := n.state.Member("#chan", "causeway"); return ok })

	// Her own connection is refused the channel.
	first := &matrix.Event{ID: "$first", RoomID: "!chan", Sender: "@a:localhost"}
	if err := n.deliver(ctx, first, "#chan", "PRIVMSG", []string{"first try"}, true); err != nil {
		t.Fatal(err)
	}
	if p := noticeFor(t, n, "!chan", "$first"); !strings.Contains(p, "Cannot join channel (+b)") {
		t.Fatalf("notice %s does not give the ban", p)
	}
	// A second user takes the only connection: she is in relay mode now.
	a := n.userConnFor("@a:localhost", "")
	if _, err := n.userConnFor("@b:localhost", "").connect(ctx); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, "a disconnected by the cap", 15*time.Second, func() bool { c, _ := a.state(); return c == nil })
	if !n.capRelayed("@a:localhost") {
		t.Fatal("a is not in relay mode while the network is full")
	}
	second := &matrix.Event{ID: "$second", RoomID: "!chan", Sender: "@a:localhost"}
	if err := n.deliver(ctx, second, "#chan", "PRIVMSG", []string{text}, true); err != nil {
		t.Fatal(err)
	}
	if l := botLinesWith(t, n, srv, text); len(l) > 0 {
		t.Fatalf("the bot relayed a user IRC had banned from the channel: %q", l)
	}
	if p := noticeFor(t, n, "!chan", "$second"); !strings.Contains(p, "Cannot join channel (+b)") {
		t.Fatalf("notice %s does not give the ban", p)
	}

	// The ban is lifted and a connection is free: her next message goes
	// out over her own connection, which joins, and the refusal is gone.
	banned.Store(false)
	n.userConnFor("@b:localhost", "").close("going away")
	poll.Until(t, "b disconnected", 15*time.Second, func() bool { return n.liveConns() == 0 })
	third := &matrix.Event{ID: "$third", RoomID: "!chan", Sender: "@a:localhost"}
	if err := n.deliver(ctx, third, "#chan", "PRIVMSG", []string{"unbanned"}, true); err != nil {
		t.Fatal(err)
	}
	srv.until(t, "a: PRIVMSG #chan unbanned")
	if err := n.dlv.refusal("@a:localhost", n.fold("#chan")); err != nil {
		t.Fatalf("refusal still stands after her connection joined: %v", err)
	}
}
