package integration

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// NewPostgresDB creates a fresh, empty PostgreSQL database on the server of
// CAUSEWAY_TEST_POSTGRES_URL and returns a URL for it. The database is
// dropped (with any open connections) in t.Cleanup. Without the environment
// variable the test skips, or fails when CI=true (see [RequireEnv]).
func NewPostgresDB(t testing.TB) string {
	t.Helper()
	base := RequireEnv(t, EnvPostgresURL)
	name := "causeway_test_" + randomHex(t, 6)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := adminExec(ctx, base, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		t.Fatalf("create test database %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		stmt := "DROP DATABASE IF EXISTS " + pgx.Identifier{name}.Sanitize() + " WITH (FORCE)"
		if err := adminExec(ctx, base, stmt); err != nil {
			t.Errorf("drop test database %s: %v", name, err)
		}
	})
	u, err := withDatabase(base, name)
	if err != nil {
		t.Fatalf("test database URL: %v", err)
	}
	return u
}

// databaseExists reports whether a database of that name exists on
// the server of CAUSEWAY_TEST_POSTGRES_URL.
func databaseExists(ctx context.Context, baseURL, name string) (bool, error) {
	conn, err := pgx.Connect(ctx, baseURL)
	if err != nil {
		return false, fmt.Errorf("connect: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var exists bool
	err = conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists)
	if err != nil {
		return false, fmt.Errorf("query pg_database: %w", err)
	}
	return exists, nil
}

func adminExec(ctx context.Context, baseURL, stmt string) error {
	conn, err := pgx.Connect(ctx, baseURL)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, stmt); err != nil {
		return fmt.Errorf("%s: %w", stmt, err)
	}
	return nil
}

// withDatabase returns baseURL with its path replaced by /name.
func withDatabase(baseURL, name string) (string, error) {
	u, err := url.Parse(baseURL)
	if err != nil {
		return "", fmt.Errorf("parse %s: %w", EnvPostgresURL, err)
	}
	u.Path = "/" + name
	u.RawPath = ""
	return u.String(), nil
}

func randomHex(t testing.TB, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatalf("random: %v", err)
	}
	return hex.EncodeToString(b)
}
