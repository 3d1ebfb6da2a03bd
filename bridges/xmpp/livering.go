package xmpp

import (
	"context"
	"time"

	"github.com/causewaybridge/causeway/matrix"
)

// A resource joining an occupant that is already in the room reads the
// room's history before it is added to the occupant: what the room sends
// the occupant's other resources meanwhile would not reach it. The room
// keeps its last messages (liveRing); the join marks where the ring was
// when it started, and the join sequence ends with the messages after
// that mark which are not of the past the history read.

// liveRingSize bounds the messages a room keeps for joining resources.
const liveRingSize = 64

// liveRing is a room's last messages to its occupants, numbered.
type liveRing struct {
	seq  uint64
	msgs []liveMsg
}

// liveMsg is one message of a liveRing: build makes its stanza for
// resource res of occupant o.
type liveMsg struct {
	seq   uint64
	ev    matrix.EventID
	ts    time.Time
	build func(o *occupant, res string) []byte
}

// add keeps a message (ts zero when unknown). Call with g.mu held.
func (l *liveRing) add(ev matrix.EventID, ts time.Time, build func(o *occupant, res string) []byte) {
	l.seq++
	l.msgs = append(l.msgs, liveMsg{seq: l.seq, ev: ev, ts: ts, build: build})
	if len(l.msgs) > liveRingSize {
		l.msgs = append([]liveMsg(nil), l.msgs[len(l.msgs)-liveRingSize:]...)
	}
}

// markJoin notes, for resource res joining o, where r's ring is: what
// comes after is sent to it at the end of its join. Only a resource
// that is not one of o's yet needs it. Call with g.mu held.
func (r *mucRoom) markJoin(o *occupant, res string) {
	if o.Resources.has(res) {
		return
	}
	if o.liveFrom == nil {
		o.liveFrom = map[string]uint64{}
	}
	o.liveFrom[res] = r.live.seq
}

// sendMissed queues, under g.mu, what r sent o's other resources while
// the join of resource to read the history: the messages after its mark
// that are not of the past hz it read.
func (g *gateway) sendMissed(ctx context.Context, r *mucRoom, o *occupant, to string, hz *horizon) {
	since, ok := o.liveFrom[to]
	if !ok {
		return
	}
	delete(o.liveFrom, to)
	if len(o.liveFrom) == 0 {
		o.liveFrom = nil
	}
	for _, m := range r.live.msgs {
		if m.seq > since && !hz.has(m.ev, m.ts) {
			g.enqueue(ctx, m.build(o, to))
		}
	}
}
