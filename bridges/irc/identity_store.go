package irc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/causewaybridge/causeway/bridges"
	"github.com/causewaybridge/causeway/intent"
	"github.com/causewaybridge/causeway/matrix"
)

// Matrix users' connections across restarts. What a user's connection is
// on IRC (the nick the server gave it, the display name it came from, the
// channels it joined) is kept in the module KV whenever it changes, so
// that after a stop or a crash the same user gets the same nick and is
// back in the same channels without having to speak first: Start
// reconnects every stored connection in the background, at the network's
// reconnect rate. A connection closed on purpose (idle timeout, the
// connection cap, !quit) keeps its nick and display name but forgets its
// channels, so it is not made again at the next start; stopping the
// bridge forgets nothing.

// kvConnPrefix is the prefix of the store keys of a network's connections.
func kvConnPrefix(network string) string { return "conn:" + network + ":" }

// kvConn is the store key of a user's connection on a network.
func kvConn(network string, user matrix.UserID) string { return kvConnPrefix(network) + string(user) }

// savedConn is the stored form of a user's connection on a network.
type savedConn struct {
	// Nick is the nick the server last gave the connection.
	Nick string `json:"nick,omitempty"`
	// Asked is the nick the user asked for (wantNick) when they got Nick,
	// which may be a variant of it: Nick is asked for again only while
	// the user still asks for Asked (no new display name or !nick since).
	Asked string `json:"asked,omitempty"`
	// Displayname is the user's Matrix display name, the base of the nick.
	Displayname string `json:"displayname,omitempty"`
	// Channels are the channels the connection joined, by their portal
	// names: the ones to rejoin after a restart.
	Channels []string `json:"channels,omitempty"`
	// Saved is when it was stored; the most recent come first when the
	// connection cap does not let all of them back.
	Saved time.Time `json:"saved"`
}

// savedState is a connection's memory of its stored form. Its fields are
// guarded by the userConn's mu, except write. Its zero value is ready.
type savedState struct {
	// write orders the store writes of the connection, each of which
	// stores the state as it is when the write starts.
	write sync.Mutex
	// loaded is set once the stored form was read (or given by restore).
	loaded bool
	// dirty is set when the nick or display name changed since they were
	// stored.
	dirty bool
	nick  string
	asked string
	// channels are the casefolded channels to rejoin after a restart, with
	// their names.
	channels map[string]string
}

// readSaved returns the stored form of user's connection on n; the zero
// value when none is stored.
func (n *network) readSaved(ctx context.Context, user matrix.UserID) (savedConn, error) {
	var rec savedConn
	raw, err := n.m.kv.Get(ctx, kvConn(n.id, user))
	if errors.Is(err, bridges.ErrNotFound) {
		return rec, nil
	}
	if err != nil {
		return rec, fmt.Errorf("read the stored connection of %s: %w", user, err)
	}
	if err := json.Unmarshal(raw, &rec); err != nil {
		return rec, fmt.Errorf("decode the stored connection of %s: %w", user, err)
	}
	return rec, nil
}

// loadSaved reads the stored form of the connection once: the nick and
// display name of earlier runs. Its channels are not taken: a connection
// made again after a restart is given them by restore; any other starts
// with none.
func (u *userConn) loadSaved(ctx context.Context) bool {
	u.mu.Lock()
	loaded := u.saved.loaded
	u.mu.Unlock()
	if loaded {
		return true
	}
	rec, err := u.n.readSaved(ctx, u.user)
	if err != nil {
		u.n.log().Warn("could not read a stored connection", "user", u.user, "err", err)
		return false
	}
	u.seed(rec, nil)
	return true
}

// seed gives the connection its stored form, unless it has it already,
// and adds channels to the ones it keeps.
func (u *userConn) seed(rec savedConn, channels map[string]string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if !u.saved.loaded {
		u.saved.loaded = true
		u.saved.nick, u.saved.asked = rec.Nick, rec.Asked
		if u.displayname == "" {
			u.displayname = rec.Displayname
		}
	}
	if len(channels) > 0 && u.saved.channels == nil {
		u.saved.channels = map[string]string{}
	}
	for f, ch := range channels {
		u.saved.channels[f] = ch
	}
}

// lastNickFor returns the nick the connection last had when the user
// still asks for want, else "".
func (u *userConn) lastNickFor(want string) string {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.saved.asked != want {
		return ""
	}
	return u.saved.nick
}

// persist stores the connection's state. A failure is logged: the state in
// memory stays right, and the next change stores it again.
func (u *userConn) persist(ctx context.Context) {
	u.saved.write.Lock()
	defer u.saved.write.Unlock()
	if !u.loadSaved(ctx) {
		return // storing now would overwrite what earlier runs stored
	}
	u.mu.Lock()
	rec := savedConn{Nick: u.saved.nick, Asked: u.saved.asked, Displayname: u.displayname, Saved: time.Now().UTC()}
	for _, ch := range u.saved.channels {
		rec.Channels = append(rec.Channels, ch)
	}
	u.saved.dirty = false
	u.mu.Unlock()
	slices.Sort(rec.Channels)
	raw, err := json.Marshal(rec)
	if err == nil {
		err = u.n.m.kv.Put(ctx, kvConn(u.n.id, u.user), raw)
	}
	if err != nil {
		u.n.log().Warn("could not store a user's connection", "user", u.user, "err", err)
		u.mu.Lock()
		u.saved.dirty = true
		u.mu.Unlock()
	}
}

// persistIfDirty stores the connection's state if it changed since it was
// last stored.
func (u *userConn) persistIfDirty(ctx context.Context) {
	u.mu.Lock()
	dirty := u.saved.dirty
	u.mu.Unlock()
	if dirty {
		u.persist(ctx)
	}
}

// keepChannel stores that the connection joined channel, so that it joins
// it again after a restart.
func (u *userConn) keepChannel(ctx context.Context, channel string) {
	f := u.n.fold(channel)
	u.mu.Lock()
	if _, wanted := u.wanted[f]; !wanted {
		u.mu.Unlock()
		return // left while the JOIN was on its way
	}
	if u.saved.channels == nil {
		u.saved.channels = map[string]string{}
	}
	same := u.saved.channels[f] == channel && !u.saved.dirty
	u.saved.channels[f] = channel
	u.mu.Unlock()
	if !same {
		u.persist(ctx)
	}
}

// dropChannel stores that the connection left channel (the user left the
// portal, or was kicked on IRC).
func (u *userConn) dropChannel(ctx context.Context, channel string) {
	if ctx == nil || ctx.Err() != nil {
		return
	}
	f := u.n.fold(channel)
	u.mu.Lock()
	_, had := u.saved.channels[f]
	delete(u.saved.channels, f)
	u.mu.Unlock()
	if had {
		u.persist(ctx)
	}
}

// forgetChannels stores that the connection was closed on purpose: it is
// not made again at the next start. The nick and display name stay.
func (u *userConn) forgetChannels(ctx context.Context) {
	u.mu.Lock()
	u.saved.channels = nil
	u.mu.Unlock()
	u.persist(ctx)
}

// nickTaken stores the nick the server gave the connection with a NICK
// (!nick, a recovered nick). A nick the user did not ask for (a server's
// forced rename) is stored as such but not asked for after a restart.
func (u *userConn) nickTaken(ctx context.Context, nick string) {
	if ctx == nil || ctx.Err() != nil {
		return // stopping: what is stored stays
	}
	want := u.wantNick()
	asked := ""
	if u.n.fold(nick) == u.n.fold(want) {
		asked = want
	}
	u.mu.Lock()
	u.saved.nick, u.saved.asked = nick, asked
	u.mu.Unlock()
	u.persist(ctx)
}

// restoreConnections reconnects, in the background, the Matrix users whose
// connections were up when the bridge last stopped or crashed. It does not
// wait for them.
func (m *Module) restoreConnections() {
	for _, id := range m.order {
		n := m.networks[id]
		m.wg.Go(func() { n.restoreConns(m.ctx) })
	}
}

// storedConn is a user's stored connection.
type storedConn struct {
	user matrix.UserID
	rec  savedConn
}

// restoreConns reconnects the network's stored connections, the most
// recently stored first, as many as the connection cap leaves room for.
// Each connection rejoins its channels whose portal still exists and
// whose room the user is still in (the membership the bridge recorded).
// The network's dial limit paces the connections; each runs in its own
// tracked goroutine, until it is up or ctx ends.
func (n *network) restoreConns(ctx context.Context) {
	stored, err := n.storedConns(ctx)
	if err != nil {
		n.log().Error("could not read the connections to restore", "err", err)
		return
	}
	free := n.cfg.MaxConnections - n.liveConns()
	restored, skipped := 0, 0
	for _, sc := range stored {
		if ctx.Err() != nil {
			return
		}
		channels := n.stillJoined(ctx, sc.user, sc.rec.Channels)
		if len(channels) == 0 {
			n.forgetStoredChannels(ctx, sc)
			continue
		}
		if restored >= free {
			skipped++
			continue
		}
		restored++
		u := n.userConnFor(sc.user, "")
		u.seed(sc.rec, channels)
		if len(channels) < len(sc.rec.Channels) {
			u.mu.Lock()
			u.saved.dirty = true // stored without the channels left, once connected
			u.mu.Unlock()
		}
		n.m.wg.Go(func() { n.restoreConn(ctx, u, channels) })
	}
	if restored > 0 || skipped > 0 {
		n.log().Info("reconnecting the users connected before the restart", "users", restored,
			"over_max_connections", skipped, "per_second", n.cfg.Reconnect.PerSecond)
	}
}

// forgetStoredChannels stores that none of a stored connection's channels
// is to be rejoined (the user left their rooms, or the portals are gone),
// unless the user has a connection already, which stores its own state.
func (n *network) forgetStoredChannels(ctx context.Context, sc storedConn) {
	if n.existingConn(sc.user) != nil {
		return
	}
	sc.rec.Channels = nil
	raw, err := json.Marshal(sc.rec)
	if err == nil {
		err = n.m.kv.Put(ctx, kvConn(n.id, sc.user), raw)
	}
	if err != nil {
		n.log().Warn("could not store a user's connection", "user", sc.user, "err", err)
	}
}

// storedConns returns the network's stored connections that have
// channels, the most recently stored first.
func (n *network) storedConns(ctx context.Context) ([]storedConn, error) {
	prefix := kvConnPrefix(n.id)
	kvs, err := n.m.kv.WithPrefix(ctx, prefix)
	if err != nil {
		return nil, fmt.Errorf("list stored connections: %w", err)
	}
	var out []storedConn
	for _, kv := range kvs {
		user := matrix.UserID(strings.TrimPrefix(kv.Key, prefix))
		if !strings.HasPrefix(string(user), "@") {
			continue // another network's, whose ID starts with this one's and a colon
		}
		var rec savedConn
		if err := json.Unmarshal(kv.Value, &rec); err != nil {
			n.log().Warn("ignoring an unreadable stored connection", "user", user, "err", err)
			continue
		}
		if len(rec.Channels) > 0 {
			out = append(out, storedConn{user: user, rec: rec})
		}
	}
	slices.SortStableFunc(out, func(a, b storedConn) int { return b.rec.Saved.Compare(a.rec.Saved) })
	return out, nil
}

// stillJoined returns those of channels whose portal exists and whose room
// user is in, casefolded → portal name.
func (n *network) stillJoined(ctx context.Context, user matrix.UserID, channels []string) map[string]string {
	out := map[string]string{}
	for _, ch := range channels {
		p := n.portal(ch)
		if p == nil || !n.inRoom(ctx, p.room, user) {
			continue
		}
		out[n.fold(ch)] = p.name
	}
	return out
}

// inRoom reports whether the bridge recorded user as joined to room.
func (n *network) inRoom(ctx context.Context, room matrix.RoomID, user matrix.UserID) bool {
	m, err := n.m.members.Membership(ctx, room, user)
	if err != nil {
		n.log().Warn("could not read a user's membership", "room_id", room, "user", user, "err", err)
		return false
	}
	return m == intent.MembershipJoin
}

// restoreConn connects u again and rejoins channels. A user who left a
// room while the JOIN was on its way (the leave may have been waiting for
// the bridge to start) parts that channel again.
func (n *network) restoreConn(ctx context.Context, u *userConn, channels map[string]string) {
	names := make([]string, 0, len(channels))
	for _, ch := range channels {
		names = append(names, ch)
	}
	slices.Sort(names)
	if !u.connectAndJoin(ctx, names, false) {
		return
	}
	for _, ch := range names {
		if p := n.portal(ch); p == nil || !n.inRoom(ctx, p.room, u.user) {
			u.part(ctx, ch, "Left the Matrix room")
		}
	}
}
