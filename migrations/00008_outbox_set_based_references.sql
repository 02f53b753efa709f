-- +goose Up

-- Starting a broadcast queues one outbox row per recipient in one INSERT ...
-- SELECT, and Postgres checks each foreign key of the outbox once per row,
-- each check a query of its own that also locks the row it finds. After
-- 00007 dropped the two that the subscription implies, four were left: the
-- subscription's and the broadcast's, and the step's and bonus's, which are
-- checked (and found NULL) on every broadcast row as well. For a million
-- recipients they took more than half of the time the start took. So the
-- outbox's references are enforced here by triggers instead, which check
-- each statement's rows at once, set-based:
--
--   * every row inserted must name a subscription that exists, of its own
--     subscriber_id and list_id, and the step, bonus and broadcast it names
--     (if any) must exist; otherwise the statement fails with
--     foreign_key_violation. The broadcast, step and bonus rows are locked
--     FOR KEY SHARE, as a foreign key does, so that none can be deleted until
--     the inserting transaction ends.
--   * subscriptions are guarded by their list instead of one by one (a
--     million row locks cost as much as the check itself): inserting outbox
--     rows takes the lists they name FOR SHARE, and deleting subscriptions
--     takes their lists FOR NO KEY UPDATE before it deletes their outbox
--     rows. So a delete waits for outbox rows being inserted in its list and
--     then deletes them too, and an insert that waited for a delete finds the
--     subscription gone and fails. (Subscribing is not held up: a new
--     subscription's own foreign key takes the list FOR KEY SHARE only.
--     Editing a list waits for a broadcast being queued on it.)
--   * deleting a subscription, a broadcast, a bonus or a step deletes its
--     outbox rows (ON DELETE CASCADE), and so does deleting a subscriber or a
--     list, whose subscriptions go with them. Tidings never deletes a step
--     (it marks it deleted); a step goes only with its list.
--   * the referenced keys cannot change while outbox rows name them, and
--     truncating a referenced table needs the outbox truncated with it.
--
-- subscriber_id and list_id are checked through the subscription: a
-- subscription belongs to one subscriber and one list, and goes when either
-- goes. The cascades run as the deleting transaction's own statements, with
-- a snapshot of their own, so they see rows queued by a transaction that
-- held the lock they waited for; that is so under READ COMMITTED only (under
-- REPEATABLE READ a statement keeps the transaction's snapshot), so those
-- deletes are refused under any other isolation level. Tidings runs them all
-- under READ COMMITTED.

-- Rows that disagree with their subscription would escape the cascade below,
-- which finds a subscription's rows by subscriber. Tidings never wrote any;
-- refuse to migrate a database that has them rather than guess.
-- +goose StatementBegin
DO $$
DECLARE
    bad bigint;
BEGIN
    SELECT count(*) INTO bad
    FROM outbox o
    JOIN subscriptions s ON s.id = o.subscription_id
    WHERE s.subscriber_id <> o.subscriber_id
       OR s.list_id <> o.list_id;
    IF bad > 0 THEN
        RAISE EXCEPTION 'tidings: % outbox rows name a subscription of another subscriber or list', bad;
    END IF;
END
$$;
-- +goose StatementEnd

ALTER TABLE outbox
    DROP CONSTRAINT outbox_subscription_id_fkey,
    DROP CONSTRAINT outbox_step_id_fkey,
    DROP CONSTRAINT outbox_bonus_id_fkey,
    DROP CONSTRAINT outbox_broadcast_fk;

-- Fewer indexes to write per queued row. outbox_broadcast_once covers every
-- row now (NULL broadcast_ids never conflict), so it also serves the lookups
-- by subscriber that outbox_subscriber did: a subscriber's messages, the
-- cascade from a subscription, skipping a subscription's queued messages
-- (campaigns.stopSubscription names the subscriber for it), which
-- outbox_subscription_queued served.
DROP INDEX outbox_broadcast_once;
CREATE UNIQUE INDEX outbox_broadcast_once ON outbox (subscriber_id, broadcast_id);
DROP INDEX outbox_subscriber;
DROP INDEX outbox_subscription_queued;

-- The subscriber's tags, so that a broadcast's tag filters need not join
-- subscribers a second time. Who may be mailed is unchanged.
CREATE OR REPLACE VIEW mailable_subscriptions AS
SELECT s.id AS subscription_id, s.subscriber_id, s.list_id, r.email, r.name, r.timezone, r.tags
FROM subscriptions s
JOIN subscribers r ON r.id = s.subscriber_id
WHERE s.status = 'confirmed'
  AND NOT EXISTS (SELECT 1 FROM suppressions x WHERE x.email = r.email);

-- tidings_outbox_check_insert checks and locks what the inserted rows name.
-- The queries are run with EXECUTE so that each is planned for the rows at
-- hand: a plan cached for one confirmation would be a poor one for a million.
-- +goose StatementBegin
CREATE FUNCTION tidings_outbox_check_insert() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    total         bigint;
    missing       bigint;
    matched       bigint;
    list_ids      bigint[];
    broadcast_ids bigint[];
    step_ids      bigint[];
    bonus_ids     bigint[];
BEGIN
    EXECUTE $q$
        SELECT sum(g.n),
               array_agg(DISTINCT g.list_id),
               array_agg(DISTINCT g.broadcast_id) FILTER (WHERE g.broadcast_id IS NOT NULL),
               array_agg(DISTINCT g.step_id) FILTER (WHERE g.step_id IS NOT NULL),
               array_agg(DISTINCT g.bonus_id) FILTER (WHERE g.bonus_id IS NOT NULL)
        FROM (
            SELECT list_id, broadcast_id, step_id, bonus_id, count(*) AS n
            FROM new_rows
            GROUP BY list_id, broadcast_id, step_id, bonus_id
        ) g
        $q$ INTO total, list_ids, broadcast_ids, step_ids, bonus_ids;
    IF total IS NULL THEN
        RETURN NULL;
    END IF;
    -- Lists in id order, as deletes take them, so that the two cannot
    -- deadlock over two lists. The check below runs after the lock, with a
    -- snapshot of its own.
    PERFORM 1 FROM lists WHERE id = ANY (list_ids) ORDER BY id FOR SHARE;
    EXECUTE $q$
        SELECT count(*)
        FROM new_rows n
        WHERE NOT EXISTS (
            SELECT 1
            FROM subscriptions s
            WHERE s.id = n.subscription_id
              AND s.subscriber_id = n.subscriber_id
              AND s.list_id = n.list_id)
        $q$ INTO missing;
    IF missing > 0 THEN
        RAISE EXCEPTION 'insert or update on table "outbox" violates outbox_subscription_ref'
            USING ERRCODE = 'foreign_key_violation', CONSTRAINT = 'outbox_subscription_ref',
                  DETAIL = format('%s of %s rows name no subscription of their subscriber and list.', missing, total);
    END IF;
    IF broadcast_ids IS NOT NULL THEN
        SELECT count(*) INTO matched FROM (SELECT 1 FROM broadcasts b WHERE b.id = ANY (broadcast_ids) FOR KEY SHARE) locked;
        IF matched <> cardinality(broadcast_ids) THEN
            RAISE EXCEPTION 'insert or update on table "outbox" violates outbox_broadcast_ref'
                USING ERRCODE = 'foreign_key_violation', CONSTRAINT = 'outbox_broadcast_ref';
        END IF;
    END IF;
    IF step_ids IS NOT NULL THEN
        SELECT count(*) INTO matched FROM (SELECT 1 FROM steps s WHERE s.id = ANY (step_ids) FOR KEY SHARE) locked;
        IF matched <> cardinality(step_ids) THEN
            RAISE EXCEPTION 'insert or update on table "outbox" violates outbox_step_ref'
                USING ERRCODE = 'foreign_key_violation', CONSTRAINT = 'outbox_step_ref';
        END IF;
    END IF;
    IF bonus_ids IS NOT NULL THEN
        SELECT count(*) INTO matched FROM (SELECT 1 FROM bonuses b WHERE b.id = ANY (bonus_ids) FOR KEY SHARE) locked;
        IF matched <> cardinality(bonus_ids) THEN
            RAISE EXCEPTION 'insert or update on table "outbox" violates outbox_bonus_ref'
                USING ERRCODE = 'foreign_key_violation', CONSTRAINT = 'outbox_bonus_ref';
        END IF;
    END IF;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

-- tidings_outbox_check_update checks a row whose references change, as a
-- foreign key does: only the references that change, and not when they are
-- set to NULL (campaigns.DeleteBonus detaches its sent rows that way).
-- +goose StatementBegin
CREATE FUNCTION tidings_outbox_check_update() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF (NEW.subscription_id, NEW.subscriber_id, NEW.list_id) IS DISTINCT FROM (OLD.subscription_id, OLD.subscriber_id, OLD.list_id) THEN
        PERFORM 1 FROM lists WHERE id = NEW.list_id FOR SHARE;
        PERFORM 1
        FROM subscriptions s
        WHERE s.id = NEW.subscription_id
          AND s.subscriber_id = NEW.subscriber_id
          AND s.list_id = NEW.list_id;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'insert or update on table "outbox" violates outbox_subscription_ref'
                USING ERRCODE = 'foreign_key_violation', CONSTRAINT = 'outbox_subscription_ref';
        END IF;
    END IF;
    IF NEW.broadcast_id IS NOT NULL AND NEW.broadcast_id IS DISTINCT FROM OLD.broadcast_id THEN
        PERFORM 1 FROM broadcasts WHERE id = NEW.broadcast_id FOR KEY SHARE;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'insert or update on table "outbox" violates outbox_broadcast_ref'
                USING ERRCODE = 'foreign_key_violation', CONSTRAINT = 'outbox_broadcast_ref';
        END IF;
    END IF;
    IF NEW.step_id IS NOT NULL AND NEW.step_id IS DISTINCT FROM OLD.step_id THEN
        PERFORM 1 FROM steps WHERE id = NEW.step_id FOR KEY SHARE;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'insert or update on table "outbox" violates outbox_step_ref'
                USING ERRCODE = 'foreign_key_violation', CONSTRAINT = 'outbox_step_ref';
        END IF;
    END IF;
    IF NEW.bonus_id IS NOT NULL AND NEW.bonus_id IS DISTINCT FROM OLD.bonus_id THEN
        PERFORM 1 FROM bonuses WHERE id = NEW.bonus_id FOR KEY SHARE;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'insert or update on table "outbox" violates outbox_bonus_ref'
                USING ERRCODE = 'foreign_key_violation', CONSTRAINT = 'outbox_bonus_ref';
        END IF;
    END IF;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

-- tidings_outbox_deleted does what ON DELETE CASCADE did, for the rows a
-- statement deleted from subscriptions, broadcasts, bonuses or steps. (The
-- step's foreign key was NO ACTION; but a step is only ever deleted with its
-- list, and a trigger on steps may run before the one on subscriptions that
-- deletes the list's outbox rows.)
-- +goose StatementBegin
CREATE FUNCTION tidings_outbox_deleted() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('transaction_isolation') <> 'read committed' THEN
        RAISE EXCEPTION 'deleting from % needs READ COMMITTED, not %', TG_TABLE_NAME, current_setting('transaction_isolation')
            USING ERRCODE = 'feature_not_supported',
                  HINT = 'The outbox rows that name what is deleted are found by a trigger, which sees those other transactions have just queued only under READ COMMITTED.';
    END IF;
    CASE TG_TABLE_NAME
    WHEN 'subscriptions' THEN
        -- Wait for outbox rows being inserted in these lists (see above).
        EXECUTE $q$
            SELECT 1
            FROM lists
            WHERE id IN (SELECT list_id FROM old_rows)
            ORDER BY id
            FOR NO KEY UPDATE
            $q$;
        EXECUTE $q$
            DELETE FROM outbox o
            USING old_rows d
            WHERE o.subscriber_id = d.subscriber_id
              AND o.subscription_id = d.id
            $q$;
    WHEN 'broadcasts' THEN
        EXECUTE $q$
            DELETE FROM outbox o
            USING old_rows d
            WHERE o.broadcast_id = d.id
            $q$;
    WHEN 'bonuses' THEN
        EXECUTE $q$
            DELETE FROM outbox o
            USING old_rows d
            WHERE o.bonus_id = d.id
            $q$;
    WHEN 'steps' THEN
        EXECUTE $q$
            DELETE FROM outbox o
            USING old_rows d
            WHERE o.step_id = d.id
            $q$;
    END CASE;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

-- tidings_outbox_key_changed refuses to change a key that outbox rows name
-- (ON UPDATE NO ACTION). Nothing in Tidings changes them.
-- +goose StatementBegin
CREATE FUNCTION tidings_outbox_key_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    named boolean;
    ref   text;
BEGIN
    CASE TG_TABLE_NAME
    WHEN 'subscriptions' THEN
        named := EXISTS (SELECT 1 FROM outbox WHERE subscriber_id = OLD.subscriber_id AND subscription_id = OLD.id);
        ref := 'outbox_subscription_ref';
    WHEN 'broadcasts' THEN
        named := EXISTS (SELECT 1 FROM outbox WHERE broadcast_id = OLD.id);
        ref := 'outbox_broadcast_ref';
    WHEN 'bonuses' THEN
        named := EXISTS (SELECT 1 FROM outbox WHERE bonus_id = OLD.id);
        ref := 'outbox_bonus_ref';
    WHEN 'steps' THEN
        named := EXISTS (SELECT 1 FROM outbox WHERE step_id = OLD.id);
        ref := 'outbox_step_ref';
    END CASE;
    IF named THEN
        RAISE EXCEPTION 'update or delete on table "%" violates %', TG_TABLE_NAME, ref
            USING ERRCODE = 'foreign_key_violation', CONSTRAINT = ref,
                  DETAIL = 'Outbox rows still name its key.';
    END IF;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

-- tidings_outbox_truncated refuses to truncate a table the outbox refers to
-- unless the outbox is truncated too (in the same statement or before).
-- +goose StatementBegin
CREATE FUNCTION tidings_outbox_truncated() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM outbox) THEN
        RAISE EXCEPTION 'cannot truncate table "%": outbox rows may name its rows', TG_TABLE_NAME
            USING ERRCODE = 'feature_not_supported', HINT = 'Truncate table "outbox" at the same time.';
    END IF;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

CREATE TRIGGER outbox_references_insert
    AFTER INSERT ON outbox
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION tidings_outbox_check_insert();
CREATE TRIGGER outbox_references_update
    AFTER UPDATE OF subscription_id, subscriber_id, list_id, broadcast_id, step_id, bonus_id ON outbox
    FOR EACH ROW
    WHEN ((NEW.subscription_id, NEW.subscriber_id, NEW.list_id, NEW.broadcast_id, NEW.step_id, NEW.bonus_id)
          IS DISTINCT FROM (OLD.subscription_id, OLD.subscriber_id, OLD.list_id, OLD.broadcast_id, OLD.step_id, OLD.bonus_id))
    EXECUTE FUNCTION tidings_outbox_check_update();

CREATE TRIGGER outbox_subscriptions_deleted
    AFTER DELETE ON subscriptions
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION tidings_outbox_deleted();
CREATE TRIGGER outbox_broadcasts_deleted
    AFTER DELETE ON broadcasts
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION tidings_outbox_deleted();
CREATE TRIGGER outbox_bonuses_deleted
    AFTER DELETE ON bonuses
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION tidings_outbox_deleted();
CREATE TRIGGER outbox_steps_deleted
    AFTER DELETE ON steps
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION tidings_outbox_deleted();

CREATE TRIGGER outbox_subscriptions_key
    AFTER UPDATE OF id, subscriber_id, list_id ON subscriptions
    FOR EACH ROW
    WHEN ((NEW.id, NEW.subscriber_id, NEW.list_id) IS DISTINCT FROM (OLD.id, OLD.subscriber_id, OLD.list_id))
    EXECUTE FUNCTION tidings_outbox_key_changed();
CREATE TRIGGER outbox_broadcasts_key
    AFTER UPDATE OF id ON broadcasts
    FOR EACH ROW WHEN (NEW.id <> OLD.id) EXECUTE FUNCTION tidings_outbox_key_changed();
CREATE TRIGGER outbox_bonuses_key
    AFTER UPDATE OF id ON bonuses
    FOR EACH ROW WHEN (NEW.id <> OLD.id) EXECUTE FUNCTION tidings_outbox_key_changed();
CREATE TRIGGER outbox_steps_key
    AFTER UPDATE OF id ON steps
    FOR EACH ROW WHEN (NEW.id <> OLD.id) EXECUTE FUNCTION tidings_outbox_key_changed();

CREATE TRIGGER outbox_subscriptions_truncated
    AFTER TRUNCATE ON subscriptions
    FOR EACH STATEMENT EXECUTE FUNCTION tidings_outbox_truncated();
CREATE TRIGGER outbox_broadcasts_truncated
    AFTER TRUNCATE ON broadcasts
    FOR EACH STATEMENT EXECUTE FUNCTION tidings_outbox_truncated();
CREATE TRIGGER outbox_bonuses_truncated
    AFTER TRUNCATE ON bonuses
    FOR EACH STATEMENT EXECUTE FUNCTION tidings_outbox_truncated();
CREATE TRIGGER outbox_steps_truncated
    AFTER TRUNCATE ON steps
    FOR EACH STATEMENT EXECUTE FUNCTION tidings_outbox_truncated();

-- +goose Down
DROP TRIGGER outbox_steps_truncated ON steps;
DROP TRIGGER outbox_bonuses_truncated ON bonuses;
DROP TRIGGER outbox_broadcasts_truncated ON broadcasts;
DROP TRIGGER outbox_subscriptions_truncated ON subscriptions;
DROP TRIGGER outbox_steps_key ON steps;
DROP TRIGGER outbox_bonuses_key ON bonuses;
DROP TRIGGER outbox_broadcasts_key ON broadcasts;
DROP TRIGGER outbox_subscriptions_key ON subscriptions;
DROP TRIGGER outbox_steps_deleted ON steps;
DROP TRIGGER outbox_bonuses_deleted ON bonuses;
DROP TRIGGER outbox_broadcasts_deleted ON broadcasts;
DROP TRIGGER outbox_subscriptions_deleted ON subscriptions;
DROP TRIGGER outbox_references_update ON outbox;
DROP TRIGGER outbox_references_insert ON outbox;
DROP FUNCTION tidings_outbox_truncated();
DROP FUNCTION tidings_outbox_key_changed();
DROP FUNCTION tidings_outbox_deleted();
DROP FUNCTION tidings_outbox_check_update();
DROP FUNCTION tidings_outbox_check_insert();

DROP VIEW mailable_subscriptions;
CREATE VIEW mailable_subscriptions AS
SELECT s.id AS subscription_id, s.subscriber_id, s.list_id, r.email, r.name, r.timezone
FROM subscriptions s
JOIN subscribers r ON r.id = s.subscriber_id
WHERE s.status = 'confirmed'
  AND NOT EXISTS (SELECT 1 FROM suppressions x WHERE x.email = r.email);

CREATE INDEX outbox_subscription_queued ON outbox (subscription_id) WHERE status = 'queued';
CREATE INDEX outbox_subscriber ON outbox (subscriber_id, created_at);
DROP INDEX outbox_broadcast_once;
CREATE UNIQUE INDEX outbox_broadcast_once ON outbox (subscriber_id, broadcast_id) WHERE broadcast_id IS NOT NULL;

ALTER TABLE outbox
    ADD CONSTRAINT outbox_subscription_id_fkey FOREIGN KEY (subscription_id) REFERENCES subscriptions (id) ON DELETE CASCADE,
    ADD CONSTRAINT outbox_step_id_fkey FOREIGN KEY (step_id) REFERENCES steps (id),
    ADD CONSTRAINT outbox_bonus_id_fkey FOREIGN KEY (bonus_id) REFERENCES bonuses (id) ON DELETE CASCADE,
    ADD CONSTRAINT outbox_broadcast_fk FOREIGN KEY (broadcast_id) REFERENCES broadcasts (id) ON DELETE CASCADE;
