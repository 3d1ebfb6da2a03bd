package irc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/ergochat/irc-go/ircmsg"

	"github.com/causewaybridge/causeway/bridges"
	"github.com/causewaybridge/causeway/bridges/irc/ircconn"
	"github.com/causewaybridge/causeway/bridges/kit"
	"github.com/causewaybridge/causeway/intent"
	"github.com/causewaybridge/causeway/matrix"
)

// invitedToPM handles a Matrix user inviting an IRC puppet: the puppet
// joins and the room becomes the private conversation between that Matrix
// user and that IRC nick.
func (n *network) invitedToPM(ctx context.Context, evt *matrix.Event, puppet matrix.UserID, isDirect bool) error {
	v, err := n.users.Parse(puppet)
	if err != nil {
		return nil
	}
	nick := v["nick"]
	if u, ok := n.state.User(nick); ok {
		nick = u.Nick
	}
	in := n.m.client.Intent(puppet)
	if err := in.EnsureRegistered(ctx); err != nil {
		return err
	}
	if _, err := in.JoinRoom(ctx, string(evt.RoomID)); err != nil {
		return fmt.Errorf("%s join %s: %w", puppet, evt.RoomID, err)
	}
	n.ensureProfile(ctx, puppet, nick, evt.RoomID)
	key := pmKey(n.id, evt.Sender, n.fold(nick))
	if existing, err := n.m.portals.ByKey(ctx, key.portal()); err == nil && existing.Room != evt.RoomID {
		// A newer DM replaces the older one.
		_ = n.m.portals.Delete(ctx, key.portal())
	}
	if _, err := n.m.portals.ByRoom(ctx, evt.RoomID); err == nil {
		return nil // the room already bridges something else
	} else if !errors.Is(err, bridges.ErrNotFound) {
		return err
	}
	p := &bridges.Portal{Key: key.portal(), Room: evt.RoomID}
	_ = bridges.SetPortalMeta(p, portalMeta{Name: nick})
	if err := n.m.portals.Put(ctx, p); errors.Is(err, bridges.ErrConflict) {
		return nil // the room is another module's portal
	} else if err != nil {
		return err
	}
	return nil
}

// privateMessage bridges a PRIVMSG or NOTICE sent to a Matrix user's nick
// into the DM room with that IRC user, creating the room on first contact.
func (n *network) privateMessage(ctx context.Context, u *userConn, m *ircmsg.Message) {
	nick := nickOf(m)
	sender, err := n.puppetID(nick)
	if err != nil {
		return
	}
	room, err := n.pmRoom(ctx, u.user, nick, sender)
	if err != nil {
		n.log().Error("could not open a DM for an IRC private message", "user", u.user, "from", nick, "err", err)
		return
	}
	content := n.contentFromIRC(m.Params[1], m.Command == "NOTICE")
	if content == nil {
		return
	}
	ts, ok := ircconn.ServerTime(m)
	if !ok {
		ts = time.Now()
	}
	n.ensureProfile(ctx, sender, nick, room)
	raw, _ := json.Marshal(content)
	key := remoteKey(m, "pm:"+string(u.user), m.Params[1], ts)
	// A PM read while the module stops is still stored (the store closes
	// after the modules): no server gives private history back.
	if _, err := n.m.outbox.Send(context.WithoutCancel(ctx), intent.Op{Kind: intent.OpMessage, Room: room, Sender: sender,
		Type: matrix.EventMessage, Content: raw, Timestamp: ts, Key: key, Link: msgLink(key)}); err != nil {
		n.log().Error("could not queue a private message", "err", err)
	}
}

// pmRoom returns the DM room between a Matrix user and an IRC nick,
// creating it (the puppet invites the user) when there is none.
func (n *network) pmRoom(ctx context.Context, user matrix.UserID, nick string, puppet matrix.UserID) (matrix.RoomID, error) {
	key := pmKey(n.id, user, n.fold(nick))
	if p, err := n.m.portals.ByKey(ctx, key.portal()); err == nil {
		return p.Room, nil
	} else if !errors.Is(err, bridges.ErrNotFound) {
		return "", err
	}
	in := n.m.client.Intent(puppet)
	if err := in.EnsureRegistered(ctx); err != nil {
		return "", err
	}
	_ = in.SetDisplayname(ctx, nick) // before the room exists: its creation shows the name
	// The puppet opens the direct chat (the bot is not in it).
	p, err := kit.CreatePortalRoom(ctx, n.m.host, kit.RoomSpec{
		Key:      key.portal(),
		Name:     nick + " (" + n.cfg.Name + ")",
		Access:   kit.InviteOnly,
		Preset:   "trusted_private_chat",
		Creator:  puppet,
		Invite:   []matrix.UserID{user},
		IsDirect: true,
		Protocol: intent.BridgeInfoSection{ID: ID, DisplayName: "IRC"},
		Network:  &intent.BridgeInfoSection{ID: n.id, DisplayName: n.cfg.Name},
		Channel:  intent.BridgeInfoSection{ID: nick, DisplayName: nick},
		Meta:     portalMeta{Name: nick},
	})
	if err != nil {
		return "", err
	}
	return p.Room, nil
}

// userKicked mirrors a Matrix user's kick from an IRC channel: the bot
// removes them from the portal room with the IRC reason.
func (n *network) userKicked(ctx context.Context, u *userConn, channel, by, reason string) {
	p := n.portal(channel)
	if p == nil {
		return
	}
	raw := fmt.Sprintf("Kicked on IRC by %s: %s", by, reason)
	if _, err := n.m.outbox.Send(ctx, intent.Op{Kind: intent.OpMembership, Room: p.room, Type: "kick",
		StateKey: string(u.user), Reason: raw}); err != nil {
		n.log().Warn("could not mirror an IRC kick", "user", u.user, "err", err)
	}
}
