package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver
	_ "modernc.org/sqlite"             // registers the "sqlite" database/sql driver
)

// Dialect names returned by [Store.Dialect].
const (
	DialectSQLite   = "sqlite"
	DialectPostgres = "postgres"
)

// sqliteBusyTimeout is how long an SQLite connection waits for a lock held
// by another connection before failing.
const sqliteBusyTimeout = 10 * time.Second

// sqliteCacheKiB bounds each SQLite connection's page cache (SQLite's
// default is 2,000 KiB); the pages it no longer holds are read from the
// OS's file cache.
const sqliteCacheKiB = 512

// Store is Causeway's durable store. It is safe for concurrent use.
type Store struct {
	db      *sql.DB
	dialect string
	log     *slog.Logger
	stmts   stmtCache
	staged  stagedLinks
}

// Open connects to the database named by dsn, applies pending schema
// migrations and returns the store. See the package documentation for the
// accepted DSN forms. A nil log discards log output.
func Open(ctx context.Context, dsn string, log *slog.Logger) (*Store, error) {
	if log == nil {
		log = discardLogger()
	}
	dialect, driver, source, err := parseDSN(dsn)
	if err != nil {
		return nil, err
	}
	db, err := sql.Open(driver, source)
	if err != nil {
		return nil, fmt.Errorf("open %s database: %w", dialect, err)
	}
	configurePool(db, dialect, source)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("connect to %s database: %w", dialect, err)
	}
	s := &Store{db: db, dialect: dialect, log: log, stmts: stmtCache{stmts: map[string]*sql.Stmt{}}}
	if err := s.migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// Close closes the database. Calls in progress may fail.
func (s *Store) Close() error {
	stmtErr := s.stmts.close()
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("close %s database: %w", s.dialect, err)
	}
	if stmtErr != nil {
		return fmt.Errorf("close %s statements: %w", s.dialect, stmtErr)
	}
	return nil
}

// Dialect returns the backend in use: [DialectSQLite] or [DialectPostgres].
func (s *Store) Dialect() string { return s.dialect }

// parseDSN maps a DSN to a dialect, a database/sql driver name and the
// driver's data source string.
func parseDSN(dsn string) (dialect, driver, source string, err error) {
	switch {
	case dsn == "":
		return "", "", "", errors.New("store: empty database DSN")
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		return DialectPostgres, "pgx", dsn, nil
	case strings.HasPrefix(dsn, "sqlite://"):
		return DialectSQLite, "sqlite", sqliteSource(strings.TrimPrefix(dsn, "sqlite://")), nil
	case strings.HasPrefix(dsn, "sqlite:"):
		return DialectSQLite, "sqlite", sqliteSource(strings.TrimPrefix(dsn, "sqlite:")), nil
	case strings.HasPrefix(dsn, "file:"):
		return DialectSQLite, "sqlite", sqliteSource(dsn), nil
	case strings.Contains(dsn, "://"):
		return "", "", "", fmt.Errorf("store: unsupported database DSN scheme in %q (want postgres://, postgresql://, sqlite: or a file path)", redact(dsn))
	default:
		return DialectSQLite, "sqlite", sqliteSource(dsn), nil
	}
}

// sqliteSource turns a path or file: URI into a modernc.org/sqlite DSN with
// Causeway's connection settings. Query parameters already present are kept,
// and a pragma the DSN sets itself (say "_pragma=synchronous(FULL)") replaces
// Causeway's default for that pragma.
func sqliteSource(path string) string {
	var given url.Values
	if i := strings.IndexByte(path, '?'); i >= 0 {
		given, _ = url.ParseQuery(path[i+1:])
	}
	set := make(map[string]bool)
	for _, p := range given["_pragma"] {
		name, _, _ := strings.Cut(p, "(")
		name, _, _ = strings.Cut(name, "=")
		set[strings.ToLower(strings.TrimSpace(name))] = true
	}
	q := url.Values{}
	for _, p := range []struct{ name, value string }{
		{"busy_timeout", fmt.Sprintf("busy_timeout(%d)", sqliteBusyTimeout.Milliseconds())},
		{"journal_mode", "journal_mode(WAL)"},
		{"synchronous", "synchronous(NORMAL)"},
		{"foreign_keys", "foreign_keys(ON)"},
		// SQLite's default page cache is 2 MB per connection, held
		// outside the Go heap by every pooled connection; the database's
		// pages are in the OS's file cache anyway.
		{"cache_size", fmt.Sprintf("cache_size(%d)", -sqliteCacheKiB)},
	} {
		if !set[p.name] {
			q.Add("_pragma", p.value)
		}
	}
	if given.Get("_txlock") == "" {
		q.Set("_txlock", "immediate")
	}
	if len(q) == 0 {
		return path
	}
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	return path + sep + q.Encode()
}

// configurePool sizes the connection pool. An in-memory SQLite database
// exists once per connection, so it gets exactly one.
func configurePool(db *sql.DB, dialect, source string) {
	if dialect != DialectSQLite {
		db.SetMaxOpenConns(16)
		db.SetMaxIdleConns(4)
		return
	}
	if strings.Contains(source, ":memory:") || strings.Contains(source, "mode=memory") {
		db.SetMaxOpenConns(1)
	}
	db.SetMaxIdleConns(4)
	db.SetConnMaxIdleTime(0)
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// redact hides the password of a URL-shaped DSN for error messages.
func redact(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		return "<unparsable DSN>"
	}
	return u.Redacted()
}

// unixMicro converts a stored time back to a time.Time.
func unixMicro(us int64) time.Time { return time.UnixMicro(us) }

// rollback ends tx after an error; the rollback's own error is irrelevant
// because the transaction has already failed.
func rollback(tx *sql.Tx) { _ = tx.Rollback() }

// PoolStats reports the database connection pool's statistics (open and
// idle connections, waits), for diagnostics and benchmarks.
func (s *Store) PoolStats() sql.DBStats { return s.db.Stats() }
