package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// inboxLockID is the PostgreSQL advisory lock key held by AddTransaction so
// that inbox sequence numbers commit in increasing order.
const inboxLockID = 0x63617573_00000001

// maxInsertRows bounds the rows of one multi-row INSERT (4 parameters a row,
// far below SQLite's and PostgreSQL's parameter limits).
const maxInsertRows = 250

// maxInClause bounds the number of parameters of one "IN (…)" list.
const maxInClause = 500

// AddTransaction stores the events of appservice transaction txnID in one
// database transaction. Every event whose event ID the store has not seen is
// inserted, even when txnID itself was seen before (homeservers redeliver a
// transaction with more events appended). It returns the newly added events,
// in input order with Seq and Received set, and whether txnID was already
// known. When it returns a nil error the events are durable.
//
// Every event must have an EventID; ephemeral data without one does not
// belong in the inbox.
func (s *Store) AddTransaction(ctx context.Context, txnID string, events []InboxEvent) (added []InboxEvent, seenTxn bool, err error) {
	if txnID == "" {
		return nil, false, errors.New("store: add transaction: empty transaction ID")
	}
	unique, err := uniqueEvents(events)
	if err != nil {
		return nil, false, fmt.Errorf("store: add transaction %s: %w", txnID, err)
	}
	if len(unique) == 0 {
		// Nothing but the transaction ID to record (a transaction of echoes
		// the caller skipped, or of ephemeral data only): one prepared
		// autocommit INSERT is atomic on its own.
		res, err := s.exec(ctx, txnInsertSQL, txnID, time.Now().UnixMicro())
		if err != nil {
			return nil, false, fmt.Errorf("add transaction %s: record transaction: %w", txnID, err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return nil, false, fmt.Errorf("add transaction %s: record transaction: %w", txnID, err)
		}
		return nil, n == 0, nil
	}
	// Prepare before BEGIN: a pool of one connection (in-memory SQLite)
	// could not prepare on the database while the transaction holds it.
	stmts, err := s.insertStmts(ctx, len(unique))
	if err != nil {
		return nil, false, fmt.Errorf("add transaction %s: prepare: %w", txnID, err)
	}
	txnStmt, err := s.prepared(ctx, txnInsertSQL)
	if err != nil {
		return nil, false, fmt.Errorf("add transaction %s: prepare: %w", txnID, err)
	}
	now := time.Now().UnixMicro()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, false, fmt.Errorf("add transaction %s: begin: %w", txnID, err)
	}
	seqs, seenTxn, err := s.addTransaction(ctx, tx, txnID, unique, txnStmt, stmts, now)
	if err != nil {
		rollback(tx)
		return nil, false, fmt.Errorf("add transaction %s: %w", txnID, err)
	}
	if err := tx.Commit(); err != nil {
		return nil, false, fmt.Errorf("add transaction %s: commit: %w", txnID, err)
	}
	for _, e := range unique {
		if seq, ok := seqs[e.EventID]; ok {
			e.Seq, e.Received = seq, unixMicro(now)
			added = append(added, e)
		}
	}
	return added, seenTxn, nil
}

// insertStmts returns the prepared INSERTs for n events in chunks of
// maxInsertRows, one statement per chunk.
func (s *Store) insertStmts(ctx context.Context, n int) ([]*sql.Stmt, error) {
	var stmts []*sql.Stmt
	for start := 0; start < n; start += maxInsertRows {
		st, err := s.prepared(ctx, eventInsertSQL(s.dialect, min(maxInsertRows, n-start)))
		if err != nil {
			return nil, err
		}
		stmts = append(stmts, st)
	}
	return stmts, nil
}

// txnInsertSQL records an appservice transaction ID once.
const txnInsertSQL = `INSERT INTO inbox_txn (txn_id, received_us) VALUES ($1, $2) ON CONFLICT (txn_id) DO NOTHING`

func (s *Store) addTransaction(ctx context.Context, tx *sql.Tx, txnID string, events []InboxEvent, txnStmt *sql.Stmt, stmts []*sql.Stmt, now int64) (map[string]int64, bool, error) {
	if s.dialect == DialectPostgres {
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(inboxLockID)); err != nil {
			return nil, false, fmt.Errorf("lock inbox: %w", err)
		}
	}
	res, err := tx.StmtContext(ctx, txnStmt).ExecContext(ctx, txnID, now)
	if err != nil {
		return nil, false, fmt.Errorf("record transaction: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return nil, false, fmt.Errorf("record transaction: %w", err)
	}
	seqs := make(map[string]int64, len(events))
	for i, st := range stmts {
		chunk := events[i*maxInsertRows : min((i+1)*maxInsertRows, len(events))]
		if err := insertEvents(ctx, tx, st, chunk, now, seqs); err != nil {
			return nil, false, err
		}
	}
	return seqs, n == 0, nil
}

// insertEvents inserts the events that are new with one multi-row INSERT and
// records the Seq of each inserted event in seqs.
func insertEvents(ctx context.Context, tx *sql.Tx, stmt *sql.Stmt, events []InboxEvent, now int64, seqs map[string]int64) error {
	args := make([]any, 0, 4*len(events))
	for _, e := range events {
		raw := []byte(e.Raw)
		if raw == nil {
			raw = []byte{}
		}
		args = append(args, e.EventID, e.RoomID, raw, now)
	}
	rows, err := tx.StmtContext(ctx, stmt).QueryContext(ctx, args...)
	if err != nil {
		return fmt.Errorf("insert events: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var seq int64
		var id string
		if err := rows.Scan(&seq, &id); err != nil {
			return fmt.Errorf("insert events: %w", err)
		}
		seqs[id] = seq
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("insert events: %w", err)
	}
	return nil
}

// uniqueEvents drops repeated event IDs (keeping the first) and rejects
// events without an ID.
func uniqueEvents(events []InboxEvent) ([]InboxEvent, error) {
	seen := make(map[string]struct{}, len(events))
	out := make([]InboxEvent, 0, len(events))
	for i, e := range events {
		if e.EventID == "" {
			return nil, fmt.Errorf("event %d has no event ID", i)
		}
		if _, dup := seen[e.EventID]; dup {
			continue
		}
		seen[e.EventID] = struct{}{}
		out = append(out, e)
	}
	return out, nil
}

// eventInsertSQL returns an INSERT of rows events that skips known event IDs
// and returns the Seq of each inserted one. SQLite gets anonymous "?"
// parameters: modernc.org/sqlite resolves the name of every numbered
// parameter by a linear search, which costs more than the insert itself in a
// statement with hundreds of them.
func eventInsertSQL(dialect string, rows int) string {
	var b strings.Builder
	b.WriteString(`INSERT INTO inbox_event (event_id, room_id, raw, received_us) VALUES `)
	for i := range rows {
		if i > 0 {
			b.WriteByte(',')
		}
		if dialect == DialectSQLite {
			b.WriteString("(?,?,?,?)")
			continue
		}
		p := 4 * i
		fmt.Fprintf(&b, "($%d,$%d,$%d,$%d)", p+1, p+2, p+3, p+4)
	}
	b.WriteString(` ON CONFLICT (event_id) DO NOTHING RETURNING seq, event_id`)
	return b.String()
}

// PendingEvents returns up to limit events not yet marked done, in Seq order.
func (s *Store) PendingEvents(ctx context.Context, limit int) ([]InboxEvent, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("store: pending events: limit %d must be positive", limit)
	}
	rows, err := s.db.QueryContext(ctx, `SELECT seq, event_id, room_id, raw, received_us FROM inbox_event
		WHERE done_us IS NULL ORDER BY seq LIMIT $1`, limit)
	if err != nil {
		return nil, fmt.Errorf("pending events: %w", err)
	}
	defer rows.Close()
	var out []InboxEvent
	for rows.Next() {
		var e InboxEvent
		var received int64
		var raw []byte
		if err := rows.Scan(&e.Seq, &e.EventID, &e.RoomID, &raw, &received); err != nil {
			return nil, fmt.Errorf("pending events: %w", err)
		}
		e.Raw, e.Received = raw, unixMicro(received)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("pending events: %w", err)
	}
	return out, nil
}

// MarkEventsDone marks the inbox events with the given sequence numbers as
// processed, so PendingEvents no longer returns them. Marking an event done
// twice is not an error; a sequence number the store does not hold is
// (ErrNotFound), and then no event is marked.
func (s *Store) MarkEventsDone(ctx context.Context, seqs ...int64) error {
	ids := uniqueInts(seqs)
	if len(ids) == 0 {
		return nil
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("mark events done: begin: %w", err)
	}
	now := time.Now().UnixMicro()
	var matched int64
	for start := 0; start < len(ids); start += maxInClause {
		chunk := ids[start:min(start+maxInClause, len(ids))]
		args := make([]any, 0, len(chunk)+1)
		args = append(args, now)
		for _, id := range chunk {
			args = append(args, id)
		}
		q := `UPDATE inbox_event SET done_us = COALESCE(done_us, $1) WHERE seq IN (` + placeholders(2, len(chunk)) + `)`
		res, err := tx.ExecContext(ctx, q, args...)
		if err != nil {
			rollback(tx)
			return fmt.Errorf("mark events done: %w", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			rollback(tx)
			return fmt.Errorf("mark events done: %w", err)
		}
		matched += n
	}
	if matched != int64(len(ids)) {
		rollback(tx)
		return fmt.Errorf("mark events done: %d of %d sequence numbers unknown: %w", int64(len(ids))-matched, len(ids), ErrNotFound)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("mark events done: commit: %w", err)
	}
	return nil
}

// PruneInbox deletes the events marked done that were received before
// before, and the records of transactions received before before. It
// returns the number of events deleted.
//
// A pruned event ID or transaction ID is forgotten: if the homeserver
// redelivered it afterwards it would be stored and processed again, so
// before must lie well beyond the homeserver's retry horizon (hours, not
// seconds).
func (s *Store) PruneInbox(ctx context.Context, before time.Time) (int64, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("prune inbox: begin: %w", err)
	}
	cut := before.UnixMicro()
	res, err := tx.ExecContext(ctx, `DELETE FROM inbox_event WHERE done_us IS NOT NULL AND received_us < $1`, cut)
	if err != nil {
		rollback(tx)
		return 0, fmt.Errorf("prune inbox events: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		rollback(tx)
		return 0, fmt.Errorf("prune inbox events: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM inbox_txn WHERE received_us < $1`, cut); err != nil {
		rollback(tx)
		return 0, fmt.Errorf("prune inbox transactions: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("prune inbox: commit: %w", err)
	}
	return n, nil
}

// placeholders returns "$first,$first+1,…" with n parameters.
func placeholders(first, n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "$%d", first+i)
	}
	return b.String()
}

func uniqueInts(in []int64) []int64 {
	seen := make(map[int64]struct{}, len(in))
	out := make([]int64, 0, len(in))
	for _, v := range in {
		if _, ok := seen[v]; !ok {
			seen[v] = struct{}{}
			out = append(out, v)
		}
	}
	return out
}
