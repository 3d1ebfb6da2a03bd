package intent

import (
	"context"
	"encoding/json"
	"maps"

	"github.com/causewaybridge/causeway/matrix"
)

// PowerLevels is the content of m.room.power_levels. Decoding fills in the
// spec defaults for absent fields, so writing a decoded value back keeps the
// room's meaning.
type PowerLevels struct {
	Users         map[matrix.UserID]int `json:"users,omitempty"`
	UsersDefault  int                   `json:"users_default"`
	Events        map[string]int        `json:"events,omitempty"`
	EventsDefault int                   `json:"events_default"`
	StateDefault  int                   `json:"state_default"`
	Ban           int                   `json:"ban"`
	Kick          int                   `json:"kick"`
	Redact        int                   `json:"redact"`
	Invite        int                   `json:"invite"`
	Notifications map[string]int        `json:"notifications,omitempty"`
}

// UnmarshalJSON decodes power levels with the spec defaults for absent keys.
func (pl *PowerLevels) UnmarshalJSON(data []byte) error {
	type plain PowerLevels
	v := plain{StateDefault: 50, Ban: 50, Kick: 50, Redact: 50}
	if err := json.Unmarshal(data, &v); err != nil {
		return err
	}
	*pl = PowerLevels(v)
	return nil
}

// UserLevel returns the power level of u.
func (pl *PowerLevels) UserLevel(u matrix.UserID) int {
	if l, ok := pl.Users[u]; ok {
		return l
	}
	return pl.UsersDefault
}

// clone returns a deep copy, so cached values are never modified by callers.
func (pl *PowerLevels) clone() *PowerLevels {
	cp := *pl
	cp.Users = maps.Clone(pl.Users)
	cp.Events = maps.Clone(pl.Events)
	cp.Notifications = maps.Clone(pl.Notifications)
	return &cp
}

// PowerLevels returns the power levels of room, from the cache when known
// (the cache follows SetPowerLevels and events passed to ObserveEvent).
// The result is a copy the caller may modify.
func (i *Intent) PowerLevels(ctx context.Context, room matrix.RoomID) (*PowerLevels, error) {
	if pl, ok := i.c.state.powerLevels.get(room); ok {
		return pl.clone(), nil
	}
	var pl PowerLevels
	if err := i.StateEventContent(ctx, room, matrix.EventPowerLevels, "", &pl); err != nil {
		return nil, err
	}
	i.c.state.powerLevels.put(room, pl.clone())
	return &pl, nil
}

// SetPowerLevels replaces the power levels of room.
func (i *Intent) SetPowerLevels(ctx context.Context, room matrix.RoomID, pl *PowerLevels) error {
	_, err := i.SendState(ctx, room, matrix.EventPowerLevels, "", pl, i.ts)
	return err
}

// SetUserPowerLevel sets the level of user in room, doing nothing when it
// already has that level.
func (i *Intent) SetUserPowerLevel(ctx context.Context, room matrix.RoomID, user matrix.UserID, level int) error {
	pl, err := i.PowerLevels(ctx, room)
	if err != nil {
		return err
	}
	if pl.UserLevel(user) == level {
		return nil
	}
	if pl.Users == nil {
		pl.Users = map[matrix.UserID]int{}
	}
	if level == pl.UsersDefault {
		delete(pl.Users, user)
	} else {
		pl.Users[user] = level
	}
	return i.SetPowerLevels(ctx, room, pl)
}
