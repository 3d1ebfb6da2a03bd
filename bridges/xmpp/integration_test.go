//go:build integration

package xmpp

import (
	"context"
	"encoding/xml"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/causewaybridge/causeway/config"
	"github.com/causewaybridge/causeway/internal/bridgetest"
	"github.com/causewaybridge/causeway/internal/integration"
)

// TestIntegrationXMPPModuleStarts: the module, configured from a section
// like an operator's and started on a test host, connects to a real
// Prosody as its component (a client's ping is answered from the domain),
// sends what is put in its queue (stored in the host's KV until the
// server acknowledged it), and disconnects when the host stops it.
func TestIntegrationXMPPModuleStarts(t *testing.T) {
	t.Parallel()
	p := integration.StartProsody(t, integration.WithProsodyUser("alice", "pw"))
	doc := fmt.Sprintf("homeserver: {url: http://127.0.0.1:8008, server_name: localhost}\nbridges:\n  xmpp: {server: %q, domain: %q, secret: \"${XMPP_SECRET}\"}\n",
		p.ComponentAddr(), p.ComponentDomain())
	env := func(name string) (string, bool) { return p.ComponentSecret(), name == "XMPP_SECRET" }
	c, err := config.Parse([]byte(doc), "test", env)
	if err != nil {
		t.Fatal(err)
	}
	h := bridgetest.NewHost(t, bridgetest.HostOptions{Module: ID, ServerName: "localhost"})
	m := New()
	if err := m.Configure(testEnv, c.Bridges[ID]); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := m.Start(ctx, h); err != nil {
		t.Fatal(err)
	}
	if err := m.conn.WaitConnected(ctx); err != nil {
		t.Fatal(err)
	}
	alice := integration.DialXMPP(t, p.C2SAddr(), "alice", "pw")
	r, err := alice.IQ(ctx, "p1", `<iq type='get' id='p1' to='`+p.ComponentDomain()+`'><ping xmlns='urn:xmpp:ping'/></iq>`)
	if err != nil || r.Type != "result" || r.From != p.ComponentDomain() {
		t.Fatalf("ping: %v %s", err, r.XML)
	}
	// The module's queue lives in its KV and reaches XMPP.
	if err := alice.Send(ctx, `<presence/>`); err != nil {
		t.Fatal(err)
	}
	raw := `<message from='bot@` + p.ComponentDomain() + `' to='` + alice.JID() + `' type='chat' id='q1'><body>queued</body></message>`
	if err := m.conn.Enqueue(ctx, xml.NewDecoder(strings.NewReader(raw))); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.Wait(ctx, func(s integration.XMPPStanza) bool { return s.Name == "message" && s.ID == "q1" }); err != nil {
		t.Fatal(err)
	}
	for m.queue.Len() > 0 {
		if ctx.Err() != nil {
			t.Fatal("the queued message was never acknowledged")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Only the queue's entries are gone (the occupant-id secret stays);
	// keys only in the message: values may be secret.
	if left, err := h.KV().WithPrefix(ctx, "outq/"); err != nil || len(left) != 0 {
		keys := make([]string, 0, len(left))
		for _, e := range left {
			keys = append(keys, e.Key)
		}
		t.Fatalf("queue entries in the KV after the acknowledgement: %q %v", keys, err)
	}
	h.Stop()
	if err := m.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if m.conn.Connected() {
		t.Fatal("still connected after Stop")
	}
}
