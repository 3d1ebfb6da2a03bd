package irc

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/causewaybridge/causeway/bridges"
	"github.com/causewaybridge/causeway/bridges/irc/netstate"
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
	preset, visibility := "public_chat", "public"
	if netstate.JoinRule(info.Modes) == "invite" {
		preset = "private_chat"
	}
	if !netstate.Published(info.Modes) {
		visibility = "private"
	}
	room, err := n.m.client.Bot().CreateRoom(ctx, &intent.CreateRoomRequest{
		RoomAliasName: alias.Localpart(),
		Name:          channel,
		Topic:         info.Topic,
		Preset:        preset,
		Visibility:    visibility,
		BridgeInfo:    n.bridgeInfo(channel),
	})
	if err != nil {
		return "", fmt.Errorf("create room for %s: %w", channel, err)
	}
	p := &bridges.Portal{Key: chanKey(n.id, f).portal(), Room: room}
	_ = bridges.SetPortalMeta(p, portalMeta{Name: channel})
	if err := n.m.portals.Put(ctx, p); err != nil {
		return "", err
	}
	n.addPortal(f, room, p.Meta)
	n.applyMembers(ctx, channel) // fullmembership.go
	if visibility == "public" {
		if err := n.m.client.Bot().SetAppserviceRoomDirectory(ctx, n.id, room, "public"); err != nil {
			n.log().Debug("per-network room directory not updated", "err", err)
		}
	}
	n.log().Info("created portal", "channel", channel, "room_id", room, "alias", alias)
	if n.cfg.Backfill > 0 {
		n.m.wg.Go(func() { n.backfillNewPortal(n.m.ctx, channel) }) // catchup.go
	}
	return room, nil
}

// channelAlias is the portal alias of a channel.
func (n *network) channelAlias(channel string) (matrix.RoomAlias, error) {
	return n.aliases.Format(map[string]string{"channel": n.fold(channel)})
}

// bridgeInfo is the MSC2346 bridge info of a channel portal.
func (n *network) bridgeInfo(channel string) *intent.BridgeInfo {
	return &intent.BridgeInfo{
		BridgeBot: n.m.env.BotUserID,
		Protocol:  intent.BridgeInfoSection{ID: ID, DisplayName: "IRC"},
		Network:   &intent.BridgeInfoSection{ID: n.id, DisplayName: n.cfg.Name},
		Channel:   intent.BridgeInfoSection{ID: channel, DisplayName: channel},
	}
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
