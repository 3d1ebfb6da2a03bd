package fakehs

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/causewaybridge/causeway/matrix"
)

// The fake homeserver's timeline: GET /rooms/{room}/messages and
// /rooms/{room}/context/{event} over the events it holds, in the order it
// got them. Pagination tokens are "p<n>", a position in that order:
// backward pages read the events before it, forward pages those from it
// on, and end is "" once nothing is left. Filters and history visibility
// are ignored. An event's origin_server_ts is its Event.TS, else its
// position in seconds after the epoch.

// clientEvent is e, at position i, as the client-server API shows it.
func (e Event) clientEvent(i int) matrix.Event {
	ts := e.TS
	if ts == 0 {
		ts = int64(i) * 1000
	}
	return matrix.Event{ID: e.ID, Type: e.Type, RoomID: e.Room, Sender: e.Sender, StateKey: e.StateKey,
		Content: e.Content, Redacts: e.Redacts, OriginServerTS: ts, Unsigned: e.Unsigned}
}

// messages answers a page of the room's timeline.
func (hs *Homeserver) messages(w http.ResponseWriter, r *http.Request, rec Request) {
	room := matrix.RoomID(r.PathValue("room"))
	limit, _ := strconv.Atoi(rec.Query.Get("limit"))
	if limit <= 0 {
		limit = 10
	}
	dir := rec.Query.Get("dir")
	if dir != "b" && dir != "f" {
		writeErr(w, http.StatusBadRequest, "M_MISSING_PARAM", "dir is b or f")
		return
	}
	hs.mu.Lock()
	defer hs.mu.Unlock()
	if dir == "f" && rec.Query.Get("from") == "" && hs.forwardNeedsFrom {
		writeErr(w, http.StatusBadRequest, "M_INVALID_PARAM", "Invalid from parameter: malformed sync token")
		return
	}
	pos := 0
	if dir == "b" {
		pos = len(hs.events)
	}
	if from := rec.Query.Get("from"); from != "" {
		n, err := strconv.Atoi(strings.TrimPrefix(from, "p"))
		if err != nil || n < 0 || n > len(hs.events) {
			writeErr(w, http.StatusBadRequest, "M_INVALID_PARAM", "bad token")
			return
		}
		pos = n
	}
	chunk := []matrix.Event{}
	end := ""
	if dir == "b" {
		i := pos - 1
		for ; i >= 0 && len(chunk) < limit; i-- {
			if hs.events[i].Room == room {
				chunk = append(chunk, hs.events[i].clientEvent(i))
			}
		}
		if i >= 0 {
			end = fmt.Sprintf("p%d", i+1)
		}
	} else {
		i := pos
		for ; i < len(hs.events) && len(chunk) < limit; i++ {
			if hs.events[i].Room == room {
				chunk = append(chunk, hs.events[i].clientEvent(i))
			}
		}
		if i < len(hs.events) {
			end = fmt.Sprintf("p%d", i)
		}
	}
	writeJSON(w, map[string]any{"chunk": chunk, "start": fmt.Sprintf("p%d", pos), "end": end})
}

// context answers with up to limit events of the room on either side.
func (hs *Homeserver) context(w http.ResponseWriter, r *http.Request, rec Request) {
	room := matrix.RoomID(r.PathValue("room"))
	limit, _ := strconv.Atoi(rec.Query.Get("limit"))
	hs.mu.Lock()
	defer hs.mu.Unlock()
	k := slices.IndexFunc(hs.events, func(e Event) bool { return e.Room == room && e.ID == matrix.EventID(r.PathValue("event")) })
	if k < 0 {
		writeErr(w, http.StatusNotFound, "M_NOT_FOUND", "no such event")
		return
	}
	before, after := []matrix.Event{}, []matrix.Event{}
	start, end := k, k+1
	for i := k - 1; i >= 0 && len(before) < limit; i-- {
		if hs.events[i].Room == room {
			before, start = append(before, hs.events[i].clientEvent(i)), i
		}
	}
	for i := k + 1; i < len(hs.events) && len(after) < limit; i++ {
		if hs.events[i].Room == room {
			after, end = append(after, hs.events[i].clientEvent(i)), i+1
		}
	}
	writeJSON(w, map[string]any{"event": hs.events[k].clientEvent(k), "events_before": before, "events_after": after,
		"start": fmt.Sprintf("p%d", start), "end": fmt.Sprintf("p%d", end)})
}

// ForwardNeedsToken makes the server refuse a forward page without a
// from token (400 M_INVALID_PARAM), as Dendrite 0.15 does.
func (hs *Homeserver) ForwardNeedsToken(on bool) {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	hs.forwardNeedsFrom = on
}

// roomState answers GET /rooms/{room}/state: the newest state event of
// each type and key, with its ID.
func (hs *Homeserver) roomState(w http.ResponseWriter, r *http.Request, rec Request) {
	room := matrix.RoomID(r.PathValue("room"))
	hs.mu.Lock()
	defer hs.mu.Unlock()
	seen := map[[2]string]bool{}
	out := []matrix.Event{}
	for i := len(hs.events) - 1; i >= 0; i-- {
		e := hs.events[i]
		if e.Room != room || e.StateKey == nil || seen[[2]string{e.Type, *e.StateKey}] {
			continue
		}
		seen[[2]string{e.Type, *e.StateKey}] = true
		out = append(out, e.clientEvent(i))
	}
	writeJSON(w, out)
}
