//go:build integration

package core_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/causewaybridge/causeway/intent"
	"github.com/causewaybridge/causeway/internal/integration"
	"github.com/causewaybridge/causeway/matrix"
)

// TestIntegrationHomeserverOutageLosesNothing: the bridge queues a stream of
// puppet messages in the durable outbox while the homeserver is stopped
// part-way through; when it comes back, every message arrives exactly once
// and in order.
func TestIntegrationHomeserverOutageLosesNothing(t *testing.T) {
	tb := startStack(t, "")
	ctx := testCtx(t, 3*time.Minute)
	user := register(t, ctx, tb.hs, "olivia")
	room, err := user.CreateRoom(ctx, integration.CreateRoomRequest{Preset: "public_chat", Name: "outage"})
	if err != nil {
		t.Fatal(err)
	}
	sender := matrix.UserID("@loop_streamer:localhost")
	p := tb.Client().Intent(sender)
	if err := p.EnsureJoined(ctx, room); err != nil {
		t.Fatal(err)
	}
	const n = 60
	send := func(i int) {
		raw, _ := json.Marshal(matrix.MessageContent{MsgType: matrix.MsgText, Body: fmt.Sprintf("stream %03d", i)})
		if _, err := tb.Outbox().Send(ctx, intent.Op{Kind: intent.OpMessage, Room: room, Sender: sender,
			Type: matrix.EventMessage, Content: raw, Key: fmt.Sprintf("stream-%d", i)}); err != nil {
			t.Fatalf("queue %d: %v", i, err)
		}
	}
	for i := range n / 3 {
		send(i)
	}
	if err := tb.hs.Stop(); err != nil {
		t.Fatalf("stop homeserver: %v", err)
	}
	for i := n / 3; i < n; i++ {
		send(i)
		if i == n/2 {
			time.Sleep(2 * time.Second) // the outbox keeps retrying against a dead homeserver
		}
	}
	// Re-queuing an already queued key is a no-op: no duplicate can arise.
	send(5)
	if err := tb.hs.Start(); err != nil {
		t.Fatalf("restart homeserver: %v", err)
	}
	if _, err := user.WaitForMessage(ctx, room, fmt.Sprintf("stream %03d", n-1)); err != nil {
		t.Fatalf("last message never arrived after the outage: %v", err)
	}
	// A last message: the outbox posts a room's messages in order, so a
	// duplicate would be in the room before this one.
	raw, _ := json.Marshal(matrix.MessageContent{MsgType: matrix.MsgText, Body: "sentinel"})
	if _, err := tb.Outbox().Send(ctx, intent.Op{Kind: intent.OpMessage, Room: room, Sender: sender,
		Type: matrix.EventMessage, Content: raw, Key: "sentinel"}); err != nil {
		t.Fatal(err)
	}
	if _, err := user.WaitForMessage(ctx, room, "sentinel"); err != nil {
		t.Fatalf("sentinel never arrived: %v", err)
	}
	got := messagesFrom(t, ctx, user, room, sender)
	got = slices.DeleteFunc(got, func(b string) bool { return b == "sentinel" })
	if len(got) != n {
		t.Fatalf("got %d messages, want %d exactly once: %q", len(got), n, got)
	}
	for i, body := range got {
		if want := fmt.Sprintf("stream %03d", i); body != want {
			t.Fatalf("message %d = %q, want %q", i, body, want)
		}
	}
}
