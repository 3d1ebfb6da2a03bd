//go:build integration

package xmpp

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/causewaybridge/causeway/bridges/xmpp/address"
	"github.com/causewaybridge/causeway/internal/bridgetest"
	"github.com/causewaybridge/causeway/internal/integration"
	"github.com/causewaybridge/causeway/internal/poll"
	"github.com/causewaybridge/causeway/matrix"
	"github.com/causewaybridge/causeway/puppet"
)

// modRoom is a hosted room for the nick, private message and moderation
// flows: carol (Matrix, the room's creator, "Carol") made it, alice and
// bob are XMPP clients that joined it as Alice and Bob.
type modRoom struct {
	t           *testing.T
	ctx         context.Context
	s           *bridgetest.Stack
	srv         integration.XMPPServer
	carol       *integration.Client
	room        matrix.RoomID
	muc         string
	alice, bob  *integration.XMPPClient
	alicePuppet matrix.UserID
	bobPuppet   matrix.UserID
	domain      string
	users       *puppet.Namespace[matrix.UserID]
}

// wait waits for a stanza c receives that match accepts.
func (m *modRoom) wait(c *integration.XMPPClient, what string, match func(integration.XMPPStanza) bool) integration.XMPPStanza {
	m.t.Helper()
	st, err := c.Wait(m.ctx, match)
	if err != nil {
		m.t.Fatalf("%s: %v", what, err)
	}
	return st
}

// presence waits for a presence from the room's nick of type typ ("" for
// available) whose XML contains every of want.
func (m *modRoom) presence(c *integration.XMPPClient, nick, typ string, want ...string) integration.XMPPStanza {
	m.t.Helper()
	return m.wait(c, fmt.Sprintf("presence of %s (%q, %v)", nick, typ, want), func(s integration.XMPPStanza) bool {
		if s.Name != "presence" || s.From != m.muc+"/"+nick || s.Type != typ {
			return false
		}
		for _, w := range want {
			if !strings.Contains(s.XML, w) {
				return false
			}
		}
		return true
	})
}

func (m *modRoom) send(c *integration.XMPPClient, raw string) {
	m.t.Helper()
	if err := c.Send(m.ctx, raw); err != nil {
		m.t.Fatal(err)
	}
}

// displaynameIn waits until u's member event in the room names it name.
func (m *modRoom) displaynameIn(u matrix.UserID, name string) {
	m.t.Helper()
	_, err := m.carol.WaitForEvent(m.ctx, func(ev *matrix.Event) bool {
		if ev.RoomID != m.room || ev.Type != matrix.EventMember || ev.StateKey == nil || *ev.StateKey != string(u) {
			return false
		}
		var c matrix.MemberContent
		return json.Unmarshal(ev.Content, &c) == nil && c.Membership == "join" && c.Displayname == name
	})
	if err != nil {
		m.t.Fatalf("%s named %q in the room: %v", u, name, err)
	}
}

// startModRoom starts the XMPP server server ("prosody" or "ejabberd")
// with alice and bob, Dendrite and the bridge, makes carol's public room
// #Mod and joins alice and bob to it.
func startModRoom(ctx context.Context, t *testing.T, server string) *modRoom {
	p := integration.StartXMPPServer(t, server, [2]string{"alice", "pw"}, [2]string{"bob", "pw"})
	s := startBridge(t, p)
	m := &modRoom{t: t, ctx: ctx, s: s, srv: p, domain: p.ComponentDomain()}
	m.carol = s.User(ctx, "carol")
	if err := m.carol.SetDisplayname(ctx, "Carol"); err != nil {
		t.Fatal(err)
	}
	var err error
	m.room, err = m.carol.CreateRoom(ctx, integration.CreateRoomRequest{Preset: "public_chat", Visibility: "public", Name: "Mod", RoomAliasName: "Mod"})
	if err != nil {
		t.Fatal(err)
	}
	local, err := address.Localpart("#Mod:localhost")
	if err != nil {
		t.Fatal(err)
	}
	m.muc = local + "@" + m.domain
	if m.users, err = puppet.NewUsers("@_xmpp_{name}:{server}", "localhost"); err != nil {
		t.Fatal(err)
	}
	for _, u := range []struct {
		name string
		p    *matrix.UserID
	}{{"alice", &m.alicePuppet}, {"bob", &m.bobPuppet}} {
		if *u.p, err = m.users.Format(puppet.Values{"name": u.name + "@" + integration.ProsodyHost}); err != nil {
			t.Fatal(err)
		}
	}
	m.alice = integration.DialXMPP(t, p.C2SAddr(), "alice", "pw")
	m.bob = integration.DialXMPP(t, p.C2SAddr(), "bob", "pw")
	n := 0 // the component connects in the background
	poll.Check(t, "the component answers a ping", time.Minute, func() error {
		n++
		id := fmt.Sprintf("c%d", n)
		r, err := m.alice.IQ(ctx, id, `<iq type='get' id='`+id+`' to='`+m.domain+`'><ping xmlns='urn:xmpp:ping'/></iq>`)
		if err != nil {
			t.Fatal(err)
		}
		if r.Type != "result" {
			return fmt.Errorf("ping answered %s", r.Type)
		}
		return nil
	})
	m.send(m.alice, `<presence to='`+m.muc+`/Alice'><x xmlns='http://jabber.org/protocol/muc'/></presence>`)
	m.presence(m.alice, "Alice", "", `code="110"`)
	m.send(m.bob, `<presence to='`+m.muc+`/Bob'><x xmlns='http://jabber.org/protocol/muc'/></presence>`)
	m.presence(m.bob, "Bob", "", `code="110"`)
	m.presence(m.alice, "Bob", "")
	return m
}

// TestIntegrationXMPPMUCNickPMModeration: on Dendrite and Prosody, in a
// hosted room with a Matrix user (Carol) and two XMPP occupants (Alice,
// Bob). Nick changes (XEP-0045 §7.6): Alice's presence to a new nick
// gives both clients the old nick's unavailable presence with 303 and the
// new nick (110 for Alice), then the new nick's presence, and her puppet's
// displayname in the Matrix room follows; Bob asking for Carol's nick
// gets 409 and keeps his; Carol's new displayname is a 303 nick change
// for both clients. Private messages (§7.5): Alicia's to Caroline opens a
// direct chat from her puppet with a notice naming the room, and
// Caroline's reply there reaches Alicia from Caroline's nick; Alicia's
// to Bob is relayed from her nick; one to a nick nobody has is
// item-not-found. Moderation (§8.2, §9.1): Bob, at power level 0, kicking
// is forbidden; once Carol gives Alicia's puppet level 50 (both clients
// see her presence as admin and moderator at once), Alicia kicks
// the Matrix user dave by nick (Matrix shows him kicked, both clients see
// 307 with her nick and the reason), cannot kick Caroline (level 100:
// not-allowed), bans Bob by his JID (his puppet is banned in Matrix, he
// gets 301 with 110, she sees 301, he cannot join again: forbidden, the
// outcast list names him); Carol's
// Matrix kick of Alicia's puppet is 307 with Caroline's nick and reason.
func TestIntegrationXMPPMUCNickPMModeration(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	checkNickPMModeration(ctx, t, startModRoom(ctx, t, "prosody"))
}

// checkNickPMModeration is TestIntegrationXMPPMUCNickPMModeration's flow
// in the room m.
func checkNickPMModeration(ctx context.Context, t *testing.T, m *modRoom) {
	t.Helper()
	m.presence(m.alice, "Carol", "")

	// Alice becomes Alicia.
	m.send(m.alice, `<presence to='`+m.muc+`/Alicia'/>`)
	for _, c := range []*integration.XMPPClient{m.alice, m.bob} {
		m.presence(c, "Alice", "unavailable", `code="303"`, `nick="Alicia"`)
		m.presence(c, "Alicia", "")
	}
	m.presence(m.alice, "Alice", "unavailable", `code="303"`, `code="110"`)
	m.presence(m.alice, "Alicia", "", `code="110"`)
	m.displaynameIn(m.alicePuppet, "Alicia")
	// What she says now comes from her new nick.
	m.send(m.alice, `<message to='`+m.muc+`' type='groupchat' id='n1'><body>renamed</body></message>`)
	m.wait(m.bob, "a message from the new nick", func(s integration.XMPPStanza) bool {
		return s.Name == "message" && s.From == m.muc+"/Alicia" && strings.Contains(s.XML, "renamed")
	})

	// Bob cannot take Carol's nick.
	m.send(m.bob, `<presence to='`+m.muc+`/Carol' id='bc'/>`)
	r := m.wait(m.bob, "Bob taking Carol's nick", func(s integration.XMPPStanza) bool { return s.Name == "presence" && s.ID == "bc" })
	if r.Type != "error" || !strings.Contains(r.XML, "conflict") {
		t.Fatalf("Bob taking Carol's nick: %s", r.XML)
	}

	// Carol renames herself in Matrix: a nick change, not a leave.
	if err := m.carol.SetDisplayname(ctx, "Caroline"); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*integration.XMPPClient{m.alice, m.bob} {
		m.presence(c, "Carol", "unavailable", `code="303"`, `nick="Caroline"`)
		m.presence(c, "Caroline", "")
	}

	// Private messages. Alicia to Caroline: a direct chat from her
	// puppet, with a notice naming the room, and the reply comes back
	// from Caroline's nick in the room.
	m.send(m.alice, `<message to='`+m.muc+`/Caroline' type='chat' id='pm1'><body>psst</body></message>`)
	inv, err := m.carol.WaitForEvent(ctx, func(ev *matrix.Event) bool {
		var c matrix.MemberContent
		return ev.Type == matrix.EventMember && ev.StateKey != nil && *ev.StateKey == string(m.carol.UserID) &&
			ev.Sender == m.alicePuppet && json.Unmarshal(ev.Content, &c) == nil && c.Membership == "invite"
	})
	if err != nil {
		t.Fatalf("no direct chat invite from Alicia's puppet: %v", err)
	}
	dm := inv.RoomID
	if _, err := m.carol.Join(ctx, string(dm)); err != nil {
		t.Fatal(err)
	}
	if ev, err := m.carol.WaitForMessage(ctx, dm, "psst"); err != nil || ev.Sender != m.alicePuppet {
		t.Fatalf("the private message in the direct chat: %+v %v", ev, err)
	}
	tl, err := m.carol.RoomTimeline(ctx, dm)
	if err != nil {
		t.Fatal(err)
	}
	noticed := false
	for _, ev := range tl {
		var c matrix.MessageContent
		if ev.Type == matrix.EventMessage && json.Unmarshal(ev.Content, &c) == nil && c.MsgType == matrix.MsgNotice &&
			strings.Contains(c.Body, "Alicia in #Mod:localhost") {
			noticed = true
		}
	}
	if !noticed {
		t.Fatalf("no notice naming the room in the direct chat: %+v", tl)
	}
	if _, err := m.carol.SendText(ctx, dm, "what?"); err != nil {
		t.Fatal(err)
	}
	reply := m.wait(m.alice, "Caroline's reply", func(s integration.XMPPStanza) bool {
		return s.Name == "message" && strings.Contains(s.XML, "what?")
	})
	if reply.From != m.muc+"/Caroline" || reply.Type != "chat" || !strings.Contains(reply.XML, "http://jabber.org/protocol/muc#user") {
		t.Fatalf("Caroline's reply: %s", reply.XML)
	}
	// Alicia to Bob (both XMPP): relayed from her nick.
	m.send(m.alice, `<message to='`+m.muc+`/Bob' type='chat' id='pm2'><body>hi bob</body></message>`)
	if r := m.wait(m.bob, "Alicia's private message", func(s integration.XMPPStanza) bool {
		return s.Name == "message" && strings.Contains(s.XML, "hi bob")
	}); r.From != m.muc+"/Alicia" || r.Type != "chat" {
		t.Fatalf("Alicia's private message to Bob: %s", r.XML)
	}
	// To a nick nobody has.
	m.send(m.alice, `<message to='`+m.muc+`/Nobody' type='chat' id='pm3'><body>hello?</body></message>`)
	if r := m.wait(m.alice, "a private message to nobody", func(s integration.XMPPStanza) bool {
		return s.Name == "message" && s.ID == "pm3"
	}); r.Type != "error" || !strings.Contains(r.XML, "item-not-found") {
		t.Fatalf("a private message to nobody: %s", r.XML)
	}

	// Moderation. Bob (power level 0) cannot kick.
	iq := func(c *integration.XMPPClient, id, item string) integration.XMPPStanza {
		t.Helper()
		r, err := c.IQ(ctx, id, `<iq type='set' id='`+id+`' to='`+m.muc+`'><query xmlns='http://jabber.org/protocol/muc#admin'>`+item+`</query></iq>`)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	if r := iq(m.bob, "k0", `<item nick='Caroline' role='none'/>`); r.Type != "error" || !strings.Contains(r.XML, "forbidden") {
		t.Fatalf("Bob kicking: %s", r.XML)
	}
	// Carol makes Alicia's puppet a moderator (50).
	raw, err := m.carol.StateEvent(ctx, m.room, "m.room.power_levels", "")
	if err != nil {
		t.Fatal(err)
	}
	var pl map[string]any
	if err := json.Unmarshal(raw, &pl); err != nil {
		t.Fatal(err)
	}
	pl["users"].(map[string]any)[string(m.alicePuppet)] = 50
	if _, err := m.carol.SendState(ctx, m.room, "m.room.power_levels", "", pl); err != nil {
		t.Fatal(err)
	}
	// Her role follows at once: clients show their moderation commands.
	m.presence(m.alice, "Alicia", "", `code="110"`, `role="moderator"`, `affiliation="admin"`)
	m.presence(m.bob, "Alicia", "", `role="moderator"`)
	// Alicia kicks the Matrix user dave: everyone sees 307 with her nick
	// and the reason.
	dave := m.s.User(ctx, "dave")
	if _, err := dave.Join(ctx, string(m.room)); err != nil {
		t.Fatal(err)
	}
	m.presence(m.alice, "dave", "")
	if r := iq(m.alice, "k1", `<item nick='dave' role='none'><reason>spam</reason></item>`); r.Type != "result" {
		t.Fatalf("Alicia kicking dave: %s", r.XML)
	}
	if _, err := m.carol.WaitForMembership(ctx, m.room, dave.UserID, "leave"); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*integration.XMPPClient{m.alice, m.bob} {
		m.presence(c, "dave", "unavailable", `code="307"`, `nick="Alicia"`, ">spam<")
	}
	// Caroline's level is above hers.
	if r := iq(m.alice, "k2", `<item nick='Caroline' role='none'/>`); r.Type != "error" || !strings.Contains(r.XML, "not-allowed") {
		t.Fatalf("Alicia kicking Caroline: %s", r.XML)
	}
	// Alicia bans Bob by his JID: his puppet is banned in Matrix, he
	// gets 301 with 110, Alicia sees 301, and he is on the outcast list.
	bobJID := "bob@" + integration.ProsodyHost
	if r := iq(m.alice, "b1", `<item jid='`+bobJID+`' affiliation='outcast'><reason>rude</reason></item>`); r.Type != "result" {
		t.Fatalf("Alicia banning Bob: %s", r.XML)
	}
	if _, err := m.carol.WaitForMembership(ctx, m.room, m.bobPuppet, "ban"); err != nil {
		t.Fatal(err)
	}
	m.presence(m.bob, "Bob", "unavailable", `code="301"`, `code="110"`, ">rude<")
	m.presence(m.alice, "Bob", "unavailable", `code="301"`, `nick="Alicia"`)
	// Bob cannot come back while banned (403, XEP-0045 §7.2.7).
	m.send(m.bob, `<presence to='`+m.muc+`/Bob' id='rj'><x xmlns='http://jabber.org/protocol/muc'/></presence>`)
	if r := m.wait(m.bob, "Bob rejoining", func(s integration.XMPPStanza) bool { return s.Name == "presence" && s.ID == "rj" }); r.Type != "error" ||
		!strings.Contains(r.XML, "forbidden") || !strings.Contains(r.XML, `type="auth"`) {
		t.Fatalf("Bob rejoining while banned: %s", r.XML)
	}
	list, err := m.alice.IQ(ctx, "l1", `<iq type='get' id='l1' to='`+m.muc+`'><query xmlns='http://jabber.org/protocol/muc#admin'><item affiliation='outcast'/></query></iq>`)
	if err != nil || list.Type != "result" || !strings.Contains(list.XML, `jid="`+bobJID+`"`) || !strings.Contains(list.XML, "rude") {
		t.Fatalf("the outcast list: %+v %v", list, err)
	}
	// Carol kicks Alicia in Matrix: 307 with Caroline's nick and reason.
	if err := m.carol.Kick(ctx, m.room, m.alicePuppet, "bye"); err != nil {
		t.Fatal(err)
	}
	m.presence(m.alice, "Alicia", "unavailable", `code="307"`, `code="110"`, `nick="Caroline"`, ">bye<")
}
