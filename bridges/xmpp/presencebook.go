package xmpp

import (
	"slices"
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
//
// The book holds one entry per user (it is per occupant puppet, so it is
// kept small): nearly every user has one resource in one or two
// channels, so resources and channels are short slices rather than maps,
// and the strings are the callers' own (the occupant record's), not
// copies. A user who is offline and was last written offline (or never
// written) has no entry at all: that is what an absent entry means.
type presenceBook struct {
	mu    sync.Mutex
	users map[string]*bookEntry // bare JID → its resources and last write
}

// bookEntry is one user's available resources and what was last written
// to its puppet.
type bookEntry struct {
	res     []resPresence
	sent    matrixPresence
	written bool // sent was written (otherwise nothing was)
}

// rosterChannel is the channel of presences sent to Matrix users' JIDs.
const rosterChannel = "roster"

// resPresence is one available resource: its full JID, its show and
// status, and the channels it is available through.
type resPresence struct {
	full, show, status string
	via                []string
}

// matrixPresence is a Matrix presence and status message.
type matrixPresence struct {
	Presence, Status string
}

func newPresenceBook() *presenceBook {
	return &presenceBook{users: map[string]*bookEntry{}}
}

// update records an available (show, status) or unavailable presence of
// the resource res of bare JID real, seen through channel via. The book
// keeps the strings given, so callers pass the ones they keep anyway.
func (b *presenceBook) update(real, res, via string, available bool, show, status string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	e := b.users[real]
	i := -1
	if e != nil {
		i = slices.IndexFunc(e.res, func(r resPresence) bool { return r.full == res })
	}
	if !available {
		if i < 0 {
			return
		}
		r := &e.res[i]
		if j := slices.Index(r.via, via); j >= 0 {
			r.via = slices.Delete(r.via, j, j+1)
		}
		if len(r.via) == 0 {
			e.res = slices.Delete(e.res, i, i+1)
		}
		b.dropIfIdle(real, e)
		return
	}
	if e == nil {
		e = &bookEntry{}
		b.users[real] = e
	}
	if i < 0 {
		e.res = append(e.res, resPresence{full: res})
		i = len(e.res) - 1
	}
	r := &e.res[i]
	r.show, r.status = show, status
	if !slices.Contains(r.via, via) {
		r.via = append(r.via, via)
	}
}

// dropIfIdle forgets e when it says no more than its absence would: no
// resource left, and offline or nothing written.
func (b *presenceBook) dropIfIdle(real string, e *bookEntry) {
	if len(e.res) == 0 && (!e.written || e.sent.Presence == intent.PresenceOffline) {
		delete(b.users, real)
	}
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
	return currentOf(b.users[real])
}

// currentOf is the Matrix presence of e's best resource (offline for a
// nil entry).
func currentOf(e *bookEntry) matrixPresence {
	var best *resPresence
	if e != nil {
		for i := range e.res {
			r := &e.res[i]
			// Ties go to the smallest full JID, so the answer is stable.
			if best == nil || showRank(r.show) < showRank(best.show) || (showRank(r.show) == showRank(best.show) && r.full < best.full) {
				best = r
			}
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
	e := b.users[real]
	p = currentOf(e)
	if e == nil {
		// Never written, or last written offline: offline is not news.
		return p, false
	}
	if e.written && e.sent == p {
		b.dropIfIdle(real, e)
		return p, false
	}
	if !e.written && p.Presence == intent.PresenceOffline {
		b.dropIfIdle(real, e)
		return p, false // never written, and nothing to say
	}
	e.sent, e.written = p, true
	b.dropIfIdle(real, e)
	return p, true
}

// unmark forgets that real's presence was written (the write failed), so
// the next change writes it again.
func (b *presenceBook) unmark(real string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if e := b.users[real]; e != nil {
		e.sent, e.written = matrixPresence{}, false
		b.dropIfIdle(real, e)
	}
}
