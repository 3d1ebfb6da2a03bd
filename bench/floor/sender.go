package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// sender talks to the homeserver's client-server API as the appservice,
// over one keep-alive connection.
type sender struct {
	base, token, user string
	client            *http.Client
	retries           atomic.Int64 // PUTs sent again after a timeout or error
}

func newSender(base, token, user string) *sender {
	return &sender{base: base, token: token, user: user, client: &http.Client{}}
}

// do makes one request as the appservice user and decodes a JSON answer
// into out (if not nil). The body is read to its end so the connection is
// reused.
func (s *sender) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, s.base+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+s.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, b)
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(b, out)
}

// setUp registers the sending user (an error saying it exists is fine)
// and creates the public room it sends into.
func (s *sender) setUp(ctx context.Context, localpart string) (string, error) {
	reg := map[string]any{"type": "m.login.application_service", "username": localpart}
	if err := s.do(ctx, http.MethodPost, "/_matrix/client/v3/register", reg, nil); err != nil && !strings.Contains(err.Error(), "M_USER_IN_USE") {
		return "", fmt.Errorf("register %s: %w", localpart, err)
	}
	var room struct {
		RoomID string `json:"room_id"`
	}
	create := map[string]any{"preset": "public_chat"}
	if err := s.do(ctx, http.MethodPost, "/_matrix/client/v3/createRoom?user_id="+url.QueryEscape(s.user), create, &room); err != nil {
		return "", fmt.Errorf("create room: %w", err)
	}
	return room.RoomID, nil
}

// sendTimeout bounds one PUT. Dendrite on a busy machine has been seen
// to leave a send unanswered for minutes; the bridge's client gives up on
// a request after a timeout too and sends it again with the same
// transaction ID, which the homeserver deduplicates.
const sendTimeout = 20 * time.Second

// sendTries is how many times send tries one message.
const sendTries = 5

// send PUTs message seq as an m.text event and returns its event ID.
func (s *sender) send(room string, seq int64, body string) (string, error) {
	path := "/_matrix/client/v3/rooms/" + url.PathEscape(room) + "/send/m.room.message/floor-" +
		strconv.FormatInt(seq, 10) + "?user_id=" + url.QueryEscape(s.user)
	var out struct {
		EventID string `json:"event_id"`
	}
	var err error
	for try := 0; try < sendTries; try++ {
		if try > 0 {
			s.retries.Add(1)
		}
		ctx, cancel := context.WithTimeout(context.Background(), sendTimeout)
		err = s.do(ctx, http.MethodPut, path, map[string]string{"msgtype": "m.text", "body": body}, &out)
		cancel()
		if err == nil {
			break
		}
	}
	return out.EventID, err
}
