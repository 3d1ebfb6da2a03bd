package store

import (
	"context"
	"database/sql"
	"fmt"
)

// OpenAtVersion opens dsn and migrates it only up to version, as an older
// Causeway would have left it. The caller closes the returned database.
func OpenAtVersion(ctx context.Context, dsn string, version int64) (*sql.DB, error) {
	dialect, driver, source, err := parseDSN(dsn)
	if err != nil {
		return nil, err
	}
	db, err := sql.Open(driver, source)
	if err != nil {
		return nil, err
	}
	s := &Store{db: db, dialect: dialect, log: discardLogger()}
	p, err := s.newMigrator()
	if err != nil {
		db.Close()
		return nil, err
	}
	if _, err := p.UpTo(ctx, version); err != nil {
		db.Close()
		return nil, fmt.Errorf("migrate to %d: %w", version, err)
	}
	return db, nil
}

// SchemaVersionOf returns the schema version recorded in s's database.
func SchemaVersionOf(ctx context.Context, s *Store) (int64, error) { return s.schemaVersion(ctx) }

// ParseDSN exposes parseDSN to tests.
var ParseDSN = parseDSN
