//go:build integration

package integration

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// ircServers starts each IRC server kind for table tests.
var ircServers = []struct {
	name  string
	start func(testing.TB) *IRCServer
}{
	{"ergo", func(t testing.TB) *IRCServer { return StartErgo(t) }},
	{"inspircd", func(t testing.TB) *IRCServer { return StartInspIRCd(t) }},
}

const ircWait = 10 * time.Second

func mustIRC(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestIntegrationIRCChannelMessage(t *testing.T) {
	for i, srv := range ircServers {
		t.Run(fmt.Sprintf("%d_%s", i, srv.name), func(t *testing.T) {
			s := srv.start(t)
			alice := DialIRC(t, s.Addr(), "alice")
			bob := DialIRC(t, s.Addr(), "bob")
			mustIRC(t, alice.Join("#causeway"))
			mustIRC(t, bob.Join("#causeway"))
			if _, err := alice.WaitFor(IsCommand("JOIN", "#causeway"), ircWait); err != nil {
				t.Fatalf("alice did not see bob join: %v", err)
			}
			mustIRC(t, alice.Privmsg("#causeway", "hello bob: ünïcode ok"))
			l, err := bob.WaitFor(IsPrivmsg("alice", "#causeway", "hello bob: ünïcode ok"), ircWait)
			if err != nil {
				t.Fatalf("bob did not get alice's message: %v", err)
			}
			if !strings.HasPrefix(l.Source, "alice!") {
				t.Errorf("message source = %q, want alice!user@host", l.Source)
			}
			mustIRC(t, bob.Privmsg("alice", "private reply"))
			if _, err := alice.WaitFor(IsPrivmsg("bob", "alice", "private reply"), ircWait); err != nil {
				t.Fatalf("alice did not get bob's private message: %v", err)
			}
		})
	}
}

func TestIntegrationIRCEchoMessageAndServerTime(t *testing.T) {
	for i, srv := range ircServers {
		t.Run(fmt.Sprintf("%d_%s", i, srv.name), func(t *testing.T) {
			s := srv.start(t)
			caps := []string{"echo-message", "server-time", "message-tags", "labeled-response", "batch"}
			alice := DialIRC(t, s.Addr(), "alice", WithCaps(caps...))
			for _, c := range caps {
				if !alice.HasCap(c) {
					t.Errorf("cap %s not acknowledged", c)
				}
			}
			mustIRC(t, alice.Join("#echo"))
			mustIRC(t, alice.Send("@label=L1 PRIVMSG #echo :echoed"))
			l, err := alice.WaitFor(IsPrivmsg("alice", "#echo", "echoed"), ircWait)
			if err != nil {
				t.Fatalf("no echo of alice's own message: %v", err)
			}
			if label, _ := l.Tag("label"); label != "L1" {
				t.Errorf("echo label = %q, want L1 (line %s)", label, l.Raw)
			}
			ts, ok := l.Tag("time")
			if _, err := time.Parse(time.RFC3339, ts); !ok || err != nil {
				t.Errorf("echo has no valid server-time tag: %s", l.Raw)
			}
		})
	}
}

func TestIntegrationErgoCapabilities(t *testing.T) {
	s := StartErgo(t)
	c := DialIRC(t, s.Addr(), "capper")
	offered := c.OfferedCaps()
	for _, want := range []string{
		"account-notify", "account-tag", "away-notify", "batch", "cap-notify", "chghost",
		"draft/chathistory", "draft/multiline", "echo-message", "extended-join", "invite-notify",
		"labeled-response", "message-tags", "multi-prefix", "sasl", "server-time", "setname",
		"userhost-in-names",
	} {
		if _, ok := offered[want]; !ok {
			t.Errorf("ergo does not offer %s; offered: %v", want, offered)
		}
	}
	if !strings.Contains(offered["sasl"], "PLAIN") {
		t.Errorf("sasl mechanisms = %q, want PLAIN among them", offered["sasl"])
	}
	// 005 lines follow 001: wait for the end of the MOTD before reading them.
	if _, err := c.WaitFor(func(l *Line) bool { return l.Command == "376" || l.Command == "422" }, 10*time.Second); err != nil {
		t.Fatalf("no end of MOTD: %v", err)
	}
	if v, _ := c.ISupport("NETWORK"); v != "CausewayTest" {
		t.Errorf("ISUPPORT NETWORK = %q, want CausewayTest", v)
	}
}

func TestIntegrationInspIRCdCapabilities(t *testing.T) {
	s := StartInspIRCd(t)
	c := DialIRC(t, s.Addr(), "capper")
	offered := c.OfferedCaps()
	for _, want := range []string{
		"account-notify", "account-tag", "away-notify", "batch", "cap-notify", "chghost",
		"echo-message", "extended-join", "invite-notify", "labeled-response", "message-tags",
		"multi-prefix", "server-time", "setname", "userhost-in-names",
	} {
		if _, ok := offered[want]; !ok {
			t.Errorf("inspircd does not offer %s; offered: %v", want, offered)
		}
	}
	for _, absent := range []string{"sasl", "draft/chathistory"} {
		if _, ok := offered[absent]; ok {
			t.Errorf("inspircd offers %s; tests assume it does not (no services, no history)", absent)
		}
	}
	t.Logf("inspircd offers: %v", offered)
}

func TestIntegrationInspIRCdWithoutIRCv3(t *testing.T) {
	s := StartInspIRCd(t, WithoutIRCv3())
	plain := DialIRC(t, s.Addr(), "plain")
	if n := len(plain.OfferedCaps()); n != 0 {
		t.Errorf("server without IRCv3 modules offered %d caps: %v", n, plain.OfferedCaps())
	}
	ctx, cancel := context.WithTimeout(context.Background(), ircWait)
	defer cancel()
	_, err := ConnectIRC(ctx, s.Addr(), "wantcaps", WithCaps("echo-message"))
	if err == nil {
		t.Fatal("requesting echo-message from a server without CAP succeeded")
	}
}

func TestIntegrationErgoChathistory(t *testing.T) {
	s := StartErgo(t)
	alice := DialIRC(t, s.Addr(), "alice")
	mustIRC(t, alice.Join("#hist"))
	for i := range 5 {
		mustIRC(t, alice.Privmsg("#hist", fmt.Sprintf("line %d", i)))
	}
	// The last message is in history once a second client can see it live;
	// join afterwards and ask for it.
	bob := DialIRC(t, s.Addr(), "bob", WithCaps("draft/chathistory", "batch", "server-time", "message-tags"))
	mustIRC(t, bob.Join("#hist"))
	mustIRC(t, bob.Send("CHATHISTORY LATEST #hist * 10"))
	start, err := bob.WaitFor(func(l *Line) bool {
		return l.Command == "BATCH" && strings.HasPrefix(l.Param(0), "+") && l.Param(1) == "chathistory"
	}, ircWait)
	if err != nil {
		t.Fatalf("no chathistory batch: %v", err)
	}
	ref := strings.TrimPrefix(start.Param(0), "+")
	if _, err := bob.WaitFor(IsCommand("BATCH", "-"+ref), ircWait); err != nil {
		t.Fatalf("chathistory batch %s never ended: %v", ref, err)
	}
	var got []string
	for _, l := range bob.Lines() {
		// Without draft/event-playback, Ergo replays joins as PRIVMSGs from
		// HistServ; the messages themselves keep their sender.
		if b, _ := l.Tag("batch"); b == ref && l.Command == "PRIVMSG" && l.Nick() == "alice" {
			if _, ok := l.Tag("msgid"); !ok {
				t.Errorf("history line without msgid: %s", l.Raw)
			}
			got = append(got, l.Param(1))
		}
	}
	want := []string{"line 0", "line 1", "line 2", "line 3", "line 4"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("history = %q, want %q in order", got, want)
	}
}

func TestIntegrationErgoAccountsSurviveKill(t *testing.T) {
	s := StartErgo(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	mustIRC(t, RegisterAccount(ctx, s.Addr(), "carol", "carol-secret"))
	c := DialIRC(t, s.Addr(), "carol", WithSASLPlain("carol", "carol-secret"))
	mustIRC(t, c.Join("#restart"))

	mustIRC(t, s.Kill())
	select {
	case <-c.Done():
	case <-time.After(ircWait):
		t.Fatal("client connection still open after the server was killed")
	}
	if _, err := c.WaitFor(func(*Line) bool { return false }, time.Millisecond); !errors.Is(err, ErrIRCClosed) {
		t.Errorf("WaitFor on a dead connection: %v, want ErrIRCClosed", err)
	}
	mustIRC(t, s.Start())

	again := DialIRC(t, s.Addr(), "carol", WithSASLPlain("carol", "carol-secret"))
	if again.Nick() != "carol" {
		t.Errorf("nick after SASL login = %q, want carol", again.Nick())
	}
	mustIRC(t, again.Join("#restart"))
	_, err := ConnectIRC(ctx, s.Addr(), "mallory", WithSASLPlain("carol", "wrong"))
	if err == nil {
		t.Error("SASL with a wrong password succeeded after restart")
	}

	mustIRC(t, s.Stop())
	if s.Running() {
		t.Fatal("server still running after Stop")
	}
	mustIRC(t, s.Start())
	DialIRC(t, s.Addr(), "carol2", WithSASLPlain("carol", "carol-secret"))
}

func TestIntegrationInspIRCdRestart(t *testing.T) {
	s := StartInspIRCd(t)
	c := DialIRC(t, s.Addr(), "dave")
	mustIRC(t, s.Kill())
	select {
	case <-c.Done():
	case <-time.After(ircWait):
		t.Fatal("client connection still open after the server was killed")
	}
	mustIRC(t, s.Start())
	again := DialIRC(t, s.Addr(), "dave")
	mustIRC(t, again.Join("#back"))
}

func TestIntegrationErgoOper(t *testing.T) {
	s := StartErgo(t, WithErgoOper("root", "rootpw"))
	op := DialIRC(t, s.Addr(), "op")
	victim := DialIRC(t, s.Addr(), "victim")
	mustIRC(t, op.Send("OPER root rootpw"))
	if _, err := op.WaitFor(IsCommand("381"), ircWait); err != nil {
		t.Fatalf("OPER failed: %v", err)
	}
	mustIRC(t, op.Send("KILL victim :test kill"))
	select {
	case <-victim.Done():
	case <-time.After(ircWait):
		t.Fatal("victim still connected after KILL")
	}
}

// TestIntegrationIRCManyClients connects 200 clients to one channel on each
// server: the per-IP limits of the stock configs would refuse most of them.
func TestIntegrationIRCManyClients(t *testing.T) {
	const n = 200
	for i, srv := range ircServers {
		t.Run(fmt.Sprintf("%d_%s", i, srv.name), func(t *testing.T) {
			s := srv.start(t)
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			errs := make(chan error, n)
			clients := make(chan *IRCClient, n)
			for j := range n {
				go func() {
					c, err := ConnectIRC(ctx, s.Addr(), fmt.Sprintf("load%d", j))
					if err == nil {
						clients <- c
						err = c.Join("#load")
					}
					errs <- err
				}()
			}
			for range n {
				if err := <-errs; err != nil {
					t.Error(err)
				}
			}
			close(clients)
			count := 0
			for c := range clients {
				count++
				c.Close()
			}
			if count != n {
				t.Errorf("%d of %d clients connected", count, n)
			}
		})
	}
}
