-- +goose Up

-- Starting a broadcast inserts one outbox row per recipient, and each foreign
-- key is a check per row. subscriber_id and list_id are implied by
-- subscription_id: every outbox row is written from its subscription (same
-- subscriber, same list), and deleting a subscriber or a list deletes their
-- subscriptions, whose ON DELETE CASCADE removes the outbox rows. So those two
-- checks are dropped; the subscription's stays.
ALTER TABLE outbox
    DROP CONSTRAINT outbox_subscriber_id_fkey,
    DROP CONSTRAINT outbox_list_id_fkey;

-- +goose Down
ALTER TABLE outbox
    ADD CONSTRAINT outbox_subscriber_id_fkey FOREIGN KEY (subscriber_id) REFERENCES subscribers (id) ON DELETE CASCADE,
    ADD CONSTRAINT outbox_list_id_fkey FOREIGN KEY (list_id) REFERENCES lists (id) ON DELETE CASCADE;
