package irc

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/causewaybridge/causeway/intent"
	"github.com/causewaybridge/causeway/matrix"
)

// An IRC channel ban is a decision about who may read the channel. When a
// Matrix user's own connection is refused a channel with 474 (banned), the
// bridge removes them from that channel's portal if the bridge made the
// room (an alias portal: the room is the channel), so the ban holds on the
// Matrix side too. A room linked by its own admins (plumbed) belongs to its
// Matrix community: the user stays and gets the usual notices. Other
// refusals (invite-only, a key, registered nicks only) are the user's to
// fix and never remove anyone. Bridge admins are treated like everyone
// else: exempting them would make the operator's own accounts evade the
// network's bans.

// joinPending reports whether a JOIN of channel by u waits for the
// server's answer.
func (u *userConn) joinPending(channel string) bool {
	f := u.n.fold(channel)
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.joinWaits[f]) > 0
}

// bannedFromChannel handles a 474 answering u's own JOIN of channel: in a
// portal the bridge made, the bot removes u from the room with the server's
// text as the reason. One removal at a time per user and channel, so a
// burst of refused JOINs (queued messages, a reconnect) is one kick. It
// returns at once; the kick is sent in the background (it needs the
// homeserver, and this runs on the connection's reader).
func (n *network) bannedFromChannel(u *userConn, channel, text string) {
	p := n.portal(channel)
	if p == nil || n.m.ctx.Err() != nil {
		return
	}
	if p.plumbed {
		n.log().Debug("Matrix user banned on IRC keeps their place in the linked room", "user", u.user, "channel", p.name, "room_id", p.room)
		return
	}
	f := n.fold(channel)
	u.mu.Lock()
	if u.banKicks[f] {
		u.mu.Unlock()
		return
	}
	if u.banKicks == nil {
		u.banKicks = map[string]bool{}
	}
	u.banKicks[f] = true
	u.mu.Unlock()
	n.m.wg.Go(func() {
		defer func() {
			u.mu.Lock()
			delete(u.banKicks, f)
			u.mu.Unlock()
		}()
		n.kickBanned(n.m.ctx, u.user, p, text)
	})
}

// banReason is the reason of the kick of a user banned from channel; text
// is the server's.
func banReason(channel, text string) string {
	if text == "" {
		text = "banned"
	}
	return fmt.Sprintf("Banned from %s on IRC: %s", channel, text)
}

// kickBanned removes user from portal p unless they are no longer in it.
// When the homeserver refuses (the room's power levels no longer let the
// bot kick), the user keeps today's notices and the operator gets a
// warning: the ban is not enforced on the Matrix side.
func (n *network) kickBanned(ctx context.Context, user matrix.UserID, p *portal, text string) {
	var mc matrix.MemberContent
	err := n.m.client.Bot().StateEventContent(ctx, p.room, matrix.EventMember, string(user), &mc)
	var he *intent.HTTPError
	if (err == nil && mc.Membership != "join") || (errors.As(err, &he) && he.Status == http.StatusNotFound) {
		return // left, kicked already or never there: nothing left to read
	}
	reason := banReason(p.name, text)
	if _, err := n.m.outbox.SendAndWait(ctx, intent.Op{Kind: intent.OpMembership, Room: p.room, Type: "kick",
		StateKey: string(user), Reason: reason}); err != nil {
		if ctx.Err() != nil {
			return // shutting down; the queued kick is still sent at the next start
		}
		n.log().Warn("could not remove a Matrix user banned on IRC from the portal; they can still read the channel there",
			"user", user, "channel", p.name, "room_id", p.room, "err", err)
		return
	}
	n.log().Info("removed a Matrix user banned on IRC from the portal", "user", user, "channel", p.name, "room_id", p.room)
}
