package irc

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/causewaybridge/causeway/bridges"
	"github.com/causewaybridge/causeway/bridges/kit/hold"
	"github.com/causewaybridge/causeway/matrix"
)

// The edit grace window is the kit's durable hold (bridges/kit/hold): a
// Matrix message waits edit_grace before it goes to IRC, an edit in the
// window replaces its text, and a crash inside the window loses nothing
// (the next Start sends it). The module adds only where each send goes.

// heldTarget is the IRC module's data of a held send: where it goes.
type heldTarget struct {
	Network string `json:"network"`
	Target  string `json:"target"`
	Channel bool   `json:"channel"`
}

// holds returns the module's hold queue, made on first use (after Start,
// or a test, set the context, KV and links).
func (m *Module) holds() *hold.Queue {
	m.x.holdOnce.Do(func() {
		m.x.holds = hold.New(m.ctx, m.kv, m.links, m.log, m.sendHeld)
	})
	return m.x.holds
}

// holdMessage holds a Matrix message for the network's edit grace window;
// it returns once the message is stored.
func (n *network) holdMessage(ctx context.Context, evt *matrix.Event, c *matrix.MessageContent, target string, channel bool) error {
	data, err := json.Marshal(heldTarget{Network: n.id, Target: target, Channel: channel})
	if err != nil {
		return fmt.Errorf("encode held message target: %w", err)
	}
	return n.m.holds().Hold(ctx, hold.Item{Event: evt, Content: c, Due: time.Now().Add(n.cfg.EditGrace), Data: data})
}

// holdCorrection queues the correction of an edit behind the room's held
// messages, so it follows its original.
func (m *Module) holdCorrection(ctx context.Context, e *bridges.Edit, t *ircTarget) error {
	data, err := json.Marshal(heldTarget{Network: t.n.id, Target: t.name, Channel: t.channel})
	if err != nil {
		return fmt.Errorf("encode held correction target: %w", err)
	}
	nc := e.NewContent
	return m.holds().Hold(ctx, hold.Item{Event: e.Event, Content: &nc, EditOf: e.Target, Data: data})
}

// sendHeld sends a held item when its window ends: the message, or the
// correction of an edit.
func (m *Module) sendHeld(ctx context.Context, it *hold.Item) {
	var to heldTarget
	if err := json.Unmarshal(it.Data, &to); err != nil {
		m.log.Error("held message without a target dropped", "event_id", it.Event.ID, "err", err)
		return
	}
	n := m.networks[to.Network]
	if n == nil {
		m.log.Warn("held message for a network no longer configured dropped", "network", to.Network, "event_id", it.Event.ID)
		return
	}
	if it.EditOf == "" {
		n.sendNow(ctx, it.Event, it.Content, to.Target, to.Channel)
		return
	}
	e := &bridges.Edit{Event: it.Event, Target: it.EditOf, NewContent: *it.Content}
	n.sendCorrection(ctx, e, &ircTarget{n: n, name: to.Target, channel: to.Channel})
}

// replaceHeld replaces the content of a held message edited in its
// window and stores the new content; false when the message is not held.
func (m *Module) replaceHeld(ctx context.Context, room matrix.RoomID, event matrix.EventID, sender matrix.UserID, content *matrix.MessageContent) (bool, error) {
	return m.holds().Replace(ctx, room, event, sender, content)
}

// flushHeld ends every window at once (on Stop) and waits, bounded by
// ctx, until everything held was sent.
func (m *Module) flushHeld(ctx context.Context) error { return m.holds().Flush(ctx) }

// restoreHeld queues the sends a previous run held and did not finish.
// Start calls it before any Matrix event is handled, so they keep their
// place before newer messages of their rooms. Records of networks no
// longer configured are dropped; a window longer than the network's
// edit_grace now is cut to it.
func (m *Module) restoreHeld(ctx context.Context) error {
	if err := m.upgradeHeldRecords(ctx); err != nil {
		return err
	}
	_, err := m.holds().Restore(ctx, func(it *hold.Item) bool {
		var to heldTarget
		if err := json.Unmarshal(it.Data, &to); err != nil {
			m.log.Error("dropping a held message without a target", "event_id", it.Event.ID, "err", err)
			return false
		}
		n := m.networks[to.Network]
		if n == nil {
			m.log.Warn("held message for a network no longer configured dropped", "network", to.Network, "event_id", it.Event.ID)
			return false
		}
		if limit := time.Now().Add(n.cfg.EditGrace); it.Due.After(limit) {
			it.Due = limit
		}
		return true
	})
	return err
}

// kvHoldPrefix starts the store keys of held sends (the kit's, and this
// module's before it).
const kvHoldPrefix = "hold:"

// upgradeHeldRecords rewrites held sends stored by versions before the
// kit (the target at the top level of the record) into the kit's form,
// so a crash across the upgrade loses nothing.
func (m *Module) upgradeHeldRecords(ctx context.Context) error {
	kvs, err := m.kv.WithPrefix(ctx, kvHoldPrefix)
	if err != nil {
		return fmt.Errorf("load held messages: %w", err)
	}
	for _, kv := range kvs {
		var old struct {
			hold.Item
			heldTarget
		}
		if err := json.Unmarshal(kv.Value, &old); err != nil || len(old.Data) > 0 || old.Network == "" {
			continue // the kit's form, or unreadable (the kit drops it)
		}
		it := old.Item
		it.Data, _ = json.Marshal(old.heldTarget)
		raw, err := json.Marshal(it)
		if err != nil {
			continue
		}
		if err := m.kv.Put(ctx, kv.Key, raw); err != nil {
			return fmt.Errorf("upgrade held message %s: %w", kv.Key, err)
		}
	}
	return nil
}
