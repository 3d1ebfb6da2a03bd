-- +goose Up
-- Nothing to do on PostgreSQL: version 3 changes how SQLite numbers outbox
-- items (see the SQLite migration). It exists so that both backends report
-- the same schema version.
SELECT 1;

-- +goose Down
SELECT 1;
