//go:build integration

package integration

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestIntegrationEjabberdXMPPClient: StartEjabberd's server logs a user
// registered through its Erlang node in over plain SASL PLAIN, answers its
// ping, hosts MUCs with MAM on ProsodyMUC, refuses a wrong password,
// registers a user while it runs (and refuses her a second time), and comes back on the same port with
// the same users after a kill and a start. Two servers run side by side
// (own node names, cookies and distribution ports). Start times are logged.
func TestIntegrationEjabberdXMPPClient(t *testing.T) {
	t.Parallel()
	began := time.Now()
	e := StartEjabberd(t, WithEjabberdUser("alice", "alicepass"), WithEjabberdUser("bob", "bobpass"))
	t.Logf("ejabberd started with two users in %s", time.Since(began))
	other := StartEjabberd(t, WithEjabberdUser("alice", "otherpass"))
	if other.Node() == e.Node() || other.C2SAddr() == e.C2SAddr() {
		t.Fatalf("two servers share a node or a port: %s %s", e.Node(), other.Node())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
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
	c := DialXMPP(t, e.C2SAddr(), "alice", "alicepass")
	if !strings.HasPrefix(c.JID(), "alice@localhost/") {
		t.Fatalf("jid %s", c.JID())
	}
	ping(c, "p1")
	ping(DialXMPP(t, e.C2SAddr(), "bob", "bobpass"), "pb")
	ping(DialXMPP(t, other.C2SAddr(), "alice", "otherpass"), "po")

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
	if err != nil || !strings.Contains(r.XML, "urn:xmpp:mam:2") {
		t.Fatalf("disco#info of %s lacks MAM: %v %s", room, err, r.XML)
	}
	if _, err := ConnectXMPP(ctx, e.C2SAddr(), "alice", "wrong"); err == nil {
		t.Fatal("login with a wrong password succeeded")
	}
	if err := e.Register("carol", "carolpass"); err != nil {
		t.Fatal(err)
	}
	ping(DialXMPP(t, e.C2SAddr(), "carol", "carolpass"), "pc")
	if err := e.Register("carol", "other"); err == nil || !strings.Contains(err.Error(), "carol") {
		t.Fatalf("registering carol twice: %v, want an error naming her", err)
	}
	if err := e.Kill(); err != nil {
		t.Fatal(err)
	}
	began = time.Now()
	if err := e.Start(); err != nil {
		t.Fatal(err)
	}
	t.Logf("ejabberd started again after SIGKILL in %s", time.Since(began))
	ping(DialXMPP(t, e.C2SAddr(), "alice", "alicepass"), "p2")
	ping(DialXMPP(t, e.C2SAddr(), "carol", "carolpass"), "p3")
}
