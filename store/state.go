package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// MarkRegistered records that the homeserver has the user registered.
func (s *Store) MarkRegistered(ctx context.Context, userID string) error {
	if userID == "" {
		return errors.New("store: mark registered: empty user ID")
	}
	_, err := s.exec(ctx,
		`INSERT INTO registered_user (user_id) VALUES ($1) ON CONFLICT (user_id) DO NOTHING`, userID)
	if err != nil {
		return fmt.Errorf("mark %s registered: %w", userID, err)
	}
	return nil
}

// UnmarkRegistered forgets that the user is registered, for example when the
// homeserver says otherwise.
func (s *Store) UnmarkRegistered(ctx context.Context, userID string) error {
	if _, err := s.exec(ctx, `DELETE FROM registered_user WHERE user_id = $1`, userID); err != nil {
		return fmt.Errorf("unmark %s registered: %w", userID, err)
	}
	return nil
}

// IsRegistered reports whether MarkRegistered was called for the user.
func (s *Store) IsRegistered(ctx context.Context, userID string) (bool, error) {
	var one int
	err := s.queryRow(ctx, `SELECT 1 FROM registered_user WHERE user_id = $1`, userID).Scan(&one)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("is %s registered: %w", userID, err)
	}
	return true, nil
}

// SetMembership records the user's membership of the room ("join",
// "invite", "leave", "ban", "knock"). An empty membership forgets it.
func (s *Store) SetMembership(ctx context.Context, roomID, userID, membership string) error {
	if roomID == "" || userID == "" {
		return errors.New("store: set membership: empty room or user ID")
	}
	var err error
	if membership == "" {
		_, err = s.exec(ctx, `DELETE FROM membership WHERE room_id = $1 AND user_id = $2`, roomID, userID)
	} else {
		_, err = s.exec(ctx, `INSERT INTO membership (room_id, user_id, membership) VALUES ($1, $2, $3)
			ON CONFLICT (room_id, user_id) DO UPDATE SET membership = excluded.membership`, roomID, userID, membership)
	}
	if err != nil {
		return fmt.Errorf("set membership of %s in %s: %w", userID, roomID, err)
	}
	return nil
}

// Membership returns the user's recorded membership of the room, or "" when
// none is recorded.
func (s *Store) Membership(ctx context.Context, roomID, userID string) (string, error) {
	var m string
	err := s.queryRow(ctx, `SELECT membership FROM membership WHERE room_id = $1 AND user_id = $2`,
		roomID, userID).Scan(&m)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return "", nil
	case err != nil:
		return "", fmt.Errorf("membership of %s in %s: %w", userID, roomID, err)
	}
	return m, nil
}
