package xmpp

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"
)

// TestPublicRoomsPaged: the public directory is read page by page with
// since tokens, up to the limit, aliases preferred to room IDs and names
// defaulting to the ID; a failing homeserver is an error.
func TestPublicRoomsPaged(t *testing.T) {
	const total = 250
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		if r.URL.Path != "/_matrix/client/v3/publicRooms" || r.Header.Get("Authorization") != "" {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		from, _ := strconv.Atoi(r.URL.Query().Get("since"))
		limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
		var page struct {
			Chunk     []publicRoom `json:"chunk"`
			NextBatch string       `json:"next_batch,omitempty"`
		}
		for i := from; i < min(from+limit, total); i++ {
			e := publicRoom{RoomID: fmt.Sprintf("!r%d:hs", i)}
			if i%2 == 0 {
				e.CanonicalAlias, e.Name = fmt.Sprintf("#r%d:hs", i), fmt.Sprintf("Room %d", i)
			}
			page.Chunk = append(page.Chunk, e)
		}
		if from+limit < total {
			page.NextBatch = strconv.Itoa(from + limit)
		}
		_ = json.NewEncoder(w).Encode(page)
	}))
	defer srv.Close()
	r := &rooms{hs: srv.URL, http: srv.Client()}
	got, err := r.PublicRooms(context.Background(), 230)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 230 || calls.Load() != 3 {
		t.Fatalf("%d rooms in %d requests, want 230 in 3", len(got), calls.Load())
	}
	if got[0].ID != "#r0:hs" || got[0].Name != "Room 0" || got[1].ID != "!r1:hs" || got[1].Name != "!r1:hs" || got[229].ID != "!r229:hs" {
		t.Fatalf("rooms %v %v %v", got[0], got[1], got[229])
	}
	calls.Store(0)
	if got, err := r.PublicRooms(context.Background(), 1000); err != nil || len(got) != total || calls.Load() != 3 {
		t.Fatalf("all: %d rooms, %d requests, %v", len(got), calls.Load(), err)
	}
	srv.Close()
	if _, err := r.PublicRooms(context.Background(), 10); err == nil {
		t.Fatal("no error from a homeserver that is gone")
	}
}
