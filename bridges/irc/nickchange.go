package irc

import (
	"context"

	"github.com/ergochat/irc-go/ircmsg"

	"github.com/causewaybridge/causeway/bridges/irc/netstate"
	"github.com/causewaybridge/causeway/matrix"
)

// An IRC user's NICK change in Matrix. Puppets are named after the
// casefolded nick, so a new nick is a new Matrix user: in each portal the
// user is in, the old puppet leaves ("changed nick to …") and the new one
// joins with the nick as its display name, in order with the room's
// messages (the outbox lane). With lazy membership only a puppet that was
// in the room is replaced; the new one otherwise appears when it speaks.
// A change of letter case keeps the puppet and changes its display name.

// puppetLeft is told by the outbox that a leave of an IRC user's puppet
// was carried out in room (OnOutboxSent). Once the puppet has left every
// portal this run put it in, the bridge forgets it: its room entries and
// the display name it was given (ensureProfile queues the name again if
// the nick comes back; the Matrix client skips a name it already set).
func (m *Module) puppetLeft(room matrix.RoomID, puppet matrix.UserID) {
	n := m.networkForUser(puppet)
	if n == nil || !n.puppets.LeaveDone(room, puppet) {
		return
	}
	n.mu.Lock()
	delete(n.profiled, puppet)
	n.mu.Unlock()
}

// puppetInRoom reports whether puppet is in room, or will be once the
// room's queued operations are carried out: what this run of the bridge
// queued, else the membership the Matrix client recorded (kept across
// restarts).
func (n *network) puppetInRoom(ctx context.Context, room matrix.RoomID, puppet matrix.UserID) bool {
	in, err := n.puppets.InRoom(ctx, n.m.members, room, puppet)
	if err != nil {
		n.log().Warn("could not read a puppet's membership", "room_id", room, "user", puppet, "err", err)
	}
	return in
}

// nickToMatrix mirrors the NICK of an IRC user from old to nick, given the
// changes netstate made for it (one ChangeNick per shared channel). Nick
// changes of Matrix users' own connections and of the bot are not shown:
// their Matrix users do not change.
func (n *network) nickToMatrix(ctx context.Context, m *ircmsg.Message, old, nick string, changes []netstate.Change) {
	if n.isBridgedNick(old) || n.isBridgedNick(nick) {
		return
	}
	oldID, err := n.puppetID(old)
	if err != nil {
		return
	}
	newID, err := n.puppetID(nick)
	if err != nil {
		n.log().Warn("cannot name IRC user on Matrix", "nick", nick, "err", err)
		return
	}
	full := n.cfg.Membership == "full"
	for _, ch := range changes {
		if ch.Kind != netstate.ChangeNick {
			continue // a stale holder of the nick (netstate.StaleReason): its puppet is the new one
		}
		p := n.portal(ch.Channel)
		if p == nil {
			continue
		}
		if oldID == newID { // only the letter case changed: same puppet, new name
			n.ensureProfile(ctx, newID, nick, p.room)
			continue
		}
		// The nick's earlier holder may have split away with its leave
		// held: its puppet, now this user's, stays in the room (and is not
		// made to leave when the hold ends).
		held := n.splits.Join(nick, ch.Channel)
		if full || n.puppetInRoom(ctx, p.room, oldID) {
			n.puppetMembership(ctx, ch.Channel, old, "leave", "changed nick to "+nick, m)
			if !held {
				n.puppetMembership(ctx, ch.Channel, nick, "join", "", m)
				continue
			}
		} else if !held {
			continue // lazy membership: the new puppet appears when it speaks
		}
		n.ensureProfile(ctx, newID, nick, p.room)
	}
	n.powerFromNick(ctx, changes) // fromirc.go: the new puppet gets the nick's modes
}
