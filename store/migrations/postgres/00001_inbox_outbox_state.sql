-- +goose Up
-- Inbox: appservice transactions and their events, stored before the
-- transaction is acknowledged. Times are Unix microseconds.
CREATE TABLE inbox_txn (
    txn_id      TEXT    NOT NULL PRIMARY KEY,
    received_us BIGINT NOT NULL
);

CREATE TABLE inbox_event (
    seq         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id    TEXT    NOT NULL UNIQUE,
    room_id     TEXT    NOT NULL,
    raw         BYTEA    NOT NULL,
    received_us BIGINT NOT NULL,
    done_us     BIGINT
);
CREATE INDEX inbox_event_pending ON inbox_event (seq) WHERE done_us IS NULL;

-- Outbox: remote->Matrix requests stored before they are attempted.
-- dedupe_key is NULL when the item has no key (NULLs never conflict).
CREATE TABLE outbox (
    seq         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    queue       TEXT    NOT NULL,
    dedupe_key  TEXT,
    payload     BYTEA    NOT NULL,
    created_us  BIGINT NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0,
    last_error  TEXT    NOT NULL DEFAULT '',
    state       SMALLINT NOT NULL DEFAULT 0, -- 0 pending, 1 completed, 2 failed
    result      TEXT    NOT NULL DEFAULT '',
    finished_us BIGINT
);
CREATE UNIQUE INDEX outbox_dedupe ON outbox (queue, dedupe_key);
CREATE INDEX outbox_pending ON outbox (seq) WHERE state = 0;

-- State cache: puppets known to be registered, room memberships.
CREATE TABLE registered_user (
    user_id TEXT NOT NULL PRIMARY KEY
);

CREATE TABLE membership (
    room_id    TEXT NOT NULL,
    user_id    TEXT NOT NULL,
    membership TEXT NOT NULL,
    PRIMARY KEY (room_id, user_id)
);

-- +goose Down
DROP TABLE membership;
DROP TABLE registered_user;
DROP TABLE outbox;
DROP TABLE inbox_event;
DROP TABLE inbox_txn;
