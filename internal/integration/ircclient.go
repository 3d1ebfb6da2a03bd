package integration

import (
	"bufio"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ergochat/irc-go/ircmsg"
)

// ircRegisterTimeout bounds connection registration in [DialIRC].
const ircRegisterTimeout = 30 * time.Second

// ErrIRCClosed is returned by [IRCClient.WaitFor] when the connection closed
// before a matching line arrived.
var ErrIRCClosed = errors.New("irc connection closed")

// Line is one IRC line received by an [IRCClient].
type Line struct {
	// Raw is the line as received, without CR LF.
	Raw string
	// Tags holds the IRCv3 message tags, unescaped; nil when there are none.
	Tags map[string]string
	// Source is the prefix without the colon, such as "nick!user@host".
	Source string
	// Command is the command or numeric, upper case, such as "PRIVMSG" or "001".
	Command string
	// Params are the parameters; the trailing one is the last.
	Params []string
	// Received is when the client read the line.
	Received time.Time
}

// ParseIRCLine parses one IRC line (without CR LF).
func ParseIRCLine(raw string) (*Line, error) {
	m, err := ircmsg.ParseLine(raw)
	if err != nil {
		return nil, fmt.Errorf("parse %q: %w", raw, err)
	}
	l := &Line{Raw: raw, Source: m.Source, Command: strings.ToUpper(m.Command), Params: m.Params}
	if tags := m.AllTags(); len(tags) > 0 {
		l.Tags = tags
	}
	return l, nil
}

// Nick returns the nickname part of the line's source.
func (l *Line) Nick() string {
	nick, _, _ := strings.Cut(l.Source, "!")
	nick, _, _ = strings.Cut(nick, "@")
	return nick
}

// Param returns the i-th parameter, or "" when there are fewer.
func (l *Line) Param(i int) string {
	if i < 0 || i >= len(l.Params) {
		return ""
	}
	return l.Params[i]
}

// Last returns the last parameter (usually the trailing text), or "".
func (l *Line) Last() string { return l.Param(len(l.Params) - 1) }

// Tag returns the value of a message tag and whether it is present.
func (l *Line) Tag(name string) (string, bool) {
	v, ok := l.Tags[name]
	return v, ok
}

// String returns the raw line.
func (l *Line) String() string { return l.Raw }

// IsCommand returns a [IRCClient.WaitFor] predicate accepting lines with the
// command cmd whose first parameters equal params (ASCII case-insensitively,
// as channel names and nicks compare).
func IsCommand(cmd string, params ...string) func(*Line) bool {
	cmd = strings.ToUpper(cmd)
	return func(l *Line) bool {
		if l.Command != cmd || len(l.Params) < len(params) {
			return false
		}
		for i, p := range params {
			if !strings.EqualFold(l.Params[i], p) {
				return false
			}
		}
		return true
	}
}

// IsPrivmsg returns a predicate accepting a PRIVMSG from the nick from to
// target with exactly the text text.
func IsPrivmsg(from, target, text string) func(*Line) bool {
	return func(l *Line) bool {
		return l.Command == "PRIVMSG" && strings.EqualFold(l.Nick(), from) &&
			strings.EqualFold(l.Param(0), target) && l.Param(1) == text
	}
}

// IRCClientOption configures [DialIRC] and [ConnectIRC].
type IRCClientOption func(*ircClientOptions)

type ircClientOptions struct {
	caps         []string
	noCAP        bool
	saslAccount  string
	saslPassword string
	user         string
	realname     string
	password     string
}

// WithCaps requests IRCv3 capabilities; registration fails unless the server
// acknowledges all of them.
func WithCaps(caps ...string) IRCClientOption {
	return func(o *ircClientOptions) { o.caps = append(o.caps, caps...) }
}

// WithSASLPlain authenticates with SASL PLAIN during registration (it
// requests the "sasl" capability); registration fails if authentication does.
func WithSASLPlain(account, password string) IRCClientOption {
	return func(o *ircClientOptions) { o.saslAccount, o.saslPassword = account, password }
}

// WithoutCAP registers like a pre-IRCv3 client: no CAP LS at all. It cannot
// be combined with [WithCaps] or [WithSASLPlain].
func WithoutCAP() IRCClientOption {
	return func(o *ircClientOptions) { o.noCAP = true }
}

// WithUser sets the USER username and realname (default: the nick).
func WithUser(user, realname string) IRCClientOption {
	return func(o *ircClientOptions) { o.user, o.realname = user, realname }
}

// WithServerPassword sends PASS before registering.
func WithServerPassword(password string) IRCClientOption {
	return func(o *ircClientOptions) { o.password = password }
}

// IRCClient is a raw IRC client for tests: it writes the lines it is told to,
// answers PING, and keeps every line it receives, parsed, for [IRCClient.WaitFor]
// and [IRCClient.Lines]. Its methods are safe for concurrent use.
type IRCClient struct {
	conn net.Conn
	wmu  sync.Mutex // serialises writes

	mu       sync.Mutex
	nick     string
	lines    []*Line
	consumed []bool
	first    int           // index of the first line not yet consumed
	notify   chan struct{} // closed and replaced when a line arrives
	readErr  error         // set when the reader stopped
	offered  map[string]string
	acked    map[string]bool
	isupport map[string]string
	done     chan struct{} // closed when the reader stopped
	// discard, once set by Discard, makes the reader drop every line but
	// PING unparsed.
	discard atomic.Bool
}

// Discard makes the client read as fast as its socket gives lines and
// keep none of them (it still answers PING): a reference reader, to tell a
// server that drops slow readers from one that drops every reader.
func (c *IRCClient) Discard() { c.discard.Store(true) }

// DialIRC connects to addr as nick and registers (see [ConnectIRC]). The test
// fails if it cannot; the connection is closed in t.Cleanup.
func DialIRC(t testing.TB, addr, nick string, opts ...IRCClientOption) *IRCClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), ircRegisterTimeout)
	defer cancel()
	c, err := ConnectIRC(ctx, addr, nick, opts...)
	if err != nil {
		t.Fatalf("irc %s as %s: %v", addr, nick, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// ConnectIRC connects to addr as nick, negotiates capabilities (CAP LS 302,
// then the requested ones and SASL), and returns once the server sent 001.
// Unlike [DialIRC] it does not need a test, so load tests can call it from
// many goroutines; the caller must Close the client.
func ConnectIRC(ctx context.Context, addr, nick string, opts ...IRCClientOption) (*IRCClient, error) {
	var o ircClientOptions
	for _, opt := range opts {
		opt(&o)
	}
	if o.noCAP && (len(o.caps) > 0 || o.saslAccount != "") {
		return nil, errors.New("WithoutCAP cannot be combined with capabilities or SASL")
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("dial: %w", err)
	}
	c := newIRCClient(conn, nick)
	if err := c.register(ctx, o); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

func newIRCClient(conn net.Conn, nick string) *IRCClient {
	c := &IRCClient{
		conn:     conn,
		nick:     nick,
		notify:   make(chan struct{}),
		offered:  map[string]string{},
		acked:    map[string]bool{},
		isupport: map[string]string{},
		done:     make(chan struct{}),
	}
	go c.readLoop()
	return c
}

func (c *IRCClient) register(ctx context.Context, o ircClientOptions) error {
	user, realname := o.user, o.realname
	if user == "" {
		user = c.nick
	}
	if realname == "" {
		realname = c.nick
	}
	var pre []string
	if o.password != "" {
		pre = append(pre, "PASS :"+o.password)
	}
	if !o.noCAP {
		pre = append(pre, "CAP LS 302")
	}
	pre = append(pre, "NICK "+c.nick, "USER "+user+" 0 * :"+realname)
	for _, l := range pre {
		if err := c.Send(l); err != nil {
			return err
		}
	}
	if !o.noCAP {
		if err := c.negotiate(ctx, o); err != nil {
			return err
		}
	}
	l, err := c.waitCtx(ctx, func(l *Line) bool {
		return l.Command == "001" || l.Command == "ERROR" || isRegistrationError(l.Command)
	})
	if err != nil {
		return fmt.Errorf("wait for welcome: %w", err)
	}
	if l.Command != "001" {
		return fmt.Errorf("registration refused: %s", l.Raw)
	}
	return nil
}

// isRegistrationError reports numerics that end a registration attempt:
// nick in use or invalid, password mismatch, banned.
func isRegistrationError(cmd string) bool {
	switch cmd {
	case "431", "432", "433", "436", "437", "464", "465":
		return true
	}
	return false
}

// negotiate runs CAP LS, CAP REQ, SASL and CAP END.
func (c *IRCClient) negotiate(ctx context.Context, o ircClientOptions) error {
	for {
		l, err := c.waitCtx(ctx, func(l *Line) bool {
			return (l.Command == "CAP" && strings.EqualFold(l.Param(1), "LS")) || l.Command == "001" ||
				l.Command == "421" || l.Command == "ERROR"
		})
		if err != nil {
			return fmt.Errorf("wait for CAP LS: %w", err)
		}
		if l.Command != "CAP" { // no CAP support: already registered or refused
			if len(o.caps) > 0 || o.saslAccount != "" {
				return fmt.Errorf("server does not support CAP: %s", l.Raw)
			}
			c.unconsume(l)
			return nil
		}
		c.addOffered(l.Last())
		if l.Param(2) != "*" { // "CAP * LS * :..." continues; the last has no "*"
			break
		}
	}
	req := append([]string(nil), o.caps...)
	if o.saslAccount != "" {
		req = append(req, "sasl")
	}
	if len(req) > 0 {
		if err := c.Send("CAP REQ :" + strings.Join(req, " ")); err != nil {
			return err
		}
		l, err := c.waitCtx(ctx, func(l *Line) bool {
			return l.Command == "CAP" && (strings.EqualFold(l.Param(1), "ACK") || strings.EqualFold(l.Param(1), "NAK"))
		})
		if err != nil {
			return fmt.Errorf("wait for CAP ACK: %w", err)
		}
		if strings.EqualFold(l.Param(1), "NAK") {
			return fmt.Errorf("server refused capabilities: %s", l.Raw)
		}
		c.mu.Lock()
		for _, cp := range strings.Fields(l.Last()) {
			c.acked[strings.TrimPrefix(cp, "-")] = !strings.HasPrefix(cp, "-")
		}
		c.mu.Unlock()
	}
	if o.saslAccount != "" {
		if err := c.saslPlain(ctx, o.saslAccount, o.saslPassword); err != nil {
			return err
		}
	}
	return c.Send("CAP END")
}

func (c *IRCClient) addOffered(list string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, cp := range strings.Fields(list) {
		name, value, _ := strings.Cut(cp, "=")
		c.offered[name] = value
	}
}

// saslPlain authenticates with SASL PLAIN, splitting the payload into
// 400-byte AUTHENTICATE chunks as the IRCv3 SASL specification requires.
func (c *IRCClient) saslPlain(ctx context.Context, account, password string) error {
	if err := c.Send("AUTHENTICATE PLAIN"); err != nil {
		return err
	}
	if _, err := c.waitCtx(ctx, IsCommand("AUTHENTICATE", "+")); err != nil {
		return fmt.Errorf("wait for AUTHENTICATE +: %w", err)
	}
	payload := base64.StdEncoding.EncodeToString([]byte(account + "\x00" + account + "\x00" + password))
	for {
		n := min(len(payload), 400)
		if err := c.Send("AUTHENTICATE " + payload[:n]); err != nil {
			return err
		}
		payload = payload[n:]
		if n < 400 {
			break
		}
		if payload == "" {
			if err := c.Send("AUTHENTICATE +"); err != nil {
				return err
			}
			break
		}
	}
	l, err := c.waitCtx(ctx, func(l *Line) bool {
		switch l.Command {
		case "903", "902", "904", "905", "906", "907", "908":
			return true
		}
		return false
	})
	if err != nil {
		return fmt.Errorf("wait for SASL result: %w", err)
	}
	if l.Command != "903" {
		return fmt.Errorf("sasl plain as %s failed: %s", account, l.Raw)
	}
	return nil
}

// readLoop reads lines until the connection fails, answering PING.
func (c *IRCClient) readLoop() {
	defer close(c.done)
	r := bufio.NewReaderSize(c.conn, 16<<10)
	for {
		raw, err := r.ReadString('\n')
		if err != nil {
			c.mu.Lock()
			c.readErr = err
			close(c.notify)
			c.mu.Unlock()
			return
		}
		if c.discard.Load() && !strings.HasPrefix(raw, "PING ") {
			continue
		}
		raw = strings.TrimRight(raw, "\r\n")
		if raw == "" {
			continue
		}
		l, err := ParseIRCLine(raw)
		if err != nil {
			l = &Line{Raw: raw}
		}
		l.Received = time.Now()
		if l.Command == "PING" {
			_ = c.Send("PONG :" + l.Last()) // a write error shows up as a read error too
		}
		c.record(l)
	}
}

func (c *IRCClient) record(l *Line) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case l.Command == "001" && len(l.Params) > 0:
		c.nick = l.Params[0]
	case l.Command == "NICK" && strings.EqualFold(l.Nick(), c.nick):
		c.nick = l.Last()
	case l.Command == "005":
		for _, tok := range l.Params[1:max(1, len(l.Params)-1)] {
			k, v, _ := strings.Cut(tok, "=")
			if strings.HasPrefix(k, "-") {
				delete(c.isupport, k[1:])
			} else {
				c.isupport[k] = v
			}
		}
	case l.Command == "CAP" && strings.EqualFold(l.Param(1), "NEW"):
		for _, cp := range strings.Fields(l.Last()) {
			name, value, _ := strings.Cut(cp, "=")
			c.offered[name] = value
		}
	}
	c.lines = append(c.lines, l)
	c.consumed = append(c.consumed, false)
	close(c.notify)
	c.notify = make(chan struct{})
}

// Send writes one raw line (CR LF is added). A line containing CR, LF or NUL
// is refused, so a test cannot smuggle a second command by accident.
func (c *IRCClient) Send(line string) error {
	if strings.ContainsAny(line, "\r\n\x00") {
		return fmt.Errorf("irc line contains CR, LF or NUL: %q", line)
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := c.conn.SetWriteDeadline(time.Now().Add(10 * time.Second)); err != nil {
		return fmt.Errorf("set write deadline: %w", err)
	}
	if _, err := c.conn.Write([]byte(line + "\r\n")); err != nil {
		return fmt.Errorf("write %q: %w", line, err)
	}
	return nil
}

// Privmsg sends a PRIVMSG to target.
func (c *IRCClient) Privmsg(target, text string) error {
	return c.Send("PRIVMSG " + target + " :" + text)
}

// Join joins channel and waits (up to 30 s) for the server's JOIN echo and
// the end of its NAMES list; a numeric error about the channel fails it.
func (c *IRCClient) Join(channel string) error {
	if err := c.Send("JOIN " + channel); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	nick := c.Nick()
	l, err := c.waitCtx(ctx, func(l *Line) bool {
		return (l.Command == "JOIN" && strings.EqualFold(l.Nick(), nick) && strings.EqualFold(l.Param(0), channel)) ||
			(isErrorNumeric(l.Command) && strings.EqualFold(l.Param(1), channel))
	})
	if err != nil {
		return fmt.Errorf("join %s: %w", channel, err)
	}
	if l.Command != "JOIN" {
		return fmt.Errorf("join %s: %s", channel, l.Raw)
	}
	if _, err := c.waitCtx(ctx, IsCommand("366", nick, channel)); err != nil {
		return fmt.Errorf("join %s: wait for end of NAMES: %w", channel, err)
	}
	return nil
}

func isErrorNumeric(cmd string) bool {
	return len(cmd) == 3 && (cmd[0] == '4' || cmd[0] == '5')
}

// WaitFor returns the first received line, in arrival order, that pred
// accepts and that no earlier WaitFor returned; it waits up to timeout for
// one to arrive. Each line is returned at most once, so waiting twice for the
// same kind of line returns two different lines.
func (c *IRCClient) WaitFor(pred func(*Line) bool, timeout time.Duration) (*Line, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return c.waitCtx(ctx, pred)
}

func (c *IRCClient) waitCtx(ctx context.Context, pred func(*Line) bool) (*Line, error) {
	for {
		// Run pred without holding c.mu, so it may call the client's methods.
		c.mu.Lock()
		from, lines, notify, readErr := c.first, c.lines, c.notify, c.readErr
		c.mu.Unlock()
		for i := from; i < len(lines); i++ {
			if c.isConsumed(i) || !pred(lines[i]) {
				continue
			}
			if c.consume(i) {
				return lines[i], nil
			}
		}
		if readErr != nil {
			return nil, fmt.Errorf("%w: %w", ErrIRCClosed, readErr)
		}
		select {
		case <-notify:
		case <-ctx.Done():
			return nil, fmt.Errorf("no matching line: %w", ctx.Err())
		}
	}
}

func (c *IRCClient) isConsumed(i int) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.consumed[i]
}

// consume marks line i as returned; false if another waiter took it first.
func (c *IRCClient) consume(i int) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.consumed[i] {
		return false
	}
	c.consumed[i] = true
	for c.first < len(c.lines) && c.consumed[c.first] {
		c.first++
	}
	return true
}

// unconsume makes a line returned by waitCtx available again.
func (c *IRCClient) unconsume(l *Line) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := len(c.lines) - 1; i >= 0; i-- {
		if c.lines[i] == l {
			c.consumed[i] = false
			c.first = min(c.first, i)
			return
		}
	}
}

// Lines returns every line received so far, in order.
func (c *IRCClient) Lines() []*Line {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*Line(nil), c.lines...)
}

// Nick returns the client's current nick as the server knows it.
func (c *IRCClient) Nick() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nick
}

// OfferedCaps returns the capabilities the server offered in CAP LS (and
// CAP NEW), with their values ("" when a capability has none).
func (c *IRCClient) OfferedCaps() map[string]string {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := make(map[string]string, len(c.offered))
	for k, v := range c.offered {
		m[k] = v
	}
	return m
}

// HasCap reports whether the server acknowledged capability name.
func (c *IRCClient) HasCap(name string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.acked[name]
}

// ISupport returns the value of an RPL_ISUPPORT (005) token and whether the
// server advertised it.
func (c *IRCClient) ISupport(token string) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.isupport[token]
	return v, ok
}

// Done is closed when the connection has closed (by either side).
func (c *IRCClient) Done() <-chan struct{} { return c.done }

// Close closes the connection without QUIT and waits for the reader to stop.
// Closing twice is harmless.
func (c *IRCClient) Close() error {
	err := c.conn.Close()
	<-c.done
	if errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}

// Quit sends QUIT with a reason and waits up to 5 s for the server to close
// the connection, then closes it.
func (c *IRCClient) Quit(reason string) error {
	err := c.Send("QUIT :" + reason)
	select {
	case <-c.done:
	case <-time.After(5 * time.Second):
	}
	if cerr := c.Close(); err == nil {
		err = cerr
	}
	return err
}

// RegisterAccount creates a services account named account with password on
// an Ergo server at addr (through NickServ, as a user would), so tests can
// then log in with [WithSASLPlain]. It connects as the nick account and quits.
func RegisterAccount(ctx context.Context, addr, account, password string) error {
	c, err := ConnectIRC(ctx, addr, account)
	if err != nil {
		return fmt.Errorf("register account %s: %w", account, err)
	}
	defer c.Close()
	if err := c.Send("NICKSERV REGISTER " + password); err != nil {
		return fmt.Errorf("register account %s: %w", account, err)
	}
	l, err := c.waitCtx(ctx, func(l *Line) bool {
		return (l.Command == "NOTICE" && strings.EqualFold(l.Nick(), "NickServ")) || l.Command == "FAIL" ||
			(isErrorNumeric(l.Command) && l.Command != "422")
	})
	if err != nil {
		return fmt.Errorf("register account %s: wait for NickServ: %w", account, err)
	}
	if l.Command != "NOTICE" || !strings.Contains(strings.ToLower(l.Last()), "account created") {
		return fmt.Errorf("register account %s: %s", account, l.Raw)
	}
	// Wait for the server to close the connection, so the nick is free
	// when this returns.
	_ = c.Quit("account registered")
	return nil
}
