// Package loopback is a complete, minimal Causeway bridge module whose
// "remote network" lives inside the bridge. It is the module the
// quick-start demo enables and the core's integration tests drive, and it
// is the walk-through of writing a module: read this file from top to
// bottom, step by step, next to docs/architecture.md ("Writing a module").
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
//   - The portal's puppet mirrors whether Matrix users are typing.
//   - "!loopback rooms" (or "!rooms") in a direct chat with the bot lists
//     the portals.
//
// A module implements [bridges.Module]; capabilities such as typed
// messages or alias queries are separate interfaces the core detects:
//
//	var _ bridges.AliasQuerier = (*Module)(nil)
package loopback

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/causewaybridge/causeway/appservice"
	"github.com/causewaybridge/causeway/bridges"
	"github.com/causewaybridge/causeway/bridges/kit"
	"github.com/causewaybridge/causeway/intent"
	"github.com/causewaybridge/causeway/matrix"
	"github.com/causewaybridge/causeway/puppet"
)

// Step 1: name the module and register it.
//
// The ID is the module's configuration section ("bridges: loopback:"),
// the Module column of its portals and the owner of its outbox ops. The
// init function adds the module to bridges.Default; cmd/causeway enables
// it with a blank import.

// ID is the module's ID and configuration section name.
const ID = "loopback"

func init() {
	bridges.Register(Info)
}

// Info registers the module.
var Info = bridges.Info{
	ID:          ID,
	Description: "in-process example network: puppets echo what they hear",
	Network:     "Loopback",
	New:         func() bridges.Module { return New() },
}

// Step 2: configuration.
//
// Config is the module's section of the configuration file. DefaultConfig
// holds the values example-config.yaml shows (config_defaults_test.go
// keeps the two in step); Configure decodes the section on top of it.

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

	// host is the core's side, set by Start. Everything the module keeps
	// lives behind it (host.Portals, host.Links, host.KV), so the module
	// holds no state of its own and a restart loses nothing.
	host bridges.Host
}

// New returns an unconfigured module.
func New() *Module {
	return &Module{cfg: DefaultConfig()}
}

// Info implements bridges.Module.
func (m *Module) Info() bridges.Info { return Info }

// Configure implements bridges.Module. The puppet package turns the
// templates into namespaces that format, parse and claim IDs.
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

// Step 3: namespaces.
//
// The user and alias regexes go into the appservice registration: the
// homeserver asks the bridge about those IDs (step 5 and 6) and sends it
// the events that concern them. Protocols name the third-party protocol
// of step 11.

// Namespaces implements bridges.Module.
func (m *Module) Namespaces() bridges.Namespaces {
	return bridges.Namespaces{
		UserRegexes:  []string{m.users.Regex()},
		AliasRegexes: []string{m.aliases.Regex()},
		Protocols:    []string{ID},
	}
}

// Step 4: start and stop.
//
// Start keeps the host. A module with a real network would connect here,
// and run its readers with host.Go (the core cancels their context and
// waits for them when the module stops), handing what arrives to a
// kit.RoomQueue so that each room's remote events reach Matrix in order.
// The loopback network needs neither: it answers from the handlers.

// Start implements bridges.Module.
func (m *Module) Start(ctx context.Context, h bridges.Host) error {
	m.host = h
	return nil
}

// Stop implements bridges.Module.
func (m *Module) Stop(ctx context.Context) error { return nil }

// Step 5: puppets on demand.
//
// When someone invites or looks up a user in the module's namespace that
// the homeserver does not know, it asks the bridge (bridges.UserQuerier).
// Every name exists on the loopback network: register the puppet and give
// it a display name.

// QueryUser implements bridges.UserQuerier: every name exists on the
// loopback network.
func (m *Module) QueryUser(ctx context.Context, id matrix.UserID) (bool, error) {
	v, err := m.users.Parse(id)
	if err != nil {
		return false, nil
	}
	p := m.host.Matrix().Intent(id)
	if err := p.EnsureRegistered(ctx); err != nil {
		return false, err
	}
	if err := p.SetDisplayname(ctx, displayname(v["name"])); err != nil {
		return false, err
	}
	return true, nil
}

// displayname is the display name of the puppet of a remote name.
func displayname(name string) string { return name + " (loopback)" }

// Step 6: portal rooms.
//
// Joining an alias in the module's namespace makes the homeserver ask the
// bridge (bridges.AliasQuerier). The module looks the portal up by its key
// in its own portal table (host.Portals) and otherwise lets
// kit.CreatePortalRoom make the room: as the bot, with the alias, name,
// topic, join rule from the remote side, MSC2346 bridge info, and the
// portal stored.

// portalKey is the key of the portal of a loopback room.
func portalKey(room string) bridges.PortalKey { return bridges.PortalKey{ID: "room:" + room} }

// portalMeta is the module's metadata of a portal (bridges.PortalMeta).
type portalMeta struct {
	// Puppet answers in the portal.
	Puppet matrix.UserID `json:"puppet"`
}

// QueryAlias implements bridges.AliasQuerier: it creates the portal room.
func (m *Module) QueryAlias(ctx context.Context, alias matrix.RoomAlias) (bool, error) {
	v, err := m.aliases.Parse(alias)
	if err != nil {
		return false, nil
	}
	key := portalKey(v["room"])
	if p, err := m.host.Portals().ByKey(ctx, key); err == nil {
		// The room exists but lost its alias (deleted by an admin): re-add it.
		return true, m.host.Matrix().Bot().CreateAlias(ctx, alias, p.Room)
	} else if !bridges.IsNotFound(err) {
		return false, err
	}
	_, err = kit.CreatePortalRoom(ctx, m.host, kit.RoomSpec{
		Key:            key,
		Name:           v["room"] + " (loopback)",
		Topic:          "A loopback portal: puppets here echo what they hear.",
		AliasLocalpart: alias.Localpart(),
		Access:         kit.Public,
		Protocol:       intent.BridgeInfoSection{ID: ID, DisplayName: "Loopback"},
		Channel:        intent.BridgeInfoSection{ID: v["room"], DisplayName: v["room"]},
	})
	if err != nil {
		return false, fmt.Errorf("portal for %s: %w", alias, err)
	}
	return true, nil
}

// Step 7: typed Matrix events.
//
// The core looks up the portal of each event once and hands the module
// typed events: a module implementing bridges.MembershipHandler gets
// membership changes in its portals and of its puppets anywhere (Portal is
// nil outside portals), bridges.MessageHandler gets messages in its
// portals. Handlers run per room in order, from the durable inbox; an
// error makes the core call again (see bridges.Module), so a handler
// returns one only when a retry can help, and keeps its work idempotent.
// Whatever no typed handler takes arrives in HandleMatrixEvent.

// HandleMatrixEvent implements bridges.Module: the typed handlers take
// everything the module bridges.
func (m *Module) HandleMatrixEvent(ctx context.Context, evt *matrix.Event) error { return nil }

// HandleMatrixMembership implements bridges.MembershipHandler: an invited
// puppet joins, and the room becomes a portal of which it is the puppet.
func (m *Module) HandleMatrixMembership(ctx context.Context, ev *bridges.Membership) error {
	if ev.Content.Membership != "invite" || !m.users.Owns(ev.Target) {
		return nil
	}
	room := ev.Event.RoomID
	p := m.host.Matrix().Intent(ev.Target)
	if err := p.EnsureRegistered(ctx); err != nil {
		return err
	}
	if _, err := p.JoinRoom(ctx, string(room)); err != nil {
		return fmt.Errorf("%s join %s: %w", ev.Target, room, err)
	}
	if ev.Portal != nil {
		return nil // already a portal
	}
	portal := &bridges.Portal{Key: portalKey(string(room)), Room: room}
	if err := bridges.SetPortalMeta(portal, portalMeta{Puppet: ev.Target}); err != nil {
		return err
	}
	err := m.host.Portals().Put(ctx, portal)
	if errors.Is(err, bridges.ErrConflict) {
		return nil // a portal of another module: the puppet only joined
	}
	return err
}

// Step 8: from Matrix to the remote network and back.
//
// A message reaches the loopback network, and the portal's puppet answers
// through the durable outbox (host.Outbox). The op's Key is the Matrix
// event's ID, so that an event handled twice (after a crash or a retry)
// queues one answer; its Link records the answer as a remote message in
// the module's message links (host.Links), so a Matrix reply to the echo
// finds the remote message it answers (Message.ReplyToRemote). Before the
// first answer, kit.SyncProfile gives the puppet its name, in the same
// outbox lane so it comes first; later calls find the name unchanged and
// queue nothing.

// HandleMatrixMessage implements bridges.MessageHandler: the portal's
// puppet echoes text, notices and emotes.
func (m *Module) HandleMatrixMessage(ctx context.Context, msg *bridges.Message) error {
	if !m.cfg.Echo {
		return nil
	}
	c := msg.Content
	if c.MsgType != matrix.MsgText && c.MsgType != matrix.MsgNotice && c.MsgType != matrix.MsgEmote {
		return nil
	}
	speaker, err := m.speaker(msg.Portal)
	if err != nil {
		return err
	}
	v, _ := m.users.Parse(speaker)
	room := msg.Portal.Room
	if _, err := kit.SyncProfile(ctx, m.host, room, speaker, kit.Profile{Displayname: displayname(v["name"])}); err != nil {
		return err
	}
	reply := matrix.MessageContent{MsgType: matrix.MsgNotice, Body: v["name"] + " heard: " + c.Body}
	return m.send(ctx, speaker, room, string(msg.Event.ID), reply)
}

// speaker returns the puppet that answers in portal p: the invited puppet
// of rooms made portals by an invite, the "echo" puppet otherwise.
func (m *Module) speaker(p *bridges.Portal) (matrix.UserID, error) {
	meta, err := bridges.PortalMeta[portalMeta](p)
	if err != nil {
		return "", err
	}
	if meta.Puppet != "" {
		return meta.Puppet, nil
	}
	return m.users.Format(puppet.Values{"name": "echo"})
}

// send queues a puppet message in the durable outbox. key makes the send
// idempotent: processing the same Matrix event twice queues one reply.
func (m *Module) send(ctx context.Context, sender matrix.UserID, room matrix.RoomID, key string, content matrix.MessageContent) error {
	raw, err := json.Marshal(content)
	if err != nil {
		return err
	}
	_, err = m.host.Outbox().Send(ctx, intent.Op{Kind: intent.OpMessage, Room: room, Sender: sender,
		Type: matrix.EventMessage, Content: raw, Key: "echo:" + key,
		Link: &intent.Link{Module: ID, RemoteID: bridges.MessageID{ID: "echo:" + key}.String()}})
	return err
}

// Step 9: ephemeral events.
//
// Typing, receipts and presence are not stored: each reaches the module
// once, typed, and is never repeated; the handler returns no error.

// HandleMatrixTyping implements bridges.TypingHandler: the portal's puppet
// mirrors whether Matrix users are typing, which shows the ephemeral path
// (pushed by the homeserver or fetched by the bot's /sync) end to end.
func (m *Module) HandleMatrixTyping(ctx context.Context, t *bridges.Typing) {
	p, err := m.host.Portals().ByRoom(ctx, t.RoomID)
	if err != nil {
		return
	}
	speaker, err := m.speaker(p)
	if err != nil {
		return
	}
	typing := len(t.UserIDs) > 0
	if err := m.host.Matrix().Intent(speaker).SetTyping(ctx, t.RoomID, typing, 10*time.Second); err != nil {
		m.host.Logger().Debug("mirroring typing failed", "room_id", t.RoomID, "err", err)
	}
}

// Step 10: bot commands.
//
// Commands run in a user's direct chat with the bot: "!loopback rooms",
// or "!rooms" while no other module has a command of that name.

// Commands implements bridges.CommandProvider.
func (m *Module) Commands() []bridges.Command {
	return []bridges.Command{{Name: "rooms", Help: "list the loopback portals", Run: m.cmdRooms}}
}

// cmdRooms lists the portals, one per line.
func (m *Module) cmdRooms(ctx context.Context, c *bridges.CommandContext) (string, error) {
	ps, err := m.host.Portals().All(ctx)
	if err != nil {
		return "", err
	}
	if len(ps) == 0 {
		return "No loopback portals yet.", nil
	}
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = fmt.Sprintf("%s: %s", p.Key.ID, p.Room)
	}
	sort.Strings(lines)
	return "Loopback portals:\n" + strings.Join(lines, "\n"), nil
}

// Step 11: third-party lookups.
//
// Clients find remote rooms and users through /thirdparty: the protocol's
// fields, and the alias or user ID that fields name.

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

// Step 12: declare the capabilities.
//
// The core finds them by type assertion; these lines make the compiler
// check that the methods match. Edits, reactions and redactions are not
// declared: the core tells the room, now and then, that they are not
// bridged to Loopback (Info.Network). The module's tests
// (loopback_test.go) drive it through a fake host, bridgetest.NewHost.
var (
	_ bridges.Module             = (*Module)(nil)
	_ bridges.MessageHandler     = (*Module)(nil)
	_ bridges.MembershipHandler  = (*Module)(nil)
	_ bridges.TypingHandler      = (*Module)(nil)
	_ bridges.UserQuerier        = (*Module)(nil)
	_ bridges.AliasQuerier       = (*Module)(nil)
	_ bridges.CommandProvider    = (*Module)(nil)
	_ bridges.ThirdPartyProvider = (*Module)(nil)
)
