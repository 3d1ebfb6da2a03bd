package ircconn

import (
	"encoding/base64"
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestCapNegotiationNAKKeepsOtherCaps(t *testing.T) {
	s := newFakeServer(t)
	ch := dialAsync(t, Config{Addr: s.addr(), Nick: "alice"})
	s.accept()
	s.expect("CAP LS 302")
	s.expect("NICK alice")
	s.expect("USER alice 0 * alice")
	s.send(":srv CAP * LS * :server-time batch unknown-cap",
		":srv CAP * LS :echo-message labeled-response draft/multiline=max-bytes=4096,max-lines=24")
	req := s.expect("CAP REQ")
	got := strings.Fields(req.Params[1])
	want := []string{"server-time", "echo-message", "batch", "labeled-response", "draft/multiline"}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("requested %v, want %v (offered and wanted only)", got, want)
	}
	s.send(":srv CAP * NAK :" + req.Params[1])
	for range want {
		single := s.expect("CAP REQ")
		name := single.Params[1]
		if strings.Contains(name, " ") {
			t.Fatalf("after a NAK the client re-requested a group %q", name)
		}
		if name == "echo-message" {
			s.send(":srv CAP * NAK :echo-message")
		} else {
			s.send(":srv CAP * ACK :" + name)
		}
	}
	s.expect("CAP END")
	s.send(":srv 001 alice_ :Welcome", ":srv 422 alice_ :No MOTD")
	c, err := awaitDial(t, ch)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"server-time", "batch", "labeled-response", "draft/multiline"} {
		if !c.HasCap(name) {
			t.Errorf("cap %s not enabled after one other cap was NAKed", name)
		}
	}
	if c.HasCap("echo-message") || c.HasCap("unknown-cap") {
		t.Errorf("caps = %v, want neither echo-message nor unknown-cap", c.Caps())
	}
	if is := c.ISupport(); is.MultilineMaxBytes != 4096 || is.MultilineMaxLines != 24 {
		t.Errorf("multiline limits = %d/%d, want 4096/24", is.MultilineMaxBytes, is.MultilineMaxLines)
	}
	if c.Nick() != "alice_" {
		t.Errorf("Nick() = %q, want the nick of RPL_WELCOME", c.Nick())
	}
}

func TestServerWithoutCap(t *testing.T) {
	s := newFakeServer(t)
	ch := dialAsync(t, Config{Addr: s.addr(), Nick: "alice"})
	s.accept()
	s.expect("CAP LS 302")
	s.send(":srv 421 * CAP :Unknown command")
	s.expect("NICK alice")
	s.expect("USER alice")
	s.welcome("alice")
	c, err := awaitDial(t, ch)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Caps()) != 0 {
		t.Errorf("caps = %v, want none", c.Caps())
	}
}

// saslStart plays the start of a SASL registration: no NICK before the
// capability exchange.
func saslStart(t *testing.T, s *fakeServer, caps string) {
	t.Helper()
	s.accept()
	s.expect("CAP LS 302")
	s.send(":srv CAP * LS :" + caps)
}

func TestSASLPlain(t *testing.T) {
	s := newFakeServer(t)
	ch := dialAsync(t, Config{Addr: s.addr(), Nick: "alice", Caps: []string{"server-time"},
		SASL: &SASL{Username: "alice", Password: "hunter2"}})
	saslStart(t, s, "server-time sasl=PLAIN,EXTERNAL")
	req := s.expect("CAP REQ")
	s.send(":srv CAP * ACK :" + req.Params[1])
	s.expect("AUTHENTICATE PLAIN")
	s.send("AUTHENTICATE +")
	payload := s.expect("AUTHENTICATE ").Params[0]
	raw, err := base64.StdEncoding.DecodeString(payload)
	if err != nil || string(raw) != "\x00alice\x00hunter2" {
		t.Fatalf("PLAIN payload %q (%v)", raw, err)
	}
	s.send(":srv 900 * alice!a@h alice :You are now logged in", ":srv 903 * :SASL successful")
	s.expect("NICK alice")
	s.expect("USER alice")
	s.expect("CAP END")
	s.welcome("alice")
	c, err := awaitDial(t, ch)
	if err != nil {
		t.Fatal(err)
	}
	if c.Account() != "alice" || !c.HasCap("sasl") || !c.HasCap("server-time") {
		t.Errorf("account %q caps %v", c.Account(), c.Caps())
	}
}

func TestSASLLongPayloadIsChunked(t *testing.T) {
	s := newFakeServer(t)
	password := strings.Repeat("p", 600)
	ch := dialAsync(t, Config{Addr: s.addr(), Nick: "alice", SASL: &SASL{Username: "alice", Password: password}})
	saslStart(t, s, "sasl")
	req := s.expect("CAP REQ")
	s.send(":srv CAP * ACK :" + req.Params[1])
	s.expect("AUTHENTICATE PLAIN")
	s.send("AUTHENTICATE +")
	var b64 string
	for {
		chunk := s.expect("AUTHENTICATE ").Params[0]
		if len(chunk) > 400 {
			t.Fatalf("chunk of %d bytes, want at most 400", len(chunk))
		}
		if chunk != "+" {
			b64 += chunk
		}
		if len(chunk) < 400 {
			break
		}
	}
	raw, _ := base64.StdEncoding.DecodeString(b64)
	if string(raw) != "\x00alice\x00"+password {
		t.Fatalf("reassembled payload has %d bytes, want %d", len(raw), len(password)+7)
	}
	s.send(":srv 903 * :SASL successful")
	s.expect("NICK alice")
	s.expect("USER")
	s.expect("CAP END")
	s.welcome("alice")
	if _, err := awaitDial(t, ch); err != nil {
		t.Fatal(err)
	}
}

func TestSASLExternal(t *testing.T) {
	s := newFakeServer(t)
	ch := dialAsync(t, Config{Addr: s.addr(), Nick: "alice", SASL: &SASL{Mechanism: MechanismExternal}})
	saslStart(t, s, "sasl=EXTERNAL")
	s.expect("CAP REQ sasl")
	s.send(":srv CAP * ACK :sasl")
	s.expect("AUTHENTICATE EXTERNAL")
	s.send("AUTHENTICATE +")
	s.expect("AUTHENTICATE +")
	s.send(":srv 903 * :SASL successful")
	s.expect("NICK alice")
	s.expect("USER")
	s.expect("CAP END")
	s.welcome("alice")
	if _, err := awaitDial(t, ch); err != nil {
		t.Fatal(err)
	}
}

// expectNoRegistration reads the client's remaining lines and fails if it
// tries to register.
func expectNoRegistration(t *testing.T, s *fakeServer) {
	t.Helper()
	for {
		_ = s.conn.SetReadDeadline(timeNowPlus())
		line, err := s.r.ReadString('\n')
		if err != nil {
			return
		}
		if strings.HasPrefix(line, "NICK") || strings.HasPrefix(line, "USER") || strings.HasPrefix(line, "CAP END") {
			t.Fatalf("client sent %q after SASL failed", line)
		}
	}
}

func TestSASLFailsClosed(t *testing.T) {
	tests := []struct {
		name string
		play func(t *testing.T, s *fakeServer)
	}{
		0: {"rejected", func(t *testing.T, s *fakeServer) {
			saslStart(t, s, "sasl=PLAIN")
			s.expect("CAP REQ sasl")
			s.send(":srv CAP * ACK :sasl")
			s.expect("AUTHENTICATE PLAIN")
			s.send("AUTHENTICATE +")
			s.expect("AUTHENTICATE ")
			s.send(":srv 904 * :SASL authentication failed")
		}},
		1: {"not offered", func(t *testing.T, s *fakeServer) {
			saslStart(t, s, "server-time")
		}},
		2: {"cap NAKed", func(t *testing.T, s *fakeServer) {
			saslStart(t, s, "sasl")
			s.expect("CAP REQ sasl")
			s.send(":srv CAP * NAK :sasl")
		}},
		3: {"mechanism not offered", func(t *testing.T, s *fakeServer) {
			saslStart(t, s, "sasl=EXTERNAL")
			s.expect("CAP REQ sasl")
			s.send(":srv CAP * ACK :sasl")
		}},
		4: {"no CAP support", func(t *testing.T, s *fakeServer) {
			s.accept()
			s.expect("CAP LS 302")
			s.send(":srv 421 * CAP :Unknown command")
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newFakeServer(t)
			ch := dialAsync(t, Config{Addr: s.addr(), Nick: "alice", SASL: &SASL{Username: "alice", Password: "secret"}})
			tc.play(t, s)
			expectNoRegistration(t, s)
			c, err := awaitDial(t, ch)
			if !errors.Is(err, ErrSASLFailed) || c != nil {
				t.Fatalf("Dial = %v, %v; want ErrSASLFailed", c, err)
			}
			if strings.Contains(err.Error(), "secret") {
				t.Errorf("error %q contains the password", err)
			}
		})
	}
}

func TestWebIRCFirst(t *testing.T) {
	s := newFakeServer(t)
	ch := dialAsync(t, Config{Addr: s.addr(), Nick: "alice", ServerPassword: "srvpass",
		WebIRC: &WebIRC{Password: "gw", Gateway: "causeway", Hostname: "alice.example.org", IP: "2001:db8::1"}})
	s.accept()
	s.expect("WEBIRC gw causeway alice.example.org 2001:db8::1")
	s.expect("PASS srvpass")
	s.expect("CAP LS 302")
	s.expect("NICK alice")
	s.expect("USER")
	s.send(":srv CAP * LS :")
	s.expect("CAP END")
	s.welcome("alice")
	if _, err := awaitDial(t, ch); err != nil {
		t.Fatal(err)
	}
}

func TestNickFallback(t *testing.T) {
	s := newFakeServer(t)
	ch := dialAsync(t, Config{Addr: s.addr(), Nick: "alice"})
	s.accept()
	s.expect("CAP LS 302")
	s.expect("NICK alice")
	s.expect("USER")
	s.send(":srv CAP * LS :")
	s.expect("CAP END")
	s.send(":srv 433 * alice :Nickname is already in use")
	s.expect("NICK alice_")
	s.send(":srv 433 * alice_ :Nickname is already in use")
	s.expect("NICK alice1")
	s.welcome("alice1")
	c, err := awaitDial(t, ch)
	if err != nil {
		t.Fatal(err)
	}
	if c.Nick() != "alice1" {
		t.Errorf("Nick() = %q, want alice1", c.Nick())
	}
}

func TestNickFallbackGivesUp(t *testing.T) {
	s := newFakeServer(t)
	ch := dialAsync(t, Config{Addr: s.addr(), Nick: "alice", NickFallback: func(attempt int, tried string) string {
		if attempt > 2 {
			return ""
		}
		return tried + "x"
	}})
	s.accept()
	s.expect("CAP LS 302")
	s.expect("NICK alice")
	s.expect("USER")
	s.send(":srv 433 * alice :in use")
	s.expect("NICK alicex")
	s.send(":srv 432 * alicex :Erroneous nickname")
	s.expect("NICK alicexx")
	s.send(":srv 433 * alicexx :in use")
	if _, err := awaitDial(t, ch); !errors.Is(err, ErrNickUnavailable) {
		t.Fatalf("Dial error %v, want ErrNickUnavailable", err)
	}
}

func TestRegistrationRejected(t *testing.T) {
	tests := []struct {
		line, code, text string
	}{
		0: {":srv 465 alice :You are banned from this server- spam", "465", "You are banned from this server- spam"},
		1: {":srv 464 alice :Password incorrect", "464", "Password incorrect"},
		2: {"ERROR :Closing Link: (Too many connections from your IP)", "ERROR", "Closing Link: (Too many connections from your IP)"},
	}
	for i, tc := range tests {
		t.Run(tc.code, func(t *testing.T) {
			_ = i
			s := newFakeServer(t)
			ch := dialAsync(t, Config{Addr: s.addr(), Nick: "alice"})
			s.accept()
			s.expect("CAP LS 302")
			s.send(tc.line)
			_, err := awaitDial(t, ch)
			var ne *NumericError
			if !errors.Is(err, ErrRejected) || !errors.As(err, &ne) || ne.Code != tc.code || ne.Text != tc.text {
				t.Fatalf("Dial error %v, want ErrRejected with %s %q", err, tc.code, tc.text)
			}
		})
	}
}

func TestDialServerVanishes(t *testing.T) {
	s := newFakeServer(t)
	ch := dialAsync(t, Config{Addr: s.addr(), Nick: "alice"})
	s.accept()
	s.expect("CAP LS 302")
	_ = s.conn.Close()
	if _, err := awaitDial(t, ch); !errors.Is(err, ErrDisconnected) {
		t.Fatalf("Dial error %v, want ErrDisconnected", err)
	}
}

func TestPingDuringRegistration(t *testing.T) {
	s := newFakeServer(t)
	ch := dialAsync(t, Config{Addr: s.addr(), Nick: "alice"})
	s.accept()
	s.expect("CAP LS 302")
	s.expect("NICK")
	s.expect("USER")
	s.send("PING :cookie123")
	s.expect("PONG cookie123")
	s.send(":srv CAP * LS :")
	s.expect("CAP END")
	s.welcome("alice")
	if _, err := awaitDial(t, ch); err != nil {
		t.Fatal(err)
	}
}

func TestInvalidConfig(t *testing.T) {
	for i, cfg := range []Config{
		{Addr: "x:1"},
		{Addr: "x:1", Nick: "a b"},
		{Addr: "x:1", Nick: "a", SASL: &SASL{Mechanism: "SCRAM-SHA-256"}},
		{Nick: "a"},
	} {
		if _, err := Dial(t.Context(), cfg); err == nil {
			t.Errorf("%d: Dial(%+v) accepted an invalid config", i, cfg)
		}
	}
}
