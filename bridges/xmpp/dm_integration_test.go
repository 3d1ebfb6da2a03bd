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

// TestIntegrationXMPPDirectChats: on Dendrite and Prosody, an XMPP client
// chats to a Matrix user's JID: a direct chat from its puppet invites the
// Matrix user, with the message; the Matrix user's answer reaches the
// client as a chat from the Matrix user's JID with the event ID as id
// and stanza-id; after the Matrix user left, the next chat invites them
// back into the same room; a Matrix user opening a direct chat with the
// puppet reaches the client, and the client's answer lands in that new
// room; once the Matrix user removed the puppet from it, the next chat
// opens another direct chat; a subscription is answered subscribed and
// a subscribe with the displayname as nick; the Matrix user's presence
// reaches the client; the client's away presence with status becomes
// the puppet's Matrix presence; in a hosted room, the occupant's dnd
// with status is shown to it (110) and becomes the puppet's presence,
// and the Matrix member's presence comes from its nick; a chat to an
// XMPP account that does not exist bounces, and the puppet says so.
func TestIntegrationXMPPDirectChats(t *testing.T) {
	t.Parallel()
	p := integration.StartProsody(t, integration.WithProsodyUser("alice", "pw"))
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	checkDirectChats(ctx, t, startSyncingBridge(t, p), p)
}

// TestIntegrationXMPPEjabberdDirectChats is TestIntegrationXMPPDirectChats
// with the component on ejabberd.
func TestIntegrationXMPPEjabberdDirectChats(t *testing.T) {
	t.Parallel()
	p := integration.StartEjabberd(t, integration.WithEjabberdUser("alice", "pw"))
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	checkDirectChats(ctx, t, startSyncingBridge(t, p), p)
}

// startSyncingBridge starts the bridge for p with the bot's /sync on:
// Dendrite does not push presence to appservices.
func startSyncingBridge(t *testing.T, p integration.XMPPServer) *bridgetest.Stack {
	t.Helper()
	return bridgetest.Start(t, bridgetest.Options{
		Bridges:       fmt.Sprintf("  xmpp: {server: %q, domain: %q, secret: %q}\n", p.ComponentAddr(), p.ComponentDomain(), p.ComponentSecret()),
		EphemeralSync: true,
	})
}

// checkDirectChats is TestIntegrationXMPPDirectChats's flow on the bridge
// s and the server p, which has the user alice (password "pw").
func checkDirectChats(ctx context.Context, t *testing.T, s *bridgetest.Stack, p integration.XMPPServer) {
	t.Helper()
	domain := p.ComponentDomain()
	carol := s.User(ctx, "carol")
	if err := carol.SetDisplayname(ctx, "Carol"); err != nil {
		t.Fatal(err)
	}
	// The bot shares a room with carol, so its /sync sees her presence.
	bot := matrix.UserID(s.Config.BotUserID())
	mgmt, err := carol.CreateRoom(ctx, integration.CreateRoomRequest{Preset: "private_chat", Invite: []matrix.UserID{bot}, IsDirect: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := carol.WaitForMembership(ctx, mgmt, bot, "join"); err != nil {
		t.Fatalf("the bot did not join carol's room: %v", err)
	}
	local, err := address.Localpart("@carol:localhost")
	if err != nil {
		t.Fatal(err)
	}
	carolJID := local + "@" + domain
	users, err := puppet.NewUsers("@_xmpp_{name}:{server}", "localhost")
	if err != nil {
		t.Fatal(err)
	}
	alicePuppet, err := users.Format(puppet.Values{"name": "alice@" + integration.ProsodyHost})
	if err != nil {
		t.Fatal(err)
	}

	alice := integration.DialXMPP(t, p.C2SAddr(), "alice", "pw")
	// The roster first, so that Prosody hands subscription presences
	// to this resource; then available, to get chats to the bare JID.
	if r, err := alice.IQ(ctx, "r1", `<iq type='get' id='r1'><query xmlns='jabber:iq:roster'/></iq>`); err != nil || r.Type != "result" {
		t.Fatalf("roster: %+v %v", r, err)
	}
	if err := alice.Send(ctx, `<presence/>`); err != nil {
		t.Fatal(err)
	}
	n := 0
	poll.Check(t, "the component's connection", 30*time.Second, func() error { // it connects in the background
		n++
		id := fmt.Sprintf("c%d", n)
		r, err := alice.IQ(ctx, id, `<iq type='get' id='`+id+`' to='`+domain+`'><ping xmlns='urn:xmpp:ping'/></iq>`)
		if err == nil && r.Type != "result" {
			err = fmt.Errorf("ping answered %s", r.XML)
		}
		return err
	})
	wait := func(what string, match func(integration.XMPPStanza) bool) integration.XMPPStanza {
		t.Helper()
		st, err := alice.Wait(ctx, match)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		return st
	}
	chatTo := func(id, text string) {
		t.Helper()
		if err := alice.Send(ctx, `<message to='`+carolJID+`' type='chat' id='`+id+`'><body>`+text+`</body></message>`); err != nil {
			t.Fatal(err)
		}
	}
	isInvite := func(ev *matrix.Event) bool {
		var c matrix.MemberContent
		return ev.Type == matrix.EventMember && ev.StateKey != nil && *ev.StateKey == string(carol.UserID) &&
			ev.Sender == alicePuppet && json.Unmarshal(ev.Content, &c) == nil && c.Membership == "invite"
	}

	// XMPP → Matrix: a new direct chat.
	chatTo("m1", "hello carol")
	inv, err := carol.WaitForEvent(ctx, isInvite)
	if err != nil {
		t.Fatalf("no direct chat invite from the puppet: %v", err)
	}
	dm := inv.RoomID
	if _, err := carol.Join(ctx, string(dm)); err != nil {
		t.Fatal(err)
	}
	if ev, err := carol.WaitForMessage(ctx, dm, "hello carol"); err != nil || ev.Sender != alicePuppet {
		t.Fatalf("first chat: %+v %v", ev, err)
	}
	if pr, err := carol.Profile(ctx, alicePuppet); err != nil || pr.Displayname != "alice@"+integration.ProsodyHost {
		t.Fatalf("the puppet's name: %+v %v", pr, err)
	}

	// Matrix → XMPP.
	ev, err := carol.SendText(ctx, dm, "hi <alice>")
	if err != nil {
		t.Fatal(err)
	}
	got := wait("carol's answer", func(s integration.XMPPStanza) bool {
		return s.Name == "message" && strings.HasPrefix(s.From, carolJID) && strings.Contains(s.XML, "hi &lt;alice&gt;")
	})
	if got.Type != "chat" || got.ID != string(ev) || !strings.Contains(got.XML, `by="`+carolJID+`"`) ||
		strings.Count(got.XML, `id="`+string(ev)+`"`) != 2 { // the message's and the stanza-id's
		t.Fatalf("carol's answer: %s", got.XML)
	}

	// The Matrix user leaves; the next chat invites her back.
	if err := carol.Leave(ctx, dm); err != nil {
		t.Fatal(err)
	}
	chatTo("m2", "still there?")
	if _, err := carol.WaitForMembership(ctx, dm, carol.UserID, "invite"); err != nil {
		t.Fatalf("not invited back: %v", err)
	}
	if _, err := carol.Join(ctx, string(dm)); err != nil {
		t.Fatal(err)
	}
	if _, err := carol.WaitForMessage(ctx, dm, "still there?"); err != nil {
		t.Fatal(err)
	}

	// A Matrix user opens a direct chat with the puppet.
	dm2, err := carol.CreateRoom(ctx, integration.CreateRoomRequest{Preset: "private_chat", Invite: []matrix.UserID{alicePuppet}, IsDirect: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := carol.WaitForMembership(ctx, dm2, alicePuppet, "join"); err != nil {
		t.Fatalf("the puppet did not accept the direct chat: %v", err)
	}
	if _, err := carol.SendText(ctx, dm2, "from a new chat"); err != nil {
		t.Fatal(err)
	}
	wait("the new chat's message", func(s integration.XMPPStanza) bool {
		return s.Name == "message" && s.Type == "chat" && strings.HasPrefix(s.From, carolJID) && strings.Contains(s.XML, "from a new chat")
	})
	chatTo("m3", "answer in the new chat")
	if _, err := carol.WaitForMessage(ctx, dm2, "answer in the new chat"); err != nil {
		t.Fatal(err)
	}

	// The XMPP side leaves: carol removes the puppet. The next chat
	// cannot go to that room (the puppet cannot join it back): a new
	// direct chat invites carol.
	if err := carol.Kick(ctx, dm2, alicePuppet, "bye"); err != nil {
		t.Fatal(err)
	}
	chatTo("m4", "after the kick")
	inv3, err := carol.WaitForEvent(ctx, func(ev *matrix.Event) bool { return isInvite(ev) && ev.RoomID != dm && ev.RoomID != dm2 })
	if err != nil {
		t.Fatalf("no new direct chat after the kick: %v", err)
	}
	if _, err := carol.Join(ctx, string(inv3.RoomID)); err != nil {
		t.Fatal(err)
	}
	if _, err := carol.WaitForMessage(ctx, inv3.RoomID, "after the kick"); err != nil {
		t.Fatal(err)
	}

	// Subscriptions: subscribed, then a subscribe with the displayname.
	if err := alice.Send(ctx, `<presence to='`+carolJID+`' type='subscribe'/>`); err != nil {
		t.Fatal(err)
	}
	wait("subscribed", func(s integration.XMPPStanza) bool {
		return s.Name == "presence" && s.From == carolJID && s.Type == "subscribed"
	})
	sub := wait("the component's subscribe", func(s integration.XMPPStanza) bool {
		return s.Name == "presence" && s.From == carolJID && s.Type == "subscribe"
	})
	if !strings.Contains(sub.XML, `xmlns="http://jabber.org/protocol/nick">Carol</nick>`) {
		t.Fatalf("subscribe without the nick: %s", sub.XML)
	}
	if err := alice.Send(ctx, `<presence to='`+carolJID+`' type='subscribed'/>`); err != nil {
		t.Fatal(err)
	}

	// Matrix → XMPP presence.
	if err := carol.SetPresence(ctx, "unavailable", "in a meeting"); err != nil {
		t.Fatal(err)
	}
	away := wait("carol's presence", func(s integration.XMPPStanza) bool {
		return s.Name == "presence" && strings.HasPrefix(s.From, carolJID) && strings.Contains(s.XML, "in a meeting")
	})
	if !strings.Contains(away.XML, ">away</show>") {
		t.Fatalf("carol's presence: %s", away.XML)
	}

	// XMPP → Matrix presence: the client's broadcast reaches its contact
	// carol, and the puppet's presence follows.
	if err := alice.Send(ctx, `<presence><show>away</show><status>out for lunch</status></presence>`); err != nil {
		t.Fatal(err)
	}
	poll.Check(t, "the puppet's presence", 30*time.Second, func() error {
		pr, err := carol.Presence(ctx, alicePuppet)
		if err != nil {
			return err
		}
		if pr.Presence != "unavailable" || pr.StatusMsg != "out for lunch" {
			return fmt.Errorf("presence %+v", pr)
		}
		return nil
	})

	// In a hosted room: the occupant's new availability reaches the
	// occupants (itself with 110) and its puppet; the Matrix member's
	// presence reaches the occupants from its nick.
	if _, err := carol.CreateRoom(ctx, integration.CreateRoomRequest{Preset: "public_chat", Visibility: "public", RoomAliasName: "lounge"}); err != nil {
		t.Fatal(err)
	}
	lp, err := address.Localpart("#lounge:localhost")
	if err != nil {
		t.Fatal(err)
	}
	muc := lp + "@" + domain
	if err := alice.Send(ctx, `<presence to='`+muc+`/Alice'><x xmlns='http://jabber.org/protocol/muc'/></presence>`); err != nil {
		t.Fatal(err)
	}
	wait("the join", func(s integration.XMPPStanza) bool {
		return s.Name == "presence" && s.From == muc+"/Alice" && strings.Contains(s.XML, `code="110"`)
	})
	if err := alice.Send(ctx, `<presence to='`+muc+`/Alice'><show>dnd</show><status>focus</status></presence>`); err != nil {
		t.Fatal(err)
	}
	upd := wait("the occupant's new availability", func(s integration.XMPPStanza) bool {
		return s.Name == "presence" && s.From == muc+"/Alice" && strings.Contains(s.XML, ">focus</status>")
	})
	if !strings.Contains(upd.XML, ">dnd</show>") || !strings.Contains(upd.XML, `code="110"`) {
		t.Fatalf("the occupant's new availability: %s", upd.XML)
	}
	poll.Check(t, "the puppet's presence from the room", 30*time.Second, func() error {
		pr, err := carol.Presence(ctx, alicePuppet)
		if err != nil {
			return err
		}
		if pr.Presence != "unavailable" || pr.StatusMsg != "focus" {
			return fmt.Errorf("presence %+v", pr)
		}
		return nil
	})
	if err := carol.SetPresence(ctx, "online", "back"); err != nil {
		t.Fatal(err)
	}
	back := wait("carol's presence in the room", func(s integration.XMPPStanza) bool {
		return s.Name == "presence" && s.From == muc+"/Carol" && strings.Contains(s.XML, ">back</status>")
	})
	if strings.Contains(back.XML, "<show") || back.Type != "" {
		t.Fatalf("carol's presence in the room: %s", back.XML)
	}
	wait("carol's presence as a contact", func(s integration.XMPPStanza) bool {
		return s.Name == "presence" && s.From == carolJID && strings.Contains(s.XML, ">back</status>")
	})

	// A chat the XMPP server bounces (no such account) is not lost
	// silently: the puppet says so in the direct chat.
	nobody, err := users.Format(puppet.Values{"name": "nobody@" + integration.ProsodyHost})
	if err != nil {
		t.Fatal(err)
	}
	dm4, err := carol.CreateRoom(ctx, integration.CreateRoomRequest{Preset: "private_chat", Invite: []matrix.UserID{nobody}, IsDirect: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := carol.WaitForMembership(ctx, dm4, nobody, "join"); err != nil {
		t.Fatalf("the puppet did not accept the direct chat: %v", err)
	}
	lost, err := carol.SendText(ctx, dm4, "anyone?")
	if err != nil {
		t.Fatal(err)
	}
	notice, err := carol.WaitForEvent(ctx, func(ev *matrix.Event) bool {
		return ev.RoomID == dm4 && ev.Sender == nobody && strings.Contains(string(ev.Content), "Not delivered")
	})
	if err != nil {
		t.Fatalf("no notice of the bounce: %v", err)
	}
	if !strings.Contains(string(notice.Content), string(lost)) {
		t.Fatalf("the notice does not reply to the lost message: %s", notice.Content)
	}
}
