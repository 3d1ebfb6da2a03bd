package irc

import (
	"context"
	"sync"

	"github.com/ergochat/irc-go/ircmsg"

	"github.com/causewaybridge/causeway/bridges/irc/ircconn"
)

// The bot's connection reads every bridged channel for everyone, so it
// must never fall behind the server: a server closes a connection whose
// send queue overflows (Ergo: "SendQ Exceeded" at 96 KiB by default), and
// a burst of thousands of lines arrives far faster than a homeserver takes
// messages. The connection reads its socket ahead on a goroutine of its
// own (botReadAhead), and its read loop only appends each line to the
// network's ingest queue and returns at once; one goroutine
// per network (runIngest) handles the queue in the order it was read:
// state, outbox writes (durable, about 10,000 a second), catch-up steps.
// The homeserver is never waited on there: the outbox sends in the
// background.
//
// A line still in the queue when the process dies is not lost: the
// catch-up after the restart (catchup.go) starts from the newest message
// the outbox holds for the channel, so the server sends it again.

// botReadAhead bounds what the bot's connection reads ahead of parsing
// (ircconn.Config.ReadAhead): the socket is drained at the speed the
// server writes, so a burst lands in the bridge's memory, not in the
// server's send queue (Ergo closes a client whose queue passes 96 KiB).
const botReadAhead = 64 << 20

// ingestItem is one thing for the ingest goroutine to handle: a line, a
// batch, or a step of the catch-up that must run in order with them.
type ingestItem struct {
	c     *ircconn.Conn
	msg   *ircmsg.Message
	batch *ircconn.Batch
	step  func(ctx context.Context)
}

// ingestQueue is the unbounded FIFO between the bot's read loop and the
// ingest goroutine.
type ingestQueue struct {
	mu    sync.Mutex
	items []ingestItem
	// warnAt is the queue length at which the next warning is logged.
	warnAt int
	wake   chan struct{}
}

// ingestWarnAt is the first queue length worth a warning: the ingest
// goroutine is well behind the server (a slow disk, most likely).
const ingestWarnAt = 50_000

func newIngestQueue() *ingestQueue {
	return &ingestQueue{wake: make(chan struct{}, 1), warnAt: ingestWarnAt}
}

// push appends it and wakes the ingest goroutine. It never blocks. It
// returns the queue length when it crossed a warning threshold, else 0.
func (q *ingestQueue) push(it ingestItem) (backlog int) {
	q.mu.Lock()
	q.items = append(q.items, it)
	if len(q.items) >= q.warnAt {
		backlog = len(q.items)
		q.warnAt *= 2
	}
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
	return backlog
}

// take returns everything queued and empties the queue.
func (q *ingestQueue) take() []ingestItem {
	q.mu.Lock()
	defer q.mu.Unlock()
	items := q.items
	q.items = nil
	if len(items) < ingestWarnAt {
		q.warnAt = ingestWarnAt
	}
	return items
}

// queue adds an item to the network's ingest queue.
func (n *network) queue(it ingestItem) {
	if backlog := n.ingest.push(it); backlog > 0 {
		n.log().Warn("IRC lines are read faster than they are stored; they wait in memory", "queued", backlog)
	}
}

// queueStep runs step on the ingest goroutine after everything queued so
// far.
func (n *network) queueStep(step func(ctx context.Context)) { n.queue(ingestItem{step: step}) }

// runIngest handles the ingest queue until ctx is done. Items left then
// are dropped: the catch-up of the next start fetches their lines again.
func (n *network) runIngest(ctx context.Context) {
	h := botHandler{n}
	for {
		select {
		case <-ctx.Done():
			return
		case <-n.ingest.wake:
		}
		for items := n.ingest.take(); len(items) > 0; items = n.ingest.take() {
			for i := range items {
				if ctx.Err() != nil {
					return
				}
				it := &items[i]
				switch {
				case it.step != nil:
					it.step(ctx)
				case it.batch != nil:
					h.HandleBatch(it.c, it.batch)
				case it.msg != nil:
					h.HandleMessage(it.c, it.msg)
				}
				*it = ingestItem{} // let the line go
			}
		}
	}
}

// queuedBotHandler is the bot connection's ircconn.Handler: it queues
// what the connection reads for the ingest goroutine (see botHandler).
type queuedBotHandler struct{ n *network }

// HandleMessage implements ircconn.Handler.
func (h queuedBotHandler) HandleMessage(c *ircconn.Conn, m *ircmsg.Message) {
	h.n.queue(ingestItem{c: c, msg: m})
}

// HandleBatch implements ircconn.Handler.
func (h queuedBotHandler) HandleBatch(c *ircconn.Conn, b *ircconn.Batch) {
	h.n.queue(ingestItem{c: c, batch: b})
}

// HandleClose implements ircconn.Handler.
func (h queuedBotHandler) HandleClose(*ircconn.Conn, error) {}

var _ ircconn.Handler = queuedBotHandler{}
