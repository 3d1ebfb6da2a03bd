//go:build integration

package integration

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestIntegrationProsodyXMPPClient: StartProsody's server logs a
// registered user in over plain SASL PLAIN, answers its ping, hosts MUCs
// with MAM and occupant-id on ProsodyMUC, and comes
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
	// The MUC service is up with MAM (muc_mam) for the XMPP module's tests.
	r, err := c.IQ(ctx, "muc1", `<iq type='get' id='muc1' to='`+ProsodyMUC+`'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`)
	if err != nil || r.Type != "result" || !strings.Contains(r.XML, "http://jabber.org/protocol/muc") {
		t.Fatalf("disco#info of %s: %v %s", ProsodyMUC, err, r.XML)
	}
	room := "probe@" + ProsodyMUC
	if err := c.Send(ctx, `<presence to='`+room+`/alice'><x xmlns='http://jabber.org/protocol/muc'/></presence>`); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Wait(ctx, func(s XMPPStanza) bool { return s.Name == "presence" && s.From == room+"/alice" }); err != nil {
		t.Fatalf("join %s: %v", room, err)
	}
	r, err = c.IQ(ctx, "muc2", `<iq type='get' id='muc2' to='`+room+`'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`)
	for _, feature := range []string{"urn:xmpp:mam:2", "urn:xmpp:occupant-id:0"} {
		if err != nil || !strings.Contains(r.XML, feature) {
			t.Fatalf("disco#info of %s lacks %s: %v %s", room, feature, err, r.XML)
		}
	}
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
