package ircconn

import (
	"context"
	"log/slog"
	"strings"

	"github.com/ergochat/irc-go/ircmsg"
)

// internal handles the commands the connection looks at itself. A handler
// returns true when the message is consumed and must not reach the
// Handler.
var internal = map[string]func(c *Conn, m *ircmsg.Message) bool{
	"PING":  (*Conn).onPing,
	"PONG":  func(*Conn, *ircmsg.Message) bool { return true },
	"BATCH": (*Conn).onBatch,
	"CAP":   (*Conn).onCap,
	"NICK":  (*Conn).onNick,
	"005":   (*Conn).onISupport,
	"900":   (*Conn).onLoggedIn,
	"901":   (*Conn).onLoggedOut,
	"ERROR": (*Conn).onError,
}

// dispatch handles one message read after registration.
func (c *Conn) dispatch(m *ircmsg.Message) {
	if m.Command != "BATCH" {
		if c.addToBatch(m) {
			return
		}
	}
	if h := internal[m.Command]; h != nil && h(c, m) {
		return
	}
	if c.routeReply(m) {
		return
	}
	c.cfg.Handler.HandleMessage(c, m)
}

func (c *Conn) onPing(m *ircmsg.Message) bool {
	if err := c.SendPriority(context.Background(), nil, "PONG", m.Params...); err != nil {
		c.log.Debug("irc pong not sent", slog.Any("err", err))
	}
	return true
}

// onBatch opens or closes a batch. A nested BATCH line reaches here too
// (addToBatch is skipped for it) so that it opens a child batch.
func (c *Conn) onBatch(m *ircmsg.Message) bool {
	c.handleBatch(m)
	return true
}

// onCap follows capability changes after registration: ACK, NEW
// (requesting wanted capabilities) and DEL.
func (c *Conn) onCap(m *ircmsg.Message) bool {
	if len(m.Params) < 3 {
		return true
	}
	list := strings.Fields(m.Params[len(m.Params)-1])
	switch strings.ToUpper(m.Params[1]) {
	case "NEW":
		c.onCapNew(list)
	case "DEL":
		c.mu.Lock()
		c.updateCapsLocked(func(caps map[string]string) {
			for _, name := range list {
				name, _, _ = strings.Cut(name, "=")
				delete(caps, name)
			}
		})
		c.mu.Unlock()
	case "ACK":
		c.mu.Lock()
		c.updateCapsLocked(func(caps map[string]string) {
			for _, name := range list {
				if off, ok := strings.CutPrefix(name, "-"); ok {
					delete(caps, off)
				} else if v, ok := c.offeredLocked(name); ok {
					c.enableCapLocked(caps, name, v)
				} else {
					c.enableCapLocked(caps, name, "")
				}
			}
		})
		c.mu.Unlock()
	}
	return true
}

// onCapNew requests the newly offered capabilities that are wanted,
// remembering their values for the ACK.
func (c *Conn) onCapNew(list []string) {
	var req []string
	c.mu.Lock()
	for _, tok := range list {
		name, value, _ := strings.Cut(tok, "=")
		if _, on := c.caps[name]; on || !contains(c.cfg.Caps, name) {
			continue
		}
		if c.newCaps == nil {
			c.newCaps = make(map[string]string)
		}
		c.newCaps[name] = value // read once by the ACK (offeredLocked), then copied
		req = append(req, name)
	}
	c.mu.Unlock()
	for _, name := range req {
		if err := c.SendPriority(context.Background(), nil, "CAP", "REQ", name); err != nil {
			c.log.Debug("irc cap request not sent", slog.Any("err", err))
		}
	}
}

// offeredLocked returns (and forgets) the value a CAP NEW gave name. The
// caller holds c.mu.
func (c *Conn) offeredLocked(name string) (string, bool) {
	v, ok := c.newCaps[name]
	delete(c.newCaps, name)
	if len(c.newCaps) == 0 {
		c.newCaps = nil
	}
	return v, ok
}

// onNick follows this connection's own nick changes; the message still
// reaches the Handler.
func (c *Conn) onNick(m *ircmsg.Message) bool {
	if len(m.Params) == 0 {
		return false
	}
	c.mu.Lock()
	if c.isSelfLocked(m) {
		c.nick = strings.Clone(m.Params[0]) // not a slice of the line: it stays
	}
	c.mu.Unlock()
	return false
}

func (c *Conn) onISupport(m *ircmsg.Message) bool {
	c.parseISupport(m)
	return false
}

func (c *Conn) onLoggedIn(m *ircmsg.Message) bool {
	if len(m.Params) >= 3 {
		c.mu.Lock()
		c.account = strings.Clone(m.Params[2])
		c.mu.Unlock()
	}
	return false
}

func (c *Conn) onLoggedOut(*ircmsg.Message) bool {
	c.mu.Lock()
	c.account = ""
	c.mu.Unlock()
	return false
}

// onError records the server's ERROR line as the reason the connection is
// about to end.
func (c *Conn) onError(m *ircmsg.Message) bool {
	c.mu.Lock()
	if c.err == nil {
		c.err = &closedByServer{numericError(m)}
	}
	c.mu.Unlock()
	return false
}

// closedByServer is the reason of a connection the server ended with an
// ERROR line: it matches [ErrDisconnected] and unwraps to the
// [*NumericError].
type closedByServer struct{ *NumericError }

func (e *closedByServer) Error() string {
	return ErrDisconnected.Error() + ": " + e.NumericError.Error()
}
func (e *closedByServer) Unwrap() []error {
	return []error{ErrDisconnected, e.NumericError}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
