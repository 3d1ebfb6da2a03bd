package matrix

import (
	"encoding/json"
	"strings"
)

// UserID is a Matrix user ID such as "@alice:example.org".
type UserID string

// RoomID is a Matrix room ID such as "!abc:example.org".
type RoomID string

// EventID is a Matrix event ID such as "$xyz".
type EventID string

// RoomAlias is a Matrix room alias such as "#room:example.org".
type RoomAlias string

// Localpart returns the part of the ID between the sigil and the first colon.
func (u UserID) Localpart() string { l, _ := splitID(string(u)); return l }

// Server returns the server name part of the ID (after the first colon).
func (u UserID) Server() string { _, s := splitID(string(u)); return s }

// Valid reports whether u has the shape "@localpart:server".
func (u UserID) Valid() bool {
	l, s := splitID(string(u))
	return strings.HasPrefix(string(u), "@") && l != "" && s != ""
}

// Localpart returns the part of the alias between the sigil and the first colon.
func (a RoomAlias) Localpart() string { l, _ := splitID(string(a)); return l }

// Server returns the server name part of the alias.
func (a RoomAlias) Server() string { _, s := splitID(string(a)); return s }

// Valid reports whether a has the shape "#localpart:server".
func (a RoomAlias) Valid() bool {
	l, s := splitID(string(a))
	return strings.HasPrefix(string(a), "#") && l != "" && s != ""
}

func splitID(id string) (local, server string) {
	if len(id) < 2 {
		return "", ""
	}
	rest := id[1:]
	i := strings.IndexByte(rest, ':')
	if i < 0 {
		return rest, ""
	}
	return rest[:i], rest[i+1:]
}

// Event is a Matrix event as delivered in an appservice transaction or a
// /sync response. Content is kept raw so that modules decode only what they
// need and unknown fields survive a round trip through the store.
type Event struct {
	ID             EventID         `json:"event_id,omitempty"`
	Type           string          `json:"type"`
	RoomID         RoomID          `json:"room_id,omitempty"`
	Sender         UserID          `json:"sender,omitempty"`
	StateKey       *string         `json:"state_key,omitempty"`
	Content        json.RawMessage `json:"content,omitempty"`
	OriginServerTS int64           `json:"origin_server_ts,omitempty"`
	Unsigned       json.RawMessage `json:"unsigned,omitempty"`
	Redacts        EventID         `json:"redacts,omitempty"`
}

// IsState reports whether the event is a state event.
func (e *Event) IsState() bool { return e.StateKey != nil }

// Common event types used across Causeway.
const (
	EventMessage     = "m.room.message"
	EventMember      = "m.room.member"
	EventReaction    = "m.reaction"
	EventRedaction   = "m.room.redaction"
	EventTopic       = "m.room.topic"
	EventName        = "m.room.name"
	EventPowerLevels = "m.room.power_levels"
	EventJoinRules   = "m.room.join_rules"
	EventTombstone   = "m.room.tombstone"
	EventBridge      = "m.bridge"
	EventTyping      = "m.typing"
	EventReceipt     = "m.receipt"
	EventPresence    = "m.presence"
)

// MemberContent is the content of an m.room.member event.
type MemberContent struct {
	Membership  string `json:"membership"`
	Displayname string `json:"displayname,omitempty"`
	AvatarURL   string `json:"avatar_url,omitempty"`
	Reason      string `json:"reason,omitempty"`
	IsDirect    bool   `json:"is_direct,omitempty"`
}

// RelatesTo is the m.relates_to block of message and reaction content.
type RelatesTo struct {
	RelType   string   `json:"rel_type,omitempty"`
	EventID   EventID  `json:"event_id,omitempty"`
	Key       string   `json:"key,omitempty"`
	InReplyTo *InReply `json:"m.in_reply_to,omitempty"`
}

// InReply names the event a message replies to.
type InReply struct {
	EventID EventID `json:"event_id"`
}

// MessageContent is the content of an m.room.message event (the subset
// Causeway reads and writes).
type MessageContent struct {
	MsgType       string          `json:"msgtype"`
	Body          string          `json:"body"`
	Format        string          `json:"format,omitempty"`
	FormattedBody string          `json:"formatted_body,omitempty"`
	URL           string          `json:"url,omitempty"`
	FileName      string          `json:"filename,omitempty"` // a file's name when Body is its caption (MSC2530)
	Info          json.RawMessage `json:"info,omitempty"`
	RelatesTo     *RelatesTo      `json:"m.relates_to,omitempty"`
	NewContent    *MessageContent `json:"m.new_content,omitempty"`
	Mentions      *Mentions       `json:"m.mentions,omitempty"`
}

// Mentions is the m.mentions block of message content.
type Mentions struct {
	UserIDs []UserID `json:"user_ids,omitempty"`
	Room    bool     `json:"room,omitempty"`
}

// Message types.
const (
	MsgText   = "m.text"
	MsgNotice = "m.notice"
	MsgEmote  = "m.emote"
	MsgImage  = "m.image"
	MsgFile   = "m.file"
	MsgVideo  = "m.video"
	MsgAudio  = "m.audio"
)
