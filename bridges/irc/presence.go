package irc

import (
	"context"
	"sync"
	"time"

	"github.com/causewaybridge/causeway/bridges"
	"github.com/causewaybridge/causeway/bridges/irc/ircconn"
	"github.com/causewaybridge/causeway/intent"
	"github.com/causewaybridge/causeway/matrix"
)

// awayState is the presence bookkeeping of both directions. The zero value
// is ready to use.
type awayState struct {
	mu sync.Mutex
	// sent is the AWAY message last set on a Matrix user's connection
	// ("" = back), per network and user; a new connection starts present.
	sent map[awayKey]awaySent
	// puppets is the latest IRC away state per puppet not yet written to
	// Matrix; one worker drains it, keeping only the newest per puppet.
	puppets map[matrix.UserID]string
	working bool
}

type awayKey struct {
	network string
	user    matrix.UserID
}

type awaySent struct {
	conn *ircconn.Conn
	msg  string
}

// defaultAwayMessage is set when a Matrix user goes unavailable without a
// status message.
const defaultAwayMessage = "Away (on Matrix)"

// HandleMatrixPresence implements bridges.PresenceHandler: a bridged Matrix
// user going unavailable or offline is marked AWAY on each of their live
// IRC connections, and back when online again. It never dials: users
// without a connection have nothing to mark.
func (m *Module) HandleMatrixPresence(ctx context.Context, p *bridges.Presence) {
	msg := ""
	switch p.Presence {
	case intent.PresenceOnline:
	case intent.PresenceUnavailable, intent.PresenceOffline:
		msg = oneLine(p.StatusMsg)
		if msg == "" {
			msg = defaultAwayMessage
		}
	default:
		return
	}
	for _, id := range m.order {
		n := m.networks[id]
		n.mu.Lock()
		u := n.conns[p.UserID]
		n.mu.Unlock()
		if u == nil {
			continue
		}
		u.mu.Lock()
		c := u.conn
		u.mu.Unlock()
		if c != nil {
			m.setAway(ctx, n, p.UserID, c, msg)
		} else {
			m.wantAway(n, p.UserID, msg) // reconnecting: restoreAway sets it
		}
	}
}

// wantAway records the away message a user's next connection must show.
func (m *Module) wantAway(n *network, user matrix.UserID, msg string) {
	a := &m.x.away
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.sent == nil {
		a.sent = map[awayKey]awaySent{}
	}
	a.sent[awayKey{n.id, user}] = awaySent{msg: msg}
}

// restoreAway marks a user's new connection (after a reconnect: server
// restart, ping timeout, idle or eviction) AWAY again when the user was
// away on Matrix: a new IRC connection starts present.
func (m *Module) restoreAway(ctx context.Context, n *network, user matrix.UserID, c *ircconn.Conn) {
	a := &m.x.away
	a.mu.Lock()
	prev, ok := a.sent[awayKey{n.id, user}]
	a.mu.Unlock()
	if ok && prev.msg != "" && prev.conn != c {
		m.setAway(ctx, n, user, c, prev.msg)
	}
}

// setAway sends AWAY on c unless it already shows msg.
func (m *Module) setAway(ctx context.Context, n *network, user matrix.UserID, c *ircconn.Conn, msg string) {
	k := awayKey{n.id, user}
	a := &m.x.away
	a.mu.Lock()
	if a.sent == nil {
		a.sent = map[awayKey]awaySent{}
	}
	prev, ok := a.sent[k]
	if (ok && prev.conn == c && prev.msg == msg) || ((!ok || prev.conn != c) && msg == "") {
		a.mu.Unlock()
		return // unchanged, or "back" on a connection that was never away
	}
	a.sent[k] = awaySent{conn: c, msg: msg}
	a.mu.Unlock()
	var err error
	if msg == "" {
		err = c.Send(ctx, nil, "AWAY")
	} else {
		err = c.Send(ctx, nil, "AWAY", msg)
	}
	if err != nil {
		n.log().Info("AWAY not sent", "user", user, "err", err)
	}
}

// awayFromIRC records an IRC user's away state (away-notify AWAY or a 301
// reply) for their puppet's Matrix presence: unavailable with the away
// message, or online when back. Bridged Matrix users are skipped.
func (n *network) awayFromIRC(nick, msg string) {
	if nick == "" || n.isBridgedNick(nick) {
		return
	}
	id, err := n.puppetID(nick)
	if err != nil {
		return
	}
	a := &n.m.x.away
	a.mu.Lock()
	if a.puppets == nil {
		a.puppets = map[matrix.UserID]string{}
	}
	a.puppets[id] = msg
	start := !a.working
	a.working = true
	a.mu.Unlock()
	if start {
		n.m.goTracked(n.m.writePresence)
	}
}

// writePresence writes the queued puppet presences to Matrix until none is
// left, so the IRC reader never waits on the homeserver.
func (m *Module) writePresence(ctx context.Context) {
	a := &m.x.away
	for {
		a.mu.Lock()
		var id matrix.UserID
		var msg string
		found := false
		for k, v := range a.puppets {
			id, msg, found = k, v, true
			delete(a.puppets, k)
			break
		}
		if !found || ctx.Err() != nil {
			a.working = false
			a.mu.Unlock()
			return
		}
		a.mu.Unlock()
		presence := intent.PresenceOnline
		if msg != "" {
			presence = intent.PresenceUnavailable
		}
		pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		if err := m.client.Intent(id).SetPresence(pctx, presence, msg); err != nil {
			m.log.Info("could not set puppet presence", "user", id, "err", err)
		}
		cancel()
	}
}

var _ bridges.PresenceHandler = (*Module)(nil)
