-- +goose Up
-- Bridge module data: portals (remote conversation <-> room), message links
-- (remote message <-> Matrix event) and a per-module key/value store.
-- room_id is NULL while a portal has no room yet.
CREATE TABLE portal (
    module    TEXT NOT NULL,
    remote_id TEXT NOT NULL,
    room_id   TEXT UNIQUE,
    meta      BYTEA,
    PRIMARY KEY (module, remote_id)
);

CREATE TABLE message_link (
    module    TEXT NOT NULL,
    remote_id TEXT NOT NULL,
    room_id   TEXT NOT NULL,
    event_id  TEXT NOT NULL,
    PRIMARY KEY (module, remote_id)
);
CREATE INDEX message_link_event ON message_link (event_id);

CREATE TABLE module_kv (
    module TEXT NOT NULL,
    k      TEXT NOT NULL,
    v      BYTEA NOT NULL,
    PRIMARY KEY (module, k)
);

-- +goose Down
DROP TABLE module_kv;
DROP TABLE message_link;
DROP TABLE portal;
