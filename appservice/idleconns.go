package appservice

import (
	"container/list"
	"net"
	"net/http"
	"sync"
)

// idleConns caps the keep-alive connections the HTTP server holds open
// between requests. A client that never reuses its connections would
// otherwise leave one open per transaction until IdleTimeout: Dendrite
// 0.15's appservice client never closes response bodies, so over a unix://
// URL (where it keeps connections alive) every transaction opens a new
// connection and the old ones stay open on both sides. At a few dozen
// transactions per second that is thousands of file descriptors and
// goroutines within the idle timeout. When more than max connections are
// idle, the ones idle longest are closed; a client that does reuse its
// connections keeps far fewer than max idle (homeservers send one
// transaction at a time per application service), so it never loses one.
type idleConns struct {
	max   int
	mu    sync.Mutex
	order *list.List // idle connections, longest idle first
	at    map[net.Conn]*list.Element
}

func newIdleConns(max int) *idleConns {
	return &idleConns{max: max, order: list.New(), at: map[net.Conn]*list.Element{}}
}

// track is the http.Server ConnState hook.
func (ic *idleConns) track(c net.Conn, state http.ConnState) {
	var drop []net.Conn
	ic.mu.Lock()
	if state == http.StateIdle {
		if _, ok := ic.at[c]; !ok {
			ic.at[c] = ic.order.PushBack(c)
		}
		for ic.order.Len() > ic.max {
			old := ic.order.Remove(ic.order.Front()).(net.Conn)
			delete(ic.at, old)
			drop = append(drop, old)
		}
	} else if e, ok := ic.at[c]; ok {
		ic.order.Remove(e)
		delete(ic.at, c)
	}
	ic.mu.Unlock()
	for _, old := range drop {
		// Its serving goroutine sees the read fail and reports
		// StateClosed, which finds nothing left to remove.
		_ = old.Close()
	}
}
