-- +goose Up

-- A dispatcher's claim is written on the rows it claims, in a transaction
-- of its own that commits at once, instead of being its transaction's row
-- locks held through the SMTP conversation (campaigns.Dispatcher). So an
-- unsubscribe, an erase or a cancelled broadcast that writes the same rows
-- never waits for a send: it waits at most for a claim or a record, each
-- one short statement.
--
-- claimed_by names the claim (its dispatcher and batch), and the record of
-- its outcomes writes only the rows that claim still holds. claimed_until
-- is when the claim lapses: the rows of a dispatcher that died are claimed
-- again once it has passed, never before, so a live dispatcher's message is
-- never sent twice. A claimed row stays 'queued': it is not sent yet.
ALTER TABLE outbox ADD COLUMN claimed_until timestamptz, ADD COLUMN claimed_by text;

-- The claim reads due rows that no one holds in this index, so that it does
-- not read past the rows in flight; the lapsed claims it finds in the
-- second.
DROP INDEX outbox_claim;
CREATE INDEX outbox_claim ON outbox (priority, due_at, id) WHERE status = 'queued' AND claimed_until IS NULL;
CREATE INDEX outbox_claim_lapse ON outbox (claimed_until) WHERE status = 'queued' AND claimed_until IS NOT NULL;

-- +goose Down
DROP INDEX outbox_claim_lapse;
DROP INDEX outbox_claim;
CREATE INDEX outbox_claim ON outbox (priority, due_at, id) WHERE status = 'queued';
ALTER TABLE outbox DROP COLUMN claimed_by, DROP COLUMN claimed_until;
