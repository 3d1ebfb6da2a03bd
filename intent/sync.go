package intent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
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

// EphemeralSyncer long-polls /sync as the bot for ephemeral events
// (typing notifications, read receipts, presence), for homeservers that do
// not push them to appservices (Dendrite ignores receive_ephemeral). The bot
// sees the ephemeral events of the rooms it is joined to. It can also pass
// on timeline events of chosen types (SetTimeline) without losing any,
// across restarts too (SetPositionStore).
type EphemeralSyncer struct {
	c       *Client
	handle  func(ctx context.Context, evt *matrix.Event)
	log     *slog.Logger
	timeout time.Duration

	timelineTypes []string
	timeline      func(ctx context.Context, batch string, evs []TimelineEvent) error
	positions     PositionStore
}

// TimelineEvent is a room event the syncer found in a joined room's
// timeline: the room (sync omits room_id from events) and the event's JSON.
type TimelineEvent struct {
	Room matrix.RoomID
	Raw  json.RawMessage
}

// timelineLimit is how many timeline events of the asked types one /sync
// returns per room; when there were more, the rest are fetched with
// /messages (see fillGap).
const timelineLimit = 100

// SetTimeline makes the syncer also ask for timeline events of types in the
// bot's joined rooms and pass each poll's events to handle, with the poll's
// next_batch token (unique per poll), in each room's order. It is for events
// the homeserver does not push to appservices. When handle fails, the poll
// is repeated later (so handle must tolerate events it has seen). Call it
// before Run.
func (s *EphemeralSyncer) SetTimeline(types []string, handle func(ctx context.Context, batch string, evs []TimelineEvent) error) {
	s.timelineTypes, s.timeline = types, handle
}

// SyncPosition is where an EphemeralSyncer stands: the next_batch token of
// its last poll whose timeline events were handed over, and when it got it.
type SyncPosition struct {
	Token string    `json:"next_batch"`
	At    time.Time `json:"at"`
}

// PositionStore keeps an EphemeralSyncer's position across restarts.
type PositionStore interface {
	// LoadSyncPosition returns the saved position, or the zero position
	// when none was saved.
	LoadSyncPosition(ctx context.Context) (SyncPosition, error)
	// SaveSyncPosition replaces the saved position.
	SaveSyncPosition(ctx context.Context, pos SyncPosition) error
}

// SetPositionStore makes Run resume from the position saved by an earlier
// run, so timeline events (see SetTimeline) sent while the bridge was down
// are delivered by the first poll; the ephemeral events of that poll, stale
// by then, are not. Without a saved position the first poll only sets the
// position, as without a store. Run saves the position once a poll's
// timeline events were handed over, never before. Call it before Run.
func (s *EphemeralSyncer) SetPositionStore(ps PositionStore) { s.positions = ps }

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
// event, with RoomID set for typing and receipts. The first /sync of a run
// without a saved position only sets the position: the state it reports
// (old receipts) is not delivered.
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
				Events    []json.RawMessage `json:"events"`
				Limited   bool              `json:"limited"`
				PrevBatch string            `json:"prev_batch"`
			} `json:"timeline"`
		} `json:"join"`
	} `json:"rooms"`
}

// savePositionEvery bounds how long a poll's position may stay unsaved
// when no timeline event came (each poll with events saves it at once).
const savePositionEvery = time.Minute

// Run syncs until ctx is done, backing off on errors, and returns ctx's
// error. A position the homeserver rejects (a malformed or unknown token,
// say after a homeserver reset) is dropped once with a warning: the syncer
// then starts from the current position.
func (s *EphemeralSyncer) Run(ctx context.Context) error {
	filter := s.uploadFilter(ctx)
	pos, err := s.loadPosition(ctx)
	if err != nil {
		return err
	}
	saved := pos
	defer func() {
		if pos.Token != saved.Token {
			s.savePosition(context.WithoutCancel(ctx), pos)
		}
	}()
	first := true // the first poll of a run: its ephemeral events are stale
	failures := 0
	for {
		resp, err := s.syncOnce(ctx, filter, pos.Token)
		if err != nil && pos.Token != "" && rejectedPosition(err) {
			s.log.WarnContext(ctx, "the homeserver rejected the sync position; starting from its current position, events since the old one are not seen",
				slog.String("since", pos.Token), slog.Any("err", err))
			pos, saved, first = SyncPosition{}, SyncPosition{}, true
			continue
		}
		if err == nil && pos.Token != "" {
			err = s.dispatch(ctx, pos, resp, !first)
		}
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			failures++
			d := s.c.retry.Delay(failures, err)
			s.log.WarnContext(ctx, "ephemeral sync failed",
				slog.Int("failures", failures), slog.Duration("delay", d), slog.Any("err", err))
			if serr := sleep(ctx, d); serr != nil {
				return serr
			}
			continue
		}
		failures, first = 0, false
		pos = SyncPosition{Token: resp.NextBatch, At: time.Now()}
		if saved.Token == "" || hasTimeline(resp) || pos.At.Sub(saved.At) >= savePositionEvery {
			if s.savePosition(ctx, pos) {
				saved = pos
			}
		}
	}
}

// loadPositionAttempts bounds the tries to load the saved position before
// the syncer starts from the current one.
const loadPositionAttempts = 5

// loadPosition returns the position saved by an earlier run (the zero
// position without a store). It retries failures a few times, then gives
// up with a warning and returns the zero position.
func (s *EphemeralSyncer) loadPosition(ctx context.Context) (SyncPosition, error) {
	if s.positions == nil || s.timeline == nil {
		return SyncPosition{}, nil
	}
	for failures := 1; ; failures++ {
		pos, err := s.positions.LoadSyncPosition(ctx)
		if err == nil {
			if pos.Token != "" {
				s.log.InfoContext(ctx, "sync resumes where the last run stopped", slog.Time("saved_at", pos.At))
			}
			return pos, nil
		}
		if ctx.Err() != nil {
			return SyncPosition{}, ctx.Err()
		}
		if failures >= loadPositionAttempts {
			s.log.WarnContext(ctx, "could not load the sync position; starting from the current one, events since the last run are not seen",
				slog.Any("err", err))
			return SyncPosition{}, nil
		}
		d := s.c.retry.Delay(failures, err)
		s.log.WarnContext(ctx, "could not load the sync position", slog.Duration("delay", d), slog.Any("err", err))
		if serr := sleep(ctx, d); serr != nil {
			return SyncPosition{}, serr
		}
	}
}

// savePosition saves pos if there is a store, and reports whether it did.
// A failure is logged: the next poll tries again.
func (s *EphemeralSyncer) savePosition(ctx context.Context, pos SyncPosition) bool {
	if s.positions == nil || s.timeline == nil {
		return false
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := s.positions.SaveSyncPosition(ctx, pos); err != nil {
		s.log.WarnContext(ctx, "could not save the sync position", slog.Any("err", err))
		return false
	}
	return true
}

// rejectedPosition reports whether a /sync failed because of its since
// token: a 400 the homeserver gives a malformed or unknown token. Other
// 4xx answers (404 or 408 from a proxy, 413, rate limits, tokens) are
// transient or unrelated and go through the normal backoff, keeping the
// position: dropping it loses what happened while the bridge was down.
func rejectedPosition(err error) bool {
	var he *HTTPError
	if !errors.As(err, &he) || he.Status != http.StatusBadRequest {
		return false
	}
	switch he.ErrCode {
	case "M_INVALID_PARAM", "M_UNKNOWN", "M_BAD_JSON", "":
		return true
	}
	return false
}

// hasTimeline reports whether a poll returned timeline events.
func hasTimeline(resp *syncResponse) bool {
	for _, jr := range resp.Rooms.Join {
		if len(jr.Timeline.Events) > 0 || jr.Timeline.Limited {
			return true
		}
	}
	return false
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
		s.log.DebugContext(ctx, "filter upload failed, using an inline filter", slog.Any("err", err))
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

// dispatch hands resp's timeline events to the timeline handler, then its
// ephemeral events (when ephemeral is true) to the ephemeral handler. since
// is the position the poll started from. An error means the timeline
// events were not all handed over: the poll must be repeated.
func (s *EphemeralSyncer) dispatch(ctx context.Context, since SyncPosition, resp *syncResponse, ephemeral bool) error {
	if s.timeline != nil {
		evs, err := s.timelineEvents(ctx, since, resp)
		if err != nil {
			return err
		}
		if len(evs) > 0 {
			if err := s.timeline(ctx, resp.NextBatch, evs); err != nil {
				return fmt.Errorf("hand over %d timeline events: %w", len(evs), err)
			}
		}
	}
	if !ephemeral {
		return nil
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
	return nil
}

// Gap fetching: when a room's timeline in a poll is limited, the events
// between the poll's start and the timeline's first event are fetched with
// /messages, backwards from prev_batch. Dendrite 0.15 applies a /messages
// filter only after it chose a page, and ends the pagination at a page the
// filter emptied; and it does not stop at the "to" token. So the pages are
// unfiltered (events of other types are dropped here), "to" is sent for
// homeservers that honour it, and the walk also stops at the first page
// older than the poll's start (less gapMargin, for clock skew): a few
// events seen before are handed over again, which the handler tolerates.
const (
	gapPageSize = 100
	gapMaxPages = 200
	gapMargin   = 5 * time.Minute
)

// timelineEvents returns the timeline events of resp, room by room in
// timeline order, with the gaps of limited timelines filled. A gap that
// cannot be fetched for a transient reason is an error (the poll is
// repeated); one that the homeserver refuses is logged and skipped.
func (s *EphemeralSyncer) timelineEvents(ctx context.Context, since SyncPosition, resp *syncResponse) ([]TimelineEvent, error) {
	rooms := make([]matrix.RoomID, 0, len(resp.Rooms.Join))
	for room := range resp.Rooms.Join {
		rooms = append(rooms, room)
	}
	slices.Sort(rooms)
	var evs []TimelineEvent
	for _, room := range rooms {
		tl := resp.Rooms.Join[room].Timeline
		raws := tl.Events
		if tl.Limited {
			gap, err := s.fillGap(ctx, room, tl.PrevBatch, since)
			if err != nil {
				if ctx.Err() != nil || IsTransient(err) {
					return nil, err
				}
				s.log.WarnContext(ctx, "sync: more timeline events than one poll returns, and the rest could not all be fetched; some were not seen",
					slog.String("room_id", string(room)), slog.Int("fetched", len(gap)), slog.Any("err", err))
			}
			s.log.DebugContext(ctx, "sync: fetched the events a limited timeline left out",
				slog.String("room_id", string(room)), slog.Int("events", len(gap)))
			raws = withGap(gap, raws)
		}
		for _, raw := range raws {
			evs = append(evs, TimelineEvent{Room: room, Raw: raw})
		}
	}
	return evs, nil
}

// gapEvent is what fillGap reads of an event.
type gapEvent struct {
	ID   matrix.EventID `json:"event_id"`
	Type string         `json:"type"`
	TS   int64          `json:"origin_server_ts"`
}

// fillGap returns the events of the asked types in room from the position
// since up to the timeline token from, oldest first. With an error it also
// returns what it found.
func (s *EphemeralSyncer) fillGap(ctx context.Context, room matrix.RoomID, from string, since SyncPosition) ([]json.RawMessage, error) {
	if from == "" {
		return nil, errors.New("the limited timeline has no prev_batch token")
	}
	var bound int64 // origin_server_ts (ms) before which the walk stops
	if !since.At.IsZero() {
		bound = since.At.Add(-gapMargin).UnixMilli()
	}
	var found []json.RawMessage // newest first
	for range gapMaxPages {
		q := url.Values{"dir": {"b"}, "from": {from}, "limit": {strconv.Itoa(gapPageSize)}}
		if since.Token != "" {
			q.Set("to", since.Token)
		}
		var page struct {
			Chunk []json.RawMessage `json:"chunk"`
			End   string            `json:"end"`
		}
		err := s.c.do(ctx, request{method: http.MethodGet, path: p(clientV3+"/rooms", string(room), "messages"), query: q, out: &page})
		if err != nil {
			slices.Reverse(found)
			return found, fmt.Errorf("fetch the timeline gap of %s: %w", room, err)
		}
		older := len(page.Chunk) > 0
		for _, raw := range page.Chunk {
			var ev gapEvent
			if json.Unmarshal(raw, &ev) != nil {
				continue
			}
			if ev.TS >= bound {
				older = false
			}
			if slices.Contains(s.timelineTypes, ev.Type) {
				found = append(found, raw)
			}
		}
		if len(page.Chunk) == 0 || page.End == "" || page.End == from || (bound > 0 && older) {
			slices.Reverse(found)
			return found, nil
		}
		from = page.End
	}
	slices.Reverse(found)
	return found, fmt.Errorf("the timeline gap of %s is longer than %d events", room, gapMaxPages*gapPageSize)
}

// withGap returns the gap's events followed by the timeline's, each event
// once.
func withGap(gap, timeline []json.RawMessage) []json.RawMessage {
	if len(gap) == 0 {
		return timeline
	}
	seen := make(map[matrix.EventID]bool, len(gap)+len(timeline))
	out := make([]json.RawMessage, 0, len(gap)+len(timeline))
	for _, raw := range slices.Concat(gap, timeline) {
		var ev gapEvent
		if json.Unmarshal(raw, &ev) == nil && ev.ID != "" {
			if seen[ev.ID] {
				continue
			}
			seen[ev.ID] = true
		}
		out = append(out, raw)
	}
	return out
}
