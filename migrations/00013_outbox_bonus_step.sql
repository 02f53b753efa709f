-- +goose Up

-- Deleting a bonus or a step skips its queued mail and (for a bonus)
-- detaches its outbox rows, and the editor counts a step's queued mail to
-- show its reach. Without these indexes each of those read the whole
-- outbox, every broadcast's rows included, and deleting held the list's
-- lock, which confirmations on the list wait for, all the while. Broadcast
-- rows name neither, so they are not in these indexes.
CREATE INDEX outbox_bonus ON outbox (bonus_id) WHERE bonus_id IS NOT NULL;
CREATE INDEX outbox_step ON outbox (step_id) WHERE step_id IS NOT NULL;

-- +goose Down
DROP INDEX outbox_step;
DROP INDEX outbox_bonus;
