-- +goose Up
-- The outbox's seq becomes a plain INTEGER PRIMARY KEY (the rowid) instead
-- of AUTOINCREMENT, which updated sqlite_sequence on every enqueue: one more
-- page written per commit, about a sixth of an enqueue's CPU. New items
-- still get max(seq)+1, so seq keeps growing with every item while any item
-- is stored; only a seq that PruneOutbox freed at the very top can be handed
-- out again, which nothing depends on (pending items are never pruned, and
-- outbox transaction IDs also hash the creation time). The inbox keeps
-- AUTOINCREMENT: its readers skip sequence numbers they have seen.
CREATE TABLE outbox_v3 (
    seq         INTEGER NOT NULL PRIMARY KEY,
    queue       TEXT    NOT NULL,
    dedupe_key  TEXT,
    payload     BLOB    NOT NULL,
    created_us  INTEGER NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0,
    last_error  TEXT    NOT NULL DEFAULT '',
    state       INTEGER NOT NULL DEFAULT 0, -- 0 pending, 1 completed, 2 failed
    result      TEXT    NOT NULL DEFAULT '',
    finished_us INTEGER
);
INSERT INTO outbox_v3 (seq, queue, dedupe_key, payload, created_us, attempts, last_error, state, result, finished_us)
    SELECT seq, queue, dedupe_key, payload, created_us, attempts, last_error, state, result, finished_us FROM outbox;
DROP TABLE outbox;
ALTER TABLE outbox_v3 RENAME TO outbox;
CREATE UNIQUE INDEX outbox_dedupe ON outbox (queue, dedupe_key);
CREATE INDEX outbox_pending ON outbox (seq) WHERE state = 0;

-- +goose Down
CREATE TABLE outbox_v2 (
    seq         INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    queue       TEXT    NOT NULL,
    dedupe_key  TEXT,
    payload     BLOB    NOT NULL,
    created_us  INTEGER NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0,
    last_error  TEXT    NOT NULL DEFAULT '',
    state       INTEGER NOT NULL DEFAULT 0,
    result      TEXT    NOT NULL DEFAULT '',
    finished_us INTEGER
);
INSERT INTO outbox_v2 (seq, queue, dedupe_key, payload, created_us, attempts, last_error, state, result, finished_us)
    SELECT seq, queue, dedupe_key, payload, created_us, attempts, last_error, state, result, finished_us FROM outbox;
DROP TABLE outbox;
ALTER TABLE outbox_v2 RENAME TO outbox;
CREATE UNIQUE INDEX outbox_dedupe ON outbox (queue, dedupe_key);
CREATE INDEX outbox_pending ON outbox (seq) WHERE state = 0;
