package intent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/causewaybridge/causeway/matrix"
)

// ephemeralFilter asks /sync for typing, receipts and presence only: no
// timeline, state or account data.
const ephemeralFilter = `{` +
	`"account_data":{"not_types":["*"]},` +
	`"presence":{"types":["m.presence"]},` +
	`"room":{"timeline":{"limit":0,"not_types":["*"]},"state":{"not_types":["*"]},` +
	`"account_data":{"not_types":["*"]},"ephemeral":{"types":["m.typing","m.receipt"]}}}`

// EphemeralSyncer long-polls /sync as the bot for ephemeral events only
// (typing notifications, read receipts, presence), for homeservers that do
// not push them to appservices (Dendrite ignores receive_ephemeral). The bot
// sees the ephemeral events of the rooms it is joined to.
type EphemeralSyncer struct {
	c       *Client
	handle  func(ctx context.Context, evt *matrix.Event)
	log     *slog.Logger
	timeout time.Duration

	timelineTypes []string
	timeline      func(ctx context.Context, batch string, evs []TimelineEvent)
}

// TimelineEvent is a room event the syncer found in a joined room's
// timeline: the room (sync omits room_id from events) and the event's JSON.
type TimelineEvent struct {
	Room matrix.RoomID
	Raw  json.RawMessage
}

// timelineLimit is how many timeline events of the asked types one /sync
// returns per room; more in one poll are reported as a gap.
const timelineLimit = 100

// SetTimeline makes the syncer also ask for timeline events of types in the
// bot's joined rooms and pass each poll's events to handle, with the poll's
// next_batch token (unique per poll). It is for events the homeserver does
// not push to appservices. Call it before Run.
func (s *EphemeralSyncer) SetTimeline(types []string, handle func(ctx context.Context, batch string, evs []TimelineEvent)) {
	s.timelineTypes, s.timeline = types, handle
}

// filter returns the /sync filter: ephemeral events, plus timeline events
// of the types SetTimeline asked for.
func (s *EphemeralSyncer) filter() string {
	if len(s.timelineTypes) == 0 || s.timeline == nil {
		return ephemeralFilter
	}
	types, _ := json.Marshal(s.timelineTypes)
	return strings.Replace(ephemeralFilter, `"timeline":{"limit":0,"not_types":["*"]}`,
		fmt.Sprintf(`"timeline":{"limit":%d,"types":%s}`, timelineLimit, types), 1)
}

// NewEphemeralSyncer returns a syncer that calls handle for each ephemeral
// event, with RoomID set for typing and receipts. The first /sync only sets
// the position: the state it reports (old receipts) is not delivered.
func (c *Client) NewEphemeralSyncer(handle func(ctx context.Context, evt *matrix.Event)) *EphemeralSyncer {
	return &EphemeralSyncer{c: c, handle: handle, log: c.log, timeout: 30 * time.Second}
}

// SetPollTimeout sets the long-poll timeout of each /sync (default 30s).
func (s *EphemeralSyncer) SetPollTimeout(d time.Duration) { s.timeout = d }

type syncResponse struct {
	NextBatch string `json:"next_batch"`
	Presence  struct {
		Events []*matrix.Event `json:"events"`
	} `json:"presence"`
	Rooms struct {
		Join map[matrix.RoomID]struct {
			Ephemeral struct {
				Events []*matrix.Event `json:"events"`
			} `json:"ephemeral"`
			Timeline struct {
				Events  []json.RawMessage `json:"events"`
				Limited bool              `json:"limited"`
			} `json:"timeline"`
		} `json:"join"`
	} `json:"rooms"`
}

// Run syncs until ctx is done, backing off on errors, and returns ctx's
// error.
func (s *EphemeralSyncer) Run(ctx context.Context) error {
	filter := s.uploadFilter(ctx)
	since := ""
	failures := 0
	for {
		resp, err := s.syncOnce(ctx, filter, since)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			failures++
			d := s.c.retry.Delay(failures, err)
			s.log.WarnContext(ctx, "ephemeral sync failed",
				slog.Int("failures", failures), slog.Duration("delay", d), slog.Any("error", err))
			if serr := sleep(ctx, d); serr != nil {
				return serr
			}
			continue
		}
		failures = 0
		if since != "" {
			s.dispatch(ctx, resp)
		}
		since = resp.NextBatch
	}
}

// uploadFilter stores the filter on the homeserver and returns its ID, or
// the inline filter JSON if the upload fails.
func (s *EphemeralSyncer) uploadFilter(ctx context.Context) string {
	var out struct {
		FilterID string `json:"filter_id"`
	}
	err := s.c.do(withAttempts(ctx, 1), request{
		method:  http.MethodPost,
		path:    p(clientV3+"/user", string(s.c.bot), "filter"),
		rawBody: []byte(s.filter()), contentType: "application/json",
		out: &out,
	})
	if err != nil || out.FilterID == "" {
		s.log.DebugContext(ctx, "filter upload failed, using an inline filter", slog.Any("error", err))
		return s.filter()
	}
	return out.FilterID
}

func (s *EphemeralSyncer) syncOnce(ctx context.Context, filter, since string) (*syncResponse, error) {
	q := url.Values{"filter": {filter}, "set_presence": {"offline"}}
	if since != "" {
		q.Set("since", since)
		q.Set("timeout", strconv.FormatInt(s.timeout.Milliseconds(), 10))
	}
	var resp syncResponse
	err := s.c.do(withAttempts(ctx, 1), request{
		method:  http.MethodGet,
		path:    clientV3 + "/sync",
		query:   q,
		out:     &resp,
		timeout: s.timeout,
	})
	if err != nil {
		return nil, fmt.Errorf("ephemeral sync: %w", err)
	}
	if resp.NextBatch == "" {
		return nil, errors.New("ephemeral sync: answer has no next_batch")
	}
	return &resp, nil
}

func (s *EphemeralSyncer) dispatch(ctx context.Context, resp *syncResponse) {
	if s.timeline != nil {
		var evs []TimelineEvent
		for room, jr := range resp.Rooms.Join {
			if jr.Timeline.Limited {
				s.log.WarnContext(ctx, "sync: more timeline events than one poll returns; some were not seen",
					slog.String("room_id", string(room)), slog.Int("limit", timelineLimit))
			}
			for _, raw := range jr.Timeline.Events {
				evs = append(evs, TimelineEvent{Room: room, Raw: raw})
			}
		}
		if len(evs) > 0 {
			s.timeline(ctx, resp.NextBatch, evs)
		}
	}
	for room, jr := range resp.Rooms.Join {
		for _, evt := range jr.Ephemeral.Events {
			if evt == nil || evt.Type == "" {
				continue
			}
			evt.RoomID = room
			s.handle(ctx, evt)
		}
	}
	for _, evt := range resp.Presence.Events {
		if evt == nil || evt.Type == "" {
			continue
		}
		s.handle(ctx, evt)
	}
}
