package ircconn

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// ErrNoMultiline is returned by [Conn.SendMultilineEach] on a connection
// without the draft/multiline and batch capabilities.
var ErrNoMultiline = errors.New("ircconn: draft/multiline not enabled")

// SendMultilineEach sends lines as one message to target in draft/multiline
// batches, as [Conn.SendMultiline] does on a connection with draft/multiline
// and batch, and returns the Delivery of every batch in order: more than one
// when the text is over the server's max-bytes or max-lines. The tags (for
// example +draft/reply) go on the first batch only. On an error the
// Deliveries of the batches confirmed before it are returned with it; a
// batch whose confirmation timed out ends the list with an unconfirmed
// Delivery and an error wrapping [ErrUnconfirmed]. Without the capabilities
// it sends nothing and returns [ErrNoMultiline].
func (c *Conn) SendMultilineEach(ctx context.Context, tags map[string]string, command, target string, lines []string) ([]*Delivery, error) {
	command = strings.ToUpper(command)
	if command != "PRIVMSG" && command != "NOTICE" {
		return nil, fmt.Errorf("%w: SendMultilineEach cannot send %q", ErrInvalidLine, command)
	}
	if !c.HasCap("draft/multiline") || !c.HasCap("batch") {
		return nil, ErrNoMultiline
	}
	chunks := c.multilineChunks(command, target, lines)
	if len(chunks) == 0 {
		return nil, errNothingToSend
	}
	ws := make([]*waiter, 0, len(chunks))
	for i, chunk := range chunks {
		t := tags
		if i > 0 {
			t = nil
		}
		w, err := c.sendBatch(ctx, t, command, target, chunk)
		if err != nil {
			return nil, c.abandon(ws, err)
		}
		ws = append(ws, w)
	}
	out := make([]*Delivery, 0, len(ws))
	for i, w := range ws {
		d, err := c.wait(ctx, w)
		if d != nil {
			out = append(out, d)
		}
		if err != nil {
			return out, c.abandon(ws[i+1:], err)
		}
	}
	return out, nil
}
