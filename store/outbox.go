package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Outbox item states, column outbox.state as the SQL below writes it:
// 0 pending, 1 completed, 2 failed.

// Enqueue stores item before it is attempted and returns it with Seq and
// Created set. When item.Key is not empty and an item with the same Queue and
// Key was stored before — pending, completed or failed — nothing is stored,
// the earlier item is returned and duplicate is true. Completed items keep
// their key until PruneOutbox removes them, so a re-enqueue after a restart is
// still recognised.
func (s *Store) Enqueue(ctx context.Context, item OutboxItem) (stored OutboxItem, duplicate bool, err error) {
	if item.Queue == "" {
		return OutboxItem{}, false, errors.New("store: enqueue: empty queue")
	}
	payload := []byte(item.Payload)
	if payload == nil {
		payload = []byte{}
	}
	var key any
	if item.Key != "" {
		key = item.Key
	}
	now := time.Now().UnixMicro()
	// The common case, a new item, is one prepared autocommit INSERT. Only
	// a key seen before takes the transaction that reads the earlier item.
	var seq int64
	err = s.queryRow(ctx, enqueueSQL, item.Queue, key, payload, now).Scan(&seq)
	switch {
	case err == nil:
		return OutboxItem{Seq: seq, Queue: item.Queue, Key: item.Key, Payload: payload, Created: unixMicro(now)}, false, nil
	case !errors.Is(err, sql.ErrNoRows):
		return OutboxItem{}, false, fmt.Errorf("enqueue on %s: %w", item.Queue, err)
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return OutboxItem{}, false, fmt.Errorf("enqueue on %s: begin: %w", item.Queue, err)
	}
	// Insert again inside the transaction: PruneOutbox may have released
	// the key since the first attempt.
	err = tx.QueryRowContext(ctx, enqueueSQL, item.Queue, key, payload, now).Scan(&seq)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		stored, err = scanOutbox(tx.QueryRowContext(ctx, `SELECT `+outboxColumns+` FROM outbox
			WHERE queue = $1 AND dedupe_key = $2`, item.Queue, item.Key))
		duplicate = true
	case err == nil:
		stored = OutboxItem{Seq: seq, Queue: item.Queue, Key: item.Key, Payload: payload, Created: unixMicro(now)}
	}
	if err != nil {
		rollback(tx)
		return OutboxItem{}, false, fmt.Errorf("enqueue on %s: %w", item.Queue, err)
	}
	if err := tx.Commit(); err != nil {
		return OutboxItem{}, false, fmt.Errorf("enqueue on %s: commit: %w", item.Queue, err)
	}
	return stored, duplicate, nil
}

// enqueueSQL stores a new outbox item unless its (queue, key) is taken.
const enqueueSQL = `INSERT INTO outbox (queue, dedupe_key, payload, created_us) VALUES ($1, $2, $3, $4)
	ON CONFLICT (queue, dedupe_key) DO NOTHING RETURNING seq`

const outboxColumns = `seq, queue, COALESCE(dedupe_key, ''), payload, created_us, attempts`

type rowScanner interface{ Scan(dest ...any) error }

func scanOutbox(r rowScanner) (OutboxItem, error) {
	var it OutboxItem
	var created int64
	var payload []byte
	if err := r.Scan(&it.Seq, &it.Queue, &it.Key, &payload, &created, &it.Attempts); err != nil {
		return OutboxItem{}, err
	}
	it.Payload, it.Created = payload, unixMicro(created)
	return it, nil
}

// PendingOutbox returns up to limit items neither completed nor failed, in
// Seq order (so in enqueue order within each queue).
func (s *Store) PendingOutbox(ctx context.Context, limit int) ([]OutboxItem, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("store: pending outbox: limit %d must be positive", limit)
	}
	rows, err := s.db.QueryContext(ctx, `SELECT `+outboxColumns+` FROM outbox
		WHERE state = 0 ORDER BY seq LIMIT $1`, limit)
	if err != nil {
		return nil, fmt.Errorf("pending outbox: %w", err)
	}
	defer rows.Close()
	var out []OutboxItem
	for rows.Next() {
		it, err := scanOutbox(rows)
		if err != nil {
			return nil, fmt.Errorf("pending outbox: %w", err)
		}
		out = append(out, it)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("pending outbox: %w", err)
	}
	return out, nil
}

// CompleteOutbox marks item seq as delivered; result records the outcome,
// for example the event ID the homeserver returned. Its key stays reserved.
func (s *Store) CompleteOutbox(ctx context.Context, seq int64, result string) error {
	return s.updateOutbox(ctx, "complete", seq, completeOutboxSQL, result, time.Now().UnixMicro())
}

const completeOutboxSQL = `UPDATE outbox SET state = 1, result = $2, finished_us = $3 WHERE seq = $1`

// OutboxCompletion is one delivered outbox item for CompleteOutboxBatch.
type OutboxCompletion struct {
	Seq int64
	// Result records the outcome, for example the event ID.
	Result string
	// Link, when not nil, is stored (or replaced) with the completion, so
	// a remote message and the event it became are linked atomically with
	// the item leaving the outbox.
	Link *MessageLink
}

// CompleteOutboxBatch marks several items delivered, and stores their
// message links, in one transaction: the outbox's group commit. An item that
// is not in the store makes the whole batch fail with ErrNotFound, like
// CompleteOutbox.
func (s *Store) CompleteOutboxBatch(ctx context.Context, done []OutboxCompletion) error {
	if len(done) == 0 {
		return nil
	}
	complete, err := s.prepared(ctx, completeOutboxSQL)
	if err != nil {
		return fmt.Errorf("complete %d outbox items: %w", len(done), err)
	}
	link, err := s.prepared(ctx, putMessageLinkSQL)
	if err != nil {
		return fmt.Errorf("complete %d outbox items: %w", len(done), err)
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("complete %d outbox items: begin: %w", len(done), err)
	}
	complete, link = tx.StmtContext(ctx, complete), tx.StmtContext(ctx, link)
	now := time.Now().UnixMicro()
	for _, d := range done {
		res, err := complete.ExecContext(ctx, d.Seq, d.Result, now)
		if err == nil {
			var n int64
			if n, err = res.RowsAffected(); err == nil && n == 0 {
				err = ErrNotFound
			}
		}
		if err == nil && d.Link != nil {
			if err = d.Link.validate(); err == nil {
				_, err = link.ExecContext(ctx, d.Link.Module, d.Link.RemoteID, d.Link.RoomID, d.Link.EventID)
			}
		}
		if err != nil {
			rollback(tx)
			return fmt.Errorf("complete outbox item %d: %w", d.Seq, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("complete %d outbox items: commit: %w", len(done), err)
	}
	s.staged.unstage(done)
	return nil
}

// RecordOutboxAttempt counts one failed delivery attempt of item seq and
// records its error; the item stays pending.
func (s *Store) RecordOutboxAttempt(ctx context.Context, seq int64, errText string) error {
	return s.updateOutbox(ctx, "record attempt of", seq,
		`UPDATE outbox SET attempts = attempts + 1, last_error = $2 WHERE seq = $1`, errText)
}

// FailOutbox gives up on item seq: it records errText and the item is no
// longer pending. It does not count an attempt; call RecordOutboxAttempt for
// that. Its key stays reserved.
func (s *Store) FailOutbox(ctx context.Context, seq int64, errText string) error {
	return s.updateOutbox(ctx, "fail", seq,
		`UPDATE outbox SET state = 2, last_error = $2, finished_us = $3 WHERE seq = $1`,
		errText, time.Now().UnixMicro())
}

func (s *Store) updateOutbox(ctx context.Context, verb string, seq int64, query string, args ...any) error {
	res, err := s.exec(ctx, query, append([]any{seq}, args...)...)
	if err != nil {
		return fmt.Errorf("%s outbox item %d: %w", verb, seq, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("%s outbox item %d: %w", verb, seq, err)
	}
	if n == 0 {
		return fmt.Errorf("%s outbox item %d: %w", verb, seq, ErrNotFound)
	}
	return nil
}

// PruneOutbox deletes completed and failed items that finished before
// before and returns how many it deleted. Their keys are released: an item
// enqueued again with the same key afterwards is stored and sent again.
func (s *Store) PruneOutbox(ctx context.Context, before time.Time) (int64, error) {
	res, err := s.exec(ctx, `DELETE FROM outbox WHERE state <> 0 AND finished_us < $1`, before.UnixMicro())
	if err != nil {
		return 0, fmt.Errorf("prune outbox: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("prune outbox: %w", err)
	}
	return n, nil
}

// LatestOutboxKeyed returns the newest item (highest Seq) of queue whose
// key starts with prefix, whatever its state: pending items count, since
// the outbox delivers them. It returns ErrNotFound when there is none
// (or when PruneOutbox removed them all). A module derives from it the
// point up to which a remote conversation is durably on its way to Matrix.
func (s *Store) LatestOutboxKeyed(ctx context.Context, queue, prefix string) (OutboxItem, error) {
	if prefix == "" {
		return OutboxItem{}, errors.New("store: latest outbox item: empty key prefix")
	}
	it, err := scanOutbox(s.db.QueryRowContext(ctx, `SELECT `+outboxColumns+` FROM outbox
		WHERE queue = $1 AND substr(dedupe_key, 1, $2) = $3 ORDER BY seq DESC LIMIT 1`,
		queue, len(prefix), prefix))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return OutboxItem{}, fmt.Errorf("latest outbox item %q in %s: %w", prefix, queue, ErrNotFound)
	case err != nil:
		return OutboxItem{}, fmt.Errorf("latest outbox item %q in %s: %w", prefix, queue, err)
	}
	return it, nil
}

// OutboxHasKey reports whether queue holds an item with key, whatever its
// state (until PruneOutbox removes it): Enqueue would call it a duplicate.
func (s *Store) OutboxHasKey(ctx context.Context, queue, key string) (bool, error) {
	var one int
	err := s.db.QueryRowContext(ctx, `SELECT 1 FROM outbox WHERE queue = $1 AND dedupe_key = $2`, queue, key).Scan(&one)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("outbox key %q in %s: %w", key, queue, err)
	}
	return true, nil
}
