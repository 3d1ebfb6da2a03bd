package irc

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/causewaybridge/causeway/bridges/irc/ircconn"
	"github.com/causewaybridge/causeway/internal/poll"
	"github.com/causewaybridge/causeway/matrix"
)

// batchServer is a scripted IRC server that confirms JOINs only in
// batches: a connection's JOINs are echoed once it has sent batch of
// them, as a busy server answers late. It records nothing.
type batchServer = scriptedServer

func startBatchServer(t *testing.T, batch int) *batchServer {
	t.Helper()
	return startServer(t, serverScript{echoJoins: true, joinBatch: batch})
}

// newReconnectModule returns a module with one network "test" at addr
// whose reconnect settings are cfg, and an SQLite store.
func newReconnectModule(t *testing.T, addr string, cfg ReconnectConfig, maxConns int) *network {
	t.Helper()
	m := newModule(t, Config{Networks: map[string]*NetworkConfig{"test": {Address: addr,
		Flood: FloodConfig{Rate: 1000, Burst: 1000}, Reconnect: cfg, MaxConnections: maxConns}}}, "")
	return m.networks["test"]
}

func (u *userConn) state() (c *ircconn.Conn, joined int) {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.conn, len(u.joined)
}

// TestReconnectRejoinsChannelsTogether: after a dropped connection the
// user's channels are all asked for at once, so a server that answers
// JOINs late (here: only once it has them all) does not make the rejoin
// take one join timeout per channel.
func TestReconnectRejoinsChannelsTogether(t *testing.T) {
	chans := []string{"#a", "#b", "#c", "#d", "#e"}
	srv := startBatchServer(t, len(chans))
	n := newReconnectModule(t, srv.addr, ReconnectConfig{MinDelay: 10 * time.Millisecond, MaxDelay: 50 * time.Millisecond, PerSecond: 1000}, 0)
	u := n.userConnFor("@u:localhost", "")
	var wg sync.WaitGroup
	for _, ch := range chans {
		wg.Go(func() {
			if err := u.join(t.Context(), ch); err != nil {
				t.Errorf("join %s: %v", ch, err)
			}
		})
	}
	wg.Wait()
	old, joined := u.state()
	if old == nil || joined != len(chans) {
		t.Fatalf("before the drop: connected %v, %d channels joined, want %d", old != nil, joined, len(chans))
	}
	if err := old.Close("dropped"); err != nil { // not a close on purpose: the bridge reconnects
		t.Fatal(err)
	}
	// One JOIN at a time would wait for an answer the server never sends
	// until the join timeout (30 s) for each channel.
	poll.Until(t, "all channels rejoined on the new connection", 15*time.Second, func() bool {
		c, joined := u.state()
		return c != nil && c != old && joined == len(chans)
	})
}

// TestBotReconnectDoesNotQueueBehindUsers: when the bot's connection drops
// while many users' (re)connections wait for the network's dial rate, the
// bot is back before they are all through, so channel traffic reaches
// Matrix again without waiting users ÷ per_second.
func TestBotReconnectDoesNotQueueBehindUsers(t *testing.T) {
	srv := startBatchServer(t, 1)
	const users = 20
	n := newReconnectModule(t, srv.addr, ReconnectConfig{MinDelay: 10 * time.Millisecond, MaxDelay: 50 * time.Millisecond, PerSecond: 2}, 0)
	go n.runBot(n.m.ctx)
	botConn := func() *ircconn.Conn {
		n.mu.Lock()
		defer n.mu.Unlock()
		return n.bot
	}
	poll.Until(t, "the bot connected", 15*time.Second, func() bool { return botConn() != nil })
	us := make([]*userConn, users)
	for i := range us {
		us[i] = n.userConnFor(matrix.UserID(fmt.Sprintf("@u%d:localhost", i)), "")
		go func() { _, _ = us[i].connect(n.m.ctx) }()
	}
	connected := func() int {
		k := 0
		for _, u := range us {
			if c, _ := u.state(); c != nil {
				k++
			}
		}
		return k
	}
	poll.Until(t, "a first user connected", 15*time.Second, func() bool { return connected() > 0 })
	old := botConn()
	if err := old.Close("dropped"); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, "the bot reconnected", 15*time.Second, func() bool { c := botConn(); return c != nil && c != old })
	if k := connected(); k == users {
		t.Fatalf("the bot came back only after all %d users (2 per second) had connected", users)
	}
}

// TestConnectionCapEvictsLeastRecentlyActive: at max_connections a new
// user's connection disconnects the least recently active user; below it
// nobody is.
func TestConnectionCapEvictsLeastRecentlyActive(t *testing.T) {
	srv := startBatchServer(t, 1)
	n := newReconnectModule(t, srv.addr, ReconnectConfig{MinDelay: 10 * time.Millisecond, MaxDelay: 50 * time.Millisecond, PerSecond: 1000}, 2)
	ctx := t.Context()
	a := n.userConnFor("@a:localhost", "")
	b := n.userConnFor("@b:localhost", "")
	for _, u := range []*userConn{a, b} {
		if _, err := u.connect(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := a.connect(ctx); err != nil { // a is active again: b is now the least recent
		t.Fatal(err)
	}
	if c, _ := a.state(); c == nil {
		t.Fatal("a was disconnected below the cap")
	}
	c := n.userConnFor("@c:localhost", "")
	if _, err := c.connect(ctx); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, "b disconnected", 15*time.Second, func() bool { conn, _ := b.state(); return conn == nil })
	for _, u := range []*userConn{a, c} {
		if conn, _ := u.state(); conn == nil {
			t.Errorf("%s was disconnected, want b only", u.user)
		}
	}
}
