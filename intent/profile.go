package intent

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/causewaybridge/causeway/matrix"
)

// SetDisplayname sets the user's global display name. Setting the name the
// cache already knows does no request.
func (i *Intent) SetDisplayname(ctx context.Context, name string) error {
	if pr, ok := i.c.state.profiles.get(i.user); ok && pr.hasName && pr.displayname == name {
		return nil
	}
	if err := i.setProfileField(ctx, "displayname", name); err != nil {
		return err
	}
	pr, _ := i.c.state.profiles.get(i.user)
	pr.displayname, pr.hasName = name, true
	i.c.state.profiles.put(i.user, pr)
	return nil
}

// SetAvatarURL sets the user's global avatar (an mxc:// URI). Setting the
// avatar the cache already knows does no request.
func (i *Intent) SetAvatarURL(ctx context.Context, mxc string) error {
	if pr, ok := i.c.state.profiles.get(i.user); ok && pr.hasAvatar && pr.avatarURL == mxc {
		return nil
	}
	if err := i.setProfileField(ctx, "avatar_url", mxc); err != nil {
		return err
	}
	pr, _ := i.c.state.profiles.get(i.user)
	pr.avatarURL, pr.hasAvatar = mxc, true
	i.c.state.profiles.put(i.user, pr)
	return nil
}

func (i *Intent) setProfileField(ctx context.Context, field, value string) error {
	if err := i.EnsureRegistered(ctx); err != nil {
		return err
	}
	err := i.do(ctx, request{
		method: http.MethodPut,
		path:   p(clientV3+"/profile", string(i.user), field),
		query:  tsQuery(nil, i.ts),
		body:   map[string]string{field: value},
	})
	if err != nil {
		return fmt.Errorf("set %s of %s: %w", field, i.user, err)
	}
	return nil
}

// Presence states.
const (
	PresenceOnline      = "online"
	PresenceOffline     = "offline"
	PresenceUnavailable = "unavailable"
)

// SetPresence sets the user's presence (online, offline, unavailable) and
// optional status message.
func (i *Intent) SetPresence(ctx context.Context, presence, statusMsg string) error {
	if err := i.EnsureRegistered(ctx); err != nil {
		return err
	}
	body := map[string]string{"presence": presence}
	if statusMsg != "" {
		body["status_msg"] = statusMsg
	}
	err := i.do(ctx, request{method: http.MethodPut, path: p(clientV3+"/presence", string(i.user), "status"), body: body})
	if err != nil {
		return fmt.Errorf("set presence of %s: %w", i.user, err)
	}
	return nil
}

// SetTyping starts (typing true, for timeout) or stops the user's typing
// notification in room.
func (i *Intent) SetTyping(ctx context.Context, room matrix.RoomID, typing bool, timeout time.Duration) error {
	body := map[string]any{"typing": typing}
	if typing {
		body["timeout"] = timeout.Milliseconds()
	}
	err := i.do(ctx, request{method: http.MethodPut, path: p(clientV3+"/rooms", string(room), "typing", string(i.user)), body: body})
	if err != nil {
		return fmt.Errorf("set typing of %s in %s: %w", i.user, room, err)
	}
	return nil
}

// Receipt types for SendReceipt.
const (
	ReceiptRead        = "m.read"
	ReceiptReadPrivate = "m.read.private"
)

// SendReceipt marks event as read by the user (receiptType m.read or
// m.read.private; empty means m.read).
func (i *Intent) SendReceipt(ctx context.Context, room matrix.RoomID, event matrix.EventID, receiptType string) error {
	if receiptType == "" {
		receiptType = ReceiptRead
	}
	err := i.do(ctx, request{method: http.MethodPost, path: p(clientV3+"/rooms", string(room), "receipt", receiptType, string(event)), body: map[string]any{}})
	if err != nil {
		return fmt.Errorf("send receipt for %s in %s: %w", event, room, err)
	}
	return nil
}

// MuteNotifications enables the user's ".m.rule.master" push rule, so the
// homeserver computes no notification for them. Bridge users (the bot and
// puppets) read nothing; without it the homeserver evaluates push rules
// and stores an unread notification for each of them on every message in
// every portal they are in.
func (i *Intent) MuteNotifications(ctx context.Context) error {
	err := i.do(ctx, request{method: http.MethodPut,
		path: clientV3 + "/pushrules/global/override/.m.rule.master/enabled",
		body: map[string]bool{"enabled": true}})
	if err != nil {
		return fmt.Errorf("mute notifications of %s: %w", i.user, err)
	}
	return nil
}

// NotificationsMuted reports whether the user's ".m.rule.master" push rule
// is enabled (see MuteNotifications).
func (i *Intent) NotificationsMuted(ctx context.Context) (bool, error) {
	var out struct {
		Enabled bool `json:"enabled"`
	}
	err := i.do(ctx, request{method: http.MethodGet,
		path: clientV3 + "/pushrules/global/override/.m.rule.master/enabled", out: &out})
	if err != nil {
		return false, fmt.Errorf("read push rules of %s: %w", i.user, err)
	}
	return out.Enabled, nil
}

// UserPresence is a user's presence as GET /presence/{userId}/status
// answers it.
type UserPresence struct {
	// Presence is online, unavailable or offline.
	Presence  string `json:"presence"`
	StatusMsg string `json:"status_msg,omitempty"`
}

// Presence reads user's current presence as this intent's user sees it.
func (i *Intent) Presence(ctx context.Context, user matrix.UserID) (UserPresence, error) {
	var out UserPresence
	err := i.do(ctx, request{method: http.MethodGet, path: p(clientV3+"/presence", string(user), "status"), out: &out})
	if err != nil {
		return UserPresence{}, fmt.Errorf("get presence of %s: %w", user, err)
	}
	return out, nil
}

// Displayname reads user's global display name ("" when they have none).
// A user the homeserver does not know is ErrNotFound.
func (i *Intent) Displayname(ctx context.Context, user matrix.UserID) (string, error) {
	var out struct {
		Displayname string `json:"displayname"`
	}
	err := i.do(ctx, request{method: http.MethodGet, path: p(clientV3+"/profile", string(user), "displayname"), out: &out})
	if err != nil {
		return "", fmt.Errorf("get displayname of %s: %w", user, err)
	}
	return out.Displayname, nil
}

// AvatarURL reads user's global avatar, an mxc:// URI ("" when they have
// none). A user the homeserver does not know is ErrNotFound.
func (i *Intent) AvatarURL(ctx context.Context, user matrix.UserID) (string, error) {
	var out struct {
		AvatarURL string `json:"avatar_url"`
	}
	err := i.do(ctx, request{method: http.MethodGet, path: p(clientV3+"/profile", string(user), "avatar_url"), out: &out})
	if err != nil {
		return "", fmt.Errorf("get avatar of %s: %w", user, err)
	}
	return out.AvatarURL, nil
}
