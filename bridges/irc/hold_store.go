package irc

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/causewaybridge/causeway/bridges"
	"github.com/causewaybridge/causeway/matrix"
)

// Durable edit grace window. A send held for the window (a Matrix message,
// or the correction of an edit queued behind held messages) is written to
// the module KV before the Matrix event's handler returns, that is before
// the core marks the event done in its inbox; an edit that replaces a held
// message rewrites the record; the record is deleted once the send
// finished (delivered, or reported to the sender as not delivered). A
// crash, or a Stop whose flush ran out of time, leaves the records behind,
// and the next Start holds them again in their old order, before any new
// event is handled. A record whose event already has a message link was
// delivered just before the crash and is dropped, so a message is sent
// twice only when the crash fell between the send and the deletion on a
// server that gives no msgid.

// kvHoldPrefix starts the store keys of held sends.
const kvHoldPrefix = "hold:"

// kvHold is the store key of the held send of event.
func kvHold(event matrix.EventID) string { return kvHoldPrefix + string(event) }

// heldRecord is the stored form of a held send.
type heldRecord struct {
	// Seq orders the records of one module (Unix nanoseconds, strictly
	// increasing within a process).
	Seq     int64  `json:"seq"`
	Network string `json:"network"`
	// Target is the channel or nick the send goes to.
	Target  string    `json:"target"`
	Channel bool      `json:"channel"`
	Due     time.Time `json:"due"`
	// Event is the Matrix message, or for a correction the edit event.
	Event *matrix.Event `json:"event"`
	// Content is what is sent: the message (as edits left it), or the
	// edit's new content.
	Content *matrix.MessageContent `json:"content"`
	// EditOf is set for a correction: the edited, delivered event.
	EditOf matrix.EventID `json:"edit_of,omitempty"`
}

// heldDurable ties a held item to its record.
type heldDurable struct {
	m   *Module
	key string

	mu       sync.Mutex
	rec      heldRecord
	finished bool // the send ran and the record was deleted
}

// holdMessage holds a Matrix message for the network's edit grace window;
// it returns once the message is stored.
func (n *network) holdMessage(ctx context.Context, evt *matrix.Event, c *matrix.MessageContent, target string, channel bool) error {
	return n.m.hold(ctx, heldRecord{Network: n.id, Target: target, Channel: channel,
		Due: time.Now().Add(n.cfg.EditGrace), Event: evt, Content: c})
}

// holdCorrection queues the correction of an edit behind the room's held
// messages, so it follows its original.
func (m *Module) holdCorrection(ctx context.Context, e *bridges.Edit, t *ircTarget) error {
	nc := e.NewContent
	return m.hold(ctx, heldRecord{Network: t.n.id, Target: t.name, Channel: t.channel, Event: e.Event,
		Content: &nc, EditOf: e.Target})
}

// hold stores rec and queues its send.
func (m *Module) hold(ctx context.Context, rec heldRecord) error {
	rec.Seq = m.nextHoldSeq()
	d := &heldDurable{m: m, key: kvHold(rec.Event.ID), rec: rec}
	if err := d.save(ctx); err != nil {
		return err
	}
	m.x.hold.enqueue(m.ctx, rec.Event.RoomID, m.heldItem(d))
	return nil
}

// nextHoldSeq returns the next record sequence number.
func (m *Module) nextHoldSeq() int64 {
	for {
		last, now := m.x.holdSeq.Load(), time.Now().UnixNano()
		next := max(now, last+1)
		if m.x.holdSeq.CompareAndSwap(last, next) {
			return next
		}
	}
}

// heldItem is the queue item of a record.
func (m *Module) heldItem(d *heldDurable) *heldItem {
	rec := d.rec
	n := m.networks[rec.Network]
	it := &heldItem{sender: rec.Event.Sender, due: rec.Due, content: rec.Content, durable: d}
	if rec.EditOf == "" {
		it.event = rec.Event.ID
		it.run = func(ctx context.Context, c *matrix.MessageContent) {
			n.sendNow(ctx, rec.Event, c, rec.Target, rec.Channel)
		}
		return it
	}
	e := &bridges.Edit{Event: rec.Event, Target: rec.EditOf, NewContent: *rec.Content}
	t := &ircTarget{n: n, name: rec.Target, channel: rec.Channel}
	it.run = func(ctx context.Context, _ *matrix.MessageContent) { n.sendCorrection(ctx, e, t) }
	return it
}

// replaceHeld replaces the content of a held message edited in its
// window and stores the new content; false when the message is not held.
func (m *Module) replaceHeld(ctx context.Context, room matrix.RoomID, event matrix.EventID, sender matrix.UserID, content *matrix.MessageContent) (bool, error) {
	it := m.x.hold.replaceItem(room, event, sender, content)
	if it == nil {
		return false, nil
	}
	if it.durable != nil {
		return true, it.durable.update(ctx, content)
	}
	return true, nil
}

// save writes the record.
func (d *heldDurable) save(ctx context.Context) error {
	raw, err := json.Marshal(d.rec)
	if err != nil {
		return fmt.Errorf("encode held message: %w", err)
	}
	if err := d.m.kv.Put(ctx, d.key, raw); err != nil {
		return fmt.Errorf("store held message: %w", err)
	}
	return nil
}

// update stores new content, unless the send already finished (the
// record is gone and must stay gone).
func (d *heldDurable) update(ctx context.Context, c *matrix.MessageContent) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.finished {
		return nil
	}
	d.rec.Content = c
	return d.save(ctx)
}

// finish deletes the record after the send ran.
func (d *heldDurable) finish(ctx context.Context) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.finished = true
	if err := d.m.kv.Delete(context.WithoutCancel(ctx), d.key); err != nil {
		d.m.log.Warn("sent message still stored as held; it may be sent again after a restart", "key", d.key, "err", err)
	}
}

// restoreHeld queues the sends a previous run held and did not finish.
// Start calls it before any Matrix event is handled, so they keep their
// place before newer messages of their rooms.
func (m *Module) restoreHeld(ctx context.Context) error {
	kvs, err := m.kv.WithPrefix(ctx, kvHoldPrefix)
	if err != nil {
		return fmt.Errorf("load held messages: %w", err)
	}
	recs := make([]heldRecord, 0, len(kvs))
	for _, kv := range kvs {
		var rec heldRecord
		if err := json.Unmarshal(kv.Value, &rec); err != nil || rec.Event == nil || rec.Content == nil {
			m.log.Error("dropping an unreadable held message", "key", kv.Key, "err", err)
			m.forgetHeldKey(ctx, kv.Key)
			continue
		}
		recs = append(recs, rec)
	}
	slices.SortFunc(recs, func(a, b heldRecord) int { return cmp.Compare(a.Seq, b.Seq) })
	restored := 0
	for _, rec := range recs {
		key := kvHold(rec.Event.ID)
		if m.networks[rec.Network] == nil {
			m.log.Warn("held message for a network no longer configured dropped", "network", rec.Network, "event_id", rec.Event.ID)
			m.forgetHeldKey(ctx, key)
			continue
		}
		if _, err := m.links.ByEvent(ctx, rec.Event.ID); err == nil {
			m.forgetHeldKey(ctx, key) // delivered just before the crash
			continue
		} else if !errors.Is(err, bridges.ErrNotFound) {
			return fmt.Errorf("load held messages: %w", err)
		}
		// The window ends when it did, or sooner if the configured
		// grace was shortened meanwhile.
		if limit := time.Now().Add(m.networks[rec.Network].cfg.EditGrace); rec.Due.After(limit) {
			rec.Due = limit
		}
		m.x.holdSeq.Store(max(m.x.holdSeq.Load(), rec.Seq))
		m.x.hold.enqueue(m.ctx, rec.Event.RoomID, m.heldItem(&heldDurable{m: m, key: key, rec: rec}))
		restored++
	}
	if restored > 0 {
		m.log.Info("sending messages held for edits when the bridge last stopped", "count", restored)
	}
	return nil
}

// forgetHeldKey deletes a held record that will not be sent.
func (m *Module) forgetHeldKey(ctx context.Context, key string) {
	if err := m.kv.Delete(ctx, key); err != nil {
		m.log.Warn("could not delete a held message", "key", key, "err", err)
	}
}
