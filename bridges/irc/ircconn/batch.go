package ircconn

import (
	"log/slog"
	"strings"

	"github.com/ergochat/irc-go/ircmsg"
)

// Batch types with special meaning.
const (
	// BatchMultiline is a draft/multiline message; see [Batch.Text].
	BatchMultiline = "draft/multiline"
	// BatchChathistory holds CHATHISTORY replies for Params[0].
	BatchChathistory = "chathistory"
	// BatchNetsplit and BatchNetjoin group the QUITs and JOINs of a
	// netsplit and its end.
	BatchNetsplit = "netsplit"
	// BatchNetjoin groups the JOINs of servers rejoining after a split.
	BatchNetjoin = "netjoin"
	// BatchLabeledResponse groups the replies to one labeled command.
	BatchLabeledResponse = "labeled-response"
)

const (
	// maxOpenBatches bounds the batches open at once.
	maxOpenBatches = 64
	// maxBatchLines bounds the lines kept in one batch (nested included);
	// further lines are dropped.
	maxBatchLines = 20000
	// multilineConcatTag joins a line to the previous one without a line
	// break.
	multilineConcatTag = "draft/multiline-concat"
)

// Batch is a complete IRCv3 batch.
type Batch struct {
	// Ref is the reference the server chose.
	Ref string
	// Type is the batch type, such as [BatchChathistory].
	Type string
	// Params are the parameters after the type (the target of a
	// chathistory or multiline batch).
	Params []string
	// Tags are the tags of the opening BATCH line (msgid, time, label,
	// client tags of a multiline message...).
	Tags map[string]string
	// Source is the source of the opening BATCH line (the sender of a
	// multiline message).
	Source string
	// Lines are the messages in the batch, in order, without the nested
	// batches' lines.
	Lines []*ircmsg.Message
	// Nested are the batches opened inside this one, in order.
	Nested []*Batch

	parent *Batch
	count  int // lines in this batch and its nested batches
}

// Text returns the text of a multiline batch: the lines' last parameters
// joined by newlines, or directly for lines tagged draft/multiline-concat.
func (b *Batch) Text() string {
	var sb strings.Builder
	for i, m := range b.Lines {
		if len(m.Params) < 2 {
			continue
		}
		if i > 0 && !m.HasTag(multilineConcatTag) {
			sb.WriteByte('\n')
		}
		sb.WriteString(m.Params[len(m.Params)-1])
	}
	return sb.String()
}

// command returns the command of a multiline batch's lines.
func (b *Batch) command() string {
	if len(b.Lines) > 0 {
		return b.Lines[0].Command
	}
	return "PRIVMSG"
}

// handleBatch opens or closes a batch (BATCH +ref / -ref).
func (c *Conn) handleBatch(m *ircmsg.Message) {
	if len(m.Params) == 0 || len(m.Params[0]) < 2 {
		return
	}
	ref := m.Params[0][1:]
	switch m.Params[0][0] {
	case '+':
		c.openBatch(m, ref)
	case '-':
		c.closeBatch(ref)
	}
}

func (c *Conn) openBatch(m *ircmsg.Message, ref string) {
	b := &Batch{Ref: ref, Tags: m.AllTags(), Source: m.Source}
	if len(m.Params) > 1 {
		b.Type = m.Params[1]
		b.Params = m.Params[2:]
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.batches) >= maxOpenBatches {
		c.log.Warn("irc too many open batches, ignoring one", slog.String("type", b.Type))
		return
	}
	if ok, parent := m.GetTag("batch"); ok {
		b.parent = c.batches[parent]
	}
	if c.batches == nil {
		c.batches = make(map[string]*Batch)
	}
	c.batches[ref] = b
}

func (c *Conn) closeBatch(ref string) {
	c.mu.Lock()
	b := c.batches[ref]
	delete(c.batches, ref)
	if len(c.batches) == 0 {
		c.batches = nil
	}
	c.mu.Unlock()
	if b == nil {
		return
	}
	if p := b.parent; p != nil {
		b.parent = nil
		p.Nested = append(p.Nested, b)
		return
	}
	if !c.routeBatch(b) {
		c.cfg.Handler.HandleBatch(c, b)
	}
}

// addToBatch appends m to the open batch its batch tag names, reporting
// whether there was one.
func (c *Conn) addToBatch(m *ircmsg.Message) bool {
	ok, ref := m.GetTag("batch")
	if !ok {
		return false
	}
	c.mu.Lock()
	b := c.batches[ref]
	c.mu.Unlock()
	if b == nil {
		return false
	}
	root := b
	for root.parent != nil {
		root = root.parent
	}
	if root.count >= maxBatchLines {
		return true
	}
	root.count++
	if root.count == maxBatchLines {
		c.log.Warn("irc batch too long, dropping further lines", slog.String("type", root.Type), slog.Int("max_lines", maxBatchLines))
	}
	b.Lines = append(b.Lines, m)
	return true
}
