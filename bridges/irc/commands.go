package irc

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/causewaybridge/causeway/bridges"
	"github.com/causewaybridge/causeway/bridges/irc/ircfmt"
	"github.com/causewaybridge/causeway/matrix"
)

// Commands implements bridges.CommandProvider: the admin-room commands
// every user may run in a DM with the bot, the bridge admins' commands and
// "!irc" for linking the current room to a channel.
func (m *Module) Commands() []bridges.Command {
	return []bridges.Command{
		{Name: "nick", Args: "[network] <nick>", Help: "set your IRC nick (kept for later connections)", Run: m.cmdNick},
		{Name: "join", Args: "[network] <channel>", Help: "get invited to the room of an IRC channel", Run: m.cmdJoin},
		{Name: "part", Args: "[network] <channel>", Help: "leave an IRC channel and its room", Run: m.cmdPart},
		{Name: "whois", Args: "[network] <nick>", Help: "show who an IRC nick is", Run: m.cmdWhois},
		{Name: "storepass", Args: "[network] [account:]password", Help: "store your IRC (SASL) password, encrypted", Run: m.cmdStorePass},
		{Name: "removepass", Args: "[network]", Help: "forget your stored IRC password", Run: m.cmdRemovePass},
		{Name: "reconnect", Args: "[network]", Help: "reconnect your IRC connection", Run: m.cmdReconnect},
		{Name: "listrooms", Args: "[network]", Help: "list the IRC channels you are in", Run: m.cmdListRooms},
		{Name: "quit", Args: "[network]", Help: "disconnect from IRC and leave the bridged rooms", Run: m.cmdQuit},
		{Name: "irc", Args: "link [network] <channel> | unlink", Help: "link this room to an IRC channel (needs power here and a channel operator's yes)",
			Subcommands: []string{"link", "unlink"}, Run: m.cmdIRC}, // "!irc link" is this command, not !link (see docs/irc.md)
		{Name: "link", Args: "[network] <channel> <room>", Help: "link a room to a channel without asking IRC", AdminOnly: true, Run: m.cmdLink},
		{Name: "unlink", Args: "[network] <channel>", Help: "unlink a channel from its room", AdminOnly: true, Run: m.cmdUnlink},
		{Name: "connections", Args: "[network]", Help: "list Matrix users' IRC connections", AdminOnly: true, Run: m.cmdConnections},
	}
}

// errUsage is returned for malformed command arguments.
var errUsage = errors.New("wrong arguments")

// pickNetwork takes an optional leading network ID off args. With one
// network it may be left out; want is the number of other arguments the
// command needs (-1: any).
func (m *Module) pickNetwork(args []string, want int) (*network, []string, error) {
	if len(args) > 0 {
		if n := m.networks[strings.ToLower(args[0])]; n != nil && (want < 0 || len(args) > want || want == 0) {
			return n, args[1:], nil
		}
	}
	if len(m.order) == 1 {
		return m.networks[m.order[0]], args, nil
	}
	return nil, nil, fmt.Errorf("say which network first, one of: %s", strings.Join(m.order, ", "))
}

// commandNetwork is pickNetwork for commands with exactly want arguments
// after the network.
func (m *Module) commandNetwork(c *bridges.CommandContext, want int, usage string) (*network, []string, error) {
	n, rest, err := m.pickNetwork(c.Args, want)
	if err != nil {
		return nil, nil, err
	}
	if len(rest) != want {
		return nil, nil, fmt.Errorf("%w: usage: %s", errUsage, usage)
	}
	return n, rest, nil
}

// existingConn returns the user's connection on n, or nil.
func (n *network) existingConn(user matrix.UserID) *userConn {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.conns[user]
}

// liveConn returns the user's connection and its IRC connection when up.
func (n *network) liveConn(user matrix.UserID) (*userConn, bool) {
	u := n.existingConn(user)
	if u == nil {
		return nil, false
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	return u, u.conn != nil
}

func (m *Module) cmdNick(ctx context.Context, c *bridges.CommandContext) (string, error) {
	n, rest, err := m.commandNetwork(c, 1, "!nick [network] <nick>")
	if err != nil {
		return "", err
	}
	nick := rest[0]
	if !ircfmt.ValidNick(nick, n.cfg.MaxNickLength) {
		return fmt.Sprintf("%q is not a valid IRC nick (at most %d characters).", nick, n.cfg.MaxNickLength), nil
	}
	if err := n.setPreferredNick(ctx, c.Sender, nick); err != nil {
		return "", err
	}
	u, up := n.liveConn(c.Sender)
	if !up {
		return fmt.Sprintf("Your nick on %s will be %s from your next connection.", n.cfg.Name, nick), nil
	}
	got, err := u.changeNick(ctx, nick)
	if err != nil {
		return fmt.Sprintf("Could not change your nick on %s to %s: %s", n.cfg.Name, nick, userError(err)), nil
	}
	return fmt.Sprintf("Your nick on %s is now %s.", n.cfg.Name, got), nil
}

func (m *Module) cmdJoin(ctx context.Context, c *bridges.CommandContext) (string, error) {
	n, rest, err := m.commandNetwork(c, 1, "!join [network] <channel>")
	if err != nil {
		return "", err
	}
	channel := rest[0]
	bot, err := n.botConn(ctx)
	if err != nil {
		return "", err
	}
	if !isChannel(bot, channel) {
		return fmt.Sprintf("%s is not a channel name on %s.", channel, n.cfg.Name), nil
	}
	room, err := n.ensurePortal(ctx, channel, "")
	if err != nil {
		return "", err
	}
	if err := m.client.Bot().Invite(ctx, room, c.Sender, "!join "+channel); err != nil {
		return fmt.Sprintf("Could not invite you to the room of %s (%s); are you in it already?", channel, userError(err)), nil
	}
	return fmt.Sprintf("Invited you to the room of %s on %s.", channel, n.cfg.Name), nil
}

func (m *Module) cmdPart(ctx context.Context, c *bridges.CommandContext) (string, error) {
	n, rest, err := m.commandNetwork(c, 1, "!part [network] <channel>")
	if err != nil {
		return "", err
	}
	p := n.portal(rest[0])
	if p == nil {
		return fmt.Sprintf("%s is not bridged on %s.", rest[0], n.cfg.Name), nil
	}
	if u := n.existingConn(c.Sender); u != nil {
		u.part(ctx, p.name, "Left with !part")
	}
	if err := m.client.Bot().Kick(ctx, p.room, c.Sender, "Left "+p.name+" with !part"); err != nil {
		n.log().Info("could not remove a user from the portal after !part", "user", c.Sender, "err", err)
	}
	return fmt.Sprintf("Left %s on %s.", p.name, n.cfg.Name), nil
}

func (m *Module) cmdStorePass(ctx context.Context, c *bridges.CommandContext) (string, error) {
	defer m.redactSecret(ctx, c)
	n, rest, err := m.pickNetwork(c.Args, 1)
	if err != nil {
		return "", err
	}
	if len(rest) != 1 {
		return "", fmt.Errorf("%w: usage: !storepass [network] [account:]password (no spaces)", errUsage)
	}
	account, password := splitAccount(rest[0])
	if account == "" {
		account = n.wantNickFor(c.Sender)
	}
	if password == "" {
		return "", fmt.Errorf("%w: the password is empty", errUsage)
	}
	if err := n.storeSASL(ctx, c.Sender, account, password); err != nil {
		return "", err
	}
	return fmt.Sprintf("Stored your password for account %s on %s (encrypted). It is used from your next connection; send !reconnect to use it now.", account, n.cfg.Name), nil
}

// splitAccount splits "account:password"; without a valid account name in
// front the whole text is the password.
func splitAccount(s string) (account, password string) {
	a, p, ok := strings.Cut(s, ":")
	if ok && a != "" && ircfmt.ValidNick(a, 0) {
		return a, p
	}
	return "", s
}

// redactSecret removes the command event that carried a password, so it
// does not stay in the room.
func (m *Module) redactSecret(ctx context.Context, c *bridges.CommandContext) {
	if c.Event == nil || c.Event.ID == "" {
		return
	}
	if _, err := m.client.Bot().Redact(ctx, c.RoomID, c.Event.ID, "contained a password"); err != nil {
		m.log.Warn("could not redact a !storepass command", "room_id", c.RoomID, "err", err)
		m.notice(ctx, c.RoomID, "", "I could not remove your !storepass message (I need the power to redact here): please redact it yourself.")
	}
}

func (m *Module) cmdRemovePass(ctx context.Context, c *bridges.CommandContext) (string, error) {
	n, _, err := m.commandNetwork(c, 0, "!removepass [network]")
	if err != nil {
		return "", err
	}
	if err := m.kv.Delete(ctx, kvSASL(n.id, c.Sender)); err != nil && !errors.Is(err, bridges.ErrNotFound) {
		return "", err
	}
	return fmt.Sprintf("Removed your stored password for %s.", n.cfg.Name), nil
}

func (m *Module) cmdReconnect(ctx context.Context, c *bridges.CommandContext) (string, error) {
	n, _, err := m.commandNetwork(c, 0, "!reconnect [network]")
	if err != nil {
		return "", err
	}
	u := n.existingConn(c.Sender)
	if u == nil {
		return fmt.Sprintf("You are not connected to %s; you will be when you next speak in a bridged room.", n.cfg.Name), nil
	}
	nick, err := n.reconnectUser(ctx, u)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("Reconnected to %s as %s.", n.cfg.Name, nick), nil
}

// reconnectUser closes a user's connection and opens a new one that joins
// the same channels; it returns the new nick.
func (n *network) reconnectUser(ctx context.Context, u *userConn) (string, error) {
	u.mu.Lock()
	channels := make([]string, 0, len(u.wanted))
	for _, ch := range u.wanted {
		channels = append(channels, ch)
	}
	dn := u.displayname
	u.mu.Unlock()
	u.close("Reconnecting")
	for deadline := time.Now().Add(10 * time.Second); n.existingConn(u.user) == u && time.Now().Before(deadline); {
		if !sleepCtx(ctx, 20*time.Millisecond) {
			return "", ctx.Err()
		}
	}
	nu := n.userConnFor(u.user, dn)
	c, err := nu.connect(ctx)
	if err != nil {
		return "", err
	}
	for _, ch := range channels {
		if err := nu.join(ctx, ch); err != nil {
			n.log().Warn("rejoin after !reconnect failed", "user", u.user, "channel", ch, "err", err)
		}
	}
	return c.Nick(), nil
}

func (m *Module) cmdListRooms(ctx context.Context, c *bridges.CommandContext) (string, error) {
	n, _, err := m.commandNetwork(c, 0, "!listrooms [network]")
	if err != nil {
		return "", err
	}
	u := n.existingConn(c.Sender)
	if u == nil {
		return fmt.Sprintf("You are not connected to %s.", n.cfg.Name), nil
	}
	u.mu.Lock()
	var lines []string
	for f, ch := range u.wanted {
		state := "joined"
		if !u.joined[f] {
			state = "joining"
		}
		lines = append(lines, ch+" ("+state+")")
	}
	u.mu.Unlock()
	if len(lines) == 0 {
		return fmt.Sprintf("You are in no channel on %s.", n.cfg.Name), nil
	}
	sort.Strings(lines)
	return fmt.Sprintf("Your channels on %s:\n%s", n.cfg.Name, strings.Join(lines, "\n")), nil
}

func (m *Module) cmdQuit(ctx context.Context, c *bridges.CommandContext) (string, error) {
	n, _, err := m.commandNetwork(c, 0, "!quit [network]")
	if err != nil {
		return "", err
	}
	u := n.existingConn(c.Sender)
	if u == nil {
		return fmt.Sprintf("You are not connected to %s.", n.cfg.Name), nil
	}
	u.mu.Lock()
	channels := make([]string, 0, len(u.wanted))
	for _, ch := range u.wanted {
		channels = append(channels, ch)
	}
	u.mu.Unlock()
	u.close("Quit with !quit")
	for _, ch := range channels {
		if p := n.portal(ch); p != nil {
			if err := m.client.Bot().Kick(ctx, p.room, c.Sender, "Quit "+n.cfg.Name+" with !quit"); err != nil {
				n.log().Info("could not remove a user from a portal after !quit", "user", c.Sender, "err", err)
			}
		}
	}
	return fmt.Sprintf("Disconnected from %s and left %d bridged rooms.", n.cfg.Name, len(channels)), nil
}

func (m *Module) cmdConnections(ctx context.Context, c *bridges.CommandContext) (string, error) {
	nets := m.order
	if len(c.Args) > 0 {
		if m.networks[c.Args[0]] == nil {
			return "", fmt.Errorf("no network %q", c.Args[0])
		}
		nets = []string{c.Args[0]}
	}
	var b strings.Builder
	for _, id := range nets {
		n := m.networks[id]
		rows := n.connectionRows()
		fmt.Fprintf(&b, "%s: %d connected", n.cfg.Name, len(rows))
		for _, r := range rows {
			b.WriteString("\n  " + r)
		}
		b.WriteString("\n")
	}
	return strings.TrimRight(b.String(), "\n"), nil
}

// connectionRows describes the connected Matrix users of n, most recently
// active first.
func (n *network) connectionRows() []string {
	type row struct {
		user matrix.UserID
		nick string
		last time.Time
	}
	var rows []row
	n.mu.Lock()
	for id, u := range n.conns {
		u.mu.Lock()
		if u.conn != nil {
			rows = append(rows, row{id, u.conn.Nick(), u.lastActive})
		}
		u.mu.Unlock()
	}
	n.mu.Unlock()
	slices.SortFunc(rows, func(a, b row) int { return b.last.Compare(a.last) })
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i] = fmt.Sprintf("%s as %s, last active %s ago", r.user, r.nick, time.Since(r.last).Round(time.Second))
	}
	return out
}

// tellUser sends a notice to the user's management room, which the core
// keeps for all modules (bridges.Host.TellUser); the room where they ran
// commands, or a new direct chat with the bot.
func (m *Module) tellUser(ctx context.Context, user matrix.UserID, text string) {
	if err := m.host.TellUser(ctx, user, text); err != nil {
		m.log.Warn("could not tell a user in their management room", "user", user, "err", err)
	}
}

var _ bridges.CommandProvider = (*Module)(nil)
