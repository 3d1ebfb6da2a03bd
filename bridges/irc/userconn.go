package irc

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ergochat/irc-go/ircmsg"

	"github.com/causewaybridge/causeway/bridges/irc/ircconn"
	"github.com/causewaybridge/causeway/bridges/irc/ircfmt"
	"github.com/causewaybridge/causeway/matrix"
)

// userConn is a Matrix user's own IRC connection on one network. Its
// per-user state is kept small: the channel state lives once per network.
type userConn struct {
	n    *network
	user matrix.UserID

	mu          sync.Mutex
	displayname string
	conn        *ircconn.Conn
	dialing     chan struct{} // closed when the current dial attempt ends
	dialErr     error
	joined      map[string]bool // casefolded channels joined
	wanted      map[string]string
	joinWaits   map[string][]chan error // nil while no JOIN is awaited
	lastActive  time.Time
	closed      bool
	forgetIdent func() // unregisters the connection from the ident server
	// unconfirmed remembers messages sent without confirmation, so a late
	// error numeric is reported next to them (delivery_late.go).
	unconfirmed unconfirmedSends
	// banKicks are the casefolded channels whose ban is being enforced by
	// removing the user from the portal (banjoin.go).
	banKicks map[string]bool
	// saved is what the store keeps of the connection so that it survives
	// a restart (identity_store.go).
	saved savedState
}

// errUserGone is returned when the user's connection was closed on purpose.
var errUserGone = errors.New("the IRC connection was closed")

// userConnFor returns the user's connection, creating it on first use.
func (n *network) userConnFor(user matrix.UserID, displayname string) *userConn {
	n.mu.Lock()
	defer n.mu.Unlock()
	u := n.conns[user]
	if u == nil {
		u = &userConn{n: n, user: user, joined: map[string]bool{}, wanted: map[string]string{}}
		n.conns[user] = u
	}
	u.mu.Lock()
	if displayname != "" && displayname != u.displayname {
		u.displayname = displayname
		u.saved.dirty = true // stored with the next change (identity_store.go)
	}
	u.lastActive = time.Now()
	u.closed = false
	u.mu.Unlock()
	return u
}

// evictIfFull disconnects the least recently active user when the network
// is at its connection cap; that user is relayed by the bot until they
// speak again.
func (n *network) evictIfFull(except matrix.UserID) {
	n.mu.Lock()
	if len(n.conns) < n.cfg.MaxConnections {
		// Fewer users than the cap, connected or not: no scan of them all
		// (a storm of reconnects would make it quadratic).
		n.mu.Unlock()
		return
	}
	var victim *userConn
	live := 0
	for id, u := range n.conns {
		u.mu.Lock()
		up := u.conn != nil
		last := u.lastActive
		u.mu.Unlock()
		if !up {
			continue
		}
		live++
		if id == except {
			continue
		}
		if victim == nil || last.Before(victim.lastActive) {
			victim = u
		}
	}
	n.mu.Unlock()
	if live >= n.cfg.MaxConnections && victim != nil {
		n.log().Info("connection limit reached; disconnecting the least recently active user", "user", victim.user)
		n.dlv.markEvicted(victim.user) // delivery_relay.go: relayed while the network is full
		victim.close("Connection limit reached; relayed by the bridge until active again")
	}
}

// wantNick is the IRC nick the user asks for: the nick chosen with !nick,
// else their display name (the stored one when no event carried it since
// the restart) made valid, plus the network's suffix.
func (u *userConn) wantNick() string {
	if nick := u.n.preferredNick(u.user); nick != "" {
		return nick // set with !nick
	}
	u.mu.Lock()
	dn := u.displayname
	u.mu.Unlock()
	if dn == "" {
		dn = u.user.Localpart()
	}
	max := u.n.cfg.MaxNickLength
	base := ircfmt.SanitizeNick(dn, max-len(u.n.cfg.NickSuffix))
	return base + u.n.cfg.NickSuffix
}

// nickVariants are the nicks to try, in order, for a user who wants nick:
// nick itself first. When nick ends with the network's suffix, the part
// before the suffix varies and the suffix stays at the end; a nick without
// it (chosen with !nick) varies as a whole.
func (n *network) nickVariants(nick string) []string {
	suffix := n.cfg.NickSuffix
	base, ok := strings.CutSuffix(nick, suffix)
	if !ok || base == "" {
		base, suffix = nick, ""
	}
	return ircfmt.NickVariants(ircfmt.SanitizeNick(base, n.cfg.MaxNickLength), suffix, n.cfg.MaxNickLength)
}

// connect makes sure the connection is up, dialling if needed. Concurrent
// callers share one dial.
func (u *userConn) connect(ctx context.Context) (*ircconn.Conn, error) {
	for {
		u.mu.Lock()
		if u.conn != nil {
			c := u.conn
			u.lastActive = time.Now()
			u.mu.Unlock()
			return c, nil
		}
		if u.dialing != nil {
			wait := u.dialing
			u.mu.Unlock()
			select {
			case <-wait:
				u.mu.Lock()
				err := u.dialErr
				u.mu.Unlock()
				if err != nil {
					return nil, err
				}
				continue
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		u.dialing = make(chan struct{})
		u.mu.Unlock()
		c, err := u.dial(ctx)
		u.mu.Lock()
		u.dialErr = err
		if err == nil {
			u.conn = c
		}
		close(u.dialing)
		u.dialing = nil
		u.mu.Unlock()
		if err != nil {
			return nil, err
		}
		u.n.registerNick(u, c.Nick())
		u.persistIfDirty(ctx) // identity_store.go: the nick the server accepted
		u.n.dlv.clearEvicted(u.user)
		u.n.m.restoreAway(ctx, u.n, u.user, c) // presence.go
		u.n.m.goTracked(func(ctx context.Context) { u.checkNick(ctx, c) })
		return c, nil
	}
}

func (u *userConn) dial(ctx context.Context) (*ircconn.Conn, error) {
	u.n.evictIfFull(u.user)
	if err := u.n.dialLimit.Wait(ctx); err != nil {
		return nil, err
	}
	u.loadSaved(ctx) // identity_store.go: display name and nick of earlier runs
	want := u.wantNick()
	// The nick the user last had comes first while it is still what they
	// ask for (it may be a variant of it), then the usual variants.
	variants := u.n.nickVariants(want)
	if len(variants) == 0 {
		variants = []string{want}
	}
	if last := u.lastNickFor(want); last != "" && last != variants[0] {
		variants = append([]string{last}, slices.DeleteFunc(variants, func(v string) bool { return v == last })...)
	}
	nick := variants[0]
	cfg := u.n.dialConfig(nick, ircfmt.SanitizeNick(u.user.Localpart(), 10), string(u.user), userHandler{u})
	cfg.SkipOthers = skipOthers
	cfg.NickFallback = func(attempt int, _ string) string {
		// variants[0] is the nick itself, refused already.
		if attempt < len(variants) {
			return variants[attempt]
		}
		return ""
	}
	sasl, err := u.n.storedSASL(ctx, u.user)
	if err != nil {
		// Fails closed: never connect unauthenticated when the user asked
		// for SASL (identity.go tells them why and what to do).
		return nil, fmt.Errorf("connect to %s as %s: %w", u.n.cfg.Name, nick, err)
	}
	if sasl != nil {
		cfg.SASL = sasl
	}
	if w := u.n.cfg.WebIRC; w != nil {
		cfg.WebIRC = &ircconn.WebIRC{Password: w.Password.Reveal(), Gateway: w.Gateway,
			Hostname: webircHost(u.user, w.HostSuffix), IP: webircIP(u.user)}
	}
	onConnect, forget := u.n.m.identHook(u.user)
	cfg.OnConnect = onConnect
	c, err := ircconn.Dial(ctx, cfg)
	if err != nil {
		forget()
		return nil, fmt.Errorf("connect to %s as %s: %w", u.n.cfg.Name, nick, err)
	}
	u.mu.Lock()
	u.forgetIdent = forget
	if u.saved.nick != c.Nick() || u.saved.asked != want {
		u.saved.nick, u.saved.asked, u.saved.dirty = c.Nick(), want, true
	}
	u.mu.Unlock()
	u.n.log().Info("user connected", "user", u.user, "nick", c.Nick())
	return c, nil
}

// join makes the user's connection join channel and waits for the server.
func (u *userConn) join(ctx context.Context, channel string) error {
	c, err := u.connect(ctx)
	if err != nil {
		return err
	}
	f := u.n.fold(channel)
	u.mu.Lock()
	if u.joined[f] {
		u.mu.Unlock()
		u.persistIfDirty(ctx) // identity_store.go: a new display name
		return nil
	}
	u.wanted[f] = channel
	ch := make(chan error, 1)
	if u.joinWaits == nil {
		u.joinWaits = make(map[string][]chan error, 1)
	}
	u.joinWaits[f] = append(u.joinWaits[f], ch)
	u.mu.Unlock()
	if err := c.Send(ctx, nil, "JOIN", channel); err != nil {
		return err
	}
	t := time.NewTimer(30 * time.Second)
	defer t.Stop()
	select {
	case err := <-ch:
		if err == nil {
			u.keepChannel(ctx, channel) // identity_store.go: rejoined after a restart
		}
		return err
	case <-t.C:
		return fmt.Errorf("joining %s timed out", channel)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// part leaves channel if joined.
func (u *userConn) part(ctx context.Context, channel, reason string) {
	f := u.n.fold(channel)
	u.mu.Lock()
	c := u.conn
	joined := u.joined[f]
	delete(u.wanted, f)
	u.mu.Unlock()
	u.dropChannel(ctx, channel) // identity_store.go: not rejoined after a restart
	if c != nil && joined {
		_ = c.Send(ctx, nil, "PART", channel, reason)
	}
}

// joinResult ends the waits for a JOIN of channel; it reports whether
// one was waiting.
func (u *userConn) joinResult(channel string, err error) bool {
	f := u.n.fold(channel)
	u.mu.Lock()
	if err == nil && !u.joined[f] {
		u.joined[strings.Clone(f)] = true // channel is a slice of the JOIN line
	}
	ws := u.joinWaits[f]
	delete(u.joinWaits, f)
	if len(u.joinWaits) == 0 {
		u.joinWaits = nil // joins are rare; an idle connection keeps no map for them
	}
	u.mu.Unlock()
	if err == nil || len(ws) > 0 {
		// A numeric with no JOIN waiting refuses a message, not the
		// channel (e.g. 477 for an unregistered nick in a +M channel).
		u.n.dlv.noteJoin(u.user, f, err)
	}
	for _, w := range ws {
		w <- err
	}
	return len(ws) > 0
}

// close quits the connection on purpose (idle, eviction, !quit, shutdown).
// Unless the bridge is stopping, the connection is not made again after a
// restart: its stored channels are forgotten (identity_store.go).
func (u *userConn) close(reason string) {
	if ctx := u.n.m.ctx; ctx != nil && ctx.Err() == nil {
		u.forgetChannels(ctx)
	}
	u.mu.Lock()
	c := u.conn
	u.closed = true
	u.mu.Unlock()
	if c != nil {
		_ = c.Close(reason)
	}
}

// registerNick records the nick a Matrix user's connection has, so lines
// from it are recognised as echoes and mentions become pills.
func (n *network) registerNick(u *userConn, nick string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for k, v := range n.byNick {
		if v == u {
			delete(n.byNick, k)
		}
	}
	if nick != "" {
		n.byNick[ircfmt.Casefold(n.casemap, nick)] = u
	}
}

// skipOthers is a user connection's [ircconn.Config.SkipOthers]: what other
// clients do in the channels (joins, quits, channel messages, topics, ...)
// is read and bridged by the bot, so a user's connection drops those lines
// unparsed; in a channel of a thousand bridged users each such line would
// otherwise be parsed a thousand times. Whatever userHandler acts on is
// kept: KICK and NICK (they may name this user), INVITE, BATCH, private
// messages (a target that cannot start a nick is a channel or a STATUSMSG
// prefix) and every numeric (they come from the server).
func skipOthers(command, target []byte) bool {
	switch string(command) {
	case "JOIN", "PART", "QUIT", "AWAY", "ACCOUNT", "CHGHOST", "SETNAME", "TOPIC":
		return true
	case "PRIVMSG", "NOTICE", "TAGMSG", "MODE":
		return len(target) > 0 && strings.IndexByte("#&!+@%~", target[0]) >= 0
	}
	return false
}

// userHandler handles what arrives on a Matrix user's own connection:
// their joins, private messages to them and errors. Channel traffic is read
// by the bot.
type userHandler struct{ u *userConn }

// HandleMessage implements ircconn.Handler.
func (h userHandler) HandleMessage(c *ircconn.Conn, m *ircmsg.Message) {
	u, n := h.u, h.u.n
	// Folded by the connection's own CASEMAPPING (the same server's): this
	// runs for every line, mostly other users' JOINs in a busy channel, and
	// n.fold would take the network-wide lock each time.
	self := c.Casefold(nickOf(m)) == c.Casefold(c.Nick())
	switch m.Command {
	case "JOIN":
		if self && len(m.Params) > 0 {
			u.joinResult(m.Params[0], nil)
		}
	case "PART":
		if self && len(m.Params) > 0 {
			u.mu.Lock()
			delete(u.joined, n.fold(m.Params[0]))
			u.mu.Unlock()
		}
	case "KICK":
		if len(m.Params) >= 2 && n.fold(m.Params[1]) == n.fold(c.Nick()) {
			u.mu.Lock()
			delete(u.joined, n.fold(m.Params[0]))
			delete(u.wanted, n.fold(m.Params[0]))
			u.mu.Unlock()
			u.dropChannel(n.m.ctx, m.Params[0]) // identity_store.go: not rejoined after a restart
			n.userKicked(n.m.ctx, u, m.Params[0], nickOf(m), param(m, 2))
		}
	case "NICK":
		// The connection already follows its own nick: c.Nick() is the new one.
		if len(m.Params) > 0 && (self || n.fold(m.Params[0]) == n.fold(c.Nick())) {
			n.registerNick(u, m.Params[0])
			u.nickChanged(c, m.Params[0])
		}
	case "731", "432", "433", "436", "437": // MONOFFLINE, nick refused
		u.nickNumeric(c, m)
	case "PRIVMSG", "NOTICE":
		if len(m.Params) >= 2 && !isChannel(c, m.Params[0]) && !self {
			n.privateMessage(n.m.ctx, u, m)
		}
	case "301": // RPL_AWAY: me nick :message, answering a message to an away user
		if len(m.Params) >= 3 {
			n.awayFromIRC(m.Params[1], m.Params[2]) // presence.go
		}
	case "403", "405", "471", "473", "474", "475", "476", "477", "489":
		// A JOIN refused; or, with no JOIN waiting, a message refused.
		if m.Command == "474" && len(m.Params) >= 2 && u.joinPending(m.Params[1]) {
			n.bannedFromChannel(u, m.Params[1], param(m, 2)) // banjoin.go: before the JOIN's waiters hear
		}
		if len(m.Params) >= 2 && !u.joinResult(m.Params[1], &ircconn.NumericError{Code: m.Command, Target: m.Params[1], Text: param(m, 2)}) &&
			lateSendError(m.Command) {
			u.sendRefused(c, m) // delivery_late.go
		}
	case "401", "402", "404", "407", "486", "492", "531", "716":
		u.sendRefused(c, m)
	}
}

// HandleBatch implements ircconn.Handler.
func (h userHandler) HandleBatch(c *ircconn.Conn, b *ircconn.Batch) {
	for _, l := range b.Lines {
		h.HandleMessage(c, l)
	}
}

// HandleClose implements ircconn.Handler: unless the close was on purpose,
// the connection is re-established with backoff and its channels rejoined.
func (h userHandler) HandleClose(c *ircconn.Conn, err error) {
	u, n := h.u, h.u.n
	u.mu.Lock()
	if u.conn == c {
		u.conn = nil
		if u.forgetIdent != nil {
			u.forgetIdent()
			u.forgetIdent = nil
		}
	}
	u.joined = map[string]bool{}
	closed := u.closed
	wanted := make([]string, 0, len(u.wanted))
	for _, ch := range u.wanted {
		wanted = append(wanted, ch)
	}
	u.mu.Unlock()
	n.registerNick(u, "")
	if closed || n.m.ctx.Err() != nil {
		n.mu.Lock()
		if n.conns[u.user] == u && closed {
			delete(n.conns, u.user)
		}
		n.mu.Unlock()
		return
	}
	n.log().Warn("user connection lost; reconnecting", "user", u.user, "err", err)
	n.m.goTracked(func(ctx context.Context) { u.reconnect(ctx, wanted) })
}

// reconnect re-establishes a dropped connection with jittered backoff and
// rejoins its channels, paced by the network-wide dial limit.
func (u *userConn) reconnect(ctx context.Context, channels []string) {
	u.connectAndJoin(ctx, channels, true)
}

// connectAndJoin connects the user, retrying with jittered backoff (also
// before the first attempt when backoffFirst), and joins channels, paced
// by the network-wide dial limit. It gives up when ctx ends or the
// connection is closed on purpose, and reports whether it connected. The
// channels are joined together, not one JOIN echo after another: on a
// busy server each echo can take seconds.
func (u *userConn) connectAndJoin(ctx context.Context, channels []string, backoffFirst bool) bool {
	for attempt := 1; ctx.Err() == nil; attempt++ {
		if (backoffFirst || attempt > 1) && !sleepCtx(ctx, u.n.backoff(attempt)) {
			return false
		}
		u.mu.Lock()
		closed := u.closed
		u.mu.Unlock()
		if closed {
			return false
		}
		if _, err := u.connect(ctx); err != nil {
			u.n.log().Warn("user reconnect failed", "user", u.user, "attempt", attempt, "err", err)
			if errors.Is(err, errStoredPassword) {
				return false // retrying cannot help; the user was told (identity.go)
			}
			continue
		}
		var wg sync.WaitGroup
		for _, ch := range channels {
			wg.Go(func() {
				if err := u.join(ctx, ch); err != nil {
					u.n.log().Warn("rejoin failed", "user", u.user, "channel", ch, "err", err)
				}
			})
		}
		wg.Wait()
		return true
	}
	return false
}
