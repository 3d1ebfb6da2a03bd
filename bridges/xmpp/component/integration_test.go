//go:build integration

package component_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"mellium.im/xmpp/jid"

	"github.com/causewaybridge/causeway/bridges/xmpp/component"
	"github.com/causewaybridge/causeway/internal/integration"
)

// logBuffer is a goroutine-safe log sink.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (l *logBuffer) count(s string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Count(l.b.String(), s)
}

// onEachServer runs test as a parallel subtest per XMPP server the
// harness knows (Prosody and ejabberd), each with its own server.
func onEachServer(t *testing.T, test func(t *testing.T, server string)) {
	t.Helper()
	for _, server := range integration.XMPPServerNames() {
		t.Run(server, func(t *testing.T) {
			t.Parallel()
			test(t, server)
		})
	}
}

// startComponent runs a component against p until the test ends and waits
// for its first session.
func startComponent(t *testing.T, p integration.XMPPServer, maxBytes int) (*component.Conn, *logBuffer) {
	t.Helper()
	return startComponentWith(t, p, component.Options{MaxStanzaBytes: maxBytes})
}

// startComponentWith is startComponent with more options; server, domain,
// secret, logger and a 2 s reconnect cap are filled in.
func startComponentWith(t *testing.T, p integration.XMPPServer, opts component.Options) (*component.Conn, *logBuffer) {
	t.Helper()
	logs := &logBuffer{}
	opts.Server, opts.Domain, opts.Secret = p.ComponentAddr(), jid.MustParse(p.ComponentDomain()), p.ComponentSecret()
	opts.ReconnectMax = 2 * time.Second
	opts.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	c := component.New(opts)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = c.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		if t.Failed() {
			t.Logf("component log:\n%s", logs.String())
		}
	})
	wctx, wcancel := context.WithTimeout(ctx, 15*time.Second)
	defer wcancel()
	if err := c.WaitConnected(wctx); err != nil {
		t.Fatalf("component did not connect: %v\n%s", err, logs.String())
	}
	return c, logs
}

// iq sends an IQ from client and returns the answer.
func iq(ctx context.Context, t *testing.T, c *integration.XMPPClient, id, typ, to, payload string) integration.XMPPStanza {
	t.Helper()
	r, err := c.IQ(ctx, id, `<iq type='`+typ+`' id='`+id+`' to='`+to+`'>`+payload+`</iq>`)
	if err != nil {
		t.Fatalf("iq %s: %v", id, err)
	}
	return r
}

const pingPayload = `<ping xmlns='urn:xmpp:ping'/>`

// TestIntegrationXMPPComponentAnswers: the component authenticates to a
// real Prosody and a real ejabberd; a client's ping and disco#info/#items to the domain are
// answered from the domain; a ping and disco to a JID on the domain that
// does not exist get item-not-found from that JID.
func TestIntegrationXMPPComponentAnswers(t *testing.T) {
	t.Parallel()
	onEachServer(t, testComponentAnswers)
}

func testComponentAnswers(t *testing.T, server string) {
	p := integration.StartXMPPServer(t, server, [2]string{"alice", "pw"})
	startComponent(t, p, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	alice := integration.DialXMPP(t, p.C2SAddr(), "alice", "pw")
	domain := p.ComponentDomain()

	if r := iq(ctx, t, alice, "ping1", "get", domain, pingPayload); r.Type != "result" || r.From != domain {
		t.Fatalf("ping: %s", r.XML)
	}
	r := iq(ctx, t, alice, "info1", "get", domain, `<query xmlns='http://jabber.org/protocol/disco#info'/>`)
	for _, want := range []string{`category="conference"`, `category="gateway"`, `var="urn:xmpp:ping"`} {
		if r.Type != "result" || r.From != domain || !strings.Contains(r.XML, want) {
			t.Fatalf("disco#info lacks %s: %s", want, r.XML)
		}
	}
	if r := iq(ctx, t, alice, "items1", "get", domain, `<query xmlns='http://jabber.org/protocol/disco#items'/>`); r.Type != "result" || r.From != domain {
		t.Fatalf("disco#items: %s", r.XML)
	}
	room := "nobody@" + domain
	if r := iq(ctx, t, alice, "ping2", "get", room, pingPayload); r.Type != "error" || r.From != room || !strings.Contains(r.XML, "item-not-found") {
		t.Fatalf("ping to %s: %s", room, r.XML)
	}
	if r := iq(ctx, t, alice, "info2", "get", room, `<query xmlns='http://jabber.org/protocol/disco#info'/>`); r.Type != "error" || r.From != room {
		t.Fatalf("disco#info to %s: %s", room, r.XML)
	}
}

// TestIntegrationXMPPComponentWrongSecret: a wrong secret is
// ErrNotAuthorized with a message that names the secret, on Prosody and
// on ejabberd.
func TestIntegrationXMPPComponentWrongSecret(t *testing.T) {
	t.Parallel()
	onEachServer(t, testComponentWrongSecret)
}

func testComponentWrongSecret(t *testing.T, server string) {
	p := integration.StartXMPPServer(t, server)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	_, err := component.Dial(ctx, component.Options{
		Server: p.ComponentAddr(), Domain: jid.MustParse(p.ComponentDomain()), Secret: "wrong-" + p.ComponentSecret(),
	})
	if !errors.Is(err, component.ErrNotAuthorized) || !strings.Contains(err.Error(), "secret") {
		t.Fatalf("err = %v, want ErrNotAuthorized naming the secret", err)
	}
	if strings.Contains(err.Error(), p.ComponentSecret()) {
		t.Fatalf("error shows the secret: %v", err)
	}
}

// TestIntegrationXMPPComponentHostileStanzas: bad recipients, unknown
// namespaces, oversized bodies, wrong types and malformed requests get
// error replies (or are dropped) and never end the session: a ping
// afterwards is answered and the component never reconnected.
func TestIntegrationXMPPComponentHostileStanzas(t *testing.T) {
	t.Parallel()
	p := integration.StartProsody(t, integration.WithProsodyUser("mallory", "pw"))
	_, logs := startComponent(t, p, 64<<10)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	m := integration.DialXMPP(t, p.C2SAddr(), "mallory", "pw")
	domain := p.ComponentDomain()
	huge := strings.Repeat("A", 100<<10)

	for i, tt := range []struct {
		id, raw, wantCond string // wantCond "" means no answer is required
	}{
		0:  {"unknown-ns", `<iq type='get' id='unknown-ns' to='` + domain + `'><query xmlns='urn:example:nope'/></iq>`, "service-unavailable"},
		1:  {"bogus-type", `<iq type='bogus' id='bogus-type' to='` + domain + `'>` + pingPayload + `</iq>`, "bad-request"},
		2:  {"two-payloads", `<iq type='get' id='two-payloads' to='` + domain + `'>` + pingPayload + pingPayload + `</iq>`, "bad-request"},
		3:  {"no-payload", `<iq type='set' id='no-payload' to='` + domain + `'/>`, "bad-request"},
		4:  {"ping-set", `<iq type='set' id='ping-set' to='` + domain + `'>` + pingPayload + `</iq>`, "bad-request"},
		5:  {"huge", `<message id='huge' to='` + domain + `'><body>` + huge + `</body></message>`, "policy-violation"},
		6:  {"chat", `<message type='chat' id='chat' to='x@` + domain + `'><body>hi</body></message>`, "service-unavailable"},
		7:  {"bad-jid", `<message id='bad-jid' to='a b@` + domain + `'><body>x</body></message>`, ""},
		8:  {"bad-jid2", `<iq type='get' id='bad-jid2' to='@` + domain + `'>` + pingPayload + `</iq>`, ""},
		9:  {"weird-msg", `<message type='nonsense' id='weird-msg' to='` + domain + `'><body>x</body></message>`, ""},
		10: {"presence", `<presence type='nonsense' id='presence' to='room@` + domain + `/nick'/>`, ""},
		11: {"groupchat", `<message type='groupchat' id='groupchat' to='room@` + domain + `'><body>x</body></message>`, ""},
		12: {"stanza-id", `<message type='chat' id='stanza-id' to='x@` + domain + `'><stanza-id xmlns='urn:xmpp:sid:0' id='spoof' by='` + domain + `'/><body>x</body></message>`, "service-unavailable"},
		13: {"info-node", `<iq type='get' id='info-node' to='` + domain + `'><query xmlns='http://jabber.org/protocol/disco#info' node='x'/></iq>`, "item-not-found"},
	} {
		if err := m.Send(ctx, tt.raw); err != nil {
			t.Fatalf("%d: send: %v", i, err)
		}
		if tt.wantCond == "" {
			continue
		}
		r, err := m.Wait(ctx, func(s integration.XMPPStanza) bool { return s.ID == tt.id && s.Type == "error" })
		if err != nil {
			t.Fatalf("%d %s: %v", i, tt.id, err)
		}
		if !strings.Contains(r.XML, tt.wantCond) || r.From == "" {
			t.Errorf("%d %s: want %s with a from, got %s", i, tt.id, tt.wantCond, r.XML)
		}
	}
	if r := iq(ctx, t, m, "ping-after", "get", domain, pingPayload); r.Type != "result" || r.From != domain {
		t.Fatalf("ping after hostile stanzas: %s", r.XML)
	}
	if n := logs.count("xmpp component connected"); n != 1 {
		t.Fatalf("component connected %d times, want 1 (the session did not survive)", n)
	}
}

// TestIntegrationXMPPComponentReconnects: the server (Prosody, ejabberd)
// killed (SIGKILL) and started again, twice, the component reconnects by
// itself and answers pings.
func TestIntegrationXMPPComponentReconnects(t *testing.T) {
	t.Parallel()
	onEachServer(t, testComponentReconnects)
}

func testComponentReconnects(t *testing.T, server string) {
	p := integration.StartXMPPServer(t, server, [2]string{"alice", "pw"})
	c, logs := startComponent(t, p, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	domain := p.ComponentDomain()
	if r := iq(ctx, t, integration.DialXMPP(t, p.C2SAddr(), "alice", "pw"), "before", "get", domain, pingPayload); r.Type != "result" {
		t.Fatalf("ping before the restart: %s", r.XML)
	}
	for round := range 2 {
		if err := p.Kill(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(300 * time.Millisecond) // the component retries against a dead port
		if err := p.Start(); err != nil {
			t.Fatal(err)
		}
		for logs.count("xmpp component connected") < round+2 {
			if ctx.Err() != nil {
				t.Fatalf("round %d: component did not reconnect", round)
			}
			time.Sleep(50 * time.Millisecond)
		}
		if err := c.WaitConnected(ctx); err != nil {
			t.Fatal(err)
		}
		id := "after" + string(rune('0'+round))
		if r := iq(ctx, t, integration.DialXMPP(t, p.C2SAddr(), "alice", "pw"), id, "get", domain, pingPayload); r.Type != "result" || r.From != domain {
			t.Fatalf("round %d: ping after the restart: %s", round, r.XML)
		}
	}
}

// TestIntegrationXMPPComponentKeepalive: a server that stops answering
// while its socket stays open (Prosody paused with SIGSTOP) is noticed by
// the keepalive ping; once it answers again the component is back.
func TestIntegrationXMPPComponentKeepalive(t *testing.T) {
	t.Parallel()
	p := integration.StartProsody(t, integration.WithProsodyUser("alice", "pw"))
	c, logs := startComponentWith(t, p, component.Options{KeepAlive: 300 * time.Millisecond, KeepAliveTimeout: time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	for logs.count("keepalive ping answered") < 2 {
		if ctx.Err() != nil || logs.count("keepalive ping unanswered") > 0 {
			t.Fatalf("keepalive pings not answered by a live server:\n%s", logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := p.Pause(); err != nil {
		t.Fatal(err)
	}
	for logs.count("keepalive ping unanswered") == 0 {
		if ctx.Err() != nil {
			t.Fatal("the keepalive never noticed the paused server")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := p.Resume(); err != nil {
		t.Fatal(err)
	}
	for logs.count("xmpp component connected") < 2 {
		if ctx.Err() != nil {
			t.Fatal("component did not reconnect after the server resumed")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := c.WaitConnected(ctx); err != nil {
		t.Fatal(err)
	}
	if r := iq(ctx, t, integration.DialXMPP(t, p.C2SAddr(), "alice", "pw"), "after", "get", p.ComponentDomain(), pingPayload); r.Type != "result" {
		t.Fatalf("ping after resume: %s", r.XML)
	}
}
