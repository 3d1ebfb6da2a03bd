package core

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"time"

	"github.com/causewaybridge/causeway/bridges/kit/notice"
	"github.com/causewaybridge/causeway/intent"
	"github.com/causewaybridge/causeway/matrix"
)

// unsupportedWindow is how long the core stays quiet about a capability
// after telling a room that its module lacks it.
const unsupportedWindow = 10 * time.Minute

// noticeQueue is what [unsupportedNotices] needs from the outbox.
type noticeQueue interface {
	Send(ctx context.Context, op intent.Op) (queued bool, err error)
}

// unsupportedNotices tells a portal room, with a notice from the bridge bot
// queued in the durable outbox, that what a Matrix user just did there (an
// edit, a reaction, a redaction) does not reach the remote network because
// the room's module lacks the capability. It speaks at most once per room
// and kind within window: a hundred reactions in a row give one notice.
type unsupportedNotices struct {
	out    noticeQueue
	window time.Duration
	now    func() time.Time

	mu   sync.Mutex
	last map[unsupportedKey]time.Time // when each room was last told
}

type unsupportedKey struct {
	room matrix.RoomID
	kind string
}

func newUnsupportedNotices(out noticeQueue, window time.Duration) *unsupportedNotices {
	return &unsupportedNotices{out: out, window: window, now: time.Now, last: map[unsupportedKey]time.Time{}}
}

// report tells evt's room that kind is not bridged to network, unless the
// room was told within the window. A failure to queue the notice is logged;
// it does not fail the event.
func (u *unsupportedNotices) report(ctx context.Context, log *slog.Logger, evt *matrix.Event, kind, network string) {
	k := unsupportedKey{room: evt.RoomID, kind: kind}
	now := u.now()
	if !u.claim(k, now) {
		return
	}
	text, ok := notice.UnsupportedText(kind, network)
	if !ok {
		return
	}
	raw, _ := json.Marshal(matrix.MessageContent{MsgType: matrix.MsgNotice, Body: text})
	// The key makes a redelivered event queue no second notice.
	op := intent.Op{Kind: intent.OpMessage, Room: evt.RoomID, Type: matrix.EventMessage, Content: raw,
		Key: "core.unsupported:" + kind + ":" + string(evt.ID), Module: coreKV} // the core's own: no module hears of it
	if _, err := u.out.Send(ctx, op); err != nil {
		log.Warn("could not tell the room that something is not bridged", "kind", kind, "err", err)
		u.mu.Lock()
		if u.last[k].Equal(now) {
			delete(u.last, k) // the next one tries again
		}
		u.mu.Unlock()
	}
}

// claim records that k's room is told at now, and reports false when it
// was told less than a window ago.
func (u *unsupportedNotices) claim(k unsupportedKey, now time.Time) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	if t, ok := u.last[k]; ok && now.Sub(t) < u.window {
		return false
	}
	if len(u.last) >= 1024 { // forget rooms whose window is over
		for key, t := range u.last {
			if now.Sub(t) >= u.window {
				delete(u.last, key)
			}
		}
	}
	u.last[k] = now
	return true
}
