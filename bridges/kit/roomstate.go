package kit

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/causewaybridge/causeway/bridges"
	"github.com/causewaybridge/causeway/intent"
	"github.com/causewaybridge/causeway/matrix"
)

const eventAvatar = "m.room.avatar"

// The room state fields the kit keeps the last sent value of.
const (
	fieldName     = "name"
	fieldTopic    = "topic"
	fieldAvatar   = "avatar"
	fieldJoinRule = "join_rule"
)

// roomStateKey is the module KV key of the last value of a room's field.
func roomStateKey(room matrix.RoomID, field string) string {
	return "kit/room/" + string(room) + "/" + field
}

// SetRoomName queues the room's new name (m.room.name, as the bridge bot)
// in the durable outbox when it differs from the last one the kit sent or
// created the room with, and reports whether it queued it. Updates of one
// room must not run concurrently (use a [RoomQueue] or the inbox's
// per-room order): the check and the send are not atomic.
func SetRoomName(ctx context.Context, host bridges.Host, room matrix.RoomID, name string) (bool, error) {
	return setRoomState(ctx, host, room, fieldName, matrix.EventName, map[string]string{"name": name}, name)
}

// SetRoomTopic is [SetRoomName] for the topic (m.room.topic).
func SetRoomTopic(ctx context.Context, host bridges.Host, room matrix.RoomID, topic string) (bool, error) {
	return setRoomState(ctx, host, room, fieldTopic, matrix.EventTopic, map[string]string{"topic": topic}, topic)
}

// SetRoomAvatar is [SetRoomName] for the avatar (m.room.avatar), an
// mxc:// URI; "" removes the avatar.
func SetRoomAvatar(ctx context.Context, host bridges.Host, room matrix.RoomID, mxc string) (bool, error) {
	content := map[string]string{}
	if mxc != "" {
		content["url"] = mxc
	}
	return setRoomState(ctx, host, room, fieldAvatar, eventAvatar, content, mxc)
}

// SetRoomJoinRule is [SetRoomName] for the join rule (m.room.join_rules:
// "public", "invite", "knock", ...), as when a remote conversation
// becomes invite-only.
func SetRoomJoinRule(ctx context.Context, host bridges.Host, room matrix.RoomID, rule string) (bool, error) {
	return setRoomState(ctx, host, room, fieldJoinRule, matrix.EventJoinRules, map[string]string{"join_rule": rule}, rule)
}

// setRoomState sends a bot state event with content unless value is the
// field's last value. The value is remembered after the op is queued: a
// crash in between sends it once more, never loses it.
func setRoomState(ctx context.Context, host bridges.Host, room matrix.RoomID, field, evType string, content any, value string) (bool, error) {
	key := roomStateKey(room, field)
	changed, err := differs(ctx, host.KV(), key, value)
	if err != nil || !changed {
		return false, err
	}
	raw, err := json.Marshal(content)
	if err != nil {
		return false, fmt.Errorf("room %s %s: %w", room, field, err)
	}
	if _, err := host.Outbox().Send(ctx, intent.Op{Kind: intent.OpState, Room: room, Type: evType, Content: raw}); err != nil {
		return false, fmt.Errorf("queue room %s %s: %w", room, field, err)
	}
	if err := host.KV().Put(ctx, key, []byte(value)); err != nil {
		return true, fmt.Errorf("remember room %s %s: %w", room, field, err)
	}
	return true, nil
}

// differs reports whether value is not the one stored under key (absent
// counts as different, even from "").
func differs(ctx context.Context, kv bridges.KV, key, value string) (bool, error) {
	old, err := kv.Get(ctx, key)
	if bridges.IsNotFound(err) {
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("read %s: %w", key, err)
	}
	return string(old) != value, nil
}
