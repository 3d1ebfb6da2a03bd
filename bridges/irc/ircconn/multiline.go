package ircconn

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/causewaybridge/causeway/bridges/irc/ircfmt"
)

const (
	// maxHostLen is the longest host name a server may put in the source
	// it prepends to a relayed message.
	maxHostLen = 63
	// maxUserLen is a generous USER length (with the ident '~').
	maxUserLen = 11
	// defaultMultilineMaxBytes applies when draft/multiline advertises no
	// max-bytes.
	defaultMultilineMaxBytes = 4096
)

// errNothingToSend is returned by SendMultiline for text with no visible
// line.
var errNothingToSend = errors.New("ircconn: nothing to send")

// PayloadLimit returns how many bytes of text fit in one "<command>
// <target> :<text>" line from this connection once the server has
// prepended its source, estimated with the longest user and host.
func (c *Conn) PayloadLimit(command, target string) int {
	c.mu.Lock()
	nick, lineLen := c.nick, c.isupport.LineLen
	c.mu.Unlock()
	src := ircfmt.SourceLen(nick, strings.Repeat("u", maxUserLen), strings.Repeat("h", maxHostLen))
	return ircfmt.PayloadLimit(command, target, src) + lineLen - ircfmt.LineLimit
}

// SendMultiline sends lines as one message to target with command (PRIVMSG
// or NOTICE). With draft/multiline and batch enabled they go in
// draft/multiline batches within the server's max-bytes and max-lines
// (long lines split exactly and rejoined with draft/multiline-concat), the
// tags (for example +draft/reply) on each batch. Otherwise each line is
// split with [ircfmt.SplitLines] and sent as its own message with the tags.
// Confirmation and errors are as for [Conn.SendMessage], for all batches or
// lines together; the Delivery is the first one's.
func (c *Conn) SendMultiline(ctx context.Context, tags map[string]string, command, target string, lines []string) (*Delivery, error) {
	command = strings.ToUpper(command)
	if command != "PRIVMSG" && command != "NOTICE" {
		return nil, fmt.Errorf("%w: SendMultiline cannot send %q", ErrInvalidLine, command)
	}
	if c.HasCap("draft/multiline") && c.HasCap("batch") {
		return c.sendBatches(ctx, tags, command, target, lines)
	}
	limit := c.PayloadLimit(command, target)
	var ws []*waiter
	for _, line := range lines {
		for _, piece := range ircfmt.SplitLines(line, limit) {
			w, err := c.sendTracked(ctx, tags, command, target, piece, []string{target, piece})
			if err != nil {
				return nil, c.abandon(ws, err)
			}
			ws = append(ws, w)
		}
	}
	if len(ws) == 0 {
		return nil, errNothingToSend
	}
	return c.waitAll(ctx, ws)
}

// sendBatches sends lines as draft/multiline batches.
func (c *Conn) sendBatches(ctx context.Context, tags map[string]string, command, target string, lines []string) (*Delivery, error) {
	chunks := c.multilineChunks(command, target, lines)
	if len(chunks) == 0 {
		return nil, errNothingToSend
	}
	var ws []*waiter
	for _, chunk := range chunks {
		w, err := c.sendBatch(ctx, tags, command, target, chunk)
		if err != nil {
			return nil, c.abandon(ws, err)
		}
		ws = append(ws, w)
	}
	return c.waitAll(ctx, ws)
}

// multilinePiece is one line of a multiline batch.
type multilinePiece struct {
	text   string
	concat bool // joins the previous line without a line break
}

// multilineChunks splits lines into pieces that fit one line each and
// groups them into batches within the server's limits. Leading and
// trailing blank lines are dropped.
func (c *Conn) multilineChunks(command, target string, lines []string) [][]multilinePiece {
	is := c.ISupport()
	maxBytes, maxLines := is.MultilineMaxBytes, is.MultilineMaxLines
	if maxBytes <= 0 {
		maxBytes = defaultMultilineMaxBytes
	}
	// A piece must fit a batch on its own; a line longer than max-bytes
	// cannot stay one line and continues in the next batch.
	limit := min(c.PayloadLimit(command, target), maxBytes-1)
	lines = trimBlank(lines)
	var chunks [][]multilinePiece
	var cur []multilinePiece
	size := 0
	for _, line := range lines {
		line = strings.Map(dropControl, line)
		for i, text := range splitExact(line, limit) {
			p := multilinePiece{text: text, concat: i > 0}
			n := len(text) + 1
			if len(cur) > 0 && (size+n > maxBytes || maxLines > 0 && len(cur) >= maxLines) {
				chunks, cur, size = append(chunks, cur), nil, 0
				p.concat = false // a batch cannot start with a concatenation
			}
			cur, size = append(cur, p), size+n
		}
	}
	if len(cur) > 0 {
		chunks = append(chunks, cur)
	}
	return chunks
}

// sendBatch writes one multiline batch in a single write, taking one
// flood-control token.
func (c *Conn) sendBatch(ctx context.Context, tags map[string]string, command, target string, chunk []multilinePiece) (*waiter, error) {
	text := joinPieces(chunk)
	w := c.newWaiter(command, target, text, true)
	c.mu.Lock()
	ref := c.nextRefLocked()
	c.mu.Unlock()
	open := tags
	if w != nil && w.label != "" {
		open = withTag(tags, "label", w.label)
	}
	lineLen := c.lineLen()
	buf, err := buildLine(open, "BATCH", []string{"+" + ref, BatchMultiline, target}, lineLen)
	if err != nil {
		return nil, err
	}
	batchTag := map[string]string{"batch": ref}
	concatTags := map[string]string{"batch": ref, multilineConcatTag: ""}
	for _, p := range chunk {
		t := batchTag
		if p.concat {
			t = concatTags
		}
		line, err := buildLine(t, command, []string{target, p.text}, lineLen)
		if err != nil {
			return nil, err
		}
		buf = append(buf, line...)
	}
	end, _ := buildLine(nil, "BATCH", []string{"-" + ref}, lineLen)
	buf = append(buf, end...)
	if err := c.takeToken(ctx, false, 1); err != nil {
		return nil, err
	}
	return w, c.writeTracked(ctx, w, buf)
}

// waitAll waits for every waiter and returns the first one's Delivery, or
// the first error.
func (c *Conn) waitAll(ctx context.Context, ws []*waiter) (*Delivery, error) {
	var first *Delivery
	for i, w := range ws {
		d, err := c.wait(ctx, w)
		if err != nil {
			return d, c.abandon(ws[i+1:], err)
		}
		if first == nil {
			first = d
		}
	}
	return first, nil
}

// abandon forgets the waiters of a message that failed and returns err.
func (c *Conn) abandon(ws []*waiter, err error) error {
	c.mu.Lock()
	for _, w := range ws {
		if w != nil {
			c.waiters.remove(w)
		}
	}
	c.mu.Unlock()
	return err
}

// splitExact splits s into pieces of at most n bytes at character
// boundaries, so that concatenating them gives s back. An empty s is one
// empty piece.
func splitExact(s string, n int) []string {
	n = max(n, utf8.UTFMax)
	var out []string
	for len(s) > n {
		cut := n
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		if cut == 0 {
			cut = n
		}
		out = append(out, s[:cut])
		s = s[cut:]
	}
	return append(out, s)
}

// joinPieces returns the text a multiline batch carries, as
// [Batch.Text] would rebuild it from the echo.
func joinPieces(chunk []multilinePiece) string {
	var sb strings.Builder
	for i, p := range chunk {
		if i > 0 && !p.concat {
			sb.WriteByte('\n')
		}
		sb.WriteString(p.text)
	}
	return sb.String()
}

// trimBlank drops leading and trailing lines with no visible text.
func trimBlank(lines []string) []string {
	blank := func(s string) bool { return strings.TrimSpace(ircfmt.Strip(s)) == "" }
	for len(lines) > 0 && blank(lines[0]) {
		lines = lines[1:]
	}
	for len(lines) > 0 && blank(lines[len(lines)-1]) {
		lines = lines[:len(lines)-1]
	}
	return lines
}

// dropControl removes CR, LF and NUL, which no IRC line may carry.
func dropControl(r rune) rune {
	if r == '\r' || r == '\n' || r == 0 {
		return -1
	}
	return r
}
