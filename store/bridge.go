package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"
)

// PutPortal creates or replaces the portal identified by (Module, RemoteID).
// A Matrix room belongs to at most one portal: linking a room that another
// portal already has fails with ErrConflict. An empty RoomID means the portal
// has no room yet.
func (s *Store) PutPortal(ctx context.Context, p Portal) error {
	if p.Module == "" || p.RemoteID == "" {
		return errors.New("store: put portal: empty module or remote ID")
	}
	var room, meta any
	if p.RoomID != "" {
		room = p.RoomID
	}
	if p.Meta != nil {
		meta = []byte(p.Meta)
	}
	_, err := s.exec(ctx, `INSERT INTO portal (module, remote_id, room_id, meta) VALUES ($1, $2, $3, $4)
		ON CONFLICT (module, remote_id) DO UPDATE SET room_id = excluded.room_id, meta = excluded.meta`,
		p.Module, p.RemoteID, room, meta)
	if isUniqueViolation(err) {
		return fmt.Errorf("put portal %s/%s: room %s belongs to another portal: %w", p.Module, p.RemoteID, p.RoomID, ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("put portal %s/%s: %w", p.Module, p.RemoteID, err)
	}
	return nil
}

const portalColumns = `module, remote_id, COALESCE(room_id, ''), meta`

func scanPortal(r rowScanner) (Portal, error) {
	var p Portal
	var meta []byte
	if err := r.Scan(&p.Module, &p.RemoteID, &p.RoomID, &meta); err != nil {
		return Portal{}, err
	}
	p.Meta = meta
	return p, nil
}

// PortalByRemote returns the module's portal for a remote conversation, or
// ErrNotFound.
func (s *Store) PortalByRemote(ctx context.Context, module, remoteID string) (Portal, error) {
	p, err := scanPortal(s.queryRow(ctx, `SELECT `+portalColumns+` FROM portal
		WHERE module = $1 AND remote_id = $2`, module, remoteID))
	if err != nil {
		return Portal{}, fmt.Errorf("portal %s/%s: %w", module, remoteID, notFound(err))
	}
	return p, nil
}

// PortalByRoom returns the portal linked to a Matrix room, or ErrNotFound.
func (s *Store) PortalByRoom(ctx context.Context, roomID string) (Portal, error) {
	p, err := scanPortal(s.queryRow(ctx, `SELECT `+portalColumns+` FROM portal WHERE room_id = $1`, roomID))
	if err != nil {
		return Portal{}, fmt.Errorf("portal of room %s: %w", roomID, notFound(err))
	}
	return p, nil
}

// DeletePortal deletes a portal. Deleting a portal that does not exist is
// not an error.
func (s *Store) DeletePortal(ctx context.Context, module, remoteID string) error {
	if _, err := s.exec(ctx, `DELETE FROM portal WHERE module = $1 AND remote_id = $2`, module, remoteID); err != nil {
		return fmt.Errorf("delete portal %s/%s: %w", module, remoteID, err)
	}
	return nil
}

// Portals returns every portal of a module, ordered by remote ID.
func (s *Store) Portals(ctx context.Context, module string) ([]Portal, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+portalColumns+` FROM portal WHERE module = $1 ORDER BY remote_id`, module)
	if err != nil {
		return nil, fmt.Errorf("portals of %s: %w", module, err)
	}
	defer rows.Close()
	var out []Portal
	for rows.Next() {
		p, err := scanPortal(rows)
		if err != nil {
			return nil, fmt.Errorf("portals of %s: %w", module, err)
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("portals of %s: %w", module, err)
	}
	return out, nil
}

// PutMessageLink creates or replaces the link of a remote message
// (Module, RemoteID) to a Matrix event.
func (s *Store) PutMessageLink(ctx context.Context, m MessageLink) error {
	if err := m.validate(); err != nil {
		return err
	}
	_, err := s.exec(ctx, putMessageLinkSQL, m.Module, m.RemoteID, m.RoomID, m.EventID)
	if err != nil {
		return fmt.Errorf("put message link %s/%s: %w", m.Module, m.RemoteID, err)
	}
	return nil
}

const putMessageLinkSQL = `INSERT INTO message_link (module, remote_id, room_id, event_id) VALUES ($1, $2, $3, $4)
	ON CONFLICT (module, remote_id) DO UPDATE SET room_id = excluded.room_id, event_id = excluded.event_id`

func (m MessageLink) validate() error {
	if m.Module == "" || m.RemoteID == "" || m.EventID == "" {
		return errors.New("store: put message link: empty module, remote ID or event ID")
	}
	return nil
}

// MessageByRemote returns the link of a module's remote message, or
// ErrNotFound.
func (s *Store) MessageByRemote(ctx context.Context, module, remoteID string) (MessageLink, error) {
	var m MessageLink
	err := s.queryRow(ctx, `SELECT module, remote_id, room_id, event_id FROM message_link
		WHERE module = $1 AND remote_id = $2`, module, remoteID).Scan(&m.Module, &m.RemoteID, &m.RoomID, &m.EventID)
	if err != nil {
		err = notFound(err)
		if l, ok := s.staged.staged(err, &[2]string{module, remoteID}, ""); ok {
			return l, nil
		}
		return MessageLink{}, fmt.Errorf("message %s/%s: %w", module, remoteID, err)
	}
	return m, nil
}

// MessageByEvent returns the link of a Matrix event, or ErrNotFound. If
// several remote messages link to the event (a long message split in
// parts), the one with the smallest (Module, RemoteID) is returned.
func (s *Store) MessageByEvent(ctx context.Context, eventID string) (MessageLink, error) {
	var m MessageLink
	err := s.queryRow(ctx, `SELECT module, remote_id, room_id, event_id FROM message_link
		WHERE event_id = $1 ORDER BY module, remote_id LIMIT 1`, eventID).Scan(&m.Module, &m.RemoteID, &m.RoomID, &m.EventID)
	if err != nil {
		err = notFound(err)
		if l, ok := s.staged.staged(err, nil, eventID); ok {
			return l, nil
		}
		return MessageLink{}, fmt.Errorf("message of event %s: %w", eventID, err)
	}
	return m, nil
}

// MessageLinksByEvent returns a module's links of a Matrix event, every
// remote message (part) linked to it, ordered by remote ID; a link
// delivered but not committed yet is included (see StageLink).
func (s *Store) MessageLinksByEvent(ctx context.Context, module, eventID string) ([]MessageLink, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT module, remote_id, room_id, event_id FROM message_link
		WHERE event_id = $1 AND module = $2 ORDER BY remote_id`, eventID, module)
	if err != nil {
		return nil, fmt.Errorf("messages of event %s: %w", eventID, err)
	}
	defer rows.Close()
	var out []MessageLink
	for rows.Next() {
		var m MessageLink
		if err := rows.Scan(&m.Module, &m.RemoteID, &m.RoomID, &m.EventID); err != nil {
			return nil, fmt.Errorf("messages of event %s: %w", eventID, err)
		}
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("messages of event %s: %w", eventID, err)
	}
	if len(out) == 0 {
		if l, ok := s.staged.staged(ErrNotFound, nil, eventID); ok && l.Module == module {
			out = append(out, l)
		}
	}
	return out, nil
}

// GetKV returns the value a module stored under key, or ErrNotFound.
func (s *Store) GetKV(ctx context.Context, module, key string) ([]byte, error) {
	var v []byte
	err := s.queryRow(ctx, `SELECT v FROM module_kv WHERE module = $1 AND k = $2`, module, key).Scan(&v)
	if err != nil {
		return nil, fmt.Errorf("get %s key %q: %w", module, key, notFound(err))
	}
	if v == nil {
		v = []byte{}
	}
	return v, nil
}

// PutKV stores value under a module's key, replacing any earlier value.
func (s *Store) PutKV(ctx context.Context, module, key string, value []byte) error {
	if module == "" {
		return errors.New("store: put kv: empty module")
	}
	if value == nil {
		value = []byte{}
	}
	_, err := s.exec(ctx, `INSERT INTO module_kv (module, k, v) VALUES ($1, $2, $3)
		ON CONFLICT (module, k) DO UPDATE SET v = excluded.v`, module, key, value)
	if err != nil {
		return fmt.Errorf("put %s key %q: %w", module, key, err)
	}
	return nil
}

// KV is one key of a module and its value.
type KV struct {
	Key   string
	Value []byte
}

// KVWithPrefix returns a module's keys that start with prefix, with their
// values, in bytewise key order (not the database's collation).
func (s *Store) KVWithPrefix(ctx context.Context, module, prefix string) ([]KV, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT k, v FROM module_kv WHERE module = $1 AND substr(k, 1, $2) = $3`,
		module, utf8.RuneCountInString(prefix), prefix)
	if err != nil {
		return nil, fmt.Errorf("list %s keys %q: %w", module, prefix, err)
	}
	defer rows.Close()
	var out []KV
	for rows.Next() {
		var kv KV
		if err := rows.Scan(&kv.Key, &kv.Value); err != nil {
			return nil, fmt.Errorf("list %s keys %q: %w", module, prefix, err)
		}
		if kv.Value == nil {
			kv.Value = []byte{}
		}
		out = append(out, kv)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list %s keys %q: %w", module, prefix, err)
	}
	slices.SortFunc(out, func(a, b KV) int { return strings.Compare(a.Key, b.Key) })
	return out, nil
}

// DeleteKV deletes a module's key. Deleting a missing key is not an error.
func (s *Store) DeleteKV(ctx context.Context, module, key string) error {
	if _, err := s.exec(ctx, `DELETE FROM module_kv WHERE module = $1 AND k = $2`, module, key); err != nil {
		return fmt.Errorf("delete %s key %q: %w", module, key, err)
	}
	return nil
}

// PutKVMany stores several of a module's keys in one transaction (one
// commit): all of them or, on error, none.
func (s *Store) PutKVMany(ctx context.Context, module string, kvs []KV) error {
	if module == "" {
		return errors.New("store: put kv: empty module")
	}
	return s.kvTx(ctx, func(tx *sql.Tx) error {
		st, err := tx.PrepareContext(ctx, `INSERT INTO module_kv (module, k, v) VALUES ($1, $2, $3)
			ON CONFLICT (module, k) DO UPDATE SET v = excluded.v`)
		if err != nil {
			return err
		}
		defer st.Close()
		for _, kv := range kvs {
			v := kv.Value
			if v == nil {
				v = []byte{}
			}
			if _, err := st.ExecContext(ctx, module, kv.Key, v); err != nil {
				return fmt.Errorf("put %s key %q: %w", module, kv.Key, err)
			}
		}
		return nil
	})
}

// DeleteKVMany deletes several of a module's keys in one transaction.
// Missing keys are not an error.
func (s *Store) DeleteKVMany(ctx context.Context, module string, keys []string) error {
	return s.kvTx(ctx, func(tx *sql.Tx) error {
		st, err := tx.PrepareContext(ctx, `DELETE FROM module_kv WHERE module = $1 AND k = $2`)
		if err != nil {
			return err
		}
		defer st.Close()
		for _, k := range keys {
			if _, err := st.ExecContext(ctx, module, k); err != nil {
				return fmt.Errorf("delete %s key %q: %w", module, k, err)
			}
		}
		return nil
	})
}

// kvTx runs f in a transaction, committed when f returns nil.
func (s *Store) kvTx(ctx context.Context, f func(*sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: kv transaction: %w", err)
	}
	if err := f(tx); err != nil {
		_ = tx.Rollback()
		return fmt.Errorf("store: kv transaction: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: kv transaction: commit: %w", err)
	}
	return nil
}

// notFound maps sql.ErrNoRows to ErrNotFound.
func notFound(err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return ErrNotFound
	}
	return err
}
