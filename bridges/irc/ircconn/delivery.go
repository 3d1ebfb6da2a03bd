package ircconn

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/causewaybridge/causeway/bridges/irc/ircfmt"
	"github.com/ergochat/irc-go/ircmsg"
)

// Delivery reports what the server said about a message sent with
// [Conn.SendMessage].
type Delivery struct {
	// Confirmed is true when the server echoed or acknowledged the
	// message (labeled-response or echo-message); false when the server
	// offers neither, so the message was only written.
	Confirmed bool
	// MsgID is the server's msgid of the echo, if any.
	MsgID string
	// ServerTime is the server-time of the echo, if any.
	ServerTime time.Time
}

// confirmMode is how a sent message is confirmed.
type confirmMode uint8

const (
	confirmNone confirmMode = iota
	confirmLabel
	confirmEcho
)

// waiter waits for the server's reply to one sent message.
type waiter struct {
	label     string // labeled-response label, or ""
	command   string // PRIVMSG, NOTICE, TAGMSG
	target    string // casefolded
	text      string
	multiline bool
	ch        chan result
}

type result struct {
	d   *Delivery
	err error
}

// resolve delivers the outcome; it never blocks.
func (w *waiter) resolve(d *Delivery, err error) {
	select {
	case w.ch <- result{d, err}:
	default:
	}
}

// waiters holds the senders waiting for replies: by label, or in send
// order for echo matching.
type waiters struct {
	byLabel map[string]*waiter
	inOrder []*waiter
}

func (ws *waiters) add(w *waiter) {
	if w.label != "" {
		if ws.byLabel == nil {
			ws.byLabel = make(map[string]*waiter)
		}
		ws.byLabel[w.label] = w
		return
	}
	ws.inOrder = append(ws.inOrder, w)
}

func (ws *waiters) remove(w *waiter) {
	if w.label != "" {
		delete(ws.byLabel, w.label)
		return
	}
	if i := slices.Index(ws.inOrder, w); i >= 0 {
		ws.inOrder = slices.Delete(ws.inOrder, i, i+1)
	}
	if len(ws.inOrder) == 0 {
		ws.inOrder = nil
	}
}

// take removes and returns the label's waiter.
func (ws *waiters) take(label string) *waiter {
	w := ws.byLabel[label]
	if w != nil {
		delete(ws.byLabel, label)
	}
	return w
}

// takeEcho removes and returns the oldest waiter matching the echo: the
// oldest with the same command, target and text, else the oldest with the
// same command and target (the server may have altered the text).
func (ws *waiters) takeEcho(command, target, text string, multiline bool) *waiter {
	first := -1
	for i, w := range ws.inOrder {
		if w.command != command || w.target != target || w.multiline != multiline {
			continue
		}
		if w.text == text {
			first = i
			break
		}
		if first < 0 {
			first = i
		}
	}
	return ws.takeAt(first)
}

// takeFor removes and returns the oldest waiter for target (any target when
// target is "").
func (ws *waiters) takeFor(target string) *waiter {
	return ws.takeAt(slices.IndexFunc(ws.inOrder, func(w *waiter) bool { return target == "" || w.target == target }))
}

func (ws *waiters) takeAt(i int) *waiter {
	if i < 0 {
		return nil
	}
	w := ws.inOrder[i]
	ws.inOrder = slices.Delete(ws.inOrder, i, i+1)
	return w
}

func (ws *waiters) drain() []*waiter {
	out := ws.inOrder
	for _, w := range ws.byLabel {
		out = append(out, w)
	}
	*ws = waiters{}
	return out
}

// SendMessage sends a PRIVMSG, NOTICE or TAGMSG (text ignored) to target
// and waits for the server's confirmation: the labeled echo or ACK when
// labeled-response is enabled, else the echo when echo-message is enabled.
// Without either it returns an unconfirmed Delivery as soon as the line is
// written. An error reply to the message (401 no such nick, 404 cannot
// send, 477 needs a registered nick, 486, FAIL, ...) is returned as a
// [*NumericError]. The wait ends with ctx or after [Config.ConfirmTimeout];
// then the Delivery is unconfirmed and the error wraps [ErrUnconfirmed].
func (c *Conn) SendMessage(ctx context.Context, tags map[string]string, command, target, text string) (*Delivery, error) {
	command = strings.ToUpper(command)
	params := []string{target, text}
	switch command {
	case "PRIVMSG", "NOTICE":
	case "TAGMSG":
		params, text = params[:1], ""
	default:
		return nil, fmt.Errorf("%w: SendMessage cannot send %q", ErrInvalidLine, command)
	}
	w, err := c.sendTracked(ctx, tags, command, target, text, params)
	if err != nil {
		return nil, err
	}
	return c.wait(ctx, w)
}

// sendTracked sends one message and registers its waiter (nil when the
// message cannot be confirmed).
func (c *Conn) sendTracked(ctx context.Context, tags map[string]string, command, target, text string, params []string) (*waiter, error) {
	w := c.newWaiter(command, target, text, false)
	if w != nil && w.label != "" {
		tags = withTag(tags, "label", w.label)
	}
	line, err := buildLine(tags, command, params, c.lineLen())
	if err != nil {
		return nil, err
	}
	if err := c.takeToken(ctx, false, 1); err != nil {
		return nil, err
	}
	return w, c.writeTracked(ctx, w, line)
}

// writeTracked registers w (when not nil) and writes the lines; the waiter
// is registered before the write so that a fast reply finds it.
func (c *Conn) writeTracked(ctx context.Context, w *waiter, line []byte) error {
	if w != nil {
		c.mu.Lock()
		c.waiters.add(w)
		c.mu.Unlock()
	}
	if err := c.write(ctx, line); err != nil {
		if w != nil {
			c.mu.Lock()
			c.waiters.remove(w)
			c.mu.Unlock()
		}
		return err
	}
	return nil
}

// newWaiter returns a waiter for a message, or nil when the server cannot
// confirm it.
func (c *Conn) newWaiter(command, target, text string, multiline bool) *waiter {
	c.mu.Lock()
	defer c.mu.Unlock()
	var label string
	switch c.confirmModeLocked() {
	case confirmNone:
		return nil
	case confirmLabel:
		label = c.nextRefLocked()
	}
	return &waiter{
		label: label, command: command, text: text, multiline: multiline,
		target: c.foldLocked(target), ch: make(chan result, 1),
	}
}

// confirmModeLocked returns how messages are confirmed. The caller holds
// c.mu.
func (c *Conn) confirmModeLocked() confirmMode {
	_, batch := c.caps["batch"]
	if _, ok := c.caps["labeled-response"]; ok && batch {
		return confirmLabel
	}
	if _, ok := c.caps["echo-message"]; ok {
		return confirmEcho
	}
	return confirmNone
}

// wait waits for w's outcome (w nil: unconfirmed).
func (c *Conn) wait(ctx context.Context, w *waiter) (*Delivery, error) {
	if w == nil {
		return &Delivery{}, nil
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.ConfirmTimeout)
	defer cancel()
	select {
	case r := <-w.ch:
		return r.d, r.err
	case <-ctx.Done():
		c.mu.Lock()
		c.waiters.remove(w)
		c.mu.Unlock()
		select {
		case r := <-w.ch: // resolved meanwhile
			return r.d, r.err
		default:
		}
		return &Delivery{}, fmt.Errorf("%w: %w", ErrUnconfirmed, ctx.Err())
	}
}

// routeReply gives a reply to the sender waiting for it. It reports whether
// m was consumed.
func (c *Conn) routeReply(m *ircmsg.Message) bool {
	if ok, label := m.GetTag("label"); ok {
		c.mu.Lock()
		w := c.waiters.take(label)
		c.mu.Unlock()
		if w == nil {
			return false
		}
		w.resolve(outcome([]*ircmsg.Message{m}, nil))
		return true
	}
	c.mu.Lock()
	w := c.takeUnlabeledLocked(m)
	c.mu.Unlock()
	if w == nil {
		return false
	}
	w.resolve(outcome([]*ircmsg.Message{m}, nil))
	return true
}

// takeUnlabeledLocked finds the waiter an unlabeled echo or error reply
// answers. The caller holds c.mu.
func (c *Conn) takeUnlabeledLocked(m *ircmsg.Message) *waiter {
	if len(c.waiters.inOrder) == 0 {
		return nil
	}
	switch {
	case isEchoCommand(m.Command):
		if len(m.Params) == 0 || !c.isSelfLocked(m) {
			return nil
		}
		text := ""
		if len(m.Params) > 1 {
			text = m.Params[1]
		}
		return c.waiters.takeEcho(m.Command, c.foldLocked(m.Params[0]), text, false)
	case m.Command == "FAIL" && len(m.Params) >= 1 && (isEchoCommand(m.Params[0]) || m.Params[0] == "BATCH"):
		return c.waiters.takeFor("")
	case isMessageError(m.Command) && len(m.Params) >= 3:
		return c.waiters.takeFor(c.foldLocked(m.Params[1]))
	}
	return nil
}

// routeBatch gives a finished batch to the sender waiting for it: a
// labeled batch, or the echo of a multiline message. It reports whether b
// was consumed.
func (c *Conn) routeBatch(b *Batch) bool {
	c.mu.Lock()
	var w *waiter
	if label, ok := b.Tags["label"]; ok {
		w = c.waiters.take(label)
	} else if b.Type == BatchMultiline && len(b.Params) > 0 && b.Source != "" {
		src := ircmsg.Message{Source: b.Source}
		if c.isSelfLocked(&src) {
			w = c.waiters.takeEcho(b.command(), c.foldLocked(b.Params[0]), b.Text(), true)
		}
	}
	c.mu.Unlock()
	if w == nil {
		return false
	}
	w.resolve(outcome(b.Lines, b))
	return true
}

// outcome turns the reply to a sent message into its result: the first
// error reply wins, else the echo (or batch) confirms with its msgid and
// time, else (ACK or other replies) the message is confirmed without them.
func outcome(lines []*ircmsg.Message, b *Batch) (*Delivery, error) {
	for _, m := range lines {
		if m.Command == "FAIL" || isErrorNumeric(m.Command) {
			return nil, numericError(m)
		}
	}
	d := &Delivery{Confirmed: true}
	if b != nil && b.Type == BatchMultiline {
		d.MsgID, d.ServerTime = b.Tags["msgid"], parseTime(b.Tags["time"])
		return d, nil
	}
	for _, m := range lines {
		if isEchoCommand(m.Command) {
			d.MsgID, d.ServerTime = MsgID(m), serverTime(m)
			return d, nil
		}
	}
	if b != nil {
		for _, n := range b.Nested {
			if n.Type == BatchMultiline {
				d.MsgID, d.ServerTime = n.Tags["msgid"], parseTime(n.Tags["time"])
				break
			}
		}
	}
	return d, nil
}

func isEchoCommand(command string) bool {
	return command == "PRIVMSG" || command == "NOTICE" || command == "TAGMSG"
}

// isErrorNumeric reports whether command is an error numeric (400–599).
func isErrorNumeric(command string) bool {
	return isNumeric(command) && (command[0] == '4' || command[0] == '5') || isMessageError(command)
}

// isMessageError reports whether command is an error numeric that answers
// a message to a target named in its second parameter.
func isMessageError(command string) bool {
	switch command {
	case "401", // ERR_NOSUCHNICK
		"402", // ERR_NOSUCHSERVER
		"403", // ERR_NOSUCHCHANNEL
		"404", // ERR_CANNOTSENDTOCHAN
		"407", // ERR_TOOMANYTARGETS
		"477", // ERR_NEEDREGGEDNICK
		"486", // ERR_NONONREG
		"489", // ERR_SECUREONLYCHAN
		"492", // ERR_NOCTCP
		"531", // ERR_CANTSENDTOUSER
		"716": // ERR_TARGUMODEG
		return true
	}
	return false
}

// withTag returns a copy of tags with name set to value.
func withTag(tags map[string]string, name, value string) map[string]string {
	out := make(map[string]string, len(tags)+1)
	for k, v := range tags {
		out[k] = v
	}
	out[name] = value
	return out
}

// foldLocked casefolds s by the server's mapping. The caller holds c.mu.
func (c *Conn) foldLocked(s string) string {
	return ircfmt.Casefold(c.isupport.CaseMapping, s)
}
