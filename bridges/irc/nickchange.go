package irc

import (
	"context"
	"sync"

	"github.com/ergochat/irc-go/ircmsg"

	"github.com/causewaybridge/causeway/bridges/irc/netstate"
	"github.com/causewaybridge/causeway/intent"
	"github.com/causewaybridge/causeway/matrix"
)

// An IRC user's NICK change in Matrix. Puppets are named after the
// casefolded nick, so a new nick is a new Matrix user: in each portal the
// user is in, the old puppet leaves ("changed nick to …") and the new one
// joins with the nick as its display name, in order with the room's
// messages (the outbox lane). With lazy membership only a puppet that was
// in the room is replaced; the new one otherwise appears when it speaks.
// A change of letter case keeps the puppet and changes its display name.

// puppetRooms remembers, per portal room, whether an IRC user's puppet was
// last sent in (a message or a join queued) or out (a leave queued), so a
// nick change knows whether the old puppet is there before the outbox has
// carried out what is queued. An "out" is needed only until its leave is
// carried out (then the Matrix client's recorded membership says the
// same): it is forgotten then, so the memory follows the puppets in the
// portals, not every puppet ever seen. Its zero value is ready.
type puppetRooms struct {
	mu sync.Mutex
	in map[puppetRoom]puppetState
	// rooms counts the entries of each puppet in in.
	rooms map[matrix.UserID]int
}

type puppetRoom struct {
	room   matrix.RoomID
	puppet matrix.UserID
}

// puppetState is what was last queued for a puppet in a room, and how many
// of the leaves queued for it there the outbox has not carried out yet.
type puppetState struct {
	in      bool
	leaving int
}

// set records that puppet was sent into room (in) or out of it. A leave
// is recorded before it is queued (the outbox may carry it out, and call
// leaveDone, before the queueing call returns); undo takes the record back
// when queueing failed.
func (p *puppetRooms) set(room matrix.RoomID, puppet matrix.UserID, in bool) (undo func()) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.in == nil {
		p.in = map[puppetRoom]puppetState{}
		p.rooms = map[matrix.UserID]int{}
	}
	k := puppetRoom{room, puppet}
	prev, known := p.in[k]
	if !known {
		p.rooms[puppet]++
	}
	// Known to be out: kept (as false) until the queued leave is carried
	// out, so that the membership recorded before it is not believed.
	st := prev
	st.in = in
	if !in {
		st.leaving++
	}
	p.in[k] = st
	return func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		if known {
			p.in[k] = prev
			return
		}
		delete(p.in, k)
		if p.rooms[puppet]--; p.rooms[puppet] <= 0 {
			delete(p.rooms, puppet)
		}
	}
}

// get reports what was last recorded for puppet in room, and whether
// anything was.
func (p *puppetRooms) get(room matrix.RoomID, puppet matrix.UserID) (in, known bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	st, known := p.in[puppetRoom{room, puppet}]
	return st.in, known
}

// leaveDone notes that the outbox carried out a leave of puppet in room.
// Once the last leave queued there is carried out, with nothing queued
// since, the entry is forgotten: the recorded membership says the puppet
// is out. It reports whether the puppet has no entry left in any room.
func (p *puppetRooms) leaveDone(room matrix.RoomID, puppet matrix.UserID) (gone bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	k := puppetRoom{room, puppet}
	st, known := p.in[k]
	if !known {
		return false // queued by an earlier run, or never recorded
	}
	if st.leaving > 0 {
		st.leaving--
	}
	if st.in || st.leaving > 0 {
		p.in[k] = st
		return false
	}
	delete(p.in, k)
	if p.rooms[puppet]--; p.rooms[puppet] > 0 {
		return false
	}
	delete(p.rooms, puppet)
	return true
}

// puppetLeft is told by the outbox that a leave of an IRC user's puppet
// was carried out in room (OnOutboxSent). Once the puppet has left every
// portal this run put it in, the bridge forgets it: its room entries and
// the display name it was given (ensureProfile queues the name again if
// the nick comes back; the Matrix client skips a name it already set).
func (m *Module) puppetLeft(room matrix.RoomID, puppet matrix.UserID) {
	n := m.networkForUser(puppet)
	if n == nil || !n.puppets.leaveDone(room, puppet) {
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
	if in, known := n.puppets.get(room, puppet); known {
		return in
	}
	m, err := n.m.members.Membership(ctx, room, puppet)
	if err != nil {
		n.log().Warn("could not read a puppet's membership", "room_id", room, "user", puppet, "err", err)
		return false
	}
	return m == intent.MembershipJoin
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
