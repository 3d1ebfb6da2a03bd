package xmpp

import (
	"sync"

	"github.com/causewaybridge/causeway/intent"
)

// presenceBook keeps what XMPP says about the availability of the XMPP
// users that have a puppet, per resource, and what was last written to
// their puppets' Matrix presence.
//
// A resource is known available through channels: the MUCs it joined
// (their room JIDs) and its contacts on the component (rosterChannel).
// An unavailable presence through one channel (leaving a room) takes the
// resource out of that channel only; the resource is gone when no
// channel is left, and the user is offline when no resource is left.
// The user's Matrix presence is the best of its resources: no show or
// "chat" is online, "away", "xa" and "dnd" are unavailable; its status
// message is that resource's status text.
type presenceBook struct {
	mu    sync.Mutex
	users map[string]map[string]*resPresence // bare JID → full JID → state
	sent  map[string]matrixPresence          // bare JID → last written
}

// rosterChannel is the channel of presences sent to Matrix users' JIDs.
const rosterChannel = "roster"

type resPresence struct {
	show, status string
	via          map[string]bool
}

// matrixPresence is a Matrix presence and status message.
type matrixPresence struct {
	Presence, Status string
}

func newPresenceBook() *presenceBook {
	return &presenceBook{users: map[string]map[string]*resPresence{}, sent: map[string]matrixPresence{}}
}

// update records an available (show, status) or unavailable presence of
// the resource res of bare JID real, seen through channel via.
func (b *presenceBook) update(real, res, via string, available bool, show, status string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	rs := b.users[real]
	if !available {
		if r := rs[res]; r != nil {
			delete(r.via, via)
			if len(r.via) == 0 {
				delete(rs, res)
			}
		}
		if len(rs) == 0 {
			delete(b.users, real)
		}
		return
	}
	if rs == nil {
		rs = map[string]*resPresence{}
		b.users[real] = rs
	}
	r := rs[res]
	if r == nil {
		r = &resPresence{via: map[string]bool{}}
		rs[res] = r
	}
	r.show, r.status, r.via[via] = show, status, true
}

// showRank orders XMPP shows from the most available.
func showRank(show string) int {
	switch show {
	case "", "chat":
		return 0
	case "away":
		return 1
	case "dnd":
		return 2
	}
	return 3 // xa and anything unknown
}

// current returns real's Matrix presence from what is recorded.
func (b *presenceBook) current(real string) matrixPresence {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.currentLocked(real)
}

func (b *presenceBook) currentLocked(real string) matrixPresence {
	var best *resPresence
	bestRes := ""
	for res, r := range b.users[real] {
		// Ties go to the smallest full JID, so the answer is stable.
		if best == nil || showRank(r.show) < showRank(best.show) || (showRank(r.show) == showRank(best.show) && res < bestRes) {
			best, bestRes = r, res
		}
	}
	switch {
	case best == nil:
		return matrixPresence{Presence: intent.PresenceOffline}
	case showRank(best.show) == 0:
		return matrixPresence{Presence: intent.PresenceOnline, Status: best.status}
	}
	return matrixPresence{Presence: intent.PresenceUnavailable, Status: best.status}
}

// due returns real's Matrix presence when it differs from the last one
// marked written, and marks it written; ok is false when nothing changed.
func (b *presenceBook) due(real string) (p matrixPresence, ok bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	p = b.currentLocked(real)
	if last, seen := b.sent[real]; seen && last == p {
		return p, false
	}
	if _, seen := b.sent[real]; !seen && p.Presence == intent.PresenceOffline {
		return p, false // never written, and nothing to say
	}
	b.sent[real] = p
	return p, true
}

// unmark forgets that real's presence was written (the write failed), so
// the next change writes it again.
func (b *presenceBook) unmark(real string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.sent, real)
}
