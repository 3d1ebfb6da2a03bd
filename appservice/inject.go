package appservice

import (
	"context"
	"errors"
	"fmt"
)

// ErrInvalidEvents is wrapped by Inject's errors for input that can never be
// stored: retrying it cannot help.
var ErrInvalidEvents = errors.New("appservice: invalid events")

// Inject stores and processes events the homeserver did not push in a
// transaction but that the bridge learned another way (say its bot's
// /sync: Dendrite 0.15 pushes no m.room.redaction to appservices). body is
// a transaction body ({"events": [...]}, each event with its room_id);
// txnID must be unique for the batch. The events go through the same path
// as pushed ones: the bridge's own echoes are skipped, an event already
// received (pushed, or injected before) is not processed twice, and the
// rest is processed in order with the room's other events. It returns how
// many events were new. A body or event that can never be stored (not a
// transaction, an event without room_id) is an error wrapping
// ErrInvalidEvents; other errors are worth retrying.
func (s *Server) Inject(ctx context.Context, txnID string, body []byte) (int, error) {
	if txnID == "" || len(txnID) > maxTxnIDLen {
		return 0, fmt.Errorf("inject: %w: transaction ID of %d bytes", ErrInvalidEvents, len(txnID))
	}
	txn, err := decodeTransaction(body)
	if err != nil {
		return 0, fmt.Errorf("inject %s: %w: %w", txnID, ErrInvalidEvents, err)
	}
	for _, p := range txn.pdus {
		if p.RoomID == "" {
			return 0, fmt.Errorf("inject %s: %w: event %s has no room_id", txnID, ErrInvalidEvents, p.EventID)
		}
	}
	txn.withoutSkipped(s.opts.SkipEvent)
	if len(txn.pdus) == 0 {
		return 0, nil
	}
	added, _, err := s.disp.ingest(ctx, txnID, txn.pdus)
	if err != nil {
		return 0, fmt.Errorf("inject %s: %w", txnID, err)
	}
	return added, nil
}
