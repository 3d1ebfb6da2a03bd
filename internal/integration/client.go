package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/causewaybridge/causeway/matrix"
)

// Client is a minimal Matrix client-server API client that behaves like a
// real user's client: bearer access token, /v3 endpoints, transaction IDs on
// sends, /sync long-polling. It is safe for concurrent use, except that the
// Wait* helpers share one /sync position (see [Client.WaitForEvent]).
type Client struct {
	// HomeserverURL is the base URL, such as "http://127.0.0.1:8008".
	HomeserverURL string
	// UserID is the user the access token belongs to.
	UserID matrix.UserID
	// AccessToken authenticates every request.
	AccessToken string
	// HTTP sends the requests; NewClient sets a client with a 60 s timeout.
	HTTP *http.Client

	txnPrefix string
	txn       atomic.Int64

	syncMu sync.Mutex
	since  string // the Wait* helpers' /sync position
}

// Error is a non-2xx answer from the homeserver.
type Error struct {
	Method     string
	Path       string
	StatusCode int
	ErrCode    string `json:"errcode"`
	Message    string `json:"error"`
}

// Error implements error.
func (e *Error) Error() string {
	return fmt.Sprintf("%s %s: %d %s: %s", e.Method, e.Path, e.StatusCode, e.ErrCode, e.Message)
}

// NewClient returns a client for an existing access token.
func NewClient(homeserverURL string, userID matrix.UserID, accessToken string) *Client {
	return &Client{
		HomeserverURL: homeserverURL,
		UserID:        userID,
		AccessToken:   accessToken,
		HTTP:          &http.Client{Timeout: 60 * time.Second},
		txnPrefix:     strconv.FormatInt(time.Now().UnixNano(), 36),
	}
}

// Register creates the user localpart with a password through open
// registration (the m.login.dummy flow) and returns a client logged in as it.
// Dendrite refuses passwords shorter than 8 characters (M_WEAK_PASSWORD).
func Register(ctx context.Context, homeserverURL, localpart, password string) (*Client, error) {
	c := NewClient(homeserverURL, "", "")
	body := map[string]any{"username": localpart, "password": password, "initial_device_display_name": "causeway-test"}
	var resp struct {
		UserID      matrix.UserID `json:"user_id"`
		AccessToken string        `json:"access_token"`
	}
	// The first request without auth opens a user-interactive session (401
	// with a session ID); the second completes it with the dummy stage.
	var uia struct {
		Session string `json:"session"`
	}
	status, raw, err := c.roundTrip(ctx, http.MethodPost, "/_matrix/client/v3/register", nil, body)
	if err != nil {
		return nil, err
	}
	if status == http.StatusUnauthorized {
		if err := json.Unmarshal(raw, &uia); err != nil {
			return nil, fmt.Errorf("register %s: decode auth flows: %w", localpart, err)
		}
		body["auth"] = map[string]any{"type": "m.login.dummy", "session": uia.Session}
		status, raw, err = c.roundTrip(ctx, http.MethodPost, "/_matrix/client/v3/register", nil, body)
		if err != nil {
			return nil, err
		}
	}
	if err := decodeAnswer(http.MethodPost, "/_matrix/client/v3/register", status, raw, &resp); err != nil {
		return nil, fmt.Errorf("register %s: %w", localpart, err)
	}
	c.UserID, c.AccessToken = resp.UserID, resp.AccessToken
	return c, nil
}

// CreateRoomRequest is the body of POST /createRoom (the fields tests use).
type CreateRoomRequest struct {
	Preset        string          `json:"preset,omitempty"` // private_chat, public_chat, trusted_private_chat
	Visibility    string          `json:"visibility,omitempty"`
	Name          string          `json:"name,omitempty"`
	Topic         string          `json:"topic,omitempty"`
	RoomAliasName string          `json:"room_alias_name,omitempty"`
	Invite        []matrix.UserID `json:"invite,omitempty"`
	IsDirect      bool            `json:"is_direct,omitempty"`
	InitialState  []StateEvent    `json:"initial_state,omitempty"`
}

// StateEvent is an initial state event of [CreateRoomRequest].
type StateEvent struct {
	Type     string `json:"type"`
	StateKey string `json:"state_key"`
	Content  any    `json:"content"`
}

// CreateRoom creates a room and returns its ID.
func (c *Client) CreateRoom(ctx context.Context, req CreateRoomRequest) (matrix.RoomID, error) {
	var resp struct {
		RoomID matrix.RoomID `json:"room_id"`
	}
	if err := c.do(ctx, http.MethodPost, "/_matrix/client/v3/createRoom", nil, req, &resp); err != nil {
		return "", err
	}
	return resp.RoomID, nil
}

// Invite invites user to room.
func (c *Client) Invite(ctx context.Context, room matrix.RoomID, user matrix.UserID) error {
	path := "/_matrix/client/v3/rooms/" + url.PathEscape(string(room)) + "/invite"
	return c.do(ctx, http.MethodPost, path, nil, map[string]any{"user_id": user}, nil)
}

// Kick removes user from room.
func (c *Client) Kick(ctx context.Context, room matrix.RoomID, user matrix.UserID, reason string) error {
	path := "/_matrix/client/v3/rooms/" + url.PathEscape(string(room)) + "/kick"
	return c.do(ctx, http.MethodPost, path, nil, map[string]any{"user_id": user, "reason": reason}, nil)
}

// Join joins a room by ID or alias and returns the room ID.
func (c *Client) Join(ctx context.Context, roomIDOrAlias string) (matrix.RoomID, error) {
	var resp struct {
		RoomID matrix.RoomID `json:"room_id"`
	}
	path := "/_matrix/client/v3/join/" + url.PathEscape(roomIDOrAlias)
	if err := c.do(ctx, http.MethodPost, path, nil, struct{}{}, &resp); err != nil {
		return "", err
	}
	return resp.RoomID, nil
}

// Leave leaves a room.
func (c *Client) Leave(ctx context.Context, room matrix.RoomID) error {
	path := "/_matrix/client/v3/rooms/" + url.PathEscape(string(room)) + "/leave"
	return c.do(ctx, http.MethodPost, path, nil, struct{}{}, nil)
}

// SendText sends an m.text message and returns its event ID.
func (c *Client) SendText(ctx context.Context, room matrix.RoomID, body string) (matrix.EventID, error) {
	return c.SendEvent(ctx, room, matrix.EventMessage, matrix.MessageContent{MsgType: matrix.MsgText, Body: body})
}

// SendEvent sends a message event with a fresh transaction ID.
func (c *Client) SendEvent(ctx context.Context, room matrix.RoomID, eventType string, content any) (matrix.EventID, error) {
	txn := c.txnPrefix + "." + strconv.FormatInt(c.txn.Add(1), 10)
	path := "/_matrix/client/v3/rooms/" + url.PathEscape(string(room)) + "/send/" +
		url.PathEscape(eventType) + "/" + url.PathEscape(txn)
	var resp struct {
		EventID matrix.EventID `json:"event_id"`
	}
	if err := c.do(ctx, http.MethodPut, path, nil, content, &resp); err != nil {
		return "", err
	}
	return resp.EventID, nil
}

// Redact redacts event in room with an optional reason.
func (c *Client) Redact(ctx context.Context, room matrix.RoomID, event matrix.EventID, reason string) error {
	txn := c.txnPrefix + "." + strconv.FormatInt(c.txn.Add(1), 10)
	path := "/_matrix/client/v3/rooms/" + url.PathEscape(string(room)) + "/redact/" +
		url.PathEscape(string(event)) + "/" + url.PathEscape(txn)
	body := map[string]string{}
	if reason != "" {
		body["reason"] = reason
	}
	return c.do(ctx, http.MethodPut, path, nil, body, nil)
}

// RoomVisibility returns the room's visibility in the server's room
// directory: "public" or "private".
func (c *Client) RoomVisibility(ctx context.Context, room matrix.RoomID) (string, error) {
	var out struct {
		Visibility string `json:"visibility"`
	}
	err := c.do(ctx, http.MethodGet, "/_matrix/client/v3/directory/list/room/"+url.PathEscape(string(room)), nil, nil, &out)
	return out.Visibility, err
}

// StateEvent returns the content of a state event of room.
func (c *Client) StateEvent(ctx context.Context, room matrix.RoomID, eventType, stateKey string) (json.RawMessage, error) {
	var out json.RawMessage
	err := c.do(ctx, http.MethodGet, "/_matrix/client/v3/rooms/"+url.PathEscape(string(room))+"/state/"+
		url.PathEscape(eventType)+"/"+url.PathEscape(stateKey), nil, nil, &out)
	return out, err
}

// SendState sets a state event and returns its event ID.
func (c *Client) SendState(ctx context.Context, room matrix.RoomID, eventType, stateKey string, content any) (matrix.EventID, error) {
	path := "/_matrix/client/v3/rooms/" + url.PathEscape(string(room)) + "/state/" +
		url.PathEscape(eventType) + "/" + url.PathEscape(stateKey)
	var resp struct {
		EventID matrix.EventID `json:"event_id"`
	}
	if err := c.do(ctx, http.MethodPut, path, nil, content, &resp); err != nil {
		return "", err
	}
	return resp.EventID, nil
}

// Profile is a user's global profile.
type Profile struct {
	Displayname string `json:"displayname,omitempty"`
	AvatarURL   string `json:"avatar_url,omitempty"`
}

// SetDisplayname sets the client user's display name.
func (c *Client) SetDisplayname(ctx context.Context, name string) error {
	path := "/_matrix/client/v3/profile/" + url.PathEscape(string(c.UserID)) + "/displayname"
	return c.do(ctx, http.MethodPut, path, nil, map[string]string{"displayname": name}, nil)
}

// Profile fetches a user's profile.
func (c *Client) Profile(ctx context.Context, user matrix.UserID) (Profile, error) {
	var p Profile
	err := c.do(ctx, http.MethodGet, "/_matrix/client/v3/profile/"+url.PathEscape(string(user)), nil, nil, &p)
	return p, err
}

// Presence is a user's presence as GET /presence/{userId}/status answers it.
type Presence struct {
	Presence  string `json:"presence"`
	StatusMsg string `json:"status_msg,omitempty"`
}

// SetPresence sets the client user's presence (online, unavailable,
// offline) and status message.
func (c *Client) SetPresence(ctx context.Context, presence, statusMsg string) error {
	path := "/_matrix/client/v3/presence/" + url.PathEscape(string(c.UserID)) + "/status"
	body := map[string]string{"presence": presence}
	if statusMsg != "" {
		body["status_msg"] = statusMsg
	}
	return c.do(ctx, http.MethodPut, path, nil, body, nil)
}

// Presence reads a user's presence.
func (c *Client) Presence(ctx context.Context, user matrix.UserID) (Presence, error) {
	var p Presence
	err := c.do(ctx, http.MethodGet, "/_matrix/client/v3/presence/"+url.PathEscape(string(user))+"/status", nil, nil, &p)
	return p, err
}

// ResolveAlias resolves a room alias (GET /directory/room/{alias}).
func (c *Client) ResolveAlias(ctx context.Context, alias matrix.RoomAlias) (matrix.RoomID, error) {
	var resp struct {
		RoomID matrix.RoomID `json:"room_id"`
	}
	path := "/_matrix/client/v3/directory/room/" + url.PathEscape(string(alias))
	if err := c.do(ctx, http.MethodGet, path, nil, nil, &resp); err != nil {
		return "", err
	}
	return resp.RoomID, nil
}

// JoinedMembers returns the users joined to a room.
func (c *Client) JoinedMembers(ctx context.Context, room matrix.RoomID) ([]matrix.UserID, error) {
	var resp struct {
		Joined map[matrix.UserID]json.RawMessage `json:"joined"`
	}
	path := "/_matrix/client/v3/rooms/" + url.PathEscape(string(room)) + "/joined_members"
	if err := c.do(ctx, http.MethodGet, path, nil, nil, &resp); err != nil {
		return nil, err
	}
	users := make([]matrix.UserID, 0, len(resp.Joined))
	for u := range resp.Joined {
		users = append(users, u)
	}
	return users, nil
}

// Messages is a page of GET /rooms/{roomId}/messages.
type Messages struct {
	Chunk []matrix.Event `json:"chunk"`
	Start string         `json:"start"`
	End   string         `json:"end"`
}

// Messages fetches up to limit events of a room's timeline, newest first
// (dir "b") or oldest first (dir "f"), starting at from ("" = the live end
// for "b", the room's start for "f").
func (c *Client) Messages(ctx context.Context, room matrix.RoomID, dir, from string, limit int) (*Messages, error) {
	q := url.Values{"dir": {dir}, "limit": {strconv.Itoa(limit)}}
	if from != "" {
		q.Set("from", from)
	}
	var m Messages
	path := "/_matrix/client/v3/rooms/" + url.PathEscape(string(room)) + "/messages"
	if err := c.do(ctx, http.MethodGet, path, q, nil, &m); err != nil {
		return nil, err
	}
	for i := range m.Chunk {
		if m.Chunk[i].RoomID == "" {
			m.Chunk[i].RoomID = room
		}
	}
	return &m, nil
}

// do sends a JSON request and decodes a JSON answer into out (if not nil).
func (c *Client) do(ctx context.Context, method, path string, q url.Values, body, out any) error {
	status, raw, err := c.roundTrip(ctx, method, path, q, body)
	if err != nil {
		return err
	}
	return decodeAnswer(method, path, status, raw, out)
}

func (c *Client) roundTrip(ctx context.Context, method, path string, q url.Values, body any) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, nil, fmt.Errorf("%s %s: encode body: %w", method, path, err)
		}
		rd = bytes.NewReader(b)
	}
	u := c.HomeserverURL + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return 0, nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.AccessToken != "" {
		req.Header.Set("Authorization", "Bearer "+c.AccessToken)
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, nil, fmt.Errorf("%s %s: read answer: %w", method, path, err)
	}
	return resp.StatusCode, raw, nil
}

func decodeAnswer(method, path string, status int, raw []byte, out any) error {
	if status < 200 || status > 299 {
		e := &Error{Method: method, Path: path, StatusCode: status}
		if json.Unmarshal(raw, e) != nil || e.ErrCode == "" {
			e.ErrCode, e.Message = "(none)", string(raw)
		}
		return e
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("%s %s: decode answer: %w", method, path, err)
	}
	return nil
}

// ErrCode returns the Matrix errcode of err ("" when err is not an [*Error]).
func ErrCode(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.ErrCode
	}
	return ""
}
