package intent

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/causewaybridge/causeway/matrix"
)

const clientV3 = "/_matrix/client/v3"

// Intent acts as one Matrix user of the appservice: a puppet or the bot.
// Intents are cheap values; get them from Client.Intent or Client.Bot.
type Intent struct {
	c    *Client
	user matrix.UserID
	// ts, when set, is sent as ?ts= on every call that accepts it and has
	// no timestamp of its own (see At).
	ts time.Time
}

// UserID returns the user this intent acts as.
func (i *Intent) UserID() matrix.UserID { return i.user }

// At returns a copy of the intent that sends ?ts=t (timestamp massaging) on
// membership, profile, send and state calls, for bridging history with its
// original time. The homeserver uses t as origin_server_ts; it does not
// change the order of events in the room.
func (i *Intent) At(t time.Time) *Intent {
	cp := *i
	cp.ts = t
	return &cp
}

func (i *Intent) isBot() bool { return i.user == i.c.bot }

// do sends r as this intent.
func (i *Intent) do(ctx context.Context, r request) error {
	r.as = i.user
	return i.c.do(ctx, r)
}

// EnsureRegistered registers the user with the homeserver
// (m.login.application_service, inhibit_login) unless it is known to be
// registered already. M_USER_IN_USE counts as success.
func (i *Intent) EnsureRegistered(ctx context.Context) error {
	ok, err := i.c.state.isRegistered(ctx, i.user)
	if err != nil {
		return fmt.Errorf("register %s: read state: %w", i.user, err)
	}
	if ok {
		return nil
	}
	_, err = i.register(ctx)
	return err
}

// register asks the homeserver to register the user and records it as
// registered. created is false when the user existed already.
func (i *Intent) register(ctx context.Context) (created bool, err error) {
	err = i.c.do(ctx, request{
		method: http.MethodPost,
		path:   clientV3 + "/register",
		query:  map[string][]string{"kind": {"user"}},
		body: map[string]any{
			"type":          "m.login.application_service",
			"username":      i.user.Localpart(),
			"inhibit_login": true,
		},
	})
	switch {
	case err == nil:
		created = true
		if !i.isBot() {
			// Best effort: a homeserver without push rules still works.
			if err := i.MuteNotifications(ctx); err != nil {
				i.c.log.DebugContext(ctx, "could not mute the puppet's notifications", slog.String("user_id", string(i.user)),
					slog.Any("err", err))
			}
		}
	case !errors.Is(err, ErrUserInUse):
		return false, fmt.Errorf("register %s: %w", i.user, err)
	}
	if err := i.c.state.markRegistered(ctx, i.user); err != nil {
		return created, fmt.Errorf("register %s: save state: %w", i.user, err)
	}
	i.c.log.DebugContext(ctx, "user registered", slog.String("user_id", string(i.user)), slog.Bool("created", created))
	return created, nil
}

// EnsureJoined makes sure the user is joined to room. A user known to be
// joined costs no request. If the homeserver refuses the join (M_FORBIDDEN),
// the puppet is registered again in case the cache was wrong (a homeserver
// that lost its data); if it did exist, the bot joins, invites the user and
// the user joins again.
func (i *Intent) EnsureJoined(ctx context.Context, room matrix.RoomID) error {
	m, err := i.c.state.membership(ctx, room, i.user)
	if err != nil {
		return fmt.Errorf("ensure %s joined %s: read state: %w", i.user, room, err)
	}
	if m == MembershipJoin {
		return nil
	}
	if err := i.EnsureRegistered(ctx); err != nil {
		return err
	}
	_, err = i.JoinRoom(ctx, string(room))
	if err == nil || !errors.Is(err, ErrForbidden) || i.isBot() {
		return err
	}
	if created, rerr := i.register(ctx); rerr != nil {
		return recoveryFailed(err, rerr)
	} else if created {
		i.c.log.InfoContext(ctx, "puppet was not registered on the homeserver, registered it again",
			slog.String("user_id", string(i.user)))
		if _, err = i.JoinRoom(ctx, string(room)); err == nil || !errors.Is(err, ErrForbidden) {
			return err
		}
	}
	bot := i.c.Bot()
	if err := bot.EnsureJoined(ctx, room); err != nil {
		return fmt.Errorf("ensure %s joined %s: bot cannot join to invite: %w", i.user, room, err)
	}
	if err := bot.Invite(ctx, room, i.user, ""); err != nil {
		return fmt.Errorf("ensure %s joined %s: %w", i.user, room, err)
	}
	_, err = i.JoinRoom(ctx, string(room))
	return err
}

// JoinRoom joins a room by ID or alias (POST /join/{roomIdOrAlias}) and
// returns the room ID. via names servers to join through.
func (i *Intent) JoinRoom(ctx context.Context, roomIDOrAlias string, via ...string) (matrix.RoomID, error) {
	var out struct {
		RoomID matrix.RoomID `json:"room_id"`
	}
	q := tsQuery(nil, i.ts)
	for _, s := range via {
		if q == nil {
			q = map[string][]string{}
		}
		q.Add("server_name", s)
		q.Add("via", s)
	}
	err := i.do(ctx, request{method: http.MethodPost, path: p(clientV3+"/join", roomIDOrAlias), query: q, out: &out})
	if err != nil {
		return "", fmt.Errorf("%s join %s: %w", i.user, roomIDOrAlias, err)
	}
	if out.RoomID == "" {
		out.RoomID = matrix.RoomID(roomIDOrAlias)
	}
	if err := i.c.state.setMembership(ctx, out.RoomID, i.user, MembershipJoin); err != nil {
		return out.RoomID, fmt.Errorf("%s join %s: save state: %w", i.user, roomIDOrAlias, err)
	}
	return out.RoomID, nil
}

// SendOptions tunes SendMessageEvent.
type SendOptions struct {
	// TxnID is the transaction ID of the send. Sends with the same TxnID by
	// the same user are deduplicated by the homeserver, so a retried send
	// never posts twice. Pass a stable ID derived from the remote message.
	// When empty, the ID is a hash of sender, room, type, content and
	// Timestamp: two identical messages with the same (or no) timestamp
	// would then be merged into one by the homeserver, so callers that may
	// legitimately repeat content must set TxnID or Timestamp.
	TxnID string
	// Timestamp, when set, is sent as ?ts= (timestamp massaging). It
	// overrides the intent's At time.
	Timestamp time.Time
}

// TxnIDFor returns the transaction ID SendMessageEvent uses when opts has no
// TxnID: "cwh" and a hash of everything that identifies the send.
func TxnIDFor(sender matrix.UserID, room matrix.RoomID, evtType string, content json.RawMessage, ts time.Time) string {
	h := sha256.New()
	for _, part := range []string{string(sender), string(room), evtType, string(content)} {
		h.Write([]byte(part))
		h.Write([]byte{0})
	}
	if !ts.IsZero() {
		h.Write([]byte(strconv.FormatInt(ts.UnixMilli(), 10)))
	}
	return "cwh" + hex.EncodeToString(h.Sum(nil)[:16])
}

// SendMessageEvent sends a message-like event (m.room.message, m.reaction,
// ...) to room and returns its event ID. The user is made to join first if
// needed. If the homeserver answers M_FORBIDDEN (the cache believed the user
// joined but it is not), the membership is forgotten, the user rejoins and
// the send is retried once with the same transaction ID.
func (i *Intent) SendMessageEvent(ctx context.Context, room matrix.RoomID, evtType string, content any, opts SendOptions) (matrix.EventID, error) {
	raw, err := marshalContent(content)
	if err != nil {
		return "", fmt.Errorf("send %s to %s: %w", evtType, room, err)
	}
	ts := opts.Timestamp
	if ts.IsZero() {
		ts = i.ts
	}
	txn := opts.TxnID
	if txn == "" {
		txn = TxnIDFor(i.user, room, evtType, raw, ts)
	}
	var out struct {
		EventID matrix.EventID `json:"event_id"`
	}
	r := request{
		method:  http.MethodPut,
		path:    p(clientV3+"/rooms", string(room), "send", evtType, txn),
		query:   tsQuery(nil, ts),
		rawBody: raw, contentType: "application/json",
		out: &out,
	}
	if err := i.withJoin(ctx, room, r); err != nil {
		return "", fmt.Errorf("send %s to %s as %s: %w", evtType, room, i.user, err)
	}
	return out.EventID, nil
}

// SendText is a shortcut for an m.text message.
func (i *Intent) SendText(ctx context.Context, room matrix.RoomID, body string, opts SendOptions) (matrix.EventID, error) {
	return i.SendMessageEvent(ctx, room, matrix.EventMessage, matrix.MessageContent{MsgType: matrix.MsgText, Body: body}, opts)
}

// SendState sets a state event in room and returns its event ID. A non-zero
// ts (or the intent's At time) is sent as ?ts=.
func (i *Intent) SendState(ctx context.Context, room matrix.RoomID, evtType, stateKey string, content any, ts time.Time) (matrix.EventID, error) {
	raw, err := marshalContent(content)
	if err != nil {
		return "", fmt.Errorf("set state %s in %s: %w", evtType, room, err)
	}
	if ts.IsZero() {
		ts = i.ts
	}
	var out struct {
		EventID matrix.EventID `json:"event_id"`
	}
	r := request{
		method:  http.MethodPut,
		path:    p(clientV3+"/rooms", string(room), "state", evtType, stateKey),
		query:   tsQuery(nil, ts),
		rawBody: raw, contentType: "application/json",
		out: &out,
	}
	if err := i.withJoin(ctx, room, r); err != nil {
		return "", fmt.Errorf("set state %s in %s as %s: %w", evtType, room, i.user, err)
	}
	if evtType == matrix.EventPowerLevels && stateKey == "" {
		var pl PowerLevels
		if json.Unmarshal(raw, &pl) == nil {
			i.c.state.powerLevels.put(room, &pl)
		}
	}
	return out.EventID, nil
}

// Redact redacts an event. The transaction ID is derived from the user, the
// event and the reason, so a retried redaction is deduplicated.
func (i *Intent) Redact(ctx context.Context, room matrix.RoomID, event matrix.EventID, reason string) (matrix.EventID, error) {
	body := map[string]string{}
	if reason != "" {
		body["reason"] = reason
	}
	raw, _ := json.Marshal(body)
	return i.redact(ctx, room, event, raw, TxnIDFor(i.user, room, "redact:"+string(event), raw, time.Time{}), i.ts)
}

func (i *Intent) redact(ctx context.Context, room matrix.RoomID, event matrix.EventID, raw []byte, txn string, ts time.Time) (matrix.EventID, error) {
	var out struct {
		EventID matrix.EventID `json:"event_id"`
	}
	r := request{
		method:  http.MethodPut,
		path:    p(clientV3+"/rooms", string(room), "redact", string(event), txn),
		query:   tsQuery(nil, ts),
		rawBody: raw, contentType: "application/json",
		out: &out,
	}
	if err := i.withJoin(ctx, room, r); err != nil {
		return "", fmt.Errorf("redact %s in %s as %s: %w", event, room, i.user, err)
	}
	return out.EventID, nil
}

// withJoin ensures the user is joined, performs r, and if the homeserver
// says the user may not act in the room, forgets the cached membership,
// rejoins and tries once more.
func (i *Intent) withJoin(ctx context.Context, room matrix.RoomID, r request) error {
	if err := i.EnsureJoined(ctx, room); err != nil {
		return err
	}
	err := i.do(ctx, r)
	if err == nil || !errors.Is(err, ErrForbidden) {
		return err
	}
	i.c.log.InfoContext(ctx, "homeserver refused a send, rejoining",
		slog.String("user_id", string(i.user)), slog.String("room_id", string(room)), slog.Any("err", err))
	if serr := i.c.state.setMembership(ctx, room, i.user, MembershipLeave); serr != nil {
		return errors.Join(err, serr)
	}
	if jerr := i.EnsureJoined(ctx, room); jerr != nil {
		return recoveryFailed(err, jerr)
	}
	return i.do(ctx, r)
}

// recoveryFailed reports a refusal (refused) whose recovery (rejoin,
// registration) then failed with rerr. A refusal is only final once its
// recovery ran to an answer: when rerr is transient (the homeserver went
// away in between, as during its shutdown, when Dendrite answers a send with
// a spurious 403) the result is transient too, so the outbox retries it
// instead of dropping the message.
func recoveryFailed(refused, rerr error) error {
	if IsTransient(rerr) {
		return fmt.Errorf("%w (after: %v)", rerr, refused)
	}
	return errors.Join(refused, rerr)
}

func marshalContent(content any) (json.RawMessage, error) {
	switch c := content.(type) {
	case json.RawMessage:
		if c == nil {
			return json.RawMessage("{}"), nil
		}
		return c, nil
	case []byte:
		return c, nil
	case nil:
		return json.RawMessage("{}"), nil
	}
	raw, err := json.Marshal(content)
	if err != nil {
		return nil, fmt.Errorf("encode content: %w", err)
	}
	return raw, nil
}

// ObserveEvent updates the state cache from an event the homeserver
// delivered (an appservice transaction or /sync): memberships of any user
// and power levels. Call it for every event so that the cache follows kicks,
// bans and power changes made by others.
func (c *Client) ObserveEvent(ctx context.Context, evt *matrix.Event) error {
	if evt == nil || evt.StateKey == nil || evt.RoomID == "" {
		return nil
	}
	switch evt.Type {
	case matrix.EventMember:
		var mc matrix.MemberContent
		if err := json.Unmarshal(evt.Content, &mc); err != nil || mc.Membership == "" {
			return nil
		}
		if err := c.state.setMembership(ctx, evt.RoomID, matrix.UserID(*evt.StateKey), mc.Membership); err != nil {
			return fmt.Errorf("observe membership of %s in %s: %w", *evt.StateKey, evt.RoomID, err)
		}
	case matrix.EventPowerLevels:
		if *evt.StateKey != "" {
			return nil
		}
		var pl PowerLevels
		if err := json.Unmarshal(evt.Content, &pl); err == nil {
			c.state.powerLevels.put(evt.RoomID, &pl)
		}
	}
	return nil
}
