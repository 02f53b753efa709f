-- +goose Up

-- A dispatcher's claim is now its transaction's row locks, held until the
-- outcomes are written (campaigns.Dispatcher): a message is written once
-- when it is sent, not also when it is claimed, and a dispatcher that dies
-- hands its claim back at once. So no row is 'sending' any more and none
-- has a lease.
--
-- Stop every instance before this migration: a row an older instance has
-- marked 'sending' is put back in the queue here, and the check below makes
-- an older instance that still runs fail at its first claim rather than
-- leave rows that nobody would send.
UPDATE outbox SET status = 'queued' WHERE status = 'sending';
DROP INDEX outbox_lease;
ALTER TABLE outbox DROP COLUMN lease_until;
ALTER TABLE outbox DROP CONSTRAINT outbox_status_check;
ALTER TABLE outbox ADD CONSTRAINT outbox_status_check
    CHECK (status IN ('queued', 'sent', 'failed', 'skipped'));

-- +goose Down
ALTER TABLE outbox DROP CONSTRAINT outbox_status_check;
ALTER TABLE outbox ADD CONSTRAINT outbox_status_check
    CHECK (status IN ('queued', 'sending', 'sent', 'failed', 'skipped'));
ALTER TABLE outbox ADD COLUMN lease_until timestamptz;
CREATE INDEX outbox_lease ON outbox (lease_until) WHERE status = 'sending';
