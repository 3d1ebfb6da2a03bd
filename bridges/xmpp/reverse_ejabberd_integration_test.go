//go:build integration

package xmpp

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/causewaybridge/causeway/internal/integration"
	"github.com/causewaybridge/causeway/matrix"
	"github.com/causewaybridge/causeway/puppet"
)

// TestIntegrationXMPPEjabberdReversePortal: the reverse portal's core on
// ejabberd instead of Prosody: an XMPP user's MUC (real JIDs hidden, as
// ejabberd makes rooms by default) with an archived message; a Matrix
// user joining its alias gets the message from the occupant-JID puppet;
// the Matrix user is an occupant; messages cross both ways; a ping
// through the MUC to the Matrix user's occupant is answered.
func TestIntegrationXMPPEjabberdReversePortal(t *testing.T) {
	t.Parallel()
	p := integration.StartEjabberd(t, integration.WithEjabberdUser("alice", "pw"))
	s := startBridge(t, p)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	alice := integration.DialXMPP(t, p.C2SAddr(), "alice", "pw")
	wait := func(what string, match func(integration.XMPPStanza) bool) integration.XMPPStanza {
		t.Helper()
		st, err := alice.Wait(ctx, match)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		return st
	}
	send := func(raw string) {
		t.Helper()
		if err := alice.Send(ctx, raw); err != nil {
			t.Fatal(err)
		}
	}
	muc := "den@" + integration.ProsodyMUC
	send(`<presence to='` + muc + `/alice'><x xmlns='http://jabber.org/protocol/muc'/></presence>`)
	wait("alice's self-presence", func(s integration.XMPPStanza) bool {
		return s.Name == "presence" && s.From == muc+"/alice" && strings.Contains(s.XML, `code="110"`)
	})
	if r, err := alice.IQ(ctx, "cfg", `<iq type='set' id='cfg' to='`+muc+`'><query xmlns='http://jabber.org/protocol/muc#owner'>`+
		`<x xmlns='jabber:x:data' type='submit'/></query></iq>`); err != nil || r.Type != "result" {
		t.Fatalf("instant room: %v %s", err, r.XML)
	}
	send(`<message to='` + muc + `' type='groupchat' id='h1'><body>archived on ejabberd</body></message>`)
	wait("reflection", func(s integration.XMPPStanza) bool { return s.Name == "message" && s.ID == "h1" })
	for n := 0; ; n++ { // the component connects in the background
		id := fmt.Sprintf("c%d", n)
		r, err := alice.IQ(ctx, id, `<iq type='get' id='`+id+`' to='`+p.ComponentDomain()+`'><ping xmlns='urn:xmpp:ping'/></iq>`)
		if err != nil {
			t.Fatal(err)
		}
		if r.Type == "result" {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}

	users, err := puppet.NewUsers("@_xmpp_{name}:{server}", "localhost")
	if err != nil {
		t.Fatal(err)
	}
	alicePuppet, err := users.Format(puppet.Values{"name": muc + "/alice"})
	if err != nil {
		t.Fatal(err)
	}
	carol := s.User(ctx, "carol")
	if err := carol.SetDisplayname(ctx, "Carol"); err != nil {
		t.Fatal(err)
	}
	room, err := carol.Join(ctx, "#_xmpp_den_conference.localhost:localhost")
	if err != nil {
		t.Fatalf("join the MUC's alias: %v", err)
	}
	if ev, err := carol.WaitForMessage(ctx, room, "archived on ejabberd"); err != nil || ev.Sender != alicePuppet {
		t.Fatalf("history: %v %v (want from %s)", ev, err, alicePuppet)
	}
	occ := muc + "/Carol"
	wait("carol's occupant", func(s integration.XMPPStanza) bool { return s.Name == "presence" && s.From == occ && s.Type == "" })
	send(`<message to='` + muc + `' type='groupchat' id='l1'><body>live on ejabberd</body></message>`)
	if ev, err := carol.WaitForMessage(ctx, room, "live on ejabberd"); err != nil || ev.Sender != alicePuppet {
		t.Fatalf("live message: %v %v", ev, err)
	}
	if _, err := carol.SendEvent(ctx, room, matrix.EventMessage, matrix.MessageContent{MsgType: matrix.MsgText, Body: "hello ejabberd"}); err != nil {
		t.Fatal(err)
	}
	wait("carol's message", func(s integration.XMPPStanza) bool {
		return s.Name == "message" && s.From == occ && strings.Contains(s.XML, "hello ejabberd")
	})
	if r, err := alice.IQ(ctx, "op1", `<iq type='get' id='op1' to='`+occ+`'><ping xmlns='urn:xmpp:ping'/></iq>`); err != nil || r.Type != "result" {
		t.Fatalf("ping to carol's occupant: %v %s", err, r.XML)
	}
}
