package irc

import (
	"context"
	"errors"
	"strings"

	"github.com/causewaybridge/causeway/bridges/irc/ircconn"
	"github.com/causewaybridge/causeway/bridges/irc/ircfmt"
)

// Matrix → IRC messages of several lines: one draft/multiline message when
// the user's connection has the capability, so IRC clients that support it
// show one message, and the server splits it into lines for the others.

// multilineFits reports whether a Matrix message of lines goes to target
// as one draft/multiline message over c: it has more than one line, the
// connection has draft/multiline and batch, it is no CTCP (an ACTION stays
// on one line), and it is within the network's line_limit counted in IRC
// lines (past it the text goes to the media repository, see fitLines).
func (n *network) multilineFits(c *ircconn.Conn, command, target string, lines []string) bool {
	if len(lines) < 2 || !c.HasCap("draft/multiline") || !c.HasCap("batch") || strings.HasPrefix(lines[0], "\x01") {
		return false
	}
	if command != "PRIVMSG" && command != "NOTICE" {
		return false
	}
	limit, count := c.PayloadLimit(command, target), 0
	for _, l := range lines {
		count += len(ircfmt.SplitLines(l, limit))
	}
	return count <= n.cfg.LineLimit
}

// sendMultiline sends lines as one draft/multiline message (several
// batches when the server's max-bytes or max-lines ask for it). It returns
// the last batch's Delivery and the msgids of the batches before it, like
// the line-by-line path in deliver; an unconfirmed delivery is no error.
func (n *network) sendMultiline(ctx context.Context, c *ircconn.Conn, tags map[string]string, command, target string, lines []string) (*ircconn.Delivery, []string, error) {
	ds, err := c.SendMultilineEach(ctx, tags, command, target, lines)
	if err != nil && !errors.Is(err, ircconn.ErrUnconfirmed) {
		return nil, nil, err
	}
	if len(ds) == 0 {
		return nil, nil, nil
	}
	var earlier []string
	for _, d := range ds[:len(ds)-1] {
		if d.MsgID != "" {
			earlier = append(earlier, d.MsgID)
		}
	}
	return ds[len(ds)-1], earlier, nil
}
