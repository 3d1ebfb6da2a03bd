package bridgetest

import (
	"context"
	"testing"

	"github.com/causewaybridge/causeway/intent"
	"github.com/causewaybridge/causeway/matrix"
)

// TestHostOutboxAndGo: the fake host's outbox sets the module and
// deduplicates by room and key like the real one; Stop cancels and waits
// for the work started with Go, and later Go calls do not run.
func TestHostOutboxAndGo(t *testing.T) {
	h := NewHost(t, HostOptions{Module: "demo"})
	ctx := t.Context()
	op := intent.Op{Kind: intent.OpMessage, Room: "!r:example.org", Type: "m.room.message", Key: "k1"}
	for i, want := range []bool{true, false} {
		if queued, err := h.Outbox().Send(ctx, op); err != nil || queued != want {
			t.Fatalf("send %d: queued %v, %v", i, queued, err)
		}
	}
	if ok, _ := h.Sent.HasKey(ctx, "!r:example.org", "k1"); !ok {
		t.Fatal("HasKey: no")
	}
	if got, ok, _ := h.Sent.LatestKeyed(ctx, "!r:example.org", "k"); !ok || got.Module != "demo" {
		t.Fatalf("LatestKeyed = %+v, %v", got, ok)
	}
	ended := make(chan struct{})
	h.Go(func(ctx context.Context) { <-ctx.Done(); close(ended) })
	h.Stop()
	select {
	case <-ended:
	default:
		t.Fatal("Stop returned before the work ended")
	}
	ran := false
	h.Go(func(context.Context) { ran = true })
	h.Stop()
	if ran {
		t.Fatal("Go after Stop ran f")
	}
}

// TestHomeserverCreateRoomAndProfile: the fake homeserver serves what
// the intent client does to create a room and set a profile.
func TestHomeserverCreateRoomAndProfile(t *testing.T) {
	h := NewHost(t, HostOptions{})
	ctx := t.Context()
	room, err := h.Matrix().Bot().CreateRoom(ctx, &intent.CreateRoomRequest{RoomAliasName: "x", Name: "X"})
	if err != nil {
		t.Fatal(err)
	}
	if h.HS.Alias("#x:example.org") != room || h.HS.Membership(room, "@causeway:example.org") != "join" {
		t.Fatal("room not made as asked")
	}
	p := h.Matrix().Intent(matrix.UserID("@p:example.org"))
	if err := p.SetDisplayname(ctx, "P"); err != nil {
		t.Fatal(err)
	}
	if err := p.EnsureJoined(ctx, room); err != nil {
		t.Fatal(err)
	}
	if h.HS.Profile("@p:example.org", "displayname") != "P" || h.HS.Membership(room, "@p:example.org") != "join" {
		t.Fatal("puppet profile or join missing")
	}
	if err := h.TellUser(ctx, "@u:example.org", "hi"); err != nil || len(h.Told()) != 1 {
		t.Fatalf("told = %+v, %v", h.Told(), err)
	}
}
