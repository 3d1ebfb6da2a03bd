package loopback

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/causewaybridge/causeway/bridges"
	"github.com/causewaybridge/causeway/intent"
	"github.com/causewaybridge/causeway/internal/bridgetest"
	"github.com/causewaybridge/causeway/matrix"
)

// Testing a module: bridgetest.NewHost is the core's side without the
// core (a real store, a recording outbox, a fake homeserver), so a test
// configures and starts the module on it and calls its handlers the way
// the core's router would.

// emptySection is a configuration section that sets nothing.
type emptySection struct{}

func (emptySection) Decode(any) error { return nil }

// start returns a configured module started on a fake host.
func start(t *testing.T, echo bool) (*Module, *bridgetest.Host) {
	t.Helper()
	h := bridgetest.NewHost(t, bridgetest.HostOptions{Module: ID})
	m := New()
	if err := m.Configure(bridges.Env{ServerName: h.ServerName(), BotUserID: h.Matrix().BotUserID()}, emptySection{}); err != nil {
		t.Fatal(err)
	}
	m.cfg.Echo = echo
	if err := m.Start(t.Context(), h); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := m.Stop(context.Background()); err != nil {
			t.Error(err)
		}
	})
	return m, h
}

// message is a typed message as the router hands it.
func message(p *bridges.Portal, id matrix.EventID, msgtype, body string) *bridges.Message {
	c := matrix.MessageContent{MsgType: msgtype, Body: body}
	raw, _ := json.Marshal(c)
	return &bridges.Message{Portal: p, Content: c,
		Event: &matrix.Event{ID: id, RoomID: p.Room, Sender: "@carol:example.org", Type: matrix.EventMessage, Content: raw}}
}

func TestAliasCreatesPortal(t *testing.T) {
	m, h := start(t, true)
	ctx := t.Context()
	ok, err := m.QueryAlias(ctx, "#loop_lobby:example.org")
	if err != nil || !ok {
		t.Fatalf("QueryAlias = %v, %v", ok, err)
	}
	p, err := h.Portals().ByKey(ctx, bridges.PortalKey{ID: "room:lobby"})
	if err != nil {
		t.Fatal(err)
	}
	if h.HS.Alias("#loop_lobby:example.org") != p.Room {
		t.Fatalf("alias does not point to the portal room %s", p.Room)
	}
	var bridged bool
	for _, e := range h.HS.Events(p.Room) {
		if e.Type == intent.EventBridgeInfo && e.StateKey != nil && *e.StateKey == "causeway://loopback/lobby" {
			bridged = true
		}
	}
	if !bridged {
		t.Fatal("no m.bridge state in the portal room")
	}
	// An alias outside the namespace is not the module's.
	if ok, err := m.QueryAlias(ctx, "#other:example.org"); ok || err != nil {
		t.Fatalf("foreign alias: %v, %v", ok, err)
	}
	// A portal whose alias was deleted gets it back, in the same room.
	h.HS.RemoveAlias("#loop_lobby:example.org")
	if ok, err := m.QueryAlias(ctx, "#loop_lobby:example.org"); !ok || err != nil {
		t.Fatalf("QueryAlias again = %v, %v", ok, err)
	}
	if h.HS.Alias("#loop_lobby:example.org") != p.Room || len(h.HS.CreateRoomBodies()) != 1 {
		t.Fatal("the alias was not re-added to the existing room")
	}

	// The echo puppet answers in an alias portal, once per event.
	for range 2 {
		if err := m.HandleMatrixMessage(ctx, message(p, "$m1", matrix.MsgText, "hello lobby")); err != nil {
			t.Fatal(err)
		}
	}
	ops := h.Sent.Ops()
	if len(ops) != 2 || ops[0].Kind != intent.OpProfile || ops[1].Kind != intent.OpMessage {
		t.Fatalf("ops = %+v, want the puppet's profile and one echo", ops)
	}
	var c matrix.MessageContent
	_ = json.Unmarshal(ops[1].Content, &c)
	if ops[1].Sender != "@loop_echo:example.org" || c.Body != "echo heard: hello lobby" || ops[1].Key != "echo:$m1" {
		t.Fatalf("echo = %+v %+v", ops[1], c)
	}
	if string(ops[0].Content) != `{"displayname":"echo (loopback)"}` {
		t.Fatalf("profile = %s", ops[0].Content)
	}
}

func TestInviteMakesPortal(t *testing.T) {
	m, h := start(t, true)
	ctx := t.Context()
	room, alice := matrix.RoomID("!talk:example.org"), matrix.UserID("@loop_alice:example.org")
	state := string(alice)
	invite := &bridges.Membership{Target: alice, Content: matrix.MemberContent{Membership: "invite"},
		Event: &matrix.Event{ID: "$i", RoomID: room, Sender: "@carol:example.org", Type: matrix.EventMember, StateKey: &state}}
	if err := m.HandleMatrixMembership(ctx, invite); err != nil {
		t.Fatal(err)
	}
	if !h.HS.Registered(alice) || h.HS.Membership(room, alice) != "join" {
		t.Fatal("the invited puppet is not registered and joined")
	}
	p, err := h.Portals().ByRoom(ctx, room)
	if err != nil {
		t.Fatal(err)
	}
	if meta, _ := bridges.PortalMeta[portalMeta](p); meta.Puppet != alice {
		t.Fatalf("portal puppet = %q", meta.Puppet)
	}
	if err := m.HandleMatrixMessage(ctx, message(p, "$m1", matrix.MsgEmote, "waves")); err != nil {
		t.Fatal(err)
	}
	if err := m.HandleMatrixMessage(ctx, message(p, "$m2", matrix.MsgImage, "cat.png")); err != nil {
		t.Fatal(err)
	}
	ops := h.Sent.Ops()
	if len(ops) != 2 || ops[1].Sender != alice || !strings.Contains(string(ops[1].Content), "alice heard: waves") {
		t.Fatalf("ops = %+v, want alice's profile and one echo (images are not echoed)", ops)
	}
	if ops[1].Link == nil || ops[1].Link.Module != ID || ops[1].Link.RemoteID != "echo:$m1" {
		t.Fatalf("echo link = %+v", ops[1].Link)
	}

	// Invites of other users, and other memberships, change nothing.
	bob := "@bob:example.org"
	other := &bridges.Membership{Target: matrix.UserID(bob), Content: matrix.MemberContent{Membership: "invite"},
		Event: &matrix.Event{RoomID: "!elsewhere:example.org", Type: matrix.EventMember, StateKey: &bob}}
	if err := m.HandleMatrixMembership(ctx, other); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Portals().ByRoom(ctx, "!elsewhere:example.org"); !bridges.IsNotFound(err) {
		t.Fatalf("a foreign invite made a portal: %v", err)
	}

	reply, err := m.cmdRooms(ctx, &bridges.CommandContext{})
	if err != nil || !strings.Contains(reply, "room:!talk:example.org: !talk:example.org") {
		t.Fatalf("rooms = %q, %v", reply, err)
	}
}

func TestEchoOff(t *testing.T) {
	m, h := start(t, false)
	p := &bridges.Portal{Key: portalKey("x"), Room: "!x:example.org"}
	if err := m.HandleMatrixMessage(t.Context(), message(p, "$m", matrix.MsgText, "hi")); err != nil {
		t.Fatal(err)
	}
	if ops := h.Sent.Ops(); len(ops) != 0 {
		t.Fatalf("echo off queued %+v", ops)
	}
	if reply, err := m.cmdRooms(t.Context(), &bridges.CommandContext{}); err != nil || reply != "No loopback portals yet." {
		t.Fatalf("rooms = %q, %v", reply, err)
	}
}

func TestQueryUser(t *testing.T) {
	m, h := start(t, true)
	ok, err := m.QueryUser(t.Context(), "@loop_zed:example.org")
	if err != nil || !ok {
		t.Fatalf("QueryUser = %v, %v", ok, err)
	}
	if got := h.HS.Profile("@loop_zed:example.org", "displayname"); got != "zed (loopback)" {
		t.Fatalf("displayname = %q", got)
	}
	if ok, err := m.QueryUser(t.Context(), "@someone:example.org"); ok || err != nil {
		t.Fatalf("foreign user: %v, %v", ok, err)
	}
}

func TestTypingMirrored(t *testing.T) {
	m, h := start(t, true)
	ctx := t.Context()
	if _, err := m.QueryAlias(ctx, "#loop_lobby:example.org"); err != nil {
		t.Fatal(err)
	}
	p, err := h.Portals().ByKey(ctx, portalKey("lobby"))
	if err != nil {
		t.Fatal(err)
	}
	h.HS.SetMembership(p.Room, "@loop_echo:example.org", "join")
	if err := h.Matrix().Intent("@loop_echo:example.org").EnsureRegistered(ctx); err != nil {
		t.Fatal(err)
	}
	m.HandleMatrixTyping(ctx, &bridges.Typing{RoomID: p.Room, UserIDs: []matrix.UserID{"@carol:example.org"}})
	var typed bool
	for _, r := range h.HS.Requests() {
		if r.Method == "PUT" && r.Path == "/_matrix/client/v3/rooms/"+string(p.Room)+"/typing/@loop_echo:example.org" &&
			strings.Contains(string(r.Body), `"typing":true`) {
			typed = true
		}
	}
	if !typed {
		t.Fatal("the portal's puppet did not type")
	}
}
