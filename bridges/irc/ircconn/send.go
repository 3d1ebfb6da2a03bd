package ircconn

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/causewaybridge/causeway/bridges/irc/ircfmt"
	"github.com/ergochat/irc-go/ircmsg"
)

// Send writes one message after waiting for flood control. It is strict:
// CR, LF or NUL anywhere, a space, an empty value or a leading ':' in a
// non-final parameter, a command that is not letters or a three-digit
// numeric, an invalid tag name or value, or a line longer than the
// server's limit is an error wrapping [ErrInvalidLine], and nothing is
// written.
func (c *Conn) Send(ctx context.Context, tags map[string]string, command string, params ...string) error {
	return c.send(ctx, false, tags, command, params)
}

// SendPriority is [Conn.Send] without flood control, for PONG, QUIT and
// other lines that must not wait behind queued messages.
func (c *Conn) SendPriority(ctx context.Context, tags map[string]string, command string, params ...string) error {
	return c.send(ctx, true, tags, command, params)
}

func (c *Conn) send(ctx context.Context, priority bool, tags map[string]string, command string, params []string) error {
	line, err := buildLine(tags, command, params, c.lineLen())
	if err != nil {
		return err
	}
	return c.writeLine(ctx, priority, line)
}

// lineLen returns the server's line length limit without tags.
func (c *Conn) lineLen() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.isupport.LineLen
}

// buildLine serialises one message strictly; lineLen (0: 512) bounds the
// line without tags, CR LF included.
func buildLine(tags map[string]string, command string, params []string, lineLen int) ([]byte, error) {
	if !validCommand(command) {
		return nil, fmt.Errorf("%w: command %q", ErrInvalidLine, command)
	}
	m := ircmsg.MakeMessage(tags, "", strings.ToUpper(command), params...)
	line, err := m.LineBytesStrict(true, 0)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidLine, err)
	}
	if lineLen <= 0 {
		lineLen = ircfmt.LineLimit
	}
	body := line
	if line[0] == '@' {
		body = line[strings.IndexByte(string(line), ' ')+1:]
	}
	if len(body) > lineLen {
		return nil, fmt.Errorf("%w: %d bytes, over the limit of %d", ErrInvalidLine, len(body), lineLen)
	}
	return line, nil
}

// validCommand reports whether command is letters only or a three-digit
// numeric.
func validCommand(command string) bool {
	if isNumeric(command) {
		return true
	}
	for i := 0; i < len(command); i++ {
		if b := command[i] | 0x20; b < 'a' || b > 'z' {
			return false
		}
	}
	return command != ""
}

// writeLine waits for flood control unless priority, then writes line.
// A failed write ends the connection.
func (c *Conn) writeLine(ctx context.Context, priority bool, line []byte) error {
	if err := c.takeToken(ctx, priority, 1); err != nil {
		return err
	}
	return c.write(ctx, line)
}

// takeToken waits for n flood-control tokens unless priority.
func (c *Conn) takeToken(ctx context.Context, priority bool, n int) error {
	if c.isDone() {
		return c.Err()
	}
	if priority || c.limiter == nil {
		return nil
	}
	if err := c.limiter.WaitN(ctx, min(n, c.limiter.Burst())); err != nil {
		return fmt.Errorf("ircconn: flood control: %w", err)
	}
	return nil
}

// write writes b under the write lock, bounded by ctx's deadline or
// writeTimeout.
func (c *Conn) write(ctx context.Context, b []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.isDone() {
		return c.Err()
	}
	deadline := time.Now().Add(writeTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	_ = c.nc.SetWriteDeadline(deadline)
	if _, err := c.nc.Write(b); err != nil {
		if ne := (interface{ Timeout() bool })(nil); errors.As(err, &ne) && ne.Timeout() && ctx.Err() != nil {
			err = ctx.Err()
		}
		if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
			c.closeWithError(fmt.Errorf("%w: write: %w", ErrDisconnected, err))
			return fmt.Errorf("ircconn: write: %w", err)
		}
		err = fmt.Errorf("%w: write: %w", ErrDisconnected, err)
		c.closeWithError(err)
		return fmt.Errorf("ircconn: %w", err)
	}
	return nil
}
