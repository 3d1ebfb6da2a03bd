package irc

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ergochat/irc-go/ircmsg"

	"github.com/causewaybridge/causeway/bridges"
	"github.com/causewaybridge/causeway/bridges/irc/ircconn"
	"github.com/causewaybridge/causeway/bridges/irc/secret"
)

// The secrets used below: none of them may appear in any output.
const (
	auditKey        = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
	auditOldKey     = "1f1e1d1c1b1a191817161514131211100f0e0d0c0b0a09080706050403020100"
	auditServerPass = "server-pass-4711"
	auditSASLPass   = "sasl-pass-0815"
	auditWebIRCPass = "webirc-pass-2342"
	auditUserPass   = "user-pass-9999"
)

// leaks reports which of the secrets (or their SASL PLAIN base64 forms)
// appear in out.
func leaks(out string) []string {
	var found []string
	for _, s := range []string{auditKey, auditOldKey, auditServerPass, auditSASLPass, auditWebIRCPass, auditUserPass,
		base64.StdEncoding.EncodeToString([]byte("\x00causeway\x00" + auditSASLPass)),
		base64.StdEncoding.EncodeToString([]byte("\x00alice\x00" + auditUserPass))} {
		if strings.Contains(out, s) {
			found = append(found, s)
		}
	}
	return found
}

func auditConfig() Config {
	return Config{
		PasswordKey:     secret.Redacted(auditKey),
		OldPasswordKeys: []secret.Redacted{secret.Redacted(auditOldKey)},
		Networks: map[string]*NetworkConfig{"test": {
			Address:        "127.0.0.1:1",
			ServerPassword: secret.Redacted(auditServerPass),
			Bot:            BotConfig{Nick: "causeway", SASLUsername: "causeway", SASLPassword: secret.Redacted(auditSASLPass)},
			WebIRC:         &WebIRCConfig{Password: secret.Redacted(auditWebIRCPass), Gateway: "causeway", HostSuffix: "matrix.example.org"},
		}},
	}
}

// TestConfigNeverPrintsSecrets: the irc configuration and the connection
// settings built from it show no password or key however they are
// printed or logged.
func TestConfigNeverPrintsSecrets(t *testing.T) {
	cfg := auditConfig()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	n := cfg.Networks["test"]
	dial := ircconn.Config{Addr: n.Address, Nick: "alice", ServerPassword: n.ServerPassword.Reveal(),
		SASL:   &ircconn.SASL{Username: "alice", Password: auditUserPass},
		WebIRC: &ircconn.WebIRC{Password: n.WebIRC.Password.Reveal(), Gateway: "causeway", Hostname: "alice.example", IP: "fd00::1"}}

	var buf bytes.Buffer
	for _, h := range []slog.Handler{slog.NewTextHandler(&buf, nil), slog.NewJSONHandler(&buf, nil)} {
		log := slog.New(h)
		log.Info("config", "irc", cfg, "network", n, "networks", cfg.Networks)
		log.Info("dial", "config", dial, "sasl", dial.SASL, "webirc", dial.WebIRC)
	}
	// The configuration types are also safe with fmt; ircconn's SASL and
	// WebIRC hide their passwords from slog only (LogValue).
	fmt.Fprintf(&buf, "%v %+v %#v %v %+v %v\n", cfg, cfg, cfg, *n, *n, *n.WebIRC)
	raw, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	buf.Write(raw)
	if found := leaks(buf.String()); len(found) > 0 {
		t.Fatalf("secrets %q printed:\n%s", found, buf.String())
	}
	// The values are still there for the one place that needs them.
	if n.Bot.SASLPassword.Reveal() != auditSASLPass || cfg.PasswordKey.Reveal() != auditKey {
		t.Fatal("Reveal lost the configured secrets")
	}
}

// TestRegistrationNeverLogsSecrets: a connection that sends PASS, WEBIRC
// and SASL PLAIN to a scripted server, with the bridge's logger at debug
// level, logs none of them, on success and on a refused login.
func TestRegistrationNeverLogsSecrets(t *testing.T) {
	for _, saslOK := range []bool{true, false} {
		t.Run(fmt.Sprintf("sasl_ok=%v", saslOK), func(t *testing.T) {
			srv := startSecretServer(t, saslOK)
			cfg := auditConfig()
			cfg.Networks["test"].Address = srv.addr
			var logs safeBuffer
			m := New()
			if err := m.Configure(envForAudit(), cfgDecoder(cfg)); err != nil {
				t.Fatal(err)
			}
			m.log = slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
			n := m.networks["test"]
			dc := n.dialConfig("alice", "alice", "@alice:localhost", nil)
			dc.SASL = &ircconn.SASL{Username: "alice", Password: auditUserPass}
			dc.WebIRC = &ircconn.WebIRC{Password: n.cfg.WebIRC.Password.Reveal(), Gateway: "causeway",
				Hostname: webircHost("@alice:localhost", "matrix.example.org"), IP: webircIP("@alice:localhost")}
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			c, err := ircconn.Dial(ctx, dc)
			if saslOK && err != nil {
				t.Fatalf("dial: %v", err)
			}
			if !saslOK && err == nil {
				t.Fatal("dial succeeded although the server refused SASL (must fail closed)")
			}
			if err != nil {
				// What the bridge logs when a connection fails.
				n.log().Warn("user reconnect failed", "user", "@alice:localhost", "err", err, "config", dc)
			} else {
				_ = c.Close("bye")
			}
			// The server did receive the secrets: the test would notice if
			// they were not sent at all.
			if got := srv.received(); len(leaks(got)) < 3 {
				t.Fatalf("the scripted server did not see PASS, WEBIRC and SASL: %q", got)
			}
			if found := leaks(logs.String()); len(found) > 0 {
				t.Fatalf("secrets %q in the logs:\n%s", found, logs.String())
			}
			if logs.Len() == 0 {
				t.Fatal("nothing was logged at debug level: the check above proves nothing")
			}
		})
	}
}

// secretServer is a scripted IRC server for registration with PASS,
// WEBIRC and SASL PLAIN. It records what it received.
type secretServer struct {
	addr string
	mu   sync.Mutex
	in   strings.Builder
}

func (s *secretServer) received() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.in.String()
}

func startSecretServer(t *testing.T, saslOK bool) *secretServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &secretServer{addr: ln.Addr().String()}
	done := make(chan struct{})
	t.Cleanup(func() { ln.Close(); <-done })
	go func() {
		defer close(done)
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		s.serve(conn, saslOK)
	}()
	return s
}

func (s *secretServer) serve(conn net.Conn, saslOK bool) {
	send := func(lines ...string) {
		for _, l := range lines {
			if _, err := conn.Write([]byte(l + "\r\n")); err != nil {
				return
			}
		}
	}
	nick := "alice"
	r := bufio.NewScanner(conn)
	for r.Scan() {
		line := r.Text()
		s.mu.Lock()
		s.in.WriteString(line + "\n")
		s.mu.Unlock()
		m, err := ircmsg.ParseLine(line)
		if err != nil {
			continue
		}
		switch {
		case m.Command == "CAP" && len(m.Params) > 0 && m.Params[0] == "LS":
			send(":srv CAP * LS :sasl=PLAIN")
		case m.Command == "CAP" && len(m.Params) > 1 && m.Params[0] == "REQ":
			send(":srv CAP * ACK :" + m.Params[1])
		case m.Command == "AUTHENTICATE" && len(m.Params) > 0 && m.Params[0] == "PLAIN":
			send("AUTHENTICATE +")
		case m.Command == "AUTHENTICATE":
			if saslOK {
				send(":srv 900 * alice!a@h alice :You are now logged in", ":srv 903 * :SASL successful")
			} else {
				send(":srv 904 * :SASL authentication failed")
			}
		case m.Command == "NICK" && len(m.Params) > 0:
			nick = m.Params[0]
		case m.Command == "CAP" && len(m.Params) > 0 && m.Params[0] == "END":
			send(":srv 001 "+nick+" :Welcome", ":srv 376 "+nick+" :End of MOTD")
		case m.Command == "PING" && len(m.Params) > 0:
			send(":srv PONG srv :" + m.Params[0])
		case m.Command == "QUIT":
			return
		}
	}
}

// safeBuffer is a bytes.Buffer safe for concurrent log writes.
type safeBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *safeBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *safeBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *safeBuffer) Len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Len()
}

func envForAudit() bridges.Env {
	return bridges.Env{ServerName: "localhost", BotUserID: "@causeway:localhost"}
}
