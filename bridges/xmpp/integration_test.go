//go:build integration

package xmpp

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/causewaybridge/causeway/config"
	"github.com/causewaybridge/causeway/internal/bridgetest"
	"github.com/causewaybridge/causeway/internal/integration"
)

// TestIntegrationXMPPModuleStarts: the module, configured from a section
// like an operator's and started on a test host, connects to a real
// Prosody as its component (a client's ping is answered from the domain)
// and disconnects when the host stops it.
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
	h.Stop()
	if err := m.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if m.conn.Connected() {
		t.Fatal("still connected after Stop")
	}
}
