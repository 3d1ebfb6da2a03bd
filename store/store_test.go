package store_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/causewaybridge/causeway/store"
	"github.com/causewaybridge/causeway/store/storetest"
)

// backends lists each backend with a DSN for a fresh database.
var backends = []struct {
	name string
	dsn  storetest.DSNFunc
}{
	{"sqlite", func(t *testing.T) string { return storetest.SQLiteDSN(t) }},
	{"postgres", func(t *testing.T) string { return storetest.PostgresDSN(t) }},
}

func TestConformance(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			storetest.Run(t, func(t *testing.T) *store.Store { return storetest.OpenDSN(t, b.dsn(t)) })
		})
	}
}

func TestReopen(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) { storetest.RunReopen(t, b.dsn) })
	}
}

func TestDialect(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			if got := storetest.OpenDSN(t, b.dsn(t)).Dialect(); got != b.name {
				t.Errorf("Dialect() = %q, want %q", got, b.name)
			}
		})
	}
}

// TestUpgradeFromVersion1 fills a database at schema version 1 (before the
// bridge tables existed), then opens it: Open must migrate it and keep the data.
func TestUpgradeFromVersion1(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			ctx := t.Context()
			dsn := b.dsn(t)
			db, err := store.OpenAtVersion(ctx, dsn, 1)
			if err != nil {
				t.Fatalf("create version 1 schema: %v", err)
			}
			for _, q := range []string{
				`INSERT INTO inbox_txn (txn_id, received_us) VALUES ('t1', 1700000000000000)`,
				`INSERT INTO inbox_event (event_id, room_id, raw, received_us) VALUES ('$old', '!r:x', '{"v":1}', 1700000000000000)`,
				`INSERT INTO outbox (queue, dedupe_key, payload, created_us) VALUES ('!r:x', 'k1', '{}', 1700000000000000)`,
				`INSERT INTO registered_user (user_id) VALUES ('@p:x')`,
			} {
				if _, err := db.ExecContext(ctx, q); err != nil {
					t.Fatalf("fill version 1 schema: %s: %v", q, err)
				}
			}
			db.Close()

			s := storetest.OpenDSN(t, dsn)
			if v, err := store.SchemaVersionOf(ctx, s); err != nil || v < 2 {
				t.Fatalf("schema version after Open = %d, %v; want >= 2", v, err)
			}
			pending, err := s.PendingEvents(ctx, 10)
			if err != nil || len(pending) != 1 || pending[0].EventID != "$old" || string(pending[0].Raw) != `{"v":1}` {
				t.Errorf("pending after upgrade = %+v, %v", pending, err)
			}
			if _, seen, err := s.AddTransaction(ctx, "t1", nil); err != nil || !seen {
				t.Errorf("old transaction after upgrade: seen %v, %v", seen, err)
			}
			if _, dup, err := s.Enqueue(ctx, store.OutboxItem{Queue: "!r:x", Key: "k1"}); err != nil || !dup {
				t.Errorf("old outbox key after upgrade: duplicate %v, %v", dup, err)
			}
			if ok, err := s.IsRegistered(ctx, "@p:x"); err != nil || !ok {
				t.Errorf("registered user after upgrade: %v, %v", ok, err)
			}
			if err := s.PutPortal(ctx, store.Portal{Module: "irc", RemoteID: "#a", RoomID: "!r:x"}); err != nil {
				t.Errorf("table added by version 2 unusable: %v", err)
			}
		})
	}
}

// TestRefusesNewerSchema records a schema version from the future; Open must
// refuse the database and name both versions.
func TestRefusesNewerSchema(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			ctx := t.Context()
			dsn := b.dsn(t)
			s := storetest.OpenDSN(t, dsn)
			known, err := store.SchemaVersionOf(ctx, s)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			db, err := store.OpenAtVersion(ctx, dsn, known)
			if err != nil {
				t.Fatal(err)
			}
			future := known + 7
			if _, err := db.ExecContext(ctx, `INSERT INTO goose_db_version (version_id, is_applied) VALUES ($1, TRUE)`, future); err != nil {
				t.Fatalf("record future version: %v", err)
			}
			db.Close()

			s2, err := store.Open(ctx, dsn, storetest.TestLogger(t))
			if err == nil {
				s2.Close()
				t.Fatal("Open accepted a database with a newer schema")
			}
			if !errors.Is(err, store.ErrSchemaTooNew) {
				t.Errorf("Open error %v, want ErrSchemaTooNew", err)
			}
			for _, v := range []int64{future, known} {
				if !strings.Contains(err.Error(), fmt.Sprint(v)) {
					t.Errorf("error %q does not name version %d", err, v)
				}
			}
		})
	}
}

func TestParseDSN(t *testing.T) {
	cases := []struct {
		dsn, dialect, driver, sourcePrefix string
		bad                                bool
	}{
		0: {dsn: "postgres://u:p@h/db", dialect: "postgres", driver: "pgx", sourcePrefix: "postgres://u:p@h/db"},
		1: {dsn: "postgresql://h/db?sslmode=disable", dialect: "postgres", driver: "pgx", sourcePrefix: "postgresql://h/db?sslmode=disable"},
		2: {dsn: "sqlite:/var/lib/causeway.db", dialect: "sqlite", driver: "sqlite", sourcePrefix: "/var/lib/causeway.db?"},
		3: {dsn: "sqlite:///var/lib/causeway.db", dialect: "sqlite", driver: "sqlite", sourcePrefix: "/var/lib/causeway.db?"},
		4: {dsn: "file:data.db?cache=shared", dialect: "sqlite", driver: "sqlite", sourcePrefix: "file:data.db?cache=shared&"},
		5: {dsn: "causeway.db", dialect: "sqlite", driver: "sqlite", sourcePrefix: "causeway.db?"},
		6: {dsn: "mysql://u:secret@h/db", bad: true},
		7: {dsn: "", bad: true},
		8: {dsn: "sqlite:x.db?_pragma=synchronous(FULL)", dialect: "sqlite", driver: "sqlite", sourcePrefix: "x.db?_pragma=synchronous(FULL)&"},
	}
	for i, c := range cases {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			dialect, driver, source, err := store.ParseDSN(c.dsn)
			if c.bad {
				if err == nil {
					t.Fatalf("ParseDSN(%q) accepted", c.dsn)
				}
				if strings.Contains(err.Error(), "secret") {
					t.Errorf("error %q leaks the password", err)
				}
				return
			}
			if err != nil || dialect != c.dialect || driver != c.driver || !strings.HasPrefix(source, c.sourcePrefix) {
				t.Fatalf("ParseDSN(%q) = %q, %q, %q, %v", c.dsn, dialect, driver, source, err)
			}
			if c.dialect == "sqlite" {
				if strings.Count(source, "synchronous") != 1 {
					t.Errorf("SQLite source %q sets synchronous more than once", source)
				}
				for _, want := range []string{"journal_mode%28WAL%29", "busy_timeout", "foreign_keys", "synchronous", "_txlock=immediate"} {
					if !strings.Contains(source, want) {
						t.Errorf("SQLite source %q lacks %s", source, want)
					}
				}
			}
		})
	}
}

// TestSQLiteSettings checks that the connection settings the durability
// promise rests on are in effect.
func TestSQLiteSettings(t *testing.T) {
	dsn := storetest.SQLiteDSN(t)
	storetest.OpenDSN(t, dsn)
	_, driver, source, err := store.ParseDSN(dsn)
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open(driver, source)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for pragma, want := range map[string]string{"journal_mode": "wal", "synchronous": "1", "foreign_keys": "1", "busy_timeout": "10000"} {
		var got string
		if err := db.QueryRowContext(t.Context(), "PRAGMA "+pragma).Scan(&got); err != nil || got != want {
			t.Errorf("PRAGMA %s = %q, %v; want %q", pragma, got, err, want)
		}
	}
}

func TestOpenUnreachablePostgres(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	_, err := store.Open(ctx, "postgres://causeway:hunter2@127.0.0.1:1/none?sslmode=disable&connect_timeout=2", nil)
	if err == nil {
		t.Fatal("Open succeeded against a closed port")
	}
	if strings.Contains(err.Error(), "hunter2") {
		t.Errorf("error %q leaks the password", err)
	}
}

// TestConformanceInMemory runs the suite on "sqlite::memory:", whose pool
// has a single connection: any query issued on the database while a
// transaction holds that connection would hang here.
func TestConformanceInMemory(t *testing.T) {
	storetest.Run(t, func(t *testing.T) *store.Store { return storetest.OpenDSN(t, "sqlite::memory:") })
}
