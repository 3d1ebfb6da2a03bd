package intent

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/causewaybridge/causeway/matrix"
)

// TestMessagesPaging: Messages pages a room's timeline both ways as the
// intent's user, with the filter and tokens it is given; Context
// returns an event with its neighbours and tokens that page on from it;
// RoomState returns the state events with their IDs.
func TestMessagesPaging(t *testing.T) {
	ctx := context.Background()
	hs := newFakeHS(t)
	hs.makeRoom(room1, false, alice, testBot)
	c := newTestClient(t, hs, nil)
	in := c.Intent(alice)
	var ids []matrix.EventID
	for n := range 5 {
		id, err := in.SendText(ctx, room1, fmt.Sprintf("m%d", n), SendOptions{})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	bodies := func(p []*matrix.Event) []matrix.EventID {
		var out []matrix.EventID
		for _, ev := range p {
			if ev.RoomID != room1 {
				t.Errorf("event %s without its room", ev.ID)
			}
			out = append(out, ev.ID)
		}
		return out
	}
	want := func(what string, got []matrix.EventID, exp ...matrix.EventID) {
		t.Helper()
		if fmt.Sprint(got) != fmt.Sprint(exp) {
			t.Errorf("%s: %v, want %v", what, got, exp)
		}
	}

	page, err := in.Messages(ctx, room1, "", Backward, 2, &RoomEventFilter{Types: []string{matrix.EventMessage}})
	if err != nil {
		t.Fatal(err)
	}
	want("newest page", bodies(page.Chunk), ids[4], ids[3])
	r := hs.requests(http.MethodGet, "/messages")[0]
	if r.User != alice || r.Query.Get("dir") != "b" || r.Query.Get("limit") != "2" || r.Query.Get("filter") != `{"types":["m.room.message"]}` {
		t.Errorf("request: %+v", r)
	}
	page, err = in.Messages(ctx, room1, page.End, Backward, 10, nil)
	if err != nil {
		t.Fatal(err)
	}
	want("older page", bodies(page.Chunk), ids[2], ids[1], ids[0])
	if page.End != "" {
		t.Errorf("end after the oldest event: %q", page.End)
	}
	page, err = in.Messages(ctx, room1, "", Forward, 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	want("oldest page", bodies(page.Chunk), ids[0], ids[1])
	if page.Chunk[0].OriginServerTS == 0 && page.Chunk[1].OriginServerTS == 0 {
		t.Error("no origin_server_ts")
	}

	cx, err := in.Context(ctx, room1, ids[2], 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cx.Event.ID != ids[2] || cx.Event.RoomID != room1 {
		t.Fatalf("context event: %+v", cx.Event)
	}
	want("before", bodies(cx.EventsBefore), ids[1])
	want("after", bodies(cx.EventsAfter), ids[3])
	page, err = in.Messages(ctx, room1, cx.Start, Backward, 10, nil)
	if err != nil {
		t.Fatal(err)
	}
	want("backward from the context", bodies(page.Chunk), ids[0])
	page, err = in.Messages(ctx, room1, cx.End, Forward, 10, nil)
	if err != nil {
		t.Fatal(err)
	}
	want("forward from the context", bodies(page.Chunk), ids[4])

	if _, err := in.Context(ctx, room1, "$nope", 1, nil); !errors.Is(err, ErrNotFound) {
		t.Errorf("context of an unknown event: %v, want ErrNotFound", err)
	}
	if _, err := in.SendState(ctx, room1, matrix.EventTopic, "", map[string]string{"topic": "t"}, time.Time{}); err != nil {
		t.Fatal(err)
	}
	st, err := in.RoomState(ctx, room1)
	if err != nil || len(st) != 1 || st[0].Type != matrix.EventTopic || st[0].ID == "" || st[0].StateKey == nil || st[0].RoomID != room1 {
		t.Fatalf("room state: %+v %v", st, err)
	}

	n := len(hs.requests(http.MethodGet, "/messages"))
	if _, err := in.Messages(ctx, room1, "", "x", 1, nil); err == nil {
		t.Error("a bad direction was accepted")
	}
	if len(hs.requests(http.MethodGet, "/messages")) != n {
		t.Error("a bad direction reached the homeserver")
	}
}
