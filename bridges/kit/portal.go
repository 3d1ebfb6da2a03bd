package kit

import (
	"context"
	"fmt"

	"github.com/causewaybridge/causeway/bridges"
	"github.com/causewaybridge/causeway/intent"
	"github.com/causewaybridge/causeway/matrix"
)

// Access is who may find and join a portal room, as the remote side says.
type Access int

const (
	// Public rooms are joinable by anyone and listed in the room
	// directories (preset public_chat).
	Public Access = iota
	// Unpublished rooms are joinable by anyone who knows them but not
	// listed (an IRC channel with mode +s).
	Unpublished
	// InviteOnly rooms need an invite (preset private_chat) and are not
	// listed (an IRC channel with mode +i or +k).
	InviteOnly
)

// String names the access level.
func (a Access) String() string {
	switch a {
	case Public:
		return "public"
	case Unpublished:
		return "unpublished"
	case InviteOnly:
		return "invite-only"
	}
	return fmt.Sprintf("Access(%d)", int(a))
}

// preset is the createRoom preset of the access level.
func (a Access) preset() string {
	if a == InviteOnly {
		return "private_chat"
	}
	return "public_chat"
}

// RoomSpec describes the portal room [CreatePortalRoom] makes for a
// remote conversation.
type RoomSpec struct {
	// Key is the portal's key in the module's portal table.
	Key bridges.PortalKey
	// Name, Topic and AvatarURL (an mxc:// URI) are the room's initial
	// state; empty ones are not set.
	Name      string
	Topic     string
	AvatarURL string
	// AliasLocalpart is the localpart of the room's alias ("loop_lobby"
	// for #loop_lobby:server); empty for no alias.
	AliasLocalpart string
	// Access sets the join rule and the directory visibility.
	Access Access
	// Preset, when set, is the createRoom preset instead of the one Access
	// implies ("trusted_private_chat" for a direct chat with a puppet).
	Preset string
	// Creator creates the room instead of the bridge bot: a puppet that
	// opens a direct chat with a Matrix user (the bot is then not in the
	// room). It is registered first if needed.
	Creator matrix.UserID
	// Protocol, Network and Channel are the MSC2346 bridge info sections
	// (m.bridge): the module ("irc", "IRC"), the remote network if the
	// module bridges several (nil otherwise), and the conversation. The
	// bridge bot is filled in.
	Protocol intent.BridgeInfoSection
	Network  *intent.BridgeInfoSection
	Channel  intent.BridgeInfoSection
	// Invite lists Matrix users invited on creation; IsDirect marks the
	// room a direct chat for them.
	Invite   []matrix.UserID
	IsDirect bool
	// Meta is the module's metadata of the portal, stored as its
	// Portal.Meta (JSON; nil for none). Read it back with
	// bridges.PortalMeta.
	Meta any
}

// BridgeInfo returns the MSC2346 bridge info of the room spec describes,
// with bot as the bridge bot.
func (spec *RoomSpec) BridgeInfo(bot matrix.UserID) *intent.BridgeInfo {
	return &intent.BridgeInfo{BridgeBot: bot, Protocol: spec.Protocol, Network: spec.Network, Channel: spec.Channel}
}

// directoryNetwork is the network ID under which the appservice lists
// the room: the network's, or the protocol's for single-network modules.
func (spec *RoomSpec) directoryNetwork() string {
	if spec.Network != nil && spec.Network.ID != "" {
		return spec.Network.ID
	}
	return spec.Protocol.ID
}

// CreatePortalRoom creates the portal room spec describes as the bridge
// bot and stores the portal in the module's portal table
// (host.Portals().Put), returning it. A public room is also published in
// the appservice's per-network room directory; a homeserver that refuses
// that (not every one implements it) is logged at debug level, not an
// error.
//
// The room's name, topic and avatar are remembered as the last values
// sent, so that [SetRoomName] and friends send only changes. The caller
// makes sure that the portal does not exist yet (host.Portals().ByKey) and
// that two creations for one key do not race, for instance by creating
// portals from one [RoomQueue] lane or under the module's own lock.
func CreatePortalRoom(ctx context.Context, host bridges.Host, spec RoomSpec) (*bridges.Portal, error) {
	if spec.Key.ID == "" {
		return nil, fmt.Errorf("create portal room: empty portal key")
	}
	p := &bridges.Portal{Key: spec.Key}
	if spec.Meta != nil {
		if err := bridges.SetPortalMeta(p, spec.Meta); err != nil {
			return nil, fmt.Errorf("create portal room %s: %w", spec.Key, err)
		}
	}
	bot := host.Matrix().Bot()
	creator := bot
	if spec.Creator != "" {
		creator = host.Matrix().Intent(spec.Creator)
		if err := creator.EnsureRegistered(ctx); err != nil {
			return nil, fmt.Errorf("create portal room %s: register %s: %w", spec.Key, spec.Creator, err)
		}
	}
	preset := spec.Access.preset()
	if spec.Preset != "" {
		preset = spec.Preset
	}
	req := &intent.CreateRoomRequest{
		RoomAliasName: spec.AliasLocalpart,
		Name:          spec.Name,
		Topic:         spec.Topic,
		Preset:        preset,
		Visibility:    "private",
		Invite:        spec.Invite,
		IsDirect:      spec.IsDirect,
		BridgeInfo:    spec.BridgeInfo(bot.UserID()),
	}
	if spec.Access == Public {
		req.Visibility = "public"
	}
	if spec.AvatarURL != "" {
		req.InitialState = append(req.InitialState, intent.StateEvent{Type: eventAvatar, Content: map[string]string{"url": spec.AvatarURL}})
	}
	room, err := creator.CreateRoom(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("create portal room %s: %w", spec.Key, err)
	}
	p.Room = room
	if err := host.Portals().Put(ctx, p); err != nil {
		return nil, fmt.Errorf("store portal %s (room %s): %w", spec.Key, room, err)
	}
	log := host.Logger().With("portal", spec.Key.String(), "room_id", room)
	for _, f := range []struct{ field, value string }{{fieldName, spec.Name}, {fieldTopic, spec.Topic}, {fieldAvatar, spec.AvatarURL}} {
		if f.value == "" {
			continue
		}
		if err := host.KV().Put(ctx, roomStateKey(room, f.field), []byte(f.value)); err != nil {
			// The room is made and stored: a later update sends the value once more.
			log.Warn("could not remember a portal room's state", "field", f.field, "err", err)
		}
	}
	if spec.Access == Public {
		if err := bot.SetAppserviceRoomDirectory(ctx, spec.directoryNetwork(), room, "public"); err != nil {
			log.Debug("per-network room directory not updated", "err", err)
		}
	}
	log.Info("created portal room", "alias", spec.AliasLocalpart, "access", spec.Access.String())
	return p, nil
}
