-- +goose Up

-- The editor's subscriber search matches a piece of the address or the name
-- anywhere in it (ILIKE '%term%'), which a btree cannot serve. Trigram GIN
-- indexes can, for a million subscribers and more. pg_trgm is a trusted
-- extension (PostgreSQL 13+): the owner of the database may create it without
-- being a superuser. Where the role may not (it does not own the database),
-- the migration goes ahead without the indexes and says so in a warning: the
-- search then still works, scanning the table, until an administrator runs
-- CREATE EXTENSION pg_trgm and the two CREATE INDEX statements below.
-- +goose StatementBegin
DO $$
BEGIN
    CREATE EXTENSION IF NOT EXISTS pg_trgm;
EXCEPTION WHEN insufficient_privilege THEN
    RAISE WARNING 'tidings: pg_trgm could not be created (%); subscriber search will scan the table', SQLERRM;
END
$$;
-- +goose StatementEnd

-- +goose StatementBegin
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm') THEN
        CREATE INDEX subscribers_email_trgm ON subscribers USING gin (email gin_trgm_ops);
        CREATE INDEX subscribers_name_trgm ON subscribers USING gin (name gin_trgm_ops);
    END IF;
END
$$;
-- +goose StatementEnd

-- Filtering by status on every list ("everyone who complained") finds the
-- subscriptions by status, already in subscriber order for the keyset scan.
CREATE INDEX subscriptions_status_subscriber ON subscriptions (status, subscriber_id);

-- How statuses spread over lists differs from list to list (a new list has
-- no unsubscribes yet); without joint statistics the planner multiplies the
-- two frequencies and may walk a whole list to find none.
CREATE STATISTICS subscriptions_list_status_stats (mcv) ON list_id, status FROM subscriptions;

-- +goose Down
DROP STATISTICS IF EXISTS subscriptions_list_status_stats;
DROP INDEX IF EXISTS subscriptions_status_subscriber;
DROP INDEX IF EXISTS subscribers_name_trgm;
DROP INDEX IF EXISTS subscribers_email_trgm;
