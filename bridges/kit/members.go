package kit

import (
	"context"
	"sync"

	"github.com/causewaybridge/causeway/matrix"
)

// PuppetRooms is the bookkeeping of puppets' memberships in portal rooms:
// per room, whether a puppet was last sent in (a join or a message
// queued) or out (a leave queued), so that a module knows where its
// puppets are before the durable outbox has carried out what is queued
// (an IRC nick change replaces the old puppet only where it is). An "out"
// is kept only until its leave is carried out ([PuppetRooms.LeaveDone],
// from the module's outbox sent listener): then the Matrix client's
// recorded membership says the same, so memory follows the puppets in
// the portals, not every puppet ever seen. Its zero value is ready; it is
// safe for concurrent use.
type PuppetRooms struct {
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

// Set records that puppet was sent into room (in) or out of it. Record a
// leave before queueing it (the outbox may carry it out, and the module
// call LeaveDone, before the queueing call returns); undo takes the
// record back when queueing failed.
func (p *PuppetRooms) Set(room matrix.RoomID, puppet matrix.UserID, in bool) (undo func()) {
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

// Get reports what was last recorded for puppet in room, and whether
// anything was.
func (p *PuppetRooms) Get(room matrix.RoomID, puppet matrix.UserID) (in, known bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	st, known := p.in[puppetRoom{room, puppet}]
	return st.in, known
}

// LeaveDone notes that the outbox carried out a leave of puppet in room.
// Once the last leave queued there is carried out, with nothing queued
// since, the entry is forgotten: the recorded membership says the puppet
// is out. It reports whether the puppet has no entry left in any room (a
// module may then forget what else it keeps about it).
func (p *PuppetRooms) LeaveDone(room matrix.RoomID, puppet matrix.UserID) (gone bool) {
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

// Len is the number of (room, puppet) entries remembered.
func (p *PuppetRooms) Len() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.in)
}

// MembershipReader reads a user's recorded membership in a room
// (intent.Client.Membership: its state cache, kept across restarts).
type MembershipReader interface {
	Membership(ctx context.Context, room matrix.RoomID, user matrix.UserID) (string, error)
}

// InRoom reports whether puppet is in room, or will be once the room's
// queued operations are carried out: what this run recorded, else the
// membership r recorded.
func (p *PuppetRooms) InRoom(ctx context.Context, r MembershipReader, room matrix.RoomID, puppet matrix.UserID) (bool, error) {
	if in, known := p.Get(room, puppet); known {
		return in, nil
	}
	m, err := r.Membership(ctx, room, puppet)
	if err != nil {
		return false, err
	}
	return m == "join", nil
}
