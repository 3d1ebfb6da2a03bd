// Package storetest is the conformance suite every store backend runs, and
// helpers that give tests a fresh SQLite or PostgreSQL store.
//
// PostgreSQL tests run when the environment variable CAUSEWAY_TEST_POSTGRES_URL
// names a server and a role allowed to create databases, for example
// postgres://causeway:causeway@127.0.0.1:5432/postgres?sslmode=disable. Each
// test creates its own database and drops it afterwards. Without the variable
// the PostgreSQL tests skip and say so.
package storetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/causewaybridge/causeway/store"
)

// PostgresEnv is the environment variable holding the PostgreSQL admin URL.
const PostgresEnv = "CAUSEWAY_TEST_POSTGRES_URL"

// OpenFunc returns a new, empty store that the test owns.
type OpenFunc func(t *testing.T) *store.Store

// DSNFunc returns the DSN of a new, empty database that the test owns.
type DSNFunc func(t *testing.T) string

// Run runs the conformance suite against stores returned by open.
func Run(t *testing.T, open OpenFunc) {
	t.Run("Inbox", func(t *testing.T) { runInbox(t, open) })
	t.Run("Outbox", func(t *testing.T) { runOutbox(t, open) })
	t.Run("State", func(t *testing.T) { runState(t, open) })
	t.Run("Bridge", func(t *testing.T) { runBridge(t, open) })
}

// RunReopen runs the durability tests: data written through one Store is
// there after it is closed and the same database opened again.
func RunReopen(t *testing.T, newDSN DSNFunc) {
	t.Run("InboxPendingAfterReopen", func(t *testing.T) { testInboxReopen(t, newDSN(t)) })
	t.Run("OutboxKeyAfterReopen", func(t *testing.T) { testOutboxReopen(t, newDSN(t)) })
	t.Run("BridgeDataAfterReopen", func(t *testing.T) { testBridgeReopen(t, newDSN(t)) })
}

// SQLiteDSN returns the DSN of a new SQLite file in t.TempDir().
func SQLiteDSN(t testing.TB) string {
	t.Helper()
	return "sqlite:" + filepath.Join(t.TempDir(), "causeway.db")
}

// PostgresDSN creates a database for the test on the server named by
// CAUSEWAY_TEST_POSTGRES_URL, drops it when the test ends and returns its
// DSN. Without the variable the test is skipped.
func PostgresDSN(t testing.TB) string {
	t.Helper()
	admin := os.Getenv(PostgresEnv)
	if admin == "" {
		t.Skipf("PostgreSQL tests skipped: set %s to a postgres:// URL of a role with CREATEDB to run them", PostgresEnv)
	}
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatalf("parse %s: %v", PostgresEnv, err)
	}
	db, err := sql.Open("pgx", admin)
	if err != nil {
		t.Fatalf("connect to PostgreSQL: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	name := "causeway_test_" + randomHex(t, 6)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := db.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create test database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := db.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("drop test database %s: %v", name, err)
		}
	})
	u.Path = "/" + name
	return u.String()
}

// OpenDSN opens dsn as a store that is closed when the test ends.
func OpenDSN(t testing.TB, dsn string) *store.Store {
	t.Helper()
	s, err := store.Open(context.Background(), dsn, TestLogger(t))
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close store: %v", err)
		}
	})
	return s
}

// OpenSQLite returns a store on a new SQLite file.
func OpenSQLite(t *testing.T) *store.Store { return OpenDSN(t, SQLiteDSN(t)) }

// OpenPostgres returns a store on a new PostgreSQL database, or skips the
// test when no server is configured.
func OpenPostgres(t *testing.T) *store.Store { return OpenDSN(t, PostgresDSN(t)) }

// TestLogger returns a logger that writes to the test log.
func TestLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(string(p))
	return len(p), nil
}

func randomHex(t testing.TB, n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatalf("random: %v", err)
	}
	return hex.EncodeToString(b)
}

// Event returns a realistic m.room.message inbox event of about 500 bytes.
func Event(eventID, roomID string) store.InboxEvent {
	raw := fmt.Sprintf(`{"type":"m.room.message","room_id":%q,"sender":"@alice:example.org","event_id":%q,`+
		`"origin_server_ts":1700000000000,"content":{"msgtype":"m.text","body":"Hello from Matrix, this is a message `+
		`of ordinary length that a person might send to a bridged IRC channel.","format":"org.matrix.custom.html",`+
		`"formatted_body":"Hello from <b>Matrix</b>, this is a message of ordinary length that a person might send."},`+
		`"unsigned":{"age":1234,"transaction_id":"m1700000000000.0"}}`, roomID, eventID)
	return store.InboxEvent{EventID: eventID, RoomID: roomID, Raw: []byte(raw)}
}
