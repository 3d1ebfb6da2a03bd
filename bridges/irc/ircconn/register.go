package ircconn

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"

	"github.com/ergochat/irc-go/ircmsg"
)

const (
	// capReqMax bounds the capability list of one CAP REQ line.
	capReqMax = 400
	// saslChunk is the size of one AUTHENTICATE payload line.
	saslChunk = 400
)

// registration is the state of [Conn.register].
type registration struct {
	offered    map[string]string // CAP LS so far
	lsDone     bool
	pendingReq int // CAP REQs without ACK or NAK
	capsDone   bool
	saslDone   bool
	welcomed   bool
	nickTries  int
}

// errRegistered ends the registration loop successfully.
var errRegistered = errors.New("registered")

// register runs the registration exchange on the caller's goroutine.
func (c *Conn) register(ctx context.Context) error {
	r := &registration{offered: map[string]string{}}
	if err := c.registerStart(ctx); err != nil {
		return err
	}
	for {
		m, err := c.readMessage()
		if err != nil {
			return fmt.Errorf("%w: %w", ErrDisconnected, err)
		}
		if m == nil {
			continue
		}
		switch err := c.registerStep(ctx, r, m); {
		case errors.Is(err, errRegistered):
			c.log.Debug("irc registered", slog.String("nick", c.Nick()), slog.Int("caps", len(c.caps)))
			return nil
		case err != nil:
			_ = c.sendRaw(ctx, nil, "QUIT")
			return err
		}
	}
}

// registerStart writes the opening lines. With SASL, NICK and USER wait for
// a successful authentication so that a server that ignores CAP cannot
// register the connection unauthenticated.
func (c *Conn) registerStart(ctx context.Context) error {
	cfg := &c.cfg
	if w := cfg.WebIRC; w != nil {
		if err := c.sendRaw(ctx, nil, "WEBIRC", w.Password, w.Gateway, w.Hostname, w.IP); err != nil {
			return err
		}
	}
	if cfg.ServerPassword != "" {
		if err := c.sendRaw(ctx, nil, "PASS", cfg.ServerPassword); err != nil {
			return err
		}
	}
	if err := c.sendRaw(ctx, nil, "CAP", "LS", "302"); err != nil {
		return err
	}
	if cfg.SASL == nil {
		return c.sendNickUser(ctx)
	}
	return nil
}

func (c *Conn) sendNickUser(ctx context.Context) error {
	if err := c.sendRaw(ctx, nil, "NICK", c.cfg.Nick); err != nil {
		return err
	}
	return c.sendRaw(ctx, nil, "USER", c.cfg.User, "0", "*", c.cfg.RealName)
}

// sendRaw writes a registration line, bypassing flood control.
func (c *Conn) sendRaw(ctx context.Context, tags map[string]string, command string, params ...string) error {
	return c.SendPriority(ctx, tags, command, params...)
}

// registerStep handles one message during registration. It returns
// errRegistered when registration is complete.
func (c *Conn) registerStep(ctx context.Context, r *registration, m *ircmsg.Message) error {
	switch m.Command {
	case "PING":
		return c.sendRaw(ctx, nil, "PONG", m.Params...)
	case "CAP":
		return c.registerCap(ctx, r, m)
	case "AUTHENTICATE":
		if len(m.Params) > 0 && m.Params[0] == "+" {
			return c.saslRespond(ctx)
		}
		return nil
	case "900": // RPL_LOGGEDIN
		if len(m.Params) >= 3 {
			c.mu.Lock()
			c.account = strings.Clone(m.Params[2])
			c.mu.Unlock()
		}
		return nil
	case "903": // RPL_SASLSUCCESS
		r.saslDone = true
		if err := c.sendNickUser(ctx); err != nil {
			return err
		}
		return c.sendRaw(ctx, nil, "CAP", "END")
	case "902", "904", "905", "906", "907":
		return fmt.Errorf("%w: %w", ErrSASLFailed, numericError(m))
	case "001":
		return c.welcome(r, m)
	case "005":
		c.parseISupport(m)
		return nil
	case "376", "422": // end of MOTD, no MOTD
		if r.welcomed {
			return errRegistered
		}
		return nil
	case "432", "433", "436", "437":
		if r.welcomed {
			return nil
		}
		return c.nickFallback(ctx, r, m)
	case "421": // unknown command: a server without CAP
		if len(m.Params) >= 2 && strings.EqualFold(m.Params[1], "CAP") {
			return c.capsNegotiated(ctx, r)
		}
		return nil
	case "463", "464", "465", "466", "484":
		return fmt.Errorf("%w: %w", ErrRejected, numericError(m))
	case "ERROR":
		return fmt.Errorf("%w: %w", ErrRejected, numericError(m))
	}
	if r.welcomed && !isNumeric(m.Command) {
		c.mu.Lock()
		c.pending = append(c.pending, m)
		c.mu.Unlock()
	}
	return nil
}

// welcome handles RPL_WELCOME.
func (c *Conn) welcome(r *registration, m *ircmsg.Message) error {
	if c.cfg.SASL != nil && !r.saslDone {
		// Only a broken server registers before NICK/USER; refuse anyway.
		return fmt.Errorf("%w: server registered the connection without SASL", ErrSASLFailed)
	}
	r.welcomed = true
	if len(m.Params) > 0 && m.Params[0] != "" && m.Params[0] != "*" {
		c.mu.Lock()
		c.nick = strings.Clone(m.Params[0]) // not a slice of the line: it stays
		c.mu.Unlock()
	}
	return nil
}

// nickFallback answers a refused nick during registration.
func (c *Conn) nickFallback(ctx context.Context, r *registration, m *ircmsg.Message) error {
	tried := c.Nick()
	if len(m.Params) >= 2 && m.Params[0] == "*" || len(m.Params) >= 3 {
		tried = m.Params[1]
	}
	r.nickTries++
	next := ""
	if r.nickTries <= maxNickAttempts {
		next = c.cfg.NickFallback(r.nickTries, tried)
	}
	if next == "" {
		return fmt.Errorf("%w: %w", ErrNickUnavailable, numericError(m))
	}
	c.log.Debug("irc nick refused, trying another", slog.String("tried", tried), slog.String("next", next), slog.String("code", m.Command))
	c.mu.Lock()
	c.nick = next
	c.mu.Unlock()
	return c.sendRaw(ctx, nil, "NICK", next)
}

// registerCap handles CAP LS, ACK and NAK during registration.
func (c *Conn) registerCap(ctx context.Context, r *registration, m *ircmsg.Message) error {
	if len(m.Params) < 3 {
		return nil
	}
	sub, list := strings.ToUpper(m.Params[1]), m.Params[len(m.Params)-1]
	more := len(m.Params) >= 4 && m.Params[2] == "*"
	switch sub {
	case "LS":
		for _, tok := range strings.Fields(list) {
			name, value, _ := strings.Cut(tok, "=")
			r.offered[name] = value
		}
		if more || r.lsDone {
			return nil
		}
		r.lsDone = true
		if _, ok := r.offered["sasl"]; c.cfg.SASL != nil && !ok {
			return fmt.Errorf("%w: server does not offer sasl", ErrSASLFailed)
		}
		return c.requestCaps(ctx, r)
	case "ACK":
		c.mu.Lock()
		c.updateCapsLocked(func(caps map[string]string) {
			for _, name := range strings.Fields(list) {
				if off, ok := strings.CutPrefix(name, "-"); ok {
					delete(caps, off)
				} else {
					c.enableCapLocked(caps, name, r.offered[name])
				}
			}
		})
		c.mu.Unlock()
		r.pendingReq--
	case "NAK":
		caps := strings.Fields(list)
		r.pendingReq--
		if len(caps) > 1 {
			// A REQ is all or nothing: ask for each one alone.
			c.log.Debug("irc caps refused as a group, requesting singly", slog.String("caps", list))
			for _, name := range caps {
				r.pendingReq++
				if err := c.sendRaw(ctx, nil, "CAP", "REQ", name); err != nil {
					return err
				}
			}
		} else {
			c.log.Debug("irc cap refused", slog.String("cap", list))
		}
	default:
		return nil
	}
	if r.pendingReq <= 0 && r.lsDone {
		return c.capsNegotiated(ctx, r)
	}
	return nil
}

// enableCapLocked records an acknowledged capability. The caller holds c.mu.
func (c *Conn) enableCapLocked(caps map[string]string, name, value string) {
	caps[name] = value
	if name == "draft/multiline" {
		c.isupport.setMultiline(value)
	}
}

// updateCapsLocked applies change to a copy of the enabled capabilities
// and keeps the result as a set shared with the network's other
// connections ([Shared]); a shared set is never changed in place. The
// caller holds c.mu.
func (c *Conn) updateCapsLocked(change func(caps map[string]string)) {
	caps := make(map[string]string, len(c.caps)+16)
	maps.Copy(caps, c.caps)
	change(caps)
	c.caps = c.cfg.Shared.capSet(caps)
}

// requestCaps asks for the wanted capabilities the server offers, grouped
// into REQ lines that fit the line limit.
func (c *Conn) requestCaps(ctx context.Context, r *registration) error {
	var want []string
	for _, name := range c.wantedCaps() {
		if _, ok := r.offered[name]; ok && !slices.Contains(want, name) {
			want = append(want, name)
		}
	}
	for len(want) > 0 {
		n, size := 0, 0
		for n < len(want) && (n == 0 || size+1+len(want[n]) <= capReqMax) {
			size += 1 + len(want[n])
			n++
		}
		r.pendingReq++
		if err := c.sendRaw(ctx, nil, "CAP", "REQ", strings.Join(want[:n], " ")); err != nil {
			return err
		}
		want = want[n:]
	}
	if r.pendingReq == 0 {
		return c.capsNegotiated(ctx, r)
	}
	return nil
}

// wantedCaps returns the configured capabilities, with sasl when SASL is
// configured.
func (c *Conn) wantedCaps() []string {
	if c.cfg.SASL != nil && !slices.Contains(c.cfg.Caps, "sasl") {
		return append(slices.Clip(c.cfg.Caps), "sasl")
	}
	return c.cfg.Caps
}

// capsNegotiated runs once capability negotiation is over: it starts SASL
// or ends negotiation.
func (c *Conn) capsNegotiated(ctx context.Context, r *registration) error {
	if r.capsDone {
		return nil
	}
	r.capsDone = true
	s := c.cfg.SASL
	if s == nil {
		return c.sendRaw(ctx, nil, "CAP", "END")
	}
	mechs, ok := c.Caps()["sasl"]
	if !ok {
		return fmt.Errorf("%w: server does not offer sasl", ErrSASLFailed)
	}
	if mechs != "" && !slices.Contains(strings.Split(mechs, ","), s.Mechanism) {
		return fmt.Errorf("%w: server offers %s, not %s", ErrSASLFailed, mechs, s.Mechanism)
	}
	return c.sendRaw(ctx, nil, "AUTHENTICATE", s.Mechanism)
}

// saslRespond sends the SASL payload in 400-byte chunks. It is never
// logged.
func (c *Conn) saslRespond(ctx context.Context) error {
	s := c.cfg.SASL
	if s == nil {
		return c.sendRaw(ctx, nil, "AUTHENTICATE", "*")
	}
	var raw string
	switch s.Mechanism {
	case MechanismPlain:
		raw = "\x00" + s.Username + "\x00" + s.Password
	case MechanismExternal:
		raw = s.Username
	}
	payload := base64.StdEncoding.EncodeToString([]byte(raw))
	for {
		chunk := payload[:min(len(payload), saslChunk)]
		payload = payload[len(chunk):]
		if chunk == "" {
			chunk = "+"
		}
		if err := c.sendRaw(ctx, nil, "AUTHENTICATE", chunk); err != nil {
			return fmt.Errorf("sasl: %w", err)
		}
		if payload == "" && len(chunk) < saslChunk {
			return nil
		}
	}
}

// numericError turns an error reply into a [*NumericError].
func numericError(m *ircmsg.Message) *NumericError {
	e := &NumericError{Code: m.Command}
	p := m.Params
	if len(p) > 0 {
		e.Text = p[len(p)-1]
		p = p[:len(p)-1]
	}
	switch {
	case m.Command == "FAIL":
		if len(p) >= 2 {
			e.Reply = p[1]
		}
		if len(p) >= 3 {
			e.Target = p[2]
		}
	case isNumeric(m.Command) && len(p) >= 2:
		e.Target = p[1]
	}
	return e
}

// isNumeric reports whether command is a three-digit numeric.
func isNumeric(command string) bool {
	return len(command) == 3 && isDigit(command[0]) && isDigit(command[1]) && isDigit(command[2])
}

func isDigit(b byte) bool { return b >= '0' && b <= '9' }
