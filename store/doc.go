// Package store is Causeway's durable state: the appservice transaction inbox,
// the outbox of requests to the homeserver, the state cache (registered
// puppets, memberships) and the data bridge modules keep (portals, message
// links, key/value pairs).
//
// # Backends
//
// One concrete [Store] runs over database/sql with one of two backends, chosen
// by the DSN given to [Open]:
//
//   - "postgres://…" or "postgresql://…": PostgreSQL through
//     github.com/jackc/pgx/v5/stdlib.
//   - "sqlite:PATH", "file:PATH" (an SQLite URI, query parameters kept) or a
//     plain path: an embedded SQLite file through modernc.org/sqlite (pure Go,
//     no cgo). This is the default; no server is needed.
//
// Both backends run the same SQL wherever the dialects agree (modernc binds
// $N by number, like PostgreSQL) and the same conformance suite
// (package storetest).
//
// # Durability
//
// Every write method returns only after its database transaction has
// committed. On PostgreSQL that means the server's own durability settings
// apply (fsync on commit by default).
//
// SQLite is opened in WAL mode with synchronous=NORMAL, busy_timeout and
// foreign_keys on. With synchronous=NORMAL a committed transaction survives a
// crash or kill -9 of the process (the WAL is written before commit returns)
// but the last transactions before a power loss or kernel crash may be lost
// (the WAL is fsynced at checkpoints, not at every commit). A DSN that sets a
// pragma itself overrides the default, so
// "sqlite:/var/lib/causeway/causeway.db?_pragma=synchronous(FULL)" fsyncs
// every commit and survives power loss too. Measured on a busy 2-core
// machine, ingest of 100-event transactions (BenchmarkIngest) ran at 23,000
// to 70,000 events/s with NORMAL and 6,000 to 48,000 events/s with FULL,
// depending on fsync latency; NORMAL is the default so the 20,000 events/s
// target holds. Write transactions start with BEGIN IMMEDIATE so concurrent
// writers queue on busy_timeout instead of failing with SQLITE_BUSY.
//
// # Ordering
//
// Inbox events get a sequence number (Seq) when they are stored. Transactions
// are added one at a time (SQLite's single writer; a PostgreSQL advisory lock
// held for the transaction), so a larger Seq is never committed before a
// smaller one and a reader draining pending events in Seq order never skips
// an event that commits later.
//
// # Migrations
//
// The schema is versioned by numbered SQL files embedded in the binary, one
// directory per dialect, applied by github.com/pressly/goose/v3 (Provider API,
// no package-global state) when the store is opened. Open refuses a database
// whose schema is newer than this code knows ([ErrSchemaTooNew]).
package store
