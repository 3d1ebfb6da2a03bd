package store

import (
	"errors"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
)

// ErrNotFound is returned (wrapped) by lookups and updates of a record that
// does not exist.
var ErrNotFound = errors.New("store: not found")

// ErrConflict is returned (wrapped) when a write would break a uniqueness
// rule, such as two portals for one Matrix room.
var ErrConflict = errors.New("store: conflict")

// ErrSchemaTooNew is returned (wrapped) by Open when the database was
// migrated by a newer version of Causeway than the running one.
var ErrSchemaTooNew = errors.New("store: database schema is newer than this program")

// SQLite extended result codes for constraint violations (sqlite3.h).
const (
	sqliteConstraintPrimaryKey = 1555
	sqliteConstraintUnique     = 2067
)

// isUniqueViolation reports whether err is a unique or primary key
// violation in either backend.
func isUniqueViolation(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code == "23505"
	}
	var sqErr *sqlite.Error
	if errors.As(err, &sqErr) {
		c := sqErr.Code()
		return c == sqliteConstraintUnique || c == sqliteConstraintPrimaryKey
	}
	return false
}
