package irc

import (
	"context"
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/causewaybridge/causeway/intent"
	"github.com/causewaybridge/causeway/internal/poll"
	"github.com/causewaybridge/causeway/matrix"
)

// nickLog records the NICK lines a scripted server receives, registration
// included, by connection.
type nickLog struct {
	mu    sync.Mutex
	nicks []string
}

func (l *nickLog) answer(_, line string) ([]string, bool) {
	if nick, ok := strings.CutPrefix(line, "NICK "); ok {
		l.mu.Lock()
		l.nicks = append(l.nicks, nick)
		l.mu.Unlock()
	}
	return nil, false
}

func (l *nickLog) all() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.nicks)
}

// identityServer is a scripted server that echoes JOINs and logs NICKs.
func identityServer(t *testing.T) (*scriptedServer, *nickLog) {
	t.Helper()
	l := &nickLog{}
	return startServer(t, serverScript{echoJoins: true, answer: l.answer}), l
}

// identityNetwork returns the network "test" at addr of a module whose
// store is the SQLite file db; what it starts in the background is waited
// for when the test ends. Its notices stay queued.
func identityNetwork(t *testing.T, addr, db string, maxConns int) *network {
	t.Helper()
	m := newModule(t, Config{Networks: map[string]*NetworkConfig{"test": {Address: addr,
		Flood:     FloodConfig{Rate: 1000, Burst: 1000},
		Reconnect: ReconnectConfig{MinDelay: 10 * time.Millisecond, MaxDelay: 50 * time.Millisecond, PerSecond: 1000}, MaxConnections: maxConns}}}, db)
	useQueuedOutbox(t, m, "http://127.0.0.1:1")
	t.Cleanup(func() { m.cancel(); m.wg.Wait() })
	return m.networks["test"]
}

// stop does what Module.Stop does to the connections: the root context
// ends, then every connection quits.
func stop(n *network) {
	n.m.cancel()
	n.closeAll("Causeway bridge shutting down")
}

// withPortals gives n a portal room "!<name>" per channel, user joined to
// those in member.
func withPortals(t *testing.T, n *network, user matrix.UserID, portals []string, member ...string) {
	t.Helper()
	for _, ch := range portals {
		room := matrix.RoomID("!" + strings.TrimPrefix(ch, "#"))
		n.addPortal(ch, room, nil)
		membership := intent.MembershipLeave
		if slices.Contains(member, ch) {
			membership = intent.MembershipJoin
		}
		if err := storeOf(n.m).SetMembership(t.Context(), string(room), string(user), membership); err != nil {
			t.Fatal(err)
		}
	}
}

func storeSaved(t *testing.T, n *network, user matrix.UserID, rec savedConn) {
	t.Helper()
	raw, err := json.Marshal(rec)
	if err != nil {
		t.Fatal(err)
	}
	if err := storeOf(n.m).PutKV(t.Context(), ID, kvConn(n.id, user), raw); err != nil {
		t.Fatal(err)
	}
}

func readSaved(t *testing.T, n *network, user matrix.UserID) savedConn {
	t.Helper()
	rec, err := n.readSaved(context.WithoutCancel(t.Context()), user)
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

// wantedChannels returns the casefolded channels u is to be in.
func (u *userConn) wantedChannels() []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	var out []string
	for f := range u.wanted {
		out = append(out, f)
	}
	slices.Sort(out)
	return out
}

// TestRestartKeepsNickAndChannels: a user's nick (from their display
// name), display name and channels are stored as they change; stopping
// the bridge forgets none of it, and the next start connects the user
// with the same nick and rejoins their channels without a word from them.
func TestRestartKeepsNickAndChannels(t *testing.T) {
	const user = matrix.UserID("@k9m62927:localhost")
	srv, nicks := identityServer(t)
	db := filepath.Join(t.TempDir(), "db")
	n := identityNetwork(t, srv.addr, db, 0)
	ctx := t.Context()
	u := n.userConnFor(user, "K9m User")
	for _, ch := range []string{"#a", "#b"} {
		if err := u.join(ctx, ch); err != nil {
			t.Fatal(err)
		}
	}
	if rec := readSaved(t, n, user); rec.Nick != "K9m_User" || rec.Asked != "K9m_User" || rec.Displayname != "K9m User" ||
		!slices.Equal(rec.Channels, []string{"#a", "#b"}) {
		t.Fatalf("stored while connected: %+v", rec)
	}
	u.part(ctx, "#b", "Left the Matrix room")
	if rec := readSaved(t, n, user); !slices.Equal(rec.Channels, []string{"#a"}) {
		t.Fatalf("stored after leaving #b: channels %q, want [#a]", rec.Channels)
	}
	stop(n)
	if rec := readSaved(t, n, user); rec.Nick != "K9m_User" || !slices.Equal(rec.Channels, []string{"#a"}) {
		t.Fatalf("stored after the bridge stopped: %+v, want it unchanged", rec)
	}
	before := len(nicks.all())

	// The next run: no event has carried the display name yet.
	n2 := identityNetwork(t, srv.addr, db, 0)
	withPortals(t, n2, user, []string{"#a", "#b"}, "#a", "#b")
	n2.m.restoreConnections()
	var u2 *userConn
	poll.Until(t, "the user back in #a", 15*time.Second, func() bool {
		u2 = n2.existingConn(user)
		if u2 == nil {
			return false
		}
		c, joined := u2.state()
		return c != nil && joined == 1
	})
	if got := nicks.all()[before:]; len(got) == 0 || got[0] != "K9m_User" {
		t.Fatalf("after the restart the connection asked for %q, want K9m_User first", got)
	}
	if c, _ := u2.state(); c.Nick() != "K9m_User" {
		t.Fatalf("nick after the restart %s, want K9m_User", c.Nick())
	}
	if got := u2.wantedChannels(); !slices.Equal(got, []string{"#a"}) {
		t.Fatalf("channels after the restart %q, want [#a] (#b was left before it)", got)
	}
}

// TestRestoreAsksForTheLastNick: after a restart the connection asks for
// the nick it had, even a variant it got because its nick was taken, as
// long as the user still asks for the same nick; after a change of
// display name it asks for the new one.
func TestRestoreAsksForTheLastNick(t *testing.T) {
	const user = matrix.UserID("@k9m62927:localhost")
	for i, tc := range []struct {
		rec  savedConn
		want string
	}{
		0: {savedConn{Nick: "K9m_User_", Asked: "K9m_User", Displayname: "K9m User", Channels: []string{"#a"}}, "K9m_User_"},
		1: {savedConn{Nick: "Old_Name", Asked: "Old_Name", Displayname: "K9m User", Channels: []string{"#a"}}, "K9m_User"},
	} {
		t.Run(tc.want, func(t *testing.T) {
			srv, nicks := identityServer(t)
			n := identityNetwork(t, srv.addr, "", 0)
			withPortals(t, n, user, []string{"#a"}, "#a")
			storeSaved(t, n, user, tc.rec)
			n.m.restoreConnections()
			poll.Until(t, "the user connected", 15*time.Second, func() bool {
				u := n.existingConn(user)
				if u == nil {
					return false
				}
				c, joined := u.state()
				return c != nil && joined == 1
			})
			if got := nicks.all(); len(got) == 0 || got[0] != tc.want {
				t.Fatalf("%d: the connection asked for %q, want %s first", i, got, tc.want)
			}
		})
	}
}

// TestRestoreOnlyRoomsStillJoined: a channel whose room the user left while
// the bridge was down, or whose portal is gone, is not rejoined and no
// longer stored; a user left with no channel is not connected at all.
func TestRestoreOnlyRoomsStillJoined(t *testing.T) {
	const stays, leaves = matrix.UserID("@stays:localhost"), matrix.UserID("@leaves:localhost")
	srv, _ := identityServer(t)
	n := identityNetwork(t, srv.addr, "", 0)
	withPortals(t, n, stays, []string{"#a", "#b"}, "#a")
	withPortals(t, n, leaves, []string{"#a", "#b"})
	storeSaved(t, n, stays, savedConn{Nick: "stays", Asked: "stays", Channels: []string{"#a", "#b", "#gone"}})
	storeSaved(t, n, leaves, savedConn{Nick: "leaves", Asked: "leaves", Displayname: "Leaves", Channels: []string{"#a"}})
	n.m.restoreConnections()
	var u *userConn
	poll.Until(t, "the staying user back in #a", 15*time.Second, func() bool {
		u = n.existingConn(stays)
		if u == nil {
			return false
		}
		c, joined := u.state()
		return c != nil && joined == 1
	})
	n.m.wg.Wait() // the restore is over
	if got := u.wantedChannels(); !slices.Equal(got, []string{"#a"}) {
		t.Fatalf("rejoined %q, want [#a]", got)
	}
	if rec := readSaved(t, n, stays); !slices.Equal(rec.Channels, []string{"#a"}) {
		t.Fatalf("stored channels after the restore %q, want [#a]", rec.Channels)
	}
	if got := srv.accepts.Load(); got != 1 {
		t.Fatalf("%d connections made, want 1 (the user who left every room stays away)", got)
	}
	if rec := readSaved(t, n, leaves); len(rec.Channels) != 0 || rec.Nick != "leaves" || rec.Displayname != "Leaves" {
		t.Fatalf("stored for the user who left: %+v, want the nick and name without channels", rec)
	}
}

// TestCloseOnPurposeForgetsChannels: a connection closed on purpose (idle,
// the connection cap, !quit) is not made again at the next start; its nick
// and display name stay stored.
func TestCloseOnPurposeForgetsChannels(t *testing.T) {
	const user = matrix.UserID("@idle:localhost")
	srv, _ := identityServer(t)
	db := filepath.Join(t.TempDir(), "db")
	n := identityNetwork(t, srv.addr, db, 0)
	u := n.userConnFor(user, "Idle One")
	if err := u.join(t.Context(), "#a"); err != nil {
		t.Fatal(err)
	}
	u.close("Idle on Matrix for 1h0m0s; back on their next message")
	if rec := readSaved(t, n, user); len(rec.Channels) != 0 || rec.Nick != "Idle_One" || rec.Displayname != "Idle One" {
		t.Fatalf("stored after the close: %+v, want the nick and name without channels", rec)
	}
	stop(n)
	accepted := srv.accepts.Load()

	n2 := identityNetwork(t, srv.addr, db, 0)
	withPortals(t, n2, user, []string{"#a"}, "#a")
	n2.m.restoreConnections()
	n2.m.wg.Wait() // the restore is over: a restored connection would be up by now
	if got := srv.accepts.Load(); got != accepted || n2.existingConn(user) != nil {
		t.Fatalf("a connection closed on purpose was made again at the start (%d connections, was %d)", got, accepted)
	}
	// Their next message connects them under the nick of their name.
	c, err := n2.userConnFor(user, "").connect(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if c.Nick() != "Idle_One" {
		t.Fatalf("nick on the next connection %s, want Idle_One (from the stored display name)", c.Nick())
	}
}

// TestRestoreRespectsConnectionCap: with more stored connections than
// max_connections allows, the most recently stored come back, up to the
// cap.
func TestRestoreRespectsConnectionCap(t *testing.T) {
	const older, newer = matrix.UserID("@older:localhost"), matrix.UserID("@newer:localhost")
	srv, _ := identityServer(t)
	n := identityNetwork(t, srv.addr, "", 1)
	now := time.Now()
	for _, u := range []matrix.UserID{older, newer} {
		withPortals(t, n, u, []string{"#a"}, "#a")
	}
	storeSaved(t, n, older, savedConn{Nick: "older", Asked: "older", Channels: []string{"#a"}, Saved: now.Add(-time.Hour)})
	storeSaved(t, n, newer, savedConn{Nick: "newer", Asked: "newer", Channels: []string{"#a"}, Saved: now})
	n.m.restoreConnections()
	poll.Until(t, "the most recent user connected", 15*time.Second, func() bool {
		u := n.existingConn(newer)
		if u == nil {
			return false
		}
		c, joined := u.state()
		return c != nil && joined == 1
	})
	n.m.wg.Wait() // nothing else is restored: the wait ends
	if u := n.existingConn(older); u != nil {
		t.Fatal("a user beyond max_connections was connected")
	}
	if got := srv.accepts.Load(); got != 1 {
		t.Fatalf("%d connections made, want 1", got)
	}
}
