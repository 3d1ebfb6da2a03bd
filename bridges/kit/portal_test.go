package kit_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/causewaybridge/causeway/bridges"
	"github.com/causewaybridge/causeway/bridges/kit"
	"github.com/causewaybridge/causeway/intent"
	"github.com/causewaybridge/causeway/internal/bridgetest"
	"github.com/causewaybridge/causeway/matrix"
)

type meta struct {
	Puppet string `json:"puppet"`
}

// createBody is the part of a createRoom body the tests check.
type createBody struct {
	RoomAliasName string `json:"room_alias_name"`
	Name          string `json:"name"`
	Topic         string `json:"topic"`
	Preset        string `json:"preset"`
	Visibility    string `json:"visibility"`
	InitialState  []struct {
		Type     string          `json:"type"`
		StateKey string          `json:"state_key"`
		Content  json.RawMessage `json:"content"`
	} `json:"initial_state"`
}

func TestCreatePortalRoom(t *testing.T) {
	for _, tc := range []struct {
		access     kit.Access
		preset     string
		visibility string
		listed     bool
	}{
		{kit.Public, "public_chat", "public", true},
		{kit.Unpublished, "public_chat", "private", false},
		{kit.InviteOnly, "private_chat", "private", false},
	} {
		t.Run(tc.access.String(), func(t *testing.T) {
			h := bridgetest.NewHost(t, bridgetest.HostOptions{Module: "demo"})
			ctx := t.Context()
			key := bridges.PortalKey{ID: "room:lobby"}
			p, err := kit.CreatePortalRoom(ctx, h, kit.RoomSpec{
				Key: key, Name: "Lobby", Topic: "chat", AvatarURL: "mxc://example.org/av",
				AliasLocalpart: "demo_lobby", Access: tc.access,
				Protocol: intent.BridgeInfoSection{ID: "demo", DisplayName: "Demo"},
				Network:  &intent.BridgeInfoSection{ID: "net1"},
				Channel:  intent.BridgeInfoSection{ID: "lobby"},
				Meta:     meta{Puppet: "@p:example.org"},
			})
			if err != nil {
				t.Fatal(err)
			}
			if p.Room == "" || p.Module != "demo" || p.Key != key {
				t.Fatalf("portal = %+v", p)
			}
			stored, err := h.Portals().ByKey(ctx, key)
			if err != nil || stored.Room != p.Room {
				t.Fatalf("stored portal = %+v, %v", stored, err)
			}
			if m, err := bridges.PortalMeta[meta](stored); err != nil || m.Puppet != "@p:example.org" {
				t.Fatalf("meta = %+v, %v", m, err)
			}
			if got := h.HS.Alias("#demo_lobby:example.org"); got != p.Room {
				t.Fatalf("alias points to %q, want %q", got, p.Room)
			}
			bodies := h.HS.CreateRoomBodies()
			if len(bodies) != 1 {
				t.Fatalf("%d createRoom requests", len(bodies))
			}
			var b createBody
			if err := json.Unmarshal(bodies[0], &b); err != nil {
				t.Fatal(err)
			}
			if b.Preset != tc.preset || b.Visibility != tc.visibility || b.Name != "Lobby" || b.Topic != "chat" || b.RoomAliasName != "demo_lobby" {
				t.Fatalf("createRoom body = %+v", b)
			}
			types := map[string]string{}
			for _, s := range b.InitialState {
				types[s.Type] = string(s.Content)
			}
			var bi intent.BridgeInfo
			if err := json.Unmarshal([]byte(types[intent.EventBridgeInfo]), &bi); err != nil {
				t.Fatalf("no m.bridge in %v: %v", types, err)
			}
			if bi.BridgeBot != "@causeway:example.org" || bi.Protocol.ID != "demo" || bi.Network == nil || bi.Network.ID != "net1" || bi.Channel.ID != "lobby" {
				t.Fatalf("bridge info = %+v", bi)
			}
			if types["m.room.avatar"] != `{"url":"mxc://example.org/av"}` {
				t.Fatalf("avatar state = %q", types["m.room.avatar"])
			}
			listed := false
			for _, r := range h.HS.Requests() {
				if r.Path == "/_matrix/client/v3/directory/list/appservice/net1/"+string(p.Room) {
					listed = true
				}
			}
			if listed != tc.listed {
				t.Fatalf("listed in the appservice directory: %v, want %v", listed, tc.listed)
			}
			// The initial state counts as sent: the same values send nothing.
			if sent, err := kit.SetRoomName(ctx, h, p.Room, "Lobby"); err != nil || sent {
				t.Fatalf("same name: sent %v, %v", sent, err)
			}
			if sent, err := kit.SetRoomAvatar(ctx, h, p.Room, "mxc://example.org/av"); err != nil || sent {
				t.Fatalf("same avatar: sent %v, %v", sent, err)
			}
			if ops := h.Sent.Ops(); len(ops) != 0 {
				t.Fatalf("ops queued: %+v", ops)
			}
		})
	}
}

func TestCreatePortalRoomConflict(t *testing.T) {
	h := bridgetest.NewHost(t, bridgetest.HostOptions{})
	ctx := t.Context()
	spec := kit.RoomSpec{Key: bridges.PortalKey{ID: "a"}, AliasLocalpart: "x", Protocol: intent.BridgeInfoSection{ID: "test"}}
	if _, err := kit.CreatePortalRoom(ctx, h, spec); err != nil {
		t.Fatal(err)
	}
	spec.Key.ID = "b"
	if _, err := kit.CreatePortalRoom(ctx, h, spec); err == nil {
		t.Fatal("second room with a taken alias: no error")
	}
	if _, err := kit.CreatePortalRoom(ctx, h, kit.RoomSpec{}); err == nil {
		t.Fatal("empty key: no error")
	}
}

func TestSetRoomStateOnlyChanges(t *testing.T) {
	h := bridgetest.NewHost(t, bridgetest.HostOptions{Module: "demo"})
	ctx := t.Context()
	room := matrix.RoomID("!r:example.org")
	steps := []struct {
		set  func() (bool, error)
		want bool
	}{
		{func() (bool, error) { return kit.SetRoomName(ctx, h, room, "one") }, true},
		{func() (bool, error) { return kit.SetRoomName(ctx, h, room, "one") }, false},
		{func() (bool, error) { return kit.SetRoomName(ctx, h, room, "two") }, true},
		{func() (bool, error) { return kit.SetRoomName(ctx, h, room, "one") }, true},
		{func() (bool, error) { return kit.SetRoomTopic(ctx, h, room, "") }, true},
		{func() (bool, error) { return kit.SetRoomTopic(ctx, h, room, "") }, false},
		{func() (bool, error) { return kit.SetRoomAvatar(ctx, h, room, "mxc://s/a") }, true},
		{func() (bool, error) { return kit.SetRoomAvatar(ctx, h, room, "") }, true},
	}
	for i, s := range steps {
		if got, err := s.set(); err != nil || got != s.want {
			t.Fatalf("step %d: sent %v, %v; want %v", i, got, err, s.want)
		}
	}
	want := []struct{ typ, content string }{
		{"m.room.name", `{"name":"one"}`}, {"m.room.name", `{"name":"two"}`}, {"m.room.name", `{"name":"one"}`},
		{"m.room.topic", `{"topic":""}`}, {"m.room.avatar", `{"url":"mxc://s/a"}`}, {"m.room.avatar", `{}`},
	}
	ops := h.Sent.Ops()
	if len(ops) != len(want) {
		t.Fatalf("%d ops, want %d: %+v", len(ops), len(want), ops)
	}
	for i, op := range ops {
		if op.Kind != intent.OpState || op.Room != room || op.Sender != "" || op.Type != want[i].typ ||
			string(op.Content) != want[i].content || op.Module != "demo" {
			t.Errorf("op %d = %+v (%s), want %s %s", i, op, op.Content, want[i].typ, want[i].content)
		}
	}
}

// TestCreatePortalRoomAsPuppet: a direct chat is created by the puppet
// (registered first) with the preset asked for, not by the bot.
func TestCreatePortalRoomAsPuppet(t *testing.T) {
	h := bridgetest.NewHost(t, bridgetest.HostOptions{Module: "demo"})
	ctx := t.Context()
	puppet := matrix.UserID("@demo_bob:example.org")
	p, err := kit.CreatePortalRoom(ctx, h, kit.RoomSpec{
		Key: bridges.PortalKey{ID: "dm:bob", Receiver: "@alice:example.org"}, Name: "bob",
		Access: kit.InviteOnly, Preset: "trusted_private_chat", Creator: puppet,
		Invite: []matrix.UserID{"@alice:example.org"}, IsDirect: true,
		Protocol: intent.BridgeInfoSection{ID: "demo"}, Channel: intent.BridgeInfoSection{ID: "bob"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if !h.HS.Registered(puppet) {
		t.Error("the creating puppet was not registered")
	}
	var creator matrix.UserID
	for _, r := range h.HS.Requests() {
		if strings.HasSuffix(r.Path, "/createRoom") {
			creator = r.User
		}
	}
	if creator != puppet {
		t.Errorf("room created by %q, want the puppet", creator)
	}
	var b createBody
	if err := json.Unmarshal(h.HS.CreateRoomBodies()[0], &b); err != nil {
		t.Fatal(err)
	}
	if b.Preset != "trusted_private_chat" || b.Visibility != "private" {
		t.Errorf("createRoom body = %+v", b)
	}
	if stored, err := h.Portals().ByKey(ctx, p.Key); err != nil || stored.Key.Receiver != "@alice:example.org" {
		t.Errorf("stored portal %+v, %v", stored, err)
	}
}

// TestSetRoomJoinRuleOnlyChanges: the join rule is queued when it
// changes, not again for the same rule.
func TestSetRoomJoinRuleOnlyChanges(t *testing.T) {
	h := bridgetest.NewHost(t, bridgetest.HostOptions{Module: "demo"})
	ctx := t.Context()
	var sent []bool
	for _, rule := range []string{"invite", "invite", "public", "public", "invite"} {
		ok, err := kit.SetRoomJoinRule(ctx, h, "!r:example.org", rule)
		if err != nil {
			t.Fatal(err)
		}
		sent = append(sent, ok)
	}
	if want := []bool{true, false, true, false, true}; fmt.Sprint(sent) != fmt.Sprint(want) {
		t.Fatalf("sent %v, want %v", sent, want)
	}
	ops := h.Sent.Ops()
	if len(ops) != 3 || ops[0].Type != matrix.EventJoinRules || string(ops[2].Content) != `{"join_rule":"invite"}` {
		t.Fatalf("ops %+v", ops)
	}
}
