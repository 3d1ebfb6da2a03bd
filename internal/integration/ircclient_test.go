package integration

import (
	"bufio"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"
)

func TestParseIRCLine(t *testing.T) {
	cases := []struct {
		raw     string
		tags    map[string]string
		source  string
		nick    string
		command string
		params  []string
	}{
		0: {raw: "PING :abc", command: "PING", params: []string{"abc"}},
		1: {raw: ":alice!a@host PRIVMSG #chan :hello world", source: "alice!a@host", nick: "alice",
			command: "PRIVMSG", params: []string{"#chan", "hello world"}},
		2: {raw: `@time=2026-01-01T00:00:00.000Z;label=a\sb :irc.test 001 bob :Welcome`,
			tags:   map[string]string{"time": "2026-01-01T00:00:00.000Z", "label": "a b"},
			source: "irc.test", nick: "irc.test", command: "001", params: []string{"bob", "Welcome"}},
		3: {raw: ":srv cap * LS * :sasl=PLAIN", source: "srv", nick: "srv", command: "CAP",
			params: []string{"*", "LS", "*", "sasl=PLAIN"}},
	}
	for i, c := range cases {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			l, err := ParseIRCLine(c.raw)
			if err != nil {
				t.Fatal(err)
			}
			if l.Source != c.source || l.Nick() != c.nick || l.Command != c.command ||
				strings.Join(l.Params, "|") != strings.Join(c.params, "|") {
				t.Errorf("got source %q nick %q command %q params %q", l.Source, l.Nick(), l.Command, l.Params)
			}
			if len(l.Tags) != len(c.tags) {
				t.Errorf("tags = %v, want %v", l.Tags, c.tags)
			}
			for k, v := range c.tags {
				if got, ok := l.Tag(k); !ok || got != v {
					t.Errorf("tag %s = %q, %v; want %q", k, got, ok, v)
				}
			}
		})
	}
	if _, err := ParseIRCLine(""); err == nil {
		t.Error("empty line parsed without error")
	}
}

// scriptedServer accepts one connection on 127.0.0.1 and runs script on it
// in a goroutine; errors from script fail the test.
func scriptedServer(t *testing.T, script func(r *bufio.Reader, conn net.Conn) error) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		conn, err := l.Accept()
		l.Close()
		if err != nil {
			done <- err
			return
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
		done <- script(bufio.NewReader(conn), conn)
	}()
	t.Cleanup(func() {
		l.Close()
		if err := <-done; err != nil {
			t.Errorf("scripted server: %v", err)
		}
	})
	return l.Addr().String()
}

// expect reads one line and checks it equals want.
func expect(r *bufio.Reader, want string) error {
	got, err := r.ReadString('\n')
	if err != nil {
		return fmt.Errorf("want %q: %w", want, err)
	}
	if got = strings.TrimRight(got, "\r\n"); got != want {
		return fmt.Errorf("got %q, want %q", got, want)
	}
	return nil
}

func send(conn net.Conn, lines ...string) error {
	_, err := conn.Write([]byte(strings.Join(lines, "\r\n") + "\r\n"))
	return err
}

// steps runs expect/send steps: lines starting with "> " are sent by the
// server, all others are expected from the client.
func steps(r *bufio.Reader, conn net.Conn, script ...string) error {
	for _, s := range script {
		var err error
		if out, ok := strings.CutPrefix(s, "> "); ok {
			err = send(conn, out)
		} else {
			err = expect(r, s)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func TestConnectIRCCapsAndSASL(t *testing.T) {
	payload := base64.StdEncoding.EncodeToString([]byte("acct\x00acct\x00pw"))
	addr := scriptedServer(t, func(r *bufio.Reader, conn net.Conn) error {
		if err := steps(r, conn,
			"CAP LS 302", "NICK alice", "USER alice 0 * :alice",
			"> :srv CAP * LS * :echo-message sasl=PLAIN,EXTERNAL",
			"> :srv CAP * LS :server-time draft/chathistory=1000",
			"CAP REQ :echo-message server-time sasl",
			"> :srv CAP * ACK :echo-message server-time sasl",
			"AUTHENTICATE PLAIN",
			"> AUTHENTICATE +",
			"AUTHENTICATE "+payload,
			"> :srv 900 alice alice!alice@h acct :logged in",
			"> :srv 903 alice :SASL authentication successful",
			"CAP END",
			"> :srv 001 alice_ :Welcome",
			"> :srv 005 alice_ NETWORK=Test CASEMAPPING=ascii :are supported",
			"> PING :tok",
			"PONG :tok",
		); err != nil {
			return err
		}
		return nil
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := ConnectIRC(ctx, addr, "alice", WithCaps("echo-message", "server-time"), WithSASLPlain("acct", "pw"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.Nick() != "alice_" {
		t.Errorf("nick = %q, want the one 001 gave (alice_)", c.Nick())
	}
	if !c.HasCap("echo-message") || !c.HasCap("sasl") || c.HasCap("batch") {
		t.Errorf("acked caps wrong: echo-message %v sasl %v batch %v", c.HasCap("echo-message"), c.HasCap("sasl"), c.HasCap("batch"))
	}
	offered := c.OfferedCaps()
	if offered["sasl"] != "PLAIN,EXTERNAL" || offered["draft/chathistory"] != "1000" || len(offered) != 4 {
		t.Errorf("offered caps from a two-line CAP LS = %v", offered)
	}
	if _, err := c.WaitFor(IsCommand("005"), 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if v, ok := c.ISupport("CASEMAPPING"); v != "ascii" || !ok {
		t.Errorf("ISUPPORT CASEMAPPING = %q, %v", v, ok)
	}
	// The server's script ends after our PONG, closing the connection.
	select {
	case <-c.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("PING was not answered (server script did not finish)")
	}
}

func TestConnectIRCFailures(t *testing.T) {
	cases := []struct {
		name   string
		opts   []IRCClientOption
		script []string
		want   string
	}{
		0: {name: "sasl refused", opts: []IRCClientOption{WithSASLPlain("a", "bad")},
			script: []string{"CAP LS 302", "NICK n", "USER n 0 * :n", "> :s CAP * LS :sasl",
				"CAP REQ :sasl", "> :s CAP * ACK :sasl", "AUTHENTICATE PLAIN", "> AUTHENTICATE +",
				"AUTHENTICATE " + base64.StdEncoding.EncodeToString([]byte("a\x00a\x00bad")),
				"> :s 904 n :SASL authentication failed"},
			want: "904"},
		1: {name: "cap refused", opts: []IRCClientOption{WithCaps("batch")},
			script: []string{"CAP LS 302", "NICK n", "USER n 0 * :n", "> :s CAP * LS :batch",
				"CAP REQ :batch", "> :s CAP * NAK :batch"},
			want: "refused capabilities"},
		2: {name: "nick in use", opts: []IRCClientOption{WithoutCAP()},
			script: []string{"NICK n", "USER n 0 * :n", "> :s 433 * n :Nickname is already in use"},
			want:   "433"},
		3: {name: "no CAP but caps wanted", opts: []IRCClientOption{WithCaps("batch")},
			script: []string{"CAP LS 302", "NICK n", "USER n 0 * :n", "> :s 421 n CAP :Unknown command"},
			want:   "does not support CAP"},
	}
	for i, c := range cases {
		t.Run(fmt.Sprintf("%d_%s", i, c.name), func(t *testing.T) {
			addr := scriptedServer(t, func(r *bufio.Reader, conn net.Conn) error {
				return steps(r, conn, c.script...)
			})
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			cl, err := ConnectIRC(ctx, addr, "n", c.opts...)
			if err == nil {
				cl.Close()
				t.Fatal("registration succeeded")
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q does not mention %q", err, c.want)
			}
		})
	}
}

// registered returns a client registered (without CAP) with a scripted
// server that then sends lines and waits for the client to close.
func registered(t *testing.T, lines ...string) *IRCClient {
	t.Helper()
	addr := scriptedServer(t, func(r *bufio.Reader, conn net.Conn) error {
		if err := steps(r, conn, "NICK me", "USER me 0 * :me", "> :s 001 me :hi"); err != nil {
			return err
		}
		if err := send(conn, lines...); err != nil {
			return err
		}
		for { // until the client closes
			if _, err := r.ReadString('\n'); err != nil {
				return nil
			}
		}
	})
	return DialIRC(t, addr, "me", WithoutCAP())
}

func TestWaitForReturnsEachLineOnce(t *testing.T) {
	c := registered(t,
		":a!u@h PRIVMSG #c :same",
		":a!u@h NOTICE #c :other",
		":a!u@h PRIVMSG #c :same",
	)
	same := IsPrivmsg("a", "#c", "same")
	first, err := c.WaitFor(same, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	second, err := c.WaitFor(same, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if first == second {
		t.Error("WaitFor returned the same line twice")
	}
	if _, err := c.WaitFor(same, 50*time.Millisecond); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("third wait: %v, want a timeout", err)
	}
	// The NOTICE that arrived between them is still there. (The predicate
	// calls the client's methods: that must not deadlock.)
	if _, err := c.WaitFor(func(l *Line) bool { return l.Command == "NOTICE" && c.Nick() == "me" }, time.Second); err != nil {
		t.Errorf("skipped line lost: %v", err)
	}
	if n := len(c.Lines()); n != 4 {
		t.Errorf("history has %d lines, want 4 (001 and three more)", n)
	}
	c.Close()
	if _, err := c.WaitFor(IsCommand("NOPE"), time.Second); !errors.Is(err, ErrIRCClosed) {
		t.Errorf("wait on closed client: %v, want ErrIRCClosed", err)
	}
}

func TestJoin(t *testing.T) {
	addr := scriptedServer(t, func(r *bufio.Reader, conn net.Conn) error {
		return steps(r, conn, "NICK me", "USER me 0 * :me", "> :s 001 me :hi",
			"JOIN #ok",
			"> :me!u@h JOIN #ok",
			"> :s 353 me = #ok :@me",
			"> :s 366 me #ok :End of /NAMES list.",
			"JOIN #banned",
			"> :s 474 me #banned :Cannot join channel (+b)",
		)
	})
	c := DialIRC(t, addr, "me", WithoutCAP())
	if err := c.Join("#ok"); err != nil {
		t.Errorf("join #ok: %v", err)
	}
	if err := c.Join("#banned"); err == nil || !strings.Contains(err.Error(), "474") {
		t.Errorf("join #banned: %v, want the 474 error", err)
	}
}

func TestSendRefusesLineBreaks(t *testing.T) {
	c := registered(t)
	for _, bad := range []string{"PRIVMSG #c :a\r\nQUIT", "PRIVMSG #c :a\nJOIN #x", "PRIVMSG #c :\x00"} {
		if err := c.Send(bad); err == nil {
			t.Errorf("Send(%q) succeeded", bad)
		}
	}
	if err := c.Privmsg("#c", "fine"); err != nil {
		t.Errorf("Privmsg: %v", err)
	}
}
