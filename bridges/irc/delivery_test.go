package irc

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/causewaybridge/causeway/bridges/irc/secret"
	"github.com/causewaybridge/causeway/internal/poll"
	"github.com/causewaybridge/causeway/matrix"
)

// deliveryServer is a scripted IRC server that records each line a
// registered client sends as "nick: line", answers lines with answer
// (when set; see serverScript) and echoes unanswered JOINs.
type deliveryServer = scriptedServer

func startDeliveryServer(t *testing.T, caps string, answer func(nick, line string) ([]string, bool)) *deliveryServer {
	t.Helper()
	return startServer(t, serverScript{caps: caps, answer: answer, tagNick: true, echoJoins: true, buffer: 1000})
}

// newDeliveryModule returns a module with one network "test" at addr
// (changed by tune), an SQLite store, an outbox that keeps what it is given
// (read it with queued) and a channel portal #chan in !chan.
func newDeliveryModule(t *testing.T, addr string, logs *bytes.Buffer, tune func(*Config)) *network {
	t.Helper()
	cfg := Config{Networks: map[string]*NetworkConfig{"test": {Address: addr, Flood: FloodConfig{Rate: 1000, Burst: 1000},
		Reconnect: ReconnectConfig{MinDelay: 10 * time.Millisecond, MaxDelay: 50 * time.Millisecond, PerSecond: 1000}}}}
	if tune != nil {
		tune(&cfg)
	}
	m := newModule(t, cfg, "")
	if logs != nil {
		m.log = slog.New(slog.NewTextHandler(&lockedWriter{w: logs}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	useQueuedOutbox(t, m, "http://127.0.0.1:1")
	n := m.networks["test"]
	n.addPortal("#chan", "!chan", []byte(`{"name":"#chan"}`))
	return n
}

// lockedWriter serialises writes from several goroutines' loggers.
type lockedWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// queued returns the payloads of the messages queued for room.
func queued(t *testing.T, n *network, room matrix.RoomID) []string {
	t.Helper()
	items, err := storeOf(n.m).PendingOutbox(t.Context(), 1000)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, it := range items {
		if it.Queue == string(room) {
			out = append(out, string(it.Payload))
		}
	}
	return out
}

// noticeFor waits for a queued notice in room replying to event and
// returns its payload.
func noticeFor(t *testing.T, n *network, room matrix.RoomID, event matrix.EventID) string {
	t.Helper()
	var found string
	poll.Until(t, "a notice replying to "+string(event), 15*time.Second, func() bool {
		for _, p := range queued(t, n, room) {
			if strings.Contains(p, string(event)) && strings.Contains(p, "m.notice") {
				found = p
				return true
			}
		}
		return false
	})
	return found
}

// botLinesWith returns the lines the bot wrote that contain text, up to
// now: a PING marker sent after them fences them in.
func botLinesWith(t *testing.T, n *network, srv *deliveryServer, text string) []string {
	t.Helper()
	var fromBot []string
	for _, l := range botMarker(t, n, srv, "marker") { // relay_refusal_test.go
		if strings.HasPrefix(l, "causeway: ") && strings.Contains(l, text) {
			fromBot = append(fromBot, l)
		}
	}
	return fromBot
}

func startBot(t *testing.T, n *network) {
	t.Helper()
	go n.runBot(n.m.ctx)
	if _, err := n.botConn(t.Context()); err != nil {
		t.Fatal(err)
	}
}

// TestDeliveryRelayAndRefusal: the bot relays a channel message only when
// the sender has no connection for connection-level reasons (the cap put
// them in relay mode, or the server dropped their connection until
// delivery_timeout), as RELAYMSG when the server offers draft/relaymsg and
// as "<nick> text" otherwise (or when the bot is no channel operator, which
// RELAYMSG needs). When IRC refused the sender (a ban, an
// invite-only channel, a refused registration), nothing is relayed: the
// message gets a notice replying to it.
func TestDeliveryRelayAndRefusal(t *testing.T) {
	const text = "hello from matrix"
	refuse := func(code, reason string) func(nick, line string) ([]string, bool) {
		return func(nick, line string) ([]string, bool) {
			if nick == "a" && strings.HasPrefix(line, "JOIN ") {
				return []string{fmt.Sprintf(":srv %s a %s :%s", code, strings.Fields(line)[1], reason)}, false
			}
			return nil, false
		}
	}
	for i, tc := range []struct {
		name     string
		caps     string
		answer   func(nick, line string) ([]string, bool)
		evicted  bool   // a second user took the only connection
		notOp    bool   // the bot is not a channel operator in #chan
		relayed  string // the bot's line, "" when nothing may be relayed
		noticeOf string // the notice's text, when not relayed
	}{
		0: {name: "cap eviction with relaymsg", caps: "draft/relaymsg=/", evicted: true,
			relayed: "causeway: RELAYMSG #chan a/m :" + text},
		1: {name: "cap eviction without relaymsg", evicted: true,
			relayed: "causeway: PRIVMSG #chan :<a> " + text},
		7: {name: "relaymsg offered, the bot not an operator", caps: "draft/relaymsg=/", evicted: true, notOp: true,
			relayed: "causeway: PRIVMSG #chan :<a> " + text},
		2: {name: "connection dropped until delivery_timeout", caps: "draft/relaymsg=/",
			answer: func(nick, line string) ([]string, bool) {
				return nil, nick == "a" && strings.HasPrefix(line, "CAP END")
			},
			relayed: "causeway: RELAYMSG #chan a/m :" + text},
		3: {name: "banned", caps: "draft/relaymsg=/", answer: refuse("474", "Cannot join channel (+b)"),
			noticeOf: "Not delivered to IRC: Cannot join channel (+b)."},
		4: {name: "invite only", answer: refuse("473", "Cannot join channel (+i)"),
			noticeOf: "Not delivered to IRC: Cannot join channel (+i)."},
		5: {name: "needs a registered nick", answer: refuse("477", "You need to be identified to join"),
			noticeOf: "Not delivered to IRC: You need to be identified to join."},
		6: {name: "registration refused", caps: "draft/relaymsg=/",
			answer: func(nick, line string) ([]string, bool) {
				if nick == "a" && strings.HasPrefix(line, "CAP END") {
					return []string{":srv 465 a :You are banned from this server"}, false
				}
				return nil, false
			},
			noticeOf: "You are banned from this server"},
	} {
		t.Run(fmt.Sprint(i, " ", tc.name), func(t *testing.T) {
			srv := startDeliveryServer(t, tc.caps, tc.answer)
			n := newDeliveryModule(t, srv.addr, nil, func(c *Config) {
				c.Networks["test"].MaxConnections = 1
				c.Networks["test"].DeliveryTimeout = 300 * time.Millisecond
			})
			ctx := t.Context()
			startBot(t, n)
			poll.Until(t, "the bot in #chan", 15*time.Second, func() bool { _, ok := n.state.Member("#chan", "causeway"); return ok })
			if !tc.notOp {
				if _, err := n.state.Mode("#chan", "srv", "+o", []string{"causeway"}); err != nil {
					t.Fatal(err)
				}
			}
			if tc.evicted {
				a := n.userConnFor("@a:localhost", "")
				if _, err := a.connect(ctx); err != nil {
					t.Fatal(err)
				}
				if _, err := n.userConnFor("@b:localhost", "").connect(ctx); err != nil {
					t.Fatal(err)
				}
				poll.Until(t, "a disconnected by the cap", 15*time.Second, func() bool { c, _ := a.state(); return c == nil })
			}
			evt := &matrix.Event{ID: "$msg", RoomID: "!chan", Sender: "@a:localhost"}
			if err := n.deliver(ctx, evt, "#chan", "PRIVMSG", []string{text}, true); err != nil {
				t.Fatal(err)
			}
			fromBot := botLinesWith(t, n, srv, text)
			if tc.relayed != "" {
				if len(fromBot) != 1 || fromBot[0] != tc.relayed {
					t.Fatalf("the bot sent %q, want %q", fromBot, tc.relayed)
				}
				if q := queued(t, n, "!chan"); len(q) != 0 {
					t.Errorf("a relayed message also got a notice: %q", q)
				}
				return
			}
			if len(fromBot) != 0 {
				t.Fatalf("the bot relayed a refused message (ban evasion): %q", fromBot)
			}
			if p := noticeFor(t, n, "!chan", "$msg"); !strings.Contains(p, tc.noticeOf) {
				t.Fatalf("notice %s, want it to say %q", p, tc.noticeOf)
			}
		})
	}
}

// TestCapRelayEndsWhenAConnectionIsFree: a user the cap disconnected is
// relayed only while the network is full; once a connection is free their
// next message goes out over their own connection again.
func TestCapRelayEndsWhenAConnectionIsFree(t *testing.T) {
	srv := startDeliveryServer(t, "", nil)
	n := newDeliveryModule(t, srv.addr, nil, func(c *Config) { c.Networks["test"].MaxConnections = 1 })
	ctx := t.Context()
	startBot(t, n)
	a := n.userConnFor("@a:localhost", "")
	if _, err := a.connect(ctx); err != nil {
		t.Fatal(err)
	}
	b := n.userConnFor("@b:localhost", "")
	if _, err := b.connect(ctx); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, "a disconnected by the cap", 15*time.Second, func() bool { c, _ := a.state(); return c == nil })
	if !n.capRelayed("@a:localhost") {
		t.Fatal("a is not in relay mode while the network is full")
	}
	b.close("going away")
	poll.Until(t, "b disconnected", 15*time.Second, func() bool { return n.liveConns() == 0 })
	evt := &matrix.Event{ID: "$msg", RoomID: "!chan", Sender: "@a:localhost"}
	if err := n.deliver(ctx, evt, "#chan", "PRIVMSG", []string{"own connection again"}, true); err != nil {
		t.Fatal(err)
	}
	srv.until(t, "a: PRIVMSG #chan :own connection again")
}

// TestLateErrorNumericIsReported: without echo-message and
// labeled-response a message is only written, so the server's error reply
// (401 no such nick, 404 cannot send) comes later, on its own. It is
// reported to the sender as a notice replying to the message that failed;
// an error numeric that answers nothing sent is not, and a refused JOIN
// stays a JOIN failure.
func TestLateErrorNumericIsReported(t *testing.T) {
	srv := startDeliveryServer(t, "", func(nick, line string) ([]string, bool) {
		f := strings.Fields(line)
		switch {
		case len(f) >= 2 && f[0] == "PRIVMSG" && f[1] == "nobody":
			return []string{":srv 401 " + nick + " nobody :No such nick/channel"}, false
		case len(f) >= 2 && f[0] == "PRIVMSG" && f[1] == "#moderated":
			return []string{":srv 404 " + nick + " #moderated :Cannot send to channel"}, false
		case len(f) >= 2 && f[0] == "JOIN" && f[1] == "#regonly":
			return []string{":srv 477 " + nick + " #regonly :You need to be identified"}, false
		case len(f) >= 2 && f[0] == "WHOIS":
			return []string{":srv 401 " + nick + " " + f[1] + " :No such nick/channel"}, false
		}
		return nil, false
	})
	n := newDeliveryModule(t, srv.addr, nil, nil)
	ctx := t.Context()
	n.addPortal("#moderated", "!mod", []byte(`{"name":"#moderated"}`))
	pm := &matrix.Event{ID: "$pm", RoomID: "!dm", Sender: "@u:localhost"}
	if err := n.deliver(ctx, pm, "nobody", "PRIVMSG", []string{"are you there?"}, false); err != nil {
		t.Fatal(err)
	}
	if p := noticeFor(t, n, "!dm", "$pm"); !strings.Contains(p, "Not delivered to IRC: No such nick/channel.") {
		t.Fatalf("notice %s", p)
	}
	ch := &matrix.Event{ID: "$ch", RoomID: "!mod", Sender: "@u:localhost"}
	if err := n.deliver(ctx, ch, "#moderated", "PRIVMSG", []string{"can anyone hear me?"}, true); err != nil {
		t.Fatal(err)
	}
	if p := noticeFor(t, n, "!mod", "$ch"); !strings.Contains(p, "Not delivered to IRC: Cannot send to channel.") {
		t.Fatalf("notice %s", p)
	}

	// A JOIN refused with 477 is the join's failure, not a message's.
	u := n.userConnFor("@u:localhost", "")
	if err := u.join(ctx, "#regonly"); err == nil || !strings.Contains(err.Error(), "identified") {
		t.Fatalf("join #regonly: %v, want the 477", err)
	}
	// A 401 answering a command (WHOIS), not a message, is no delivery
	// failure: the failed message was reported once, not twice.
	c, err := u.connect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Send(ctx, nil, "WHOIS", "nobody"); err != nil {
		t.Fatal(err)
	}
	// The connection reads in order: once this message's notice is there,
	// the WHOIS answer has been handled.
	ch2 := &matrix.Event{ID: "$ch2", RoomID: "!mod", Sender: "@u:localhost"}
	if err := n.deliver(ctx, ch2, "#moderated", "PRIVMSG", []string{"still muted?"}, true); err != nil {
		t.Fatal(err)
	}
	noticeFor(t, n, "!mod", "$ch2")
	pm2 := &matrix.Event{ID: "$pm2", RoomID: "!dm", Sender: "@u:localhost"}
	if err := n.deliver(ctx, pm2, "nobody", "PRIVMSG", []string{"hello?"}, false); err != nil {
		t.Fatal(err)
	}
	noticeFor(t, n, "!dm", "$pm2")
	if got := queued(t, n, "!dm"); len(got) != 2 {
		t.Errorf("%d notices in the DM, want one for each of the 2 failed messages: %q", len(got), got)
	}
	if got := queued(t, n, "!chan"); len(got) != 0 {
		t.Errorf("notices for a refused JOIN in another room: %q", got)
	}
}

// TestUnusableStoredPasswordFailsClosed: a user who stored a password
// (!storepass) is never connected without it. When the bridge's key
// changed or is gone, or the store cannot be read, the connection is not
// made, the user is told in their management room what happened and what to do
// (once), and the log says so without the password.
func TestUnusableStoredPasswordFailsClosed(t *testing.T) {
	const password = "hunter2-very-secret"
	keyA, keyB := secret.GenerateKey(), secret.GenerateKey()
	for i, tc := range []struct {
		name  string
		setup func(t *testing.T, n *network)
		tell  string // what the management room is told; "" when the store is down (not checked)
	}{
		0: {name: "key replaced", setup: func(t *testing.T, n *network) {
			box, err := secret.New(keyB)
			if err != nil {
				t.Fatal(err)
			}
			n.m.box = box
		}, tell: "!storepass"},
		1: {name: "key removed", setup: func(t *testing.T, n *network) { n.m.box = nil }, tell: "password_key"},
		2: {name: "store unreadable", setup: func(t *testing.T, n *network) { storeOf(n.m).Close() }},
	} {
		t.Run(fmt.Sprint(i, " ", tc.name), func(t *testing.T) {
			srv := startDeliveryServer(t, "sasl", nil)
			var logs bytes.Buffer
			n := newDeliveryModule(t, srv.addr, &logs, func(c *Config) { c.PasswordKey = secret.Redacted(keyA.String()) })
			ctx := t.Context()
			user := matrix.UserID("@u:localhost")
			if err := n.storeSASL(ctx, user, "u", password); err != nil {
				t.Fatal(err)
			}
			tc.setup(t, n)
			u := n.userConnFor(user, "")
			for range 2 {
				_, err := u.connect(ctx)
				if err == nil || !permanent(err) {
					t.Fatalf("connect: %v, want a permanent refusal to connect", err)
				}
			}
			if got := srv.accepts.Load(); got != 0 {
				t.Fatalf("the bridge connected %d times without the stored password", got)
			}
			if tc.tell != "" {
				told := toldUser(n.m, user)
				if len(told) != 1 || !strings.Contains(told[0], tc.tell) || !strings.Contains(told[0], "did not connect you") {
					t.Fatalf("management room was told %q, want one notice mentioning %q", told, tc.tell)
				}
			}
			if !strings.Contains(logs.String(), "not connecting without") {
				t.Errorf("nothing logged:\n%s", logs.String())
			}
			if strings.Contains(logs.String(), password) {
				t.Errorf("the password was logged:\n%s", logs.String())
			}
		})
	}
}
