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

	"github.com/causewaybridge/causeway/matrix"
)

// membershipCall posts a membership change about target (invite, kick,
// ban, unban) and records the resulting membership in the cache.
func (i *Intent) membershipCall(ctx context.Context, action string, room matrix.RoomID, target matrix.UserID, reason, result string) error {
	body := map[string]string{"user_id": string(target)}
	if reason != "" {
		body["reason"] = reason
	}
	err := i.do(ctx, request{
		method: http.MethodPost,
		path:   p(clientV3+"/rooms", string(room), action),
		query:  tsQuery(nil, i.ts),
		body:   body,
	})
	if err != nil {
		return fmt.Errorf("%s %s %s in %s: %w", i.user, action, target, room, err)
	}
	if err := i.c.state.setMembership(ctx, room, target, result); err != nil {
		return fmt.Errorf("%s %s %s in %s: save state: %w", i.user, action, target, room, err)
	}
	return nil
}

// Invite invites target to room.
func (i *Intent) Invite(ctx context.Context, room matrix.RoomID, target matrix.UserID, reason string) error {
	return i.membershipCall(ctx, "invite", room, target, reason, MembershipInvite)
}

// Kick removes target from room.
func (i *Intent) Kick(ctx context.Context, room matrix.RoomID, target matrix.UserID, reason string) error {
	return i.membershipCall(ctx, "kick", room, target, reason, MembershipLeave)
}

// Ban bans target from room.
func (i *Intent) Ban(ctx context.Context, room matrix.RoomID, target matrix.UserID, reason string) error {
	return i.membershipCall(ctx, "ban", room, target, reason, MembershipBan)
}

// Unban lifts a ban of target in room.
func (i *Intent) Unban(ctx context.Context, room matrix.RoomID, target matrix.UserID, reason string) error {
	return i.membershipCall(ctx, "unban", room, target, reason, MembershipLeave)
}

// Leave makes the user leave room. A user the state cache knows is not in
// the room costs no request, and a homeserver refusing the leave because
// the user is not in the room (say an IRC user who never spoke there
// quits, or a puppet whose earlier leave the cache does not know) counts as
// done, so such leaves do not fail and retry: see notInRoom.
func (i *Intent) Leave(ctx context.Context, room matrix.RoomID, reason string) error {
	m, err := i.c.state.membership(ctx, room, i.user)
	if err != nil {
		return fmt.Errorf("%s leave %s: read state: %w", i.user, room, err)
	}
	if m == MembershipLeave || m == MembershipBan {
		return nil
	}
	body := map[string]string{}
	if reason != "" {
		body["reason"] = reason
	}
	err = i.do(ctx, request{
		method: http.MethodPost,
		path:   p(clientV3+"/rooms", string(room), "leave"),
		query:  tsQuery(nil, i.ts),
		body:   body,
	})
	if err != nil {
		out, qerr := i.notInRoom(ctx, room, err)
		if qerr != nil {
			// Wrap only qerr, so the leave counts as transient and is retried.
			return fmt.Errorf("%s leave %s: refused (%v), and the membership is unknown: %w", i.user, room, err, qerr)
		}
		if !out {
			return fmt.Errorf("%s leave %s: %w", i.user, room, err)
		}
		i.c.log.DebugContext(ctx, "leave refused: not in the room", slog.String("user_id", string(i.user)),
			slog.String("room_id", string(room)), slog.Any("err", err))
	}
	if err := i.c.state.setMembership(ctx, room, i.user, MembershipLeave); err != nil {
		return fmt.Errorf("%s leave %s: save state: %w", i.user, room, err)
	}
	return nil
}

// notInRoom reports whether leaveErr, a homeserver's refusal of the
// user's leave, means that the user is not in room: there is nothing to
// leave. Homeservers say so differently: Synapse answers 403 M_FORBIDDEN,
// Dendrite 400 M_UNKNOWN ("not a member", "not joined", or a room it does
// not know). For a refusal other than M_FORBIDDEN the user's membership is
// read from the homeserver: out unless it is join, invite or knock, or the
// user may not read the room's state (403) or has no member event there
// (404). err is set when that read failed for a transient reason, so the
// leave is tried again.
func (i *Intent) notInRoom(ctx context.Context, room matrix.RoomID, leaveErr error) (out bool, err error) {
	var he *HTTPError
	if !errors.As(leaveErr, &he) || IsTransient(leaveErr) || he.Status < 400 || he.Status >= 500 {
		return false, nil
	}
	if errors.Is(leaveErr, ErrForbidden) {
		return true, nil
	}
	var mc matrix.MemberContent
	err = i.StateEventContent(ctx, room, matrix.EventMember, string(i.user), &mc)
	var qe *HTTPError
	switch {
	case err == nil:
		return mc.Membership != MembershipJoin && mc.Membership != MembershipInvite && mc.Membership != MembershipKnock, nil
	case IsTransient(err) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded):
		return false, err
	case errors.As(err, &qe):
		return qe.Status == http.StatusForbidden || qe.Status == http.StatusNotFound, nil
	}
	return false, nil
}

// StateEvent is one state event of CreateRoomRequest.InitialState.
type StateEvent struct {
	Type     string `json:"type"`
	StateKey string `json:"state_key"`
	Content  any    `json:"content"`
}

// CreateRoomRequest is the body of POST /createRoom. BridgeInfo, when set,
// adds the MSC2346 bridge info state events (m.bridge and
// uk.half-shot.bridge) to the initial state.
type CreateRoomRequest struct {
	Visibility                string          `json:"visibility,omitempty"`
	RoomAliasName             string          `json:"room_alias_name,omitempty"`
	Name                      string          `json:"name,omitempty"`
	Topic                     string          `json:"topic,omitempty"`
	Invite                    []matrix.UserID `json:"invite,omitempty"`
	IsDirect                  bool            `json:"is_direct,omitempty"`
	Preset                    string          `json:"preset,omitempty"`
	RoomVersion               string          `json:"room_version,omitempty"`
	CreationContent           map[string]any  `json:"creation_content,omitempty"`
	InitialState              []StateEvent    `json:"initial_state,omitempty"`
	PowerLevelContentOverride *PowerLevels    `json:"power_level_content_override,omitempty"`
	BridgeInfo                *BridgeInfo     `json:"-"`
}

// CreateRoom creates a room as this user and returns its ID. The creator is
// recorded as joined.
func (i *Intent) CreateRoom(ctx context.Context, req *CreateRoomRequest) (matrix.RoomID, error) {
	if err := i.EnsureRegistered(ctx); err != nil {
		return "", err
	}
	body := *req
	if req.BridgeInfo != nil {
		body.InitialState = append(append([]StateEvent(nil), req.InitialState...), req.BridgeInfo.StateEvents()...)
	}
	var out struct {
		RoomID matrix.RoomID `json:"room_id"`
	}
	if err := i.do(ctx, request{method: http.MethodPost, path: clientV3 + "/createRoom", body: &body, out: &out}); err != nil {
		return "", fmt.Errorf("%s create room: %w", i.user, err)
	}
	if err := i.c.state.setMembership(ctx, out.RoomID, i.user, MembershipJoin); err != nil {
		return out.RoomID, fmt.Errorf("%s create room: save state: %w", i.user, err)
	}
	for _, u := range req.Invite {
		if err := i.c.state.setMembership(ctx, out.RoomID, u, MembershipInvite); err != nil {
			return out.RoomID, fmt.Errorf("%s create room: save state: %w", i.user, err)
		}
	}
	return out.RoomID, nil
}

// Bridge info state event types (MSC2346 and its older unstable name).
const (
	EventBridgeInfo         = matrix.EventBridge
	EventBridgeInfoUnstable = "uk.half-shot.bridge"
)

// BridgeInfo is the content of the MSC2346 bridge info state event that tells
// clients a room is bridged, to what and by whom.
type BridgeInfo struct {
	BridgeBot matrix.UserID      `json:"bridgebot"`
	Creator   matrix.UserID      `json:"creator,omitempty"`
	Protocol  BridgeInfoSection  `json:"protocol"`
	Network   *BridgeInfoSection `json:"network,omitempty"`
	Channel   BridgeInfoSection  `json:"channel"`
}

// BridgeInfoSection describes the protocol, network or channel of a
// BridgeInfo.
type BridgeInfoSection struct {
	ID          string `json:"id"`
	DisplayName string `json:"displayname,omitempty"`
	AvatarURL   string `json:"avatar_url,omitempty"`
	ExternalURL string `json:"external_url,omitempty"`
}

// StateKey returns the state key MSC2346 recommends: unique per bridge and
// channel ("causeway://irc/libera/#go").
func (b *BridgeInfo) StateKey() string {
	key := "causeway://" + b.Protocol.ID
	if b.Network != nil {
		key += "/" + b.Network.ID
	}
	return key + "/" + b.Channel.ID
}

// StateEvents returns b as both the stable and the unstable state event.
func (b *BridgeInfo) StateEvents() []StateEvent {
	return []StateEvent{
		{Type: EventBridgeInfo, StateKey: b.StateKey(), Content: b},
		{Type: EventBridgeInfoUnstable, StateKey: b.StateKey(), Content: b},
	}
}

// SetBridgeInfo sends b as both bridge info state events in room.
func (i *Intent) SetBridgeInfo(ctx context.Context, room matrix.RoomID, b *BridgeInfo) error {
	for _, ev := range b.StateEvents() {
		if _, err := i.SendState(ctx, room, ev.Type, ev.StateKey, ev.Content, i.ts); err != nil {
			return err
		}
	}
	return nil
}

// CreateAlias points alias at room.
func (i *Intent) CreateAlias(ctx context.Context, alias matrix.RoomAlias, room matrix.RoomID) error {
	err := i.do(ctx, request{
		method: http.MethodPut,
		path:   p(clientV3+"/directory/room", string(alias)),
		body:   map[string]string{"room_id": string(room)},
	})
	if err != nil {
		return fmt.Errorf("create alias %s: %w", alias, err)
	}
	return nil
}

// DeleteAlias removes alias.
func (i *Intent) DeleteAlias(ctx context.Context, alias matrix.RoomAlias) error {
	if err := i.do(ctx, request{method: http.MethodDelete, path: p(clientV3+"/directory/room", string(alias))}); err != nil {
		return fmt.Errorf("delete alias %s: %w", alias, err)
	}
	return nil
}

// ResolveAlias returns the room alias points at and servers to join through.
func (i *Intent) ResolveAlias(ctx context.Context, alias matrix.RoomAlias) (matrix.RoomID, []string, error) {
	var out struct {
		RoomID  matrix.RoomID `json:"room_id"`
		Servers []string      `json:"servers"`
	}
	if err := i.do(ctx, request{method: http.MethodGet, path: p(clientV3+"/directory/room", string(alias)), out: &out}); err != nil {
		return "", nil, fmt.Errorf("resolve alias %s: %w", alias, err)
	}
	return out.RoomID, out.Servers, nil
}

// Room directory visibilities.
const (
	VisibilityPublic  = "public"
	VisibilityPrivate = "private"
)

// SetRoomDirectoryVisibility publishes (public) or hides (private) room in
// the homeserver's room directory.
func (i *Intent) SetRoomDirectoryVisibility(ctx context.Context, room matrix.RoomID, visibility string) error {
	err := i.do(ctx, request{
		method: http.MethodPut,
		path:   p(clientV3+"/directory/list/room", string(room)),
		body:   map[string]string{"visibility": visibility},
	})
	if err != nil {
		return fmt.Errorf("set directory visibility of %s: %w", room, err)
	}
	return nil
}

// SetAppserviceRoomDirectory publishes or hides room in the per-network room
// directory of the appservice (PUT /directory/list/appservice/{network}/{room}).
func (i *Intent) SetAppserviceRoomDirectory(ctx context.Context, network string, room matrix.RoomID, visibility string) error {
	err := i.do(ctx, request{
		method: http.MethodPut,
		path:   p(clientV3+"/directory/list/appservice", network, string(room)),
		body:   map[string]string{"visibility": visibility},
	})
	if err != nil {
		return fmt.Errorf("set %s directory visibility of %s: %w", network, room, err)
	}
	return nil
}

// Member is one entry of JoinedMembers.
type Member struct {
	DisplayName string `json:"display_name,omitempty"`
	AvatarURL   string `json:"avatar_url,omitempty"`
}

// JoinedMembers returns the joined members of room and records them as
// joined in the cache.
func (i *Intent) JoinedMembers(ctx context.Context, room matrix.RoomID) (map[matrix.UserID]Member, error) {
	var out struct {
		Joined map[matrix.UserID]Member `json:"joined"`
	}
	if err := i.do(ctx, request{method: http.MethodGet, path: p(clientV3+"/rooms", string(room), "joined_members"), out: &out}); err != nil {
		return nil, fmt.Errorf("joined members of %s: %w", room, err)
	}
	for u := range out.Joined {
		i.c.state.memberships.put(memberKey{room, u}, MembershipJoin)
	}
	return out.Joined, nil
}

// Members returns the m.room.member events of room and updates the cache
// from them.
func (i *Intent) Members(ctx context.Context, room matrix.RoomID) ([]*matrix.Event, error) {
	var out struct {
		Chunk []*matrix.Event `json:"chunk"`
	}
	if err := i.do(ctx, request{method: http.MethodGet, path: p(clientV3+"/rooms", string(room), "members"), out: &out}); err != nil {
		return nil, fmt.Errorf("members of %s: %w", room, err)
	}
	for _, ev := range out.Chunk {
		if ev.RoomID == "" {
			ev.RoomID = room
		}
		var mc matrix.MemberContent
		if ev.StateKey != nil && json.Unmarshal(ev.Content, &mc) == nil && mc.Membership != "" {
			i.c.state.memberships.put(memberKey{room, matrix.UserID(*ev.StateKey)}, mc.Membership)
		}
	}
	return out.Chunk, nil
}

// StateEventContent fetches the content of one state event into out.
func (i *Intent) StateEventContent(ctx context.Context, room matrix.RoomID, evtType, stateKey string, out any) error {
	err := i.do(ctx, request{method: http.MethodGet, path: p(clientV3+"/rooms", string(room), "state", evtType, stateKey), out: out})
	if err != nil {
		return fmt.Errorf("get state %s in %s: %w", evtType, room, err)
	}
	return nil
}

// RecentEvents returns up to limit of the newest timeline events of room,
// newest first, optionally only those sent by senders and of types (GET
// /rooms/{room}/messages with dir=b and a filter).
func (i *Intent) RecentEvents(ctx context.Context, room matrix.RoomID, limit int, senders []matrix.UserID, types []string) ([]*matrix.Event, error) {
	filter := map[string]any{}
	if len(senders) > 0 {
		filter["senders"] = senders
	}
	if len(types) > 0 {
		filter["types"] = types
	}
	f, err := json.Marshal(filter)
	if err != nil {
		return nil, err
	}
	q := url.Values{"dir": {"b"}, "limit": {strconv.Itoa(limit)}, "filter": {string(f)}}
	var out struct {
		Chunk []*matrix.Event `json:"chunk"`
	}
	if err := i.do(ctx, request{method: http.MethodGet, path: p(clientV3+"/rooms", string(room), "messages"), query: q, out: &out}); err != nil {
		return nil, fmt.Errorf("recent events of %s: %w", room, err)
	}
	for _, ev := range out.Chunk {
		if ev.RoomID == "" {
			ev.RoomID = room
		}
	}
	return out.Chunk, nil
}

// EventContent fetches one event of room (GET /rooms/{room}/event/{id})
// into out, usually a *matrix.Event.
func (i *Intent) EventContent(ctx context.Context, room matrix.RoomID, event matrix.EventID, out any) error {
	if err := i.do(ctx, request{method: http.MethodGet, path: p(clientV3+"/rooms", string(room), "event", string(event)), out: out}); err != nil {
		return fmt.Errorf("get event %s in %s: %w", event, room, err)
	}
	return nil
}
