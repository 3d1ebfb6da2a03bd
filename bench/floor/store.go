package main

import (
	"database/sql"
	"fmt"

	_ "modernc.org/sqlite" // the bridge's SQLite driver
)

// dsnSettings are the bridge's SQLite connection settings (store/store.go
// sqliteSource): WAL, synchronous=NORMAL (a commit survives kill -9),
// busy_timeout, foreign keys, BEGIN IMMEDIATE.
const dsnSettings = "?_pragma=busy_timeout%2810000%29&_pragma=journal_mode%28WAL%29" +
	"&_pragma=synchronous%28NORMAL%29&_pragma=foreign_keys%28ON%29&_txlock=immediate"

// store is the floor's one table: a row per message, with the event ID
// Matrix gave it.
type store struct {
	db             *sql.DB
	insert, update *sql.Stmt
}

func openStore(path string) (*store, error) {
	db, err := sql.Open("sqlite", path+dsnSettings)
	if err != nil {
		return nil, err
	}
	db.SetMaxIdleConns(4)
	db.SetConnMaxIdleTime(0)
	if _, err := db.Exec(`CREATE TABLE IF NOT EXISTS msg (
		seq INTEGER PRIMARY KEY, body TEXT NOT NULL, event_id TEXT)`); err != nil {
		db.Close()
		return nil, fmt.Errorf("schema: %w", err)
	}
	s := &store{db: db}
	if s.insert, err = db.Prepare(`INSERT INTO msg (seq, body) VALUES (?, ?)`); err == nil {
		s.update, err = db.Prepare(`UPDATE msg SET event_id = ? WHERE seq = ?`)
	}
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("prepare: %w", err)
	}
	return s, nil
}

// commit durably stores message seq and, in the same transaction, the
// event ID of message seq-1 (prev, if it has one): one commit per message
// for both the message and its predecessor's link.
func (s *store) commit(seq int64, body, prev string) error {
	tx, err := s.db.Begin()
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if prev != "" {
		if _, err := tx.Stmt(s.update).Exec(prev, seq-1); err != nil {
			return err
		}
	}
	if _, err := tx.Stmt(s.insert).Exec(seq, body); err != nil {
		return err
	}
	return tx.Commit()
}

func (s *store) close() { s.db.Close() }
