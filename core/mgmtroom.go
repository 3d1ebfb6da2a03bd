package core

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"

	"github.com/causewaybridge/causeway/intent"
	"github.com/causewaybridge/causeway/matrix"
	"github.com/causewaybridge/causeway/store"
)

// coreKV is the module name of the core's own keys in the store's
// key-value table (no module has that ID).
const coreKV = "core"

// mgmtRoomPrefix starts the key of a user's management room in coreKV.
const mgmtRoomPrefix = "mgmtroom:"

// defaultMgmtRoomName names a new management room when the bot has no
// display name in the configuration.
const defaultMgmtRoomName = "Causeway bridge"

// legacyMgmtRooms are the keys under which modules kept their own admin
// rooms before the core owned one per user: at start they become the
// core's management room of a user who has none, and are deleted.
var legacyMgmtRooms = []struct{ module, prefix string }{
	{module: "irc", prefix: "adminroom:"}, // bridges/irc before issue 9
}

// mgmtKV is what management rooms need from the store.
type mgmtKV interface {
	GetKV(ctx context.Context, module, key string) ([]byte, error)
	PutKV(ctx context.Context, module, key string, value []byte) error
	KVWithPrefix(ctx context.Context, module, prefix string) ([]store.KV, error)
	DeleteKV(ctx context.Context, module, key string) error
}

// mgmtActions is what management rooms need to act as the bot.
type mgmtActions interface {
	// JoinedMembers returns the users joined to a room.
	JoinedMembers(ctx context.Context, room matrix.RoomID) (map[matrix.UserID]intent.Member, error)
	// CreateDM creates a direct chat of the bot with user, named name.
	CreateDM(ctx context.Context, user matrix.UserID, name string) (matrix.RoomID, error)
	// QueueNotice queues a notice from the bot in room (durably).
	QueueNotice(ctx context.Context, room matrix.RoomID, text string) error
}

// mgmtRooms keeps one management room per Matrix user: the direct chat
// with the bot where commands run and where every module tells the user
// things (bridges.Host.TellUser).
type mgmtRooms struct {
	kv   mgmtKV
	act  mgmtActions
	bot  matrix.UserID
	name string
	log  *slog.Logger
	mu   sync.Mutex // one room creation at a time, so a user never gets two
}

// newMgmtRooms returns the management rooms kept in kv; a new room is
// named name (the bot's display name), or defaultMgmtRoomName.
func newMgmtRooms(kv mgmtKV, act mgmtActions, bot matrix.UserID, name string, log *slog.Logger) *mgmtRooms {
	if name == "" {
		name = defaultMgmtRoomName
	}
	return &mgmtRooms{kv: kv, act: act, bot: bot, name: name, log: log}
}

func mgmtKey(user matrix.UserID) string { return mgmtRoomPrefix + string(user) }

// room returns user's management room, creating it when they have none.
func (m *mgmtRooms) room(ctx context.Context, user matrix.UserID) (matrix.RoomID, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	raw, err := m.kv.GetKV(ctx, coreKV, mgmtKey(user))
	if err == nil && len(raw) > 0 {
		return matrix.RoomID(raw), nil
	}
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return "", err
	}
	room, err := m.act.CreateDM(ctx, user, m.name)
	if err != nil {
		return "", fmt.Errorf("create a management room for %s: %w", user, err)
	}
	if err := m.kv.PutKV(ctx, coreKV, mgmtKey(user), []byte(room)); err != nil {
		return "", err
	}
	m.log.Info("created a management room", "user", user, "room_id", room)
	return room, nil
}

// tell sends text to user's management room as a notice from the bot.
func (m *mgmtRooms) tell(ctx context.Context, user matrix.UserID, text string) error {
	room, err := m.room(ctx, user)
	if err != nil {
		return err
	}
	return m.act.QueueNotice(ctx, room, text)
}

// remember makes room user's management room when it is a direct chat
// between them and the bot (a command was run there).
func (m *mgmtRooms) remember(ctx context.Context, user matrix.UserID, room matrix.RoomID) {
	if raw, err := m.kv.GetKV(ctx, coreKV, mgmtKey(user)); err == nil && matrix.RoomID(raw) == room {
		return
	}
	members, err := m.act.JoinedMembers(ctx, room)
	if err != nil {
		m.log.Info("could not check whether a command's room is a direct chat", "room_id", room, "err", err)
		return
	}
	_, hasUser := members[user]
	_, hasBot := members[m.bot]
	if len(members) != 2 || !hasUser || !hasBot {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.kv.PutKV(ctx, coreKV, mgmtKey(user), []byte(room)); err != nil {
		m.log.Warn("could not remember a management room", "user", user, "room_id", room, "err", err)
	}
}

// migrate adopts the admin rooms modules kept before the core owned
// management rooms (legacyMgmtRooms): each becomes the user's management
// room unless they have one already, and the module's key is deleted.
func (m *mgmtRooms) migrate(ctx context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, l := range legacyMgmtRooms {
		kvs, err := m.kv.KVWithPrefix(ctx, l.module, l.prefix)
		if err != nil {
			return fmt.Errorf("migrate %s admin rooms: %w", l.module, err)
		}
		adopted := 0
		for _, kv := range kvs {
			user := matrix.UserID(strings.TrimPrefix(kv.Key, l.prefix))
			_, err := m.kv.GetKV(ctx, coreKV, mgmtKey(user))
			switch {
			case errors.Is(err, store.ErrNotFound) && len(kv.Value) > 0:
				if err := m.kv.PutKV(ctx, coreKV, mgmtKey(user), kv.Value); err != nil {
					return fmt.Errorf("migrate %s admin rooms: %w", l.module, err)
				}
				adopted++
			case err != nil && !errors.Is(err, store.ErrNotFound):
				return fmt.Errorf("migrate %s admin rooms: %w", l.module, err)
			}
			if err := m.kv.DeleteKV(ctx, l.module, kv.Key); err != nil {
				return fmt.Errorf("migrate %s admin rooms: %w", l.module, err)
			}
		}
		if len(kvs) > 0 {
			m.log.Info("moved admin rooms to the core's management rooms", "module", l.module, "rooms", len(kvs), "adopted", adopted)
		}
	}
	return nil
}

// mgmtActor implements mgmtActions with the intent client and the outbox.
type mgmtActor struct {
	c  *intent.Client
	ob *intent.Outbox
}

func (a mgmtActor) JoinedMembers(ctx context.Context, room matrix.RoomID) (map[matrix.UserID]intent.Member, error) {
	return a.c.Bot().JoinedMembers(ctx, room)
}

func (a mgmtActor) CreateDM(ctx context.Context, user matrix.UserID, name string) (matrix.RoomID, error) {
	return a.c.Bot().CreateRoom(ctx, &intent.CreateRoomRequest{Preset: "trusted_private_chat",
		IsDirect: true, Invite: []matrix.UserID{user}, Name: name})
}

func (a mgmtActor) QueueNotice(ctx context.Context, room matrix.RoomID, text string) error {
	raw, err := json.Marshal(matrix.MessageContent{MsgType: matrix.MsgNotice, Body: text})
	if err != nil {
		return err
	}
	_, err = a.ob.Send(ctx, intent.Op{Kind: intent.OpMessage, Room: room, Type: matrix.EventMessage, Content: raw, Module: coreKV})
	return err
}

// TellUser implements bridges.Host: text goes to user's management room.
func (h *host) TellUser(ctx context.Context, user matrix.UserID, text string) error {
	return h.b.rooms.tell(ctx, user, text)
}
