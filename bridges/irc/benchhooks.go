package irc

import (
	"context"
	"fmt"

	"github.com/causewaybridge/causeway/matrix"
)

// BenchPortal makes the bot join channel on network and creates its portal
// room, as an alias query for it does. It is a hook for the load
// generators in bench/, which drive thousands of users without Matrix.
func (m *Module) BenchPortal(ctx context.Context, network, channel string) (matrix.RoomID, error) {
	n := m.networks[network]
	if n == nil {
		return "", fmt.Errorf("%w: %s", errNoNetwork, network)
	}
	return n.ensurePortal(ctx, channel, "")
}

// BenchJoin runs what a Matrix user's join to a portal runs: the user's own
// IRC connection is made (if needed) and joins channel, waiting for the
// server's confirmation. The per-user state kept is the real one. It is a
// hook for the load generators in bench/.
func (m *Module) BenchJoin(ctx context.Context, network string, user matrix.UserID, channel string) error {
	n := m.networks[network]
	if n == nil {
		return fmt.Errorf("%w: %s", errNoNetwork, network)
	}
	return n.userConnFor(user, "").join(ctx, channel)
}

// BenchCounts reports how many Matrix users of network have a live IRC
// connection and how many channel joins those connections hold. It is a
// hook for the load generators in bench/.
func (m *Module) BenchCounts(network string) (connected, joins int) {
	n := m.networks[network]
	if n == nil {
		return 0, 0
	}
	n.mu.Lock()
	conns := make([]*userConn, 0, len(n.conns))
	for _, u := range n.conns {
		conns = append(conns, u)
	}
	n.mu.Unlock()
	for _, u := range conns {
		u.mu.Lock()
		if u.conn != nil {
			connected++
			joins += len(u.joined)
		}
		u.mu.Unlock()
	}
	return connected, joins
}
