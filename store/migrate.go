package store

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

//go:embed migrations/sqlite/*.sql migrations/postgres/*.sql
var migrationFiles embed.FS

// migrationLockID is the PostgreSQL advisory lock key that serialises
// migrations of concurrently starting processes.
const migrationLockID = 0x63617573_65776179 // "causeway"

// newMigrator returns a goose provider for the store's dialect.
func (s *Store) newMigrator() (*goose.Provider, error) {
	dir, err := fs.Sub(migrationFiles, "migrations/"+s.dialect)
	if err != nil {
		return nil, fmt.Errorf("migrations for %s: %w", s.dialect, err)
	}
	opts := []goose.ProviderOption{
		goose.WithDisableGlobalRegistry(true),
		goose.WithSlog(s.log.With("component", "migrate")),
	}
	gooseDialect := goose.DialectSQLite3
	if s.dialect == DialectPostgres {
		gooseDialect = goose.DialectPostgres
		locker, err := lock.NewPostgresSessionLocker(lock.WithLockID(migrationLockID))
		if err != nil {
			return nil, fmt.Errorf("migration lock: %w", err)
		}
		opts = append(opts, goose.WithSessionLocker(locker))
	}
	p, err := goose.NewProvider(gooseDialect, s.db, dir, opts...)
	if err != nil {
		return nil, fmt.Errorf("migrations for %s: %w", s.dialect, err)
	}
	return p, nil
}

// migrate refuses a schema newer than the embedded migrations, then applies
// the pending ones.
func (s *Store) migrate(ctx context.Context) error {
	p, err := s.newMigrator()
	if err != nil {
		return err
	}
	current, err := s.schemaVersion(ctx)
	if err != nil {
		return err
	}
	sources := p.ListSources()
	known := sources[len(sources)-1].Version
	if current > known {
		return fmt.Errorf("%w: database is at schema version %d, this program knows up to %d; upgrade Causeway",
			ErrSchemaTooNew, current, known)
	}
	results, err := p.Up(ctx)
	if err != nil {
		return fmt.Errorf("migrate %s schema from version %d: %w", s.dialect, current, err)
	}
	if len(results) > 0 {
		s.log.InfoContext(ctx, "database schema migrated", "dialect", s.dialect,
			"from_version", current, "to_version", known, "applied", len(results))
	}
	return nil
}

// schemaVersion returns the highest migration version recorded in the
// database, or 0 for a database that was never migrated.
func (s *Store) schemaVersion(ctx context.Context) (int64, error) {
	exists := `SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = $1`
	if s.dialect == DialectPostgres {
		exists = `SELECT COUNT(*) FROM pg_catalog.pg_tables WHERE schemaname = current_schema() AND tablename = $1`
	}
	var n int
	if err := s.db.QueryRowContext(ctx, exists, goose.DefaultTablename).Scan(&n); err != nil {
		return 0, fmt.Errorf("read schema version: %w", err)
	}
	if n == 0 {
		return 0, nil
	}
	var v sql.NullInt64
	q := `SELECT MAX(version_id) FROM ` + goose.DefaultTablename + ` WHERE is_applied`
	if err := s.db.QueryRowContext(ctx, q).Scan(&v); err != nil {
		return 0, fmt.Errorf("read schema version: %w", err)
	}
	return v.Int64, nil
}
