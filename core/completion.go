package core

import (
	"context"
	"log/slog"

	"github.com/causewaybridge/causeway/bridges"
	"github.com/causewaybridge/causeway/intent"
	"github.com/causewaybridge/causeway/matrix"
	"github.com/causewaybridge/causeway/store"
)

// moduleOutbox is one module's view of the outbox (Host.Outbox): every op
// it queues carries the module's ID, so its completion reaches that module
// only (see completions).
type moduleOutbox struct {
	o  *intent.Outbox
	id string
}

func (m moduleOutbox) Send(ctx context.Context, op intent.Op) (bool, error) {
	op.Module = m.id
	return m.o.Send(ctx, op)
}

func (m moduleOutbox) SendAndWait(ctx context.Context, op intent.Op) (matrix.EventID, error) {
	op.Module = m.id
	return m.o.SendAndWait(ctx, op)
}

func (m moduleOutbox) LatestKeyed(ctx context.Context, room matrix.RoomID, prefix string) (intent.Op, bool, error) {
	return m.o.LatestKeyed(ctx, room, prefix)
}

func (m moduleOutbox) HasKey(ctx context.Context, room matrix.RoomID, key string) (bool, error) {
	return m.o.HasKey(ctx, room, key)
}

// completions routes the outbox's completions (OnSent, OnFailed) to the
// module that queued each item (intent.Op.Module). An item without a
// module, stored before ops recorded it, goes to every module, as all
// completions did then; an item of a module no longer configured goes to
// none.
type completions struct {
	log     *slog.Logger
	modules []bridges.Module
}

// owners returns the modules to tell of op's completion.
func (c completions) owners(op intent.Op) []bridges.Module {
	if op.Module == "" {
		return c.modules
	}
	for _, m := range c.modules {
		if m.Info().ID == op.Module {
			return []bridges.Module{m}
		}
	}
	return nil
}

func (c completions) sent(ctx context.Context, _ store.OutboxItem, op intent.Op, eventID matrix.EventID) {
	for _, m := range c.owners(op) {
		if l, ok := m.(bridges.SentListener); ok {
			l.OnOutboxSent(ctx, op, eventID)
		}
	}
}

func (c completions) failed(ctx context.Context, item store.OutboxItem, op intent.Op, err error) {
	c.log.Error("remote message could not be delivered to Matrix", "queue", item.Queue, "key", item.Key,
		"sender", op.Sender, "module", op.Module, "err", err)
	for _, m := range c.owners(op) {
		if l, ok := m.(bridges.FailureListener); ok {
			l.OnOutboxFailed(ctx, op, err)
		}
	}
}

var _ bridges.Sender = moduleOutbox{}
