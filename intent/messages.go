package intent

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"github.com/causewaybridge/causeway/matrix"
)

// Pagination directions of [Intent.Messages].
const (
	// Backward pages from newer to older events (dir=b).
	Backward = "b"
	// Forward pages from older to newer events (dir=f).
	Forward = "f"
)

// RoomEventFilter is the filter of [Intent.Messages] and [Intent.Context]
// (a RoomEventFilter of the client-server API). Homeservers apply it
// differently: Dendrite filters a page after choosing its events, so a
// filtered page may hold fewer than the limit, or none, before the end.
type RoomEventFilter struct {
	Types           []string        `json:"types,omitempty"`
	NotTypes        []string        `json:"not_types,omitempty"`
	Senders         []matrix.UserID `json:"senders,omitempty"`
	NotSenders      []matrix.UserID `json:"not_senders,omitempty"`
	LazyLoadMembers bool            `json:"lazy_load_members,omitempty"`
}

// MessagesPage is one page of a room's timeline (GET
// /rooms/{room}/messages).
type MessagesPage struct {
	// Chunk holds the events in the direction asked for: newest first
	// for [Backward], oldest first for [Forward].
	Chunk []*matrix.Event `json:"chunk"`
	// Start is the token the page started from.
	Start string `json:"start"`
	// End continues in the same direction; "" when there is nothing
	// more (some homeservers instead return a page with no events).
	End string `json:"end,omitempty"`
	// State holds member events of the senders when the filter asked
	// for lazy-loaded members.
	State []*matrix.Event `json:"state,omitempty"`
}

// Messages returns a page of room's timeline as the intent's user sees
// it (history visibility applies): up to limit events from the
// pagination token from ("" starts at the newest event for [Backward],
// the oldest for [Forward]) in direction dir. filter may be nil.
func (i *Intent) Messages(ctx context.Context, room matrix.RoomID, from, dir string, limit int, filter *RoomEventFilter) (*MessagesPage, error) {
	if dir != Backward && dir != Forward {
		return nil, fmt.Errorf("messages of %s: direction %q: want %q or %q", room, dir, Backward, Forward)
	}
	q := url.Values{"dir": {dir}}
	if from != "" {
		q.Set("from", from)
	}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	if err := filterQuery(q, filter); err != nil {
		return nil, fmt.Errorf("messages of %s: %w", room, err)
	}
	var out MessagesPage
	if err := i.do(ctx, request{method: http.MethodGet, path: p(clientV3+"/rooms", string(room), "messages"), query: q, out: &out}); err != nil {
		return nil, fmt.Errorf("messages of %s: %w", room, err)
	}
	fillRoom(room, out.Chunk, out.State)
	return &out, nil
}

// EventContext is the answer of [Intent.Context]: an event with events
// around it and pagination tokens to read further either way.
type EventContext struct {
	Event *matrix.Event `json:"event"`
	// EventsBefore holds events before Event, newest first.
	EventsBefore []*matrix.Event `json:"events_before"`
	// EventsAfter holds events after Event, oldest first.
	EventsAfter []*matrix.Event `json:"events_after"`
	// Start pages [Backward] from EventsBefore, End [Forward] from
	// EventsAfter. Homeservers differ on whether the event a token
	// points at is included (Dendrite's tokens point at the last event
	// returned and include it): read on with [Intent.Messages] and skip
	// the events already seen.
	Start string          `json:"start"`
	End   string          `json:"end"`
	State []*matrix.Event `json:"state,omitempty"`
}

// Context returns event of room with up to limit events around it (GET
// /rooms/{room}/context/{event}): a way to start paging at an event. It
// fails with [ErrNotFound] for an event the homeserver does not know (or
// ErrForbidden for one the user may not see). filter may be nil.
func (i *Intent) Context(ctx context.Context, room matrix.RoomID, event matrix.EventID, limit int, filter *RoomEventFilter) (*EventContext, error) {
	q := url.Values{"limit": {strconv.Itoa(limit)}}
	if err := filterQuery(q, filter); err != nil {
		return nil, fmt.Errorf("context of %s in %s: %w", event, room, err)
	}
	var out EventContext
	err := i.do(ctx, request{method: http.MethodGet, path: p(clientV3+"/rooms", string(room), "context", string(event)), query: q, out: &out})
	if err != nil {
		return nil, fmt.Errorf("context of %s in %s: %w", event, room, err)
	}
	if out.Event == nil {
		return nil, fmt.Errorf("context of %s in %s: the answer has no event", event, room)
	}
	fillRoom(room, []*matrix.Event{out.Event}, out.EventsBefore, out.EventsAfter, out.State)
	return &out, nil
}

// filterQuery sets the filter parameter of q from f (nothing when nil).
func filterQuery(q url.Values, f *RoomEventFilter) error {
	if f == nil {
		return nil
	}
	b, err := json.Marshal(f)
	if err != nil {
		return fmt.Errorf("filter: %w", err)
	}
	q.Set("filter", string(b))
	return nil
}

// fillRoom sets the room ID of events that lack it (the API leaves it
// out of room-scoped answers).
func fillRoom(room matrix.RoomID, lists ...[]*matrix.Event) {
	for _, l := range lists {
		for _, ev := range l {
			if ev != nil && ev.RoomID == "" {
				ev.RoomID = room
			}
		}
	}
}

// RoomState returns the current state events of room (GET
// /rooms/{room}/state), each with its event ID.
func (i *Intent) RoomState(ctx context.Context, room matrix.RoomID) ([]*matrix.Event, error) {
	var out []*matrix.Event
	if err := i.do(ctx, request{method: http.MethodGet, path: p(clientV3+"/rooms", string(room), "state"), out: &out}); err != nil {
		return nil, fmt.Errorf("state of %s: %w", room, err)
	}
	fillRoom(room, out)
	return out, nil
}
