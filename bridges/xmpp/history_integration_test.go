//go:build integration

package xmpp

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/causewaybridge/causeway/bridges/xmpp/address"
	"github.com/causewaybridge/causeway/internal/bridgetest"
	"github.com/causewaybridge/causeway/internal/integration"
	"github.com/causewaybridge/causeway/matrix"
)

// TestIntegrationXMPPHistoryAndMAM: on Dendrite and Prosody, a Matrix
// user posts messages in a public room; an XMPP client joining with
// <history maxstanzas='3'/> gets exactly the last three, in order, each
// with a delay and the event ID as stanza-id, after its self-presence
// and before the subject.
func TestIntegrationXMPPHistoryAndMAM(t *testing.T) {
	t.Parallel()
	p := integration.StartProsody(t, integration.WithProsodyUser("alice", "pw"))
	domain := p.ComponentDomain()
	s := bridgetest.Start(t, bridgetest.Options{
		Bridges: fmt.Sprintf("  xmpp: {server: %q, domain: %q, secret: %q}\n", p.ComponentAddr(), domain, p.ComponentSecret()),
	})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	carol := s.User(ctx, "carol")
	if err := carol.SetDisplayname(ctx, "Carol"); err != nil {
		t.Fatal(err)
	}
	room, err := carol.CreateRoom(ctx, integration.CreateRoomRequest{Preset: "public_chat", RoomAliasName: "History", Topic: "Old times"})
	if err != nil {
		t.Fatal(err)
	}
	const n = 7
	var ids []matrix.EventID
	for i := range n {
		id, err := carol.SendText(ctx, room, fmt.Sprintf("message %d", i))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	local, err := address.Localpart("#History:localhost")
	if err != nil {
		t.Fatal(err)
	}
	muc := local + "@" + domain
	alice := integration.DialXMPP(t, p.C2SAddr(), "alice", "pw")
	waitComponent(ctx, t, alice, domain)
	wait := func(what string, match func(integration.XMPPStanza) bool) integration.XMPPStanza {
		t.Helper()
		st, err := alice.Wait(ctx, match)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		return st
	}

	// History on join: the last three, between the self-presence and
	// the subject.
	if err := alice.Send(ctx, `<presence to='`+muc+`/Alice'><x xmlns='http://jabber.org/protocol/muc'><history maxstanzas='3'/></x></presence>`); err != nil {
		t.Fatal(err)
	}
	wait("subject", func(s integration.XMPPStanza) bool { return s.Name == "message" && strings.Contains(s.XML, "<subject") })
	var seq []integration.XMPPStanza
	for _, st := range alice.Received() {
		if st.From == muc+"/Alice" || strings.HasPrefix(st.From, muc) && st.Name == "message" {
			seq = append(seq, st)
		}
	}
	if len(seq) != 5 || !strings.Contains(seq[0].XML, `code="110"`) || !strings.Contains(seq[4].XML, "Old times") {
		t.Fatalf("want self-presence, 3 messages, subject: %v", seq)
	}
	for i, st := range seq[1:4] {
		ev := ids[n-3+i]
		for _, want := range []string{fmt.Sprintf("message %d", n-3+i), `urn:xmpp:delay`, `stamp="`,
			`id="` + string(ev) + `"`, `by="` + muc + `"`} {
			if !strings.Contains(st.XML, want) {
				t.Errorf("history message %d lacks %s: %s", i, want, st.XML)
			}
		}
		if st.From != muc+"/Carol" || st.Type != "groupchat" {
			t.Errorf("history message %d from %s (%s)", i, st.From, st.Type)
		}
	}
}

// waitComponent waits until the component answers a ping through the
// server c is connected to: it connects in the background.
func waitComponent(ctx context.Context, t *testing.T, c *integration.XMPPClient, domain string) {
	t.Helper()
	for n := 0; ; n++ {
		id := fmt.Sprintf("c%d", n)
		r, err := c.IQ(ctx, id, `<iq type='get' id='`+id+`' to='`+domain+`'><ping xmlns='urn:xmpp:ping'/></iq>`)
		if err != nil {
			t.Fatal(err)
		}
		if r.Type == "result" {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}
