//go:build integration

package integration

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestIntegrationProsodyXMPPClient: StartProsody's server logs a
// registered user in over plain SASL PLAIN, answers its ping, and comes
// back on the same port with the same users after a kill and a start.
func TestIntegrationProsodyXMPPClient(t *testing.T) {
	t.Parallel()
	p := StartProsody(t, WithProsodyUser("alice", "alicepass"))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ping := func(c *XMPPClient, id string) {
		t.Helper()
		r, err := c.IQ(ctx, id, `<iq type='get' id='`+id+`' to='`+ProsodyHost+`'><ping xmlns='urn:xmpp:ping'/></iq>`)
		if err != nil {
			t.Fatal(err)
		}
		if r.Type != "result" || r.From != ProsodyHost {
			t.Fatalf("ping answer %s", r.XML)
		}
	}
	c := DialXMPP(t, p.C2SAddr(), "alice", "alicepass")
	if !strings.HasPrefix(c.JID(), "alice@localhost/") {
		t.Fatalf("jid %s", c.JID())
	}
	ping(c, "p1")
	if _, err := ConnectXMPP(ctx, p.C2SAddr(), "alice", "wrong"); err == nil {
		t.Fatal("login with a wrong password succeeded")
	}
	if err := p.Kill(); err != nil {
		t.Fatal(err)
	}
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	ping(DialXMPP(t, p.C2SAddr(), "alice", "alicepass"), "p2")
}
