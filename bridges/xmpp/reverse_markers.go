package xmpp

import (
	"context"
	"time"

	"github.com/causewaybridge/causeway/bridges"
	"github.com/causewaybridge/causeway/intent"
	"github.com/causewaybridge/causeway/matrix"
)

// XEP-0333 displayed markers ↔ Matrix read receipts in reverse portals
// (issue 10 §6). Markers in a MUC name messages by the stanza-id the
// MUC gave them, which the bridge keeps for every event of the portal
// (reverse_relations.go).
//
// XMPP → Matrix: an occupant's <displayed id=stanza-id/> is its
// puppet's read receipt on that message's event (one copy: the
// listener's).
//
// Matrix → XMPP: a Matrix user's read receipt is a displayed marker
// from their occupant to the MUC naming the event's stanza-id, with a
// no-store hint; at most one per user every markerInterval, the latest
// receipt winning (a burst of receipts sends the last one only).

// markerInterval is the least time between two markers of one Matrix
// user in one MUC.
const markerInterval = 3 * time.Second

// markerPace is one Matrix user's markers in one MUC: when the last was
// sent, and the stanza-id waiting for the next slot ("" for none).
type markerPace struct {
	last    time.Time
	pending string
	timer   bool
}

// displayedFromMUC sends the read receipt of the occupant nick's
// displayed marker naming stanza-id id. It runs in the MUC's lane.
func (rv *reverse) displayedFromMUC(ctx context.Context, rp *revPortal, nick, id string) {
	rv.mu.Lock()
	o := rp.remote[nick]
	rv.mu.Unlock()
	if o == nil {
		return
	}
	ev, ok := rv.eventOfSID(ctx, rp, id)
	if !ok {
		rv.log.Debug("xmpp: a marker of an unknown message dropped", "muc", rp.muc, "id", id)
		return
	}
	if err := rv.m.host.Matrix().Intent(o.puppet).SendReceipt(ctx, rp.room, ev, intent.ReceiptRead); err != nil {
		rv.log.Debug("xmpp: could not send a puppet's read receipt", "puppet", o.puppet, "room", rp.room, "err", err)
	}
}

// receipt takes a Matrix user's read receipt in a reverse portal; false
// when the room is no reverse portal.
func (rv *reverse) receipt(ctx context.Context, rc *bridges.Receipt) bool {
	rv.mu.Lock()
	rp := rv.byRoom[rc.RoomID]
	rv.mu.Unlock()
	if rp == nil {
		return false
	}
	sid := rv.sidOf(ctx, rc.EventID)
	if sid == "" {
		return true // a message the MUC never named: nothing to mark
	}
	rv.mark(rp, rc.UserID, sid, time.Now())
	return true
}

// mark sends u's displayed marker of sid now, or keeps it as the one to
// send when u's next slot comes.
func (rv *reverse) mark(rp *revPortal, u matrix.UserID, sid string, now time.Time) {
	rv.mu.Lock()
	if rp.marks == nil {
		rp.marks = map[matrix.UserID]*markerPace{}
	}
	p := rp.marks[u]
	if p == nil {
		p = &markerPace{}
		rp.marks[u] = p
	}
	if wait := markerInterval - now.Sub(p.last); wait > 0 || p.timer {
		p.pending = sid
		if !p.timer {
			p.timer = true
			time.AfterFunc(wait, func() { rv.flushMark(rp, u) })
		}
		rv.mu.Unlock()
		return
	}
	p.last = now
	b := rp.markOf(u, sid)
	rv.mu.Unlock()
	if b != nil {
		rv.g.enqueue(context.Background(), b)
	}
}

// flushMark sends u's waiting marker, if any.
func (rv *reverse) flushMark(rp *revPortal, u matrix.UserID) {
	rv.mu.Lock()
	p := rp.marks[u]
	var b []byte
	if p != nil {
		if p.pending != "" {
			b = rp.markOf(u, p.pending)
		}
		p.pending, p.timer, p.last = "", false, time.Now()
	}
	rv.mu.Unlock()
	if b != nil {
		rv.g.enqueue(context.Background(), b)
	}
}

// markOf is u's displayed marker of sid from their occupant, or nil
// when it is not in the MUC. Call with rv.mu held.
func (rp *revPortal) markOf(u matrix.UserID, sid string) []byte {
	c := rp.clients[u]
	if c == nil || c.state != clientJoined {
		return nil
	}
	return displayedStanza(c.self, rp.muc, "groupchat", sid, "")
}
