-- +goose Up
-- The newest item of a room with a given key prefix (store.LatestOutboxKeyed:
-- the point up to which a remote channel is known to be in Matrix) is read
-- walking one room's items backwards instead of sorting all of them.
CREATE INDEX outbox_queue_seq ON outbox (queue, seq);

-- +goose Down
DROP INDEX outbox_queue_seq;
