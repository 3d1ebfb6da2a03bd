package irc

import (
	"context"
	"time"

	"github.com/causewaybridge/causeway/matrix"
)

// runIdleJanitor disconnects Matrix users whose connection saw no Matrix
// activity for the network's idle_timeout, until ctx ends. It is the one
// janitor of the network (not one timer per user); a disconnected user's
// next message connects them again through deliver.
func (n *network) runIdleJanitor(ctx context.Context) {
	timeout := n.cfg.IdleTimeout
	if timeout <= 0 {
		return
	}
	t := time.NewTicker(idleCheckEvery(timeout))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			if closed := n.closeIdle(now, timeout); len(closed) > 0 {
				n.log().Info("disconnected idle Matrix users", "count", len(closed), "idle_timeout", timeout)
			}
		}
	}
}

// idleCheckEvery is how often the janitor looks: a quarter of the timeout,
// between one second and one minute.
func idleCheckEvery(timeout time.Duration) time.Duration {
	return min(max(timeout/4, time.Second), time.Minute)
}

// closeIdle quits the connections idle for timeout at now and returns
// their users.
func (n *network) closeIdle(now time.Time, timeout time.Duration) []matrix.UserID {
	n.mu.Lock()
	conns := make([]*userConn, 0, len(n.conns))
	for _, u := range n.conns {
		conns = append(conns, u)
	}
	n.mu.Unlock()
	var closed []matrix.UserID
	for _, u := range conns {
		u.mu.Lock()
		idle := u.conn != nil && !u.closed && now.Sub(u.lastActive) >= timeout
		u.mu.Unlock()
		if idle {
			u.close("Idle on Matrix for " + timeout.String() + "; back on their next message")
			closed = append(closed, u.user)
		}
	}
	return closed
}
