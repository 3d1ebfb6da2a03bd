package bridgetest

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/causewaybridge/causeway/intent"
	"github.com/causewaybridge/causeway/internal/fakehs"
	"github.com/causewaybridge/causeway/matrix"
)

// TestHomeserverEventsRedactionsAndMembers: the fake homeserver serves an
// event put there by the test in its room only, records a redaction by a
// member, answers member state from the memberships, and records each
// answer's status.
func TestHomeserverEventsRedactionsAndMembers(t *testing.T) {
	h := NewHost(t, HostOptions{})
	ctx := t.Context()
	const room = matrix.RoomID("!r:example.org")
	bot := h.Matrix().Bot()
	h.HS.PutEvent(fakehs.Event{ID: "$x", Room: room, Sender: "@p:example.org", Type: matrix.EventMessage, Content: []byte(`{"body":"hi"}`)})
	var evt matrix.Event
	if err := bot.EventContent(ctx, room, "$x", &evt); err != nil || evt.Sender != "@p:example.org" || string(evt.Content) != `{"body":"hi"}` {
		t.Fatalf("event = %+v, %v", evt, err)
	}
	if err := bot.EventContent(ctx, "!other:example.org", "$x", &evt); err == nil {
		t.Fatal("the event was served from another room")
	}
	// The bot joins the room first.
	if _, err := bot.Redact(ctx, room, "$x", "spam"); err != nil {
		t.Fatal(err)
	}
	if evs := h.HS.Events(room); len(evs) != 2 || evs[1].Type != matrix.EventRedaction || evs[1].Redacts != "$x" || evs[1].Sender != h.HS.Bot {
		t.Fatalf("events = %+v", evs)
	}
	var mc matrix.MemberContent
	if err := bot.StateEventContent(ctx, room, matrix.EventMember, string(h.HS.Bot), &mc); err != nil || mc.Membership != "join" {
		t.Fatalf("bot membership = %+v, %v", mc, err)
	}
	if err := bot.StateEventContent(ctx, room, matrix.EventMember, "@nobody:example.org", &mc); err == nil {
		t.Fatal("membership of a stranger served")
	}
	var statuses []int
	for _, r := range h.HS.Requests() {
		if r.Method == http.MethodGet && strings.Contains(r.Path, "/event/") {
			statuses = append(statuses, r.Status)
		}
	}
	if len(statuses) != 2 || statuses[0] != http.StatusOK || statuses[1] != http.StatusNotFound {
		t.Fatalf("event statuses %v, want [200 404]", statuses)
	}
}

// TestHomeserverPresenceAndProfileFields: a user's presence is what it
// last set (offline before), readable by others; a profile field is
// served alone, and an unknown user's is M_NOT_FOUND.
func TestHomeserverPresenceAndProfileFields(t *testing.T) {
	h := NewHost(t, HostOptions{})
	ctx := t.Context()
	const u = matrix.UserID("@p:example.org")
	bot := h.Matrix().Bot()
	if p, err := bot.Presence(ctx, u); err != nil || p.Presence != "offline" {
		t.Fatalf("presence before = %+v, %v", p, err)
	}
	if err := h.Matrix().Intent(u).SetPresence(ctx, "unavailable", "lunch"); err != nil {
		t.Fatal(err)
	}
	if p, err := bot.Presence(ctx, u); err != nil || p.Presence != "unavailable" || p.StatusMsg != "lunch" {
		t.Fatalf("presence = %+v, %v", p, err)
	}
	h.HS.SetProfile(u, "displayname", "Pat")
	if n, err := bot.Displayname(ctx, u); err != nil || n != "Pat" {
		t.Fatalf("displayname = %q, %v", n, err)
	}
	if _, err := bot.Displayname(ctx, "@nobody:example.org"); err == nil || !strings.Contains(err.Error(), "M_NOT_FOUND") {
		t.Fatalf("displayname of a stranger: %v", err)
	}
}

// TestHomeserverTimeline: the fake homeserver pages a room's events both
// ways (other rooms' left out) and around an event, with their
// timestamps.
func TestHomeserverTimeline(t *testing.T) {
	h := NewHost(t, HostOptions{})
	ctx := t.Context()
	const room = matrix.RoomID("!r:example.org")
	var ids []matrix.EventID
	for i := range 4 {
		ids = append(ids, h.HS.PutEvent(fakehs.Event{Room: room, Sender: "@p:example.org", Type: matrix.EventMessage, TS: int64(1000 + i),
			Content: []byte(`{"msgtype":"m.text","body":"hi"}`)}))
		h.HS.PutEvent(fakehs.Event{Room: "!other:example.org", Sender: "@p:example.org", Type: matrix.EventMessage, Content: []byte(`{}`)})
	}
	bot := h.Matrix().Bot()
	page, err := bot.Messages(ctx, room, "", intent.Backward, 3, nil)
	if err != nil || len(page.Chunk) != 3 || page.Chunk[0].ID != ids[3] || page.Chunk[2].ID != ids[1] || page.Chunk[0].OriginServerTS != 1003 {
		t.Fatalf("newest page: %+v %v", page, err)
	}
	if page, err = bot.Messages(ctx, room, page.End, intent.Backward, 3, nil); err != nil || len(page.Chunk) != 1 || page.Chunk[0].ID != ids[0] {
		t.Fatalf("oldest page: %+v %v", page, err)
	}
	cx, err := bot.Context(ctx, room, ids[1], 1, nil)
	if err != nil || cx.Event.ID != ids[1] || len(cx.EventsBefore) != 1 || cx.EventsBefore[0].ID != ids[0] || len(cx.EventsAfter) != 1 || cx.EventsAfter[0].ID != ids[2] {
		t.Fatalf("context: %+v %v", cx, err)
	}
	if page, err = bot.Messages(ctx, room, cx.End, intent.Forward, 10, nil); err != nil || len(page.Chunk) != 1 || page.Chunk[0].ID != ids[3] || page.End != "" {
		t.Fatalf("forward from the context: %+v %v", page, err)
	}
	if _, err := bot.Context(ctx, "!other:example.org", ids[1], 1, nil); !errors.Is(err, intent.ErrNotFound) {
		t.Fatalf("context in another room: %v", err)
	}
}
