package irc

import (
	"fmt"
	"testing"
	"time"

	"github.com/ergochat/irc-go/ircmsg"

	"github.com/causewaybridge/causeway/intent"
	"github.com/causewaybridge/causeway/internal/poll"
)

// TestPuppetMemoryShrinks: the per-puppet memory of a network (the display
// names given, and which portal rooms each puppet was last sent in or out
// of) follows the puppets in the portals, not every puppet ever seen: once
// a leave is carried out (OnOutboxSent) and nothing was queued for the
// puppet since, it is forgotten. Until then a puppet that left is still
// known to be out, and one that came back is still known to be in.
func TestPuppetMemoryShrinks(t *testing.T) {
	srv := startDeliveryServer(t, "", nil)
	n := newDeliveryModule(t, srv.addr, nil, nil)
	startBot(t, n)
	bot, err := n.botConn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	h := botHandler{n}
	line := func(source, command string, params ...string) {
		h.HandleMessage(bot, &ircmsg.Message{Source: source, Command: command, Params: params})
	}
	poll.Until(t, "the bot in #chan", 15*time.Second, func() bool { _, ok := n.state.Member("#chan", "causeway"); return ok })
	profiled := func() int {
		n.mu.Lock()
		defer n.mu.Unlock()
		return len(n.profiled)
	}
	leaveDone := func(nick string) {
		id, err := n.puppetID(nick)
		if err != nil {
			t.Fatal(err)
		}
		n.m.OnOutboxSent(t.Context(), intent.Op{Kind: intent.OpMembership, Type: "leave", Room: "!chan", Sender: id}, "")
	}

	const users = 50
	for i := range users {
		nick := fmt.Sprint("user", i)
		line(nick+"!u@h", "JOIN", "#chan")
		line(nick+"!u@h", "PRIVMSG", "#chan", "hello")
	}
	if got, p := n.puppets.Len(), profiled(); got != users || p != users {
		t.Fatalf("%d room entries and %d profiles after %d puppets spoke, want %d of each", got, p, users, users)
	}
	for i := range users {
		nick := fmt.Sprint("user", i)
		switch i % 3 {
		case 0:
			line(nick+"!u@h", "QUIT", "bye")
		case 1:
			line(nick+"!u@h", "PART", "#chan", "later")
		case 2:
			line("op!u@h", "KICK", "#chan", nick, "out")
		}
	}
	// Left, but the leaves are not carried out yet: still known to be out.
	if got := n.puppets.Len(); got != users {
		t.Fatalf("%d room entries before the leaves were carried out, want %d", got, users)
	}
	id0, _ := n.puppetID("user0")
	if in, known := n.puppets.Get("!chan", id0); in || !known {
		t.Fatalf("a puppet whose leave is queued: in=%v known=%v, want known to be out", in, known)
	}

	// user1 comes back and speaks before its leave is carried out.
	line("user1!u@h", "JOIN", "#chan")
	line("user1!u@h", "PRIVMSG", "#chan", "back")
	for i := range users {
		leaveDone(fmt.Sprint("user", i))
	}
	if got, p := n.puppets.Len(), profiled(); got != 1 || p != 1 {
		t.Fatalf("%d room entries and %d profiles once the leaves were carried out, want 1 of each (user1, back)", got, p)
	}
	id1, _ := n.puppetID("user1")
	if in, known := n.puppets.Get("!chan", id1); !in || !known {
		t.Fatalf("user1, back in the room: in=%v known=%v", in, known)
	}

	// Two leaves queued with a message between them: forgotten only once
	// the second is carried out.
	line("user1!u@h", "PART", "#chan", "")
	line("user1!u@h", "JOIN", "#chan")
	line("user1!u@h", "PRIVMSG", "#chan", "again")
	line("user1!u@h", "PART", "#chan", "")
	leaveDone("user1")
	if in, known := n.puppets.Get("!chan", id1); in || !known {
		t.Fatalf("user1 with a second leave queued: in=%v known=%v, want known to be out", in, known)
	}
	leaveDone("user1")
	if got, p := n.puppets.Len(), profiled(); got != 0 || p != 0 {
		t.Fatalf("%d room entries and %d profiles once every puppet left, want none", got, p)
	}

	// A nick change: the old puppet is forgotten once its leave is carried
	// out; the new one is remembered.
	line("carol!u@h", "JOIN", "#chan")
	line("carol!u@h", "PRIVMSG", "#chan", "hi")
	line("carol!u@h", "NICK", "carla")
	leaveDone("carol")
	carla, _ := n.puppetID("carla")
	if in, _ := n.puppets.Get("!chan", carla); !in || n.puppets.Len() != 1 || profiled() != 1 {
		t.Fatalf("after carol became carla: carla in=%v, %d entries, %d profiles, want carla's only", in, n.puppets.Len(), profiled())
	}
	// A leave carried out for a puppet this run never recorded (queued by
	// an earlier run) changes nothing.
	leaveDone("stranger")
	if n.puppets.Len() != 1 {
		t.Fatalf("%d entries after a stranger's leave, want 1", n.puppets.Len())
	}
}
