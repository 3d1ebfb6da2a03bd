package irc

import (
	"context"

	"github.com/causewaybridge/causeway/intent"
	"github.com/causewaybridge/causeway/matrix"
)

// reconcileMembers runs when the bot has the channel's member list (end of
// NAMES): puppets in the portal room of IRC users who are no longer in the
// channel leave it. They left while the bridge was down, or their quit was
// held for a netsplit when the bridge restarted (held quits live in memory),
// so no QUIT or PART will ever come for them. Users whose quit is held now
// are left to the netsplit hold. The room's members are read from the
// homeserver in the background, not on the IRC reader.
func (n *network) reconcileMembers(ctx context.Context, channel string) {
	p := n.portal(channel)
	if p == nil {
		return
	}
	n.m.goTracked(func(ctx context.Context) {
		joined, err := n.m.client.Bot().JoinedMembers(ctx, p.room)
		if err != nil {
			n.log().Warn("could not compare the room's puppets with the channel", "channel", channel, "err", err)
			return
		}
		for id := range joined {
			nick, ok := n.nickOfPuppet(id)
			if !ok || n.isBridgedNick(nick) || n.splits.IsHeld(nick) {
				continue
			}
			if _, in := n.state.Member(channel, nick); in {
				continue
			}
			n.log().Info("puppet left: its IRC user is no longer in the channel", "channel", channel, "nick", nick)
			undo := n.puppets.Set(p.room, id, false) // kit.PuppetRooms: out until the leave is carried out
			if _, err := n.m.outbox.Send(ctx, intent.Op{Kind: intent.OpMembership, Room: p.room, Sender: id,
				Type: "leave", Reason: "no longer in " + channel}); err != nil {
				undo()
				n.log().Warn("could not queue a leave", "nick", nick, "err", err)
			}
		}
	})
}

// nickOfPuppet returns the (casefolded) nick a puppet of this network
// stands for.
func (n *network) nickOfPuppet(id matrix.UserID) (string, bool) {
	if !n.users.Owns(id) {
		return "", false
	}
	v, err := n.users.Parse(id)
	if err != nil || v["nick"] == "" {
		return "", false
	}
	return v["nick"], true
}
