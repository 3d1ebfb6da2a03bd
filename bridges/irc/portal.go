package irc

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/causewaybridge/causeway/bridges"
	"github.com/causewaybridge/causeway/bridges/irc/netstate"
	"github.com/causewaybridge/causeway/bridges/kit"
	"github.com/causewaybridge/causeway/intent"
	"github.com/causewaybridge/causeway/matrix"
)

// QueryAlias implements bridges.AliasQuerier: joining
// #irc_<network>_<channel>:server makes the bot join the channel and
// creates the portal room with that alias. The room's join rule and
// directory visibility follow the channel's modes (+i/+k: invite only;
// +s: not published).
func (m *Module) QueryAlias(ctx context.Context, alias matrix.RoomAlias) (bool, error) {
	for _, id := range m.order {
		n := m.networks[id]
		v, err := n.aliases.Parse(alias)
		if err != nil {
			continue
		}
		channel := v["channel"]
		bot, err := n.botConn(ctx)
		if err != nil {
			return false, err
		}
		if !isChannel(bot, channel) {
			return false, nil
		}
		_, err = n.ensurePortal(ctx, channel, alias)
		return err == nil, err
	}
	return false, nil
}

// ensurePortal returns the portal room of channel, creating it (and
// joining the channel) when needed.
func (n *network) ensurePortal(ctx context.Context, channel string, alias matrix.RoomAlias) (matrix.RoomID, error) {
	f := n.fold(channel)
	if p := n.portal(channel); p != nil {
		return p.room, nil
	}
	if p, err := n.m.portals.ByKey(ctx, chanKey(n.id, f).portal()); err == nil {
		n.addPortal(f, p.Room, p.Meta)
		n.applyMembers(ctx, channel) // fullmembership.go
		return p.Room, nil
	} else if !errors.Is(err, bridges.ErrNotFound) {
		return "", err
	}
	jctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := n.botJoin(jctx, channel); err != nil {
		return "", fmt.Errorf("join %s on %s: %w", channel, n.cfg.Name, err)
	}
	n.queryModes(jctx, channel) // modequery.go
	info, _ := n.state.Channel(channel)
	if alias == "" {
		var err error
		if alias, err = n.channelAlias(channel); err != nil {
			return "", err
		}
	}
	spec := n.roomSpec(channel)
	spec.Topic, spec.AliasLocalpart, spec.Access = info.Topic, alias.Localpart(), channelAccess(info.Modes)
	p, err := kit.CreatePortalRoom(ctx, n.m.host, spec)
	if err != nil {
		return "", err
	}
	room := p.Room
	if spec.Access == kit.InviteOnly && netstate.Published(info.Modes) {
		// +i or +k without +s: invite only, but listed, as accessToMatrix
		// keeps it (kit.Access has no such level).
		n.setDirectory(ctx, room, channel, "public")
	}
	n.addPortal(f, room, p.Meta)
	n.applyMembers(ctx, channel) // fullmembership.go
	if n.cfg.Backfill > 0 {
		n.m.wg.Go(func() { n.backfillNewPortal(n.m.ctx, channel) }) // catchup.go
	}
	return room, nil
}

// PortalMoved implements bridges.PortalMover: after a room upgrade the
// channel's portal is the replacement room, which gets the channel's
// puppets (full membership) and power levels like a new portal. DM
// portals are looked up by key, not kept in memory.
func (m *Module) PortalMoved(ctx context.Context, p *bridges.Portal, from matrix.RoomID) error {
	key, err := parsePortalKey(p.Key.ID)
	if err != nil {
		return err
	}
	n := m.networks[key.network]
	if n == nil || key.kind != "chan" {
		return nil
	}
	n.addPortal(key.target, p.Room, p.Meta)
	// The kit remembers room state per room: the new room's join rule is
	// sent on the next mode change.
	n.applyMembers(ctx, n.portal(key.target).name) // fullmembership.go
	n.log().Info("portal moved to the upgraded room", "channel", key.target, "from", from, "room_id", p.Room)
	return nil
}

// channelAlias is the portal alias of a channel.
func (n *network) channelAlias(channel string) (matrix.RoomAlias, error) {
	return n.aliases.Format(map[string]string{"channel": n.fold(channel)})
}

// channelAccess is the kit.Access of a portal room for a channel with
// modes m: invite only with +i or +k, unlisted with +s or +p.
func channelAccess(m netstate.Modes) kit.Access {
	switch {
	case netstate.JoinRule(m) == netstate.JoinRuleInvite:
		return kit.InviteOnly
	case !netstate.Published(m):
		return kit.Unpublished
	}
	return kit.Public
}

// roomSpec describes the portal room of a channel: its key, name,
// metadata and MSC2346 bridge info.
func (n *network) roomSpec(channel string) kit.RoomSpec {
	return kit.RoomSpec{
		Key:      chanKey(n.id, n.fold(channel)).portal(),
		Name:     channel,
		Protocol: intent.BridgeInfoSection{ID: ID, DisplayName: "IRC"},
		Network:  &intent.BridgeInfoSection{ID: n.id, DisplayName: n.cfg.Name},
		Channel:  intent.BridgeInfoSection{ID: channel, DisplayName: channel},
		Meta:     portalMeta{Name: channel},
	}
}

// bridgeInfo is the MSC2346 bridge info of a channel portal.
func (n *network) bridgeInfo(channel string) *intent.BridgeInfo {
	spec := n.roomSpec(channel)
	return spec.BridgeInfo(n.m.env.BotUserID)
}

// QueryUser implements bridges.UserQuerier: a puppet of any nick exists
// (it is registered on demand); its display name is the nick.
func (m *Module) QueryUser(ctx context.Context, id matrix.UserID) (bool, error) {
	n := m.networkForUser(id)
	if n == nil {
		return false, nil
	}
	v, err := n.users.Parse(id)
	if err != nil {
		return false, nil
	}
	p := m.client.Intent(id)
	if err := p.EnsureRegistered(ctx); err != nil {
		return false, err
	}
	nick := v["nick"]
	if u, ok := n.state.User(nick); ok {
		nick = u.Nick
	}
	return true, p.SetDisplayname(ctx, nick)
}

var _ bridges.PortalMover = (*Module)(nil)
