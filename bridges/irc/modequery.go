package irc

import (
	"context"
	"sync"
	"time"
)

// modeQueryTimeout bounds the wait for a channel's modes before a portal
// is created; without an answer the room is created with the defaults.
const modeQueryTimeout = 5 * time.Second

// modeWaits are the waiters for RPL_CHANNELMODEIS (324), by casefolded
// channel. Servers do not send a channel's modes on JOIN, so the bot asks
// for them before it creates a portal: +i/+k and +s/+p decide the room's
// join rule and directory visibility.
type modeWaits struct {
	mu sync.Mutex
	by map[string][]chan struct{}
}

// queryModes asks the server for channel's modes and waits (bounded) until
// they are in the shared channel state.
func (n *network) queryModes(ctx context.Context, channel string) {
	c, err := n.botConn(ctx)
	if err != nil {
		return
	}
	f := n.fold(channel)
	ch := make(chan struct{})
	n.modes.mu.Lock()
	if n.modes.by == nil {
		n.modes.by = map[string][]chan struct{}{}
	}
	n.modes.by[f] = append(n.modes.by[f], ch)
	n.modes.mu.Unlock()
	if err := c.Send(ctx, nil, "MODE", channel); err != nil {
		return
	}
	t := time.NewTimer(modeQueryTimeout)
	defer t.Stop()
	select {
	case <-ch:
	case <-t.C:
		n.log().Warn("no channel modes from the server; the portal gets the default join rule and visibility", "channel", channel)
	case <-ctx.Done():
	}
}

// modesKnown wakes the waiters of channel's modes (after 324 was applied).
func (n *network) modesKnown(channel string) {
	f := n.fold(channel)
	n.modes.mu.Lock()
	ws := n.modes.by[f]
	delete(n.modes.by, f)
	n.modes.mu.Unlock()
	for _, w := range ws {
		close(w)
	}
}
