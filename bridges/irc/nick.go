package irc

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ergochat/irc-go/ircmsg"

	"github.com/causewaybridge/causeway/bridges"
	"github.com/causewaybridge/causeway/bridges/irc/ircconn"
	"github.com/causewaybridge/causeway/bridges/irc/ircfmt"
	"github.com/causewaybridge/causeway/matrix"
)

// Nick handling for Matrix users' connections: the nick chosen with !nick
// (kept in the module KV), and recovery of a wanted nick that was taken:
// NickServ REGAIN/GHOST when the user is logged in to an account, and
// MONITOR so the nick is taken back as soon as it is free.

// kvNick is the store key of a user's chosen nick on a network.
func kvNick(network string, user matrix.UserID) string { return "nick:" + network + ":" + string(user) }

// nickResult is the outcome of a NICK command.
type nickResult struct {
	nick string
	err  error
}

// preferredNick returns the nick the user chose with !nick, or "".
func (n *network) preferredNick(user matrix.UserID) string {
	nick, ok := n.prefNicks.get(user)
	if ok {
		return nick
	}
	ctx := n.m.ctx
	if ctx == nil {
		return ""
	}
	raw, err := n.m.kv.Get(ctx, kvNick(n.id, user))
	if err != nil && !errors.Is(err, bridges.ErrNotFound) {
		n.log().Warn("could not read a stored nick", "user", user, "err", err)
		return ""
	}
	nick = string(raw)
	n.prefNicks.set(user, nick)
	return nick
}

// setPreferredNick stores the nick the user chose.
func (n *network) setPreferredNick(ctx context.Context, user matrix.UserID, nick string) error {
	if err := n.m.kv.Put(ctx, kvNick(n.id, user), []byte(nick)); err != nil {
		return fmt.Errorf("store nick: %w", err)
	}
	n.prefNicks.set(user, nick)
	return nil
}

// wantNickFor is the nick a user has or would get on n.
func (n *network) wantNickFor(user matrix.UserID) string {
	if u, up := n.liveConn(user); up {
		u.mu.Lock()
		defer u.mu.Unlock()
		return u.conn.Nick()
	}
	if nick := n.preferredNick(user); nick != "" {
		return nick
	}
	return ircfmt.SanitizeNick(user.Localpart(), n.cfg.MaxNickLength)
}

// changeNick sends NICK on the user's connection and waits for the server
// to confirm or refuse it.
func (u *userConn) changeNick(ctx context.Context, nick string) (string, error) {
	c, err := u.connect(ctx)
	if err != nil {
		return "", err
	}
	if u.n.fold(c.Nick()) == u.n.fold(nick) && c.Nick() == nick {
		return nick, nil
	}
	ch := make(chan nickResult, 1)
	n := u.n
	old, monitoring := n.monitors.take(u.user) // the user now wants another nick
	n.nickWaits.add(u.user, ch)
	defer n.nickWaits.remove(u.user, ch)
	if monitoring {
		_ = c.Send(ctx, nil, "MONITOR", "-", old)
	}
	if err := c.Send(ctx, nil, "NICK", nick); err != nil {
		return "", err
	}
	t := time.NewTimer(15 * time.Second)
	defer t.Stop()
	select {
	case r := <-ch:
		if r.err != nil {
			u.recoverNick(n.m.ctx, c, nick)
		}
		return r.nick, r.err
	case <-t.C:
		return "", context.DeadlineExceeded
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

// nickWaiter takes the pending !nick waiter of the user.
func (n *network) nickWaiter(user matrix.UserID) chan nickResult {
	return n.nickWaits.take(user)
}

// checkNick runs after a connection registered: when the server gave the
// user a fallback nick, the user is told and recovery starts.
func (u *userConn) checkNick(ctx context.Context, c *ircconn.Conn) {
	n := u.n
	want := u.wantNick()
	if n.fold(c.Nick()) == n.fold(want) {
		return
	}
	n.m.tellUser(ctx, u.user, fmt.Sprintf("The nick %s is taken on %s, so you are %s there for now. I will switch back to %s as soon as it is free.",
		want, n.cfg.Name, c.Nick(), want))
	u.recoverNick(ctx, c, want)
}

// recoverNick tries to win want back: with an account, NickServ REGAIN
// (Atheme, Anope) and GHOST (Ergo and others); and in any case MONITOR, so
// that the nick is taken as soon as its holder leaves.
func (u *userConn) recoverNick(ctx context.Context, c *ircconn.Conn, want string) {
	n := u.n
	n.monitors.set(u.user, want)
	if c.Account() != "" {
		for _, cmd := range []string{"REGAIN ", "GHOST "} {
			if err := c.Send(ctx, nil, "PRIVMSG", "NickServ", cmd+want); err != nil {
				n.log().Info("NickServ request not sent", "user", u.user, "err", err)
			}
		}
	}
	if err := c.Send(ctx, nil, "MONITOR", "+", want); err != nil {
		n.log().Info("MONITOR not sent", "user", u.user, "err", err)
	}
}

// nickChanged follows the user's own NICK changes: it stores the new
// nick, answers !nick and ends recovery when the wanted nick was won back.
func (u *userConn) nickChanged(c *ircconn.Conn, nick string) {
	n := u.n
	u.nickTaken(n.m.ctx, nick) // identity_store.go: the same nick after a restart
	if ch := n.nickWaiter(u.user); ch != nil {
		ch <- nickResult{nick: nick}
	}
	want, ok := n.monitors.get(u.user)
	if !ok || n.fold(want) != n.fold(nick) {
		return
	}
	n.monitors.remove(u.user)
	// Off the reader goroutine: the notice needs the homeserver.
	n.m.wg.Go(func() {
		ctx := n.m.ctx
		_ = c.Send(ctx, nil, "MONITOR", "-", want)
		n.m.tellUser(ctx, u.user, fmt.Sprintf("You have your nick %s back on %s.", nick, n.cfg.Name))
	})
}

// nickNumeric handles RPL_MONOFFLINE (the wanted nick became free: take
// it) and nick refusals after registration (answering !nick).
func (u *userConn) nickNumeric(c *ircconn.Conn, m *ircmsg.Message) {
	n := u.n
	if m.Command == "731" {
		want, ok := n.monitors.get(u.user)
		if !ok {
			return
		}
		for _, target := range strings.Split(param(m, 1), ",") {
			nick, _, _ := strings.Cut(target, "!")
			if n.fold(nick) == n.fold(want) {
				_ = c.Send(n.m.ctx, nil, "NICK", want)
			}
		}
		return
	}
	if ch := n.nickWaiter(u.user); ch != nil {
		ch <- nickResult{err: &ircconn.NumericError{Code: m.Command, Target: param(m, 1), Text: param(m, 2)}}
	}
}

func (m *Module) cmdWhois(ctx context.Context, c *bridges.CommandContext) (string, error) {
	n, rest, err := m.commandNetwork(c, 1, "!whois [network] <nick>")
	if err != nil {
		return "", err
	}
	nick := rest[0]
	if !ircfmt.ValidNick(nick, 0) {
		return fmt.Sprintf("%q is not a valid IRC nick.", nick), nil
	}
	lines, err := n.whois(ctx, nick)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%s on %s:\n%s", nick, n.cfg.Name, strings.Join(lines, "\n")), nil
}

// whoisWait collects the replies to one WHOIS.
type whoisWait struct {
	lines []string
	done  chan struct{}
}

// whois asks the server about nick through the bot and returns the replies
// as readable lines.
func (n *network) whois(ctx context.Context, nick string) ([]string, error) {
	bot, err := n.botConn(ctx)
	if err != nil {
		return nil, err
	}
	f := n.fold(nick)
	w := &whoisWait{done: make(chan struct{})}
	n.whoises.add(f, w)
	defer n.whoises.remove(f, w)
	if err := bot.Send(ctx, nil, "WHOIS", nick); err != nil {
		return nil, err
	}
	t := time.NewTimer(10 * time.Second)
	defer t.Stop()
	select {
	case <-w.done:
	case <-t.C:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	lines := n.whoises.lines(w)
	if len(lines) == 0 {
		return []string{"no answer from the server"}, nil
	}
	return lines, nil
}

// whoisReply collects a WHOIS numeric received by the bot.
func (n *network) whoisReply(m *ircmsg.Message) {
	if len(m.Params) < 2 {
		return
	}
	line, known := whoisLine(m)
	if !known {
		return
	}
	n.whoises.reply(n.fold(m.Params[1]), m.Command == "318", line)
}

// whoisLine renders one WHOIS numeric; known is false for other numerics.
func whoisLine(m *ircmsg.Message) (line string, known bool) {
	last := m.Params[len(m.Params)-1]
	switch m.Command {
	case "311": // nick user host * :realname
		return fmt.Sprintf("%s@%s (%s)", param(m, 2), param(m, 3), last), true
	case "312":
		return "connected to " + param(m, 2), true
	case "313":
		return "is an IRC operator", true
	case "317":
		return "idle for " + param(m, 2) + "s", true
	case "319":
		return "channels: " + last, true
	case "330":
		return "logged in as " + param(m, 2), true
	case "301":
		return "away: " + last, true
	case "671":
		return "uses a secure connection", true
	case "401":
		return "no such nick", true
	case "318":
		return "", true
	case "276", "307", "320", "338", "378", "379":
		return last, true
	}
	return "", false
}
