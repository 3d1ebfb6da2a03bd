package xmpp

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/causewaybridge/causeway/internal/fakehs"
	"github.com/causewaybridge/causeway/matrix"
)

// TestPublicRoomsPaged: the public directory is read page by page with
// since tokens, up to the limit, aliases preferred to room IDs and names
// defaulting to the ID; a failing homeserver is an error.
func TestPublicRoomsPaged(t *testing.T) {
	const total = 250
	hs := fakehs.New(t, "hs", "@bot:hs")
	for i := range total {
		e := fakehs.PublicRoom{RoomID: matrix.RoomID(fmt.Sprintf("!r%d:hs", i))}
		if i%2 == 0 {
			e.Alias, e.Name = matrix.RoomAlias(fmt.Sprintf("#r%d:hs", i)), fmt.Sprintf("Room %d", i)
		}
		hs.AddPublicRoom(e)
	}
	calls := func() int {
		n := 0
		for _, r := range hs.Requests() {
			if strings.HasSuffix(r.Path, "/publicRooms") {
				n++
			}
		}
		return n
	}
	r := &rooms{hs: hs.URL, http: http.DefaultClient}
	got, err := r.PublicRooms(context.Background(), 230)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 230 || calls() != 3 {
		t.Fatalf("%d rooms in %d requests, want 230 in 3", len(got), calls())
	}
	if got[0].ID != "#r0:hs" || got[0].Name != "Room 0" || got[1].ID != "!r1:hs" || got[1].Name != "!r1:hs" || got[229].ID != "!r229:hs" {
		t.Fatalf("rooms %v %v %v", got[0], got[1], got[229])
	}
	if got, err := r.PublicRooms(context.Background(), 1000); err != nil || len(got) != total || calls() != 6 {
		t.Fatalf("all: %d rooms, %d requests in all, %v", len(got), calls(), err)
	}
	gone := &rooms{hs: "http://127.0.0.1:1", http: http.DefaultClient}
	if _, err := gone.PublicRooms(context.Background(), 10); err == nil {
		t.Fatal("no error from a homeserver that is gone")
	}
}
