// Package loopback is a complete, minimal Causeway bridge module whose
// "remote network" lives inside the bridge. It is the runnable example of the
// module contract in package bridges, the module the quick-start demo
// enables, and the module the core's integration tests drive.
//
// Behaviour:
//   - Puppets are @loop_NAME:server. Inviting one to a room makes it join,
//     and the room becomes a portal.
//   - Joining #loop_ROOM:server asks the bridge for the alias; the module
//     creates the portal room with that alias and bridge info (MSC2346).
//   - With echo on, every text message a Matrix user sends in a portal is
//     answered by a puppet with "NAME heard: TEXT", sent through the durable
//     outbox keyed by the original event ID, so a redelivered or
//     reprocessed event never produces a second echo.
//   - "!loopback-rooms" in a direct chat with the bot lists the portals.
//
// A module is written by implementing [bridges.Module]; capabilities such as
// alias queries are separate interfaces the core detects:
//
//	var _ bridges.AliasQuerier = (*Module)(nil)
package loopback

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/causewaybridge/causeway/appservice"
	"github.com/causewaybridge/causeway/bridges"
	"github.com/causewaybridge/causeway/intent"
	"github.com/causewaybridge/causeway/matrix"
	"github.com/causewaybridge/causeway/puppet"
	"github.com/causewaybridge/causeway/store"
)

// ID is the module's ID and configuration section name.
const ID = "loopback"

func init() {
	bridges.Register(Info)
}

// Info registers the module.
var Info = bridges.Info{
	ID:          ID,
	Description: "in-process example network: puppets echo what they hear",
	New:         func() bridges.Module { return New() },
}

// Config is the module's configuration section.
type Config struct {
	// UserTemplate is the puppet user ID template; {name} is the remote user.
	UserTemplate string `yaml:"user_template"`
	// AliasTemplate is the portal alias template; {room} is the remote room.
	AliasTemplate string `yaml:"alias_template"`
	// Echo makes puppets answer every message.
	Echo bool `yaml:"echo"`
}

// DefaultConfig returns the module's configuration when its section sets
// nothing: the values example-config.yaml shows. Configure decodes the
// section on top of it, so an absent key keeps its default and echo: false
// turns echo off.
func DefaultConfig() Config {
	return Config{UserTemplate: "@loop_{name}:{server}", AliasTemplate: "#loop_{room}:{server}", Echo: true}
}

// Module is the loopback bridge module.
type Module struct {
	cfg     Config
	users   *puppet.Namespace[matrix.UserID]
	aliases *puppet.Namespace[matrix.RoomAlias]
	bot     matrix.UserID

	log    *slog.Logger
	client *intent.Client
	outbox bridges.Sender
	store  *store.Store
}

// New returns an unconfigured module.
func New() *Module {
	return &Module{cfg: DefaultConfig()}
}

// Info implements bridges.Module.
func (m *Module) Info() bridges.Info { return Info }

// Configure implements bridges.Module.
func (m *Module) Configure(env bridges.Env, sec bridges.Decoder) error {
	if err := sec.Decode(&m.cfg); err != nil {
		return err
	}
	var err error
	if m.users, err = puppet.NewUsers(m.cfg.UserTemplate, env.ServerName); err != nil {
		return fmt.Errorf("user_template: %w", err)
	}
	if m.aliases, err = puppet.NewAliases(m.cfg.AliasTemplate, env.ServerName); err != nil {
		return fmt.Errorf("alias_template: %w", err)
	}
	m.bot = env.BotUserID
	return nil
}

// Namespaces implements bridges.Module.
func (m *Module) Namespaces() bridges.Namespaces {
	return bridges.Namespaces{
		UserRegexes:  []string{m.users.Regex()},
		AliasRegexes: []string{m.aliases.Regex()},
		Protocols:    []string{ID},
	}
}

// Start implements bridges.Module.
func (m *Module) Start(ctx context.Context, h bridges.Host) error {
	m.log, m.client, m.outbox, m.store = h.Logger(), h.Matrix(), h.Outbox(), h.Store()
	return nil
}

// Stop implements bridges.Module.
func (m *Module) Stop(ctx context.Context) error { return nil }

// QueryUser implements bridges.UserQuerier: every name exists on the
// loopback network.
func (m *Module) QueryUser(ctx context.Context, id matrix.UserID) (bool, error) {
	v, err := m.users.Parse(id)
	if err != nil {
		return false, nil
	}
	p := m.client.Intent(id)
	if err := p.EnsureRegistered(ctx); err != nil {
		return false, err
	}
	if err := p.SetDisplayname(ctx, v["name"]+" (loopback)"); err != nil {
		return false, err
	}
	return true, nil
}

// QueryAlias implements bridges.AliasQuerier: it creates the portal room.
func (m *Module) QueryAlias(ctx context.Context, alias matrix.RoomAlias) (bool, error) {
	v, err := m.aliases.Parse(alias)
	if err != nil {
		return false, nil
	}
	remote := "room:" + v["room"]
	if p, err := m.store.PortalByRemote(ctx, ID, remote); err == nil {
		// The room exists but lost its alias (deleted by an admin): re-add it.
		return true, m.client.Bot().CreateAlias(ctx, alias, matrix.RoomID(p.RoomID))
	} else if !errors.Is(err, store.ErrNotFound) {
		return false, err
	}
	room, err := m.client.Bot().CreateRoom(ctx, &intent.CreateRoomRequest{
		RoomAliasName: alias.Localpart(),
		Name:          v["room"] + " (loopback)",
		Topic:         "A loopback portal: puppets here echo what they hear.",
		Preset:        "public_chat",
		BridgeInfo: &intent.BridgeInfo{
			BridgeBot: m.bot,
			Protocol:  intent.BridgeInfoSection{ID: ID, DisplayName: "Loopback"},
			Channel:   intent.BridgeInfoSection{ID: v["room"], DisplayName: v["room"]},
		},
	})
	if err != nil {
		return false, fmt.Errorf("create portal for %s: %w", alias, err)
	}
	if err := m.store.PutPortal(ctx, store.Portal{Module: ID, RemoteID: remote, RoomID: string(room)}); err != nil {
		return false, err
	}
	m.log.Info("created portal", "alias", alias, "room_id", room)
	return true, nil
}

// HandleMatrixEvent implements bridges.Module.
func (m *Module) HandleMatrixEvent(ctx context.Context, evt *matrix.Event) error {
	switch evt.Type {
	case matrix.EventMember:
		return m.handleMember(ctx, evt)
	case matrix.EventMessage:
		return m.handleMessage(ctx, evt)
	}
	return nil
}

func (m *Module) handleMember(ctx context.Context, evt *matrix.Event) error {
	var c matrix.MemberContent
	if err := json.Unmarshal(evt.Content, &c); err != nil || evt.StateKey == nil {
		return nil
	}
	target := matrix.UserID(*evt.StateKey)
	if c.Membership != "invite" || !m.users.Owns(target) {
		return nil
	}
	p := m.client.Intent(target)
	if err := p.EnsureRegistered(ctx); err != nil {
		return err
	}
	if _, err := p.JoinRoom(ctx, string(evt.RoomID)); err != nil {
		return fmt.Errorf("%s join %s: %w", target, evt.RoomID, err)
	}
	if _, err := m.store.PortalByRoom(ctx, string(evt.RoomID)); !errors.Is(err, store.ErrNotFound) {
		return err // nil: already a portal
	}
	meta, _ := json.Marshal(portalMeta{Puppet: target})
	return m.store.PutPortal(ctx, store.Portal{Module: ID, RemoteID: "room:" + string(evt.RoomID), RoomID: string(evt.RoomID), Meta: meta})
}

func (m *Module) handleMessage(ctx context.Context, evt *matrix.Event) error {
	var c matrix.MessageContent
	if err := json.Unmarshal(evt.Content, &c); err != nil || !m.cfg.Echo {
		return nil
	}
	if c.MsgType != matrix.MsgText && c.MsgType != matrix.MsgNotice && c.MsgType != matrix.MsgEmote {
		return nil
	}
	speaker, err := m.speaker(ctx, evt.RoomID)
	if err != nil || speaker == "" {
		return err
	}
	v, _ := m.users.Parse(speaker)
	reply := matrix.MessageContent{MsgType: matrix.MsgNotice, Body: v["name"] + " heard: " + c.Body}
	return m.send(ctx, speaker, evt.RoomID, string(evt.ID), reply)
}

// portalMeta is what the module keeps in store.Portal.Meta.
type portalMeta struct {
	// Puppet answers in the portal.
	Puppet matrix.UserID `json:"puppet"`
}

// speaker returns the puppet that answers in room: the invited puppet of
// rooms made portals by an invite, the "echo" puppet otherwise.
func (m *Module) speaker(ctx context.Context, room matrix.RoomID) (matrix.UserID, error) {
	p, err := m.store.PortalByRoom(ctx, string(room))
	if err != nil {
		return "", err
	}
	var meta portalMeta
	if len(p.Meta) > 0 && json.Unmarshal(p.Meta, &meta) == nil && meta.Puppet != "" {
		return meta.Puppet, nil
	}
	return m.users.Format(puppet.Values{"name": "echo"})
}

// HandleMatrixTyping implements bridges.TypingHandler: the portal's puppet
// mirrors whether Matrix users are typing, which shows the ephemeral path
// (pushed by the homeserver or fetched by the bot's /sync) end to end.
func (m *Module) HandleMatrixTyping(ctx context.Context, t *bridges.Typing) {
	speaker, err := m.speaker(ctx, t.RoomID)
	if err != nil || speaker == "" {
		return
	}
	typing := len(t.UserIDs) > 0
	if err := m.client.Intent(speaker).SetTyping(ctx, t.RoomID, typing, 10*time.Second); err != nil {
		m.log.Debug("mirroring typing failed", "room_id", t.RoomID, "err", err)
	}
}

// ThirdPartyProtocol implements bridges.ThirdPartyProvider.
func (m *Module) ThirdPartyProtocol(ctx context.Context, protocol string) (*appservice.Protocol, error) {
	return &appservice.Protocol{
		UserFields:     []string{"name"},
		LocationFields: []string{"room"},
		FieldTypes: map[string]appservice.FieldType{
			"name": {Regexp: ".+", Placeholder: "alice"},
			"room": {Regexp: ".+", Placeholder: "lobby"},
		},
		Instances: []appservice.ProtocolInstance{{Desc: "Loopback", NetworkID: "loopback", Fields: map[string]string{}}},
	}, nil
}

// ThirdPartyLocations implements bridges.ThirdPartyProvider: every room
// name exists; its alias is the portal's.
func (m *Module) ThirdPartyLocations(ctx context.Context, protocol string, fields map[string]string) ([]appservice.Location, error) {
	if fields["room"] == "" {
		return nil, nil
	}
	alias, err := m.aliases.Format(puppet.Values{"room": fields["room"]})
	if err != nil {
		return nil, nil
	}
	return []appservice.Location{{Alias: alias, Protocol: ID, Fields: map[string]string{"room": fields["room"]}}}, nil
}

// ThirdPartyUsers implements bridges.ThirdPartyProvider.
func (m *Module) ThirdPartyUsers(ctx context.Context, protocol string, fields map[string]string) ([]appservice.ThirdPartyUser, error) {
	if fields["name"] == "" {
		return nil, nil
	}
	id, err := m.users.Format(puppet.Values{"name": fields["name"]})
	if err != nil {
		return nil, nil
	}
	return []appservice.ThirdPartyUser{{UserID: id, Protocol: ID, Fields: map[string]string{"name": fields["name"]}}}, nil
}

// ThirdPartyLocationsByAlias implements bridges.ThirdPartyProvider.
func (m *Module) ThirdPartyLocationsByAlias(ctx context.Context, alias matrix.RoomAlias) ([]appservice.Location, error) {
	v, err := m.aliases.Parse(alias)
	if err != nil {
		return nil, nil
	}
	return []appservice.Location{{Alias: alias, Protocol: ID, Fields: map[string]string{"room": v["room"]}}}, nil
}

// ThirdPartyUsersByID implements bridges.ThirdPartyProvider.
func (m *Module) ThirdPartyUsersByID(ctx context.Context, id matrix.UserID) ([]appservice.ThirdPartyUser, error) {
	v, err := m.users.Parse(id)
	if err != nil {
		return nil, nil
	}
	return []appservice.ThirdPartyUser{{UserID: id, Protocol: ID, Fields: map[string]string{"name": v["name"]}}}, nil
}

var (
	_ bridges.ThirdPartyProvider = (*Module)(nil)
	_ bridges.Module             = (*Module)(nil)
	_ bridges.TypingHandler      = (*Module)(nil)
	_ bridges.UserQuerier        = (*Module)(nil)
	_ bridges.AliasQuerier       = (*Module)(nil)
)

// send queues a puppet message in the durable outbox. key makes the send
// idempotent: processing the same Matrix event twice queues one reply.
func (m *Module) send(ctx context.Context, sender matrix.UserID, room matrix.RoomID, key string, content matrix.MessageContent) error {
	raw, err := json.Marshal(content)
	if err != nil {
		return err
	}
	_, err = m.outbox.Send(ctx, intent.Op{Kind: intent.OpMessage, Room: room, Sender: sender,
		Type: matrix.EventMessage, Content: raw, Key: "echo:" + key})
	return err
}
