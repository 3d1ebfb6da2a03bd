package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/causewaybridge/causeway/matrix"
)

// DefaultWaitTimeout bounds the Wait* helpers when ctx has no deadline.
const DefaultWaitTimeout = 30 * time.Second

// syncFilter asks for enough timeline per room that a burst of test messages
// is not cut short ("limited") between two polls.
const syncFilter = `{"room":{"timeline":{"limit":200}}}`

// SyncResponse is the part of a /sync answer tests read.
type SyncResponse struct {
	NextBatch string `json:"next_batch"`
	Rooms     struct {
		Join   map[matrix.RoomID]JoinedRoom  `json:"join"`
		Invite map[matrix.RoomID]InvitedRoom `json:"invite"`
		Leave  map[matrix.RoomID]JoinedRoom  `json:"leave"`
	} `json:"rooms"`
}

// JoinedRoom is a joined (or left) room in a /sync answer.
type JoinedRoom struct {
	State    EventList `json:"state"`
	Timeline struct {
		Events    []matrix.Event `json:"events"`
		Limited   bool           `json:"limited"`
		PrevBatch string         `json:"prev_batch"`
	} `json:"timeline"`
	Ephemeral EventList `json:"ephemeral"`
}

// InvitedRoom is a room the user is invited to, with its stripped state.
type InvitedRoom struct {
	InviteState EventList `json:"invite_state"`
}

// EventList is a list of events in a /sync answer.
type EventList struct {
	Events []matrix.Event `json:"events"`
}

// Events returns every room event of the answer in a stable per-room order:
// for joined and left rooms state then timeline (then ephemeral events of
// joined rooms), for invites the stripped invite state. Each event's RoomID
// is set.
func (s *SyncResponse) Events() []matrix.Event {
	var out []matrix.Event
	add := func(room matrix.RoomID, evs []matrix.Event) {
		for _, ev := range evs {
			ev.RoomID = room
			out = append(out, ev)
		}
	}
	for id, r := range s.Rooms.Join {
		add(id, r.State.Events)
		add(id, r.Timeline.Events)
		add(id, r.Ephemeral.Events)
	}
	for id, r := range s.Rooms.Invite {
		add(id, r.InviteState.Events)
	}
	for id, r := range s.Rooms.Leave {
		add(id, r.State.Events)
		add(id, r.Timeline.Events)
	}
	return out
}

// Sync calls /sync once from since ("" for an initial sync), long-polling up
// to timeout for something new.
func (c *Client) Sync(ctx context.Context, since string, timeout time.Duration) (*SyncResponse, error) {
	q := url.Values{"timeout": {strconv.FormatInt(timeout.Milliseconds(), 10)}, "filter": {syncFilter}}
	if since != "" {
		q.Set("since", since)
	}
	var s SyncResponse
	if err := c.do(ctx, http.MethodGet, "/_matrix/client/v3/sync", q, nil, &s); err != nil {
		return nil, err
	}
	return &s, nil
}

// WaitForEvent long-polls /sync until an event for which match returns true
// arrives and returns it. It resumes from where the previous Wait* call of
// this client stopped (the first call starts with an initial sync, so events
// that already happened are seen); events after the match in the same /sync
// answer are not seen by later calls. It gives up when ctx ends, or after
// DefaultWaitTimeout if ctx has no deadline.
func (c *Client) WaitForEvent(ctx context.Context, match func(ev *matrix.Event) bool) (*matrix.Event, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultWaitTimeout)
		defer cancel()
	}
	c.syncMu.Lock()
	defer c.syncMu.Unlock()
	for {
		poll := 5 * time.Second
		if dl, ok := ctx.Deadline(); ok {
			poll = min(poll, max(time.Until(dl)-100*time.Millisecond, 0))
		}
		s, err := c.Sync(ctx, c.since, poll)
		if err != nil {
			if ctx.Err() != nil {
				return nil, fmt.Errorf("wait for event as %s: %w", c.UserID, ctx.Err())
			}
			return nil, fmt.Errorf("wait for event as %s: %w", c.UserID, err)
		}
		c.since = s.NextBatch
		for _, ev := range s.Events() {
			if match(&ev) {
				return &ev, nil
			}
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("wait for event as %s: %w", c.UserID, ctx.Err())
		}
	}
}

// WaitForMessage waits for an m.room.message in room whose body is body.
func (c *Client) WaitForMessage(ctx context.Context, room matrix.RoomID, body string) (*matrix.Event, error) {
	ev, err := c.WaitForEvent(ctx, func(ev *matrix.Event) bool {
		if ev.RoomID != room || ev.Type != matrix.EventMessage || ev.IsState() {
			return false
		}
		var m matrix.MessageContent
		return json.Unmarshal(ev.Content, &m) == nil && m.Body == body
	})
	if err != nil {
		return nil, fmt.Errorf("message %q in %s: %w", body, room, err)
	}
	return ev, nil
}

// WaitForMembership waits for an m.room.member event in room for user with
// the given membership ("invite", "join", "leave", "ban").
func (c *Client) WaitForMembership(ctx context.Context, room matrix.RoomID, user matrix.UserID, membership string) (*matrix.Event, error) {
	ev, err := c.WaitForEvent(ctx, func(ev *matrix.Event) bool {
		if ev.RoomID != room || ev.Type != matrix.EventMember || ev.StateKey == nil || *ev.StateKey != string(user) {
			return false
		}
		var m matrix.MemberContent
		return json.Unmarshal(ev.Content, &m) == nil && m.Membership == membership
	})
	if err != nil {
		return nil, fmt.Errorf("%s of %s in %s: %w", membership, user, room, err)
	}
	return ev, nil
}

// CatchUp syncs without waiting until the homeserver has nothing new for
// this client, so that the next Wait* call only sees what happens after it.
func (c *Client) CatchUp(ctx context.Context) error {
	c.syncMu.Lock()
	defer c.syncMu.Unlock()
	for range 1000 {
		s, err := c.Sync(ctx, c.since, 0)
		if err != nil {
			return fmt.Errorf("catch up as %s: %w", c.UserID, err)
		}
		c.since = s.NextBatch
		if len(s.Events()) == 0 {
			return nil
		}
	}
	return fmt.Errorf("catch up as %s: still new events after 1000 syncs", c.UserID)
}
