-- +goose Up

-- The outbox's reference check on insert (migration 00008) planned each of
-- its queries anew on every statement, so that a broadcast's million rows
-- would not run with a plan made for one. Most inserts are of a row or a few
-- (every sign-up queues its confirmation), and for them the planning was most
-- of the insert's cost. The grouping of the new rows and the check of a few
-- rows now use plans cached for the session; many rows are still planned for
-- their number. What is checked and locked is unchanged.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION tidings_outbox_check_insert() RETURNS trigger
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
    -- A scan of the new rows alone: the same plan serves one row or a
    -- million, so it is planned once per session.
    SELECT sum(g.n),
           array_agg(DISTINCT g.list_id),
           array_agg(DISTINCT g.broadcast_id) FILTER (WHERE g.broadcast_id IS NOT NULL),
           array_agg(DISTINCT g.step_id) FILTER (WHERE g.step_id IS NOT NULL),
           array_agg(DISTINCT g.bonus_id) FILTER (WHERE g.bonus_id IS NOT NULL)
    INTO total, list_ids, broadcast_ids, step_ids, bonus_ids
    FROM (
        SELECT list_id, broadcast_id, step_id, bonus_id, count(*) AS n
        FROM new_rows
        GROUP BY list_id, broadcast_id, step_id, bonus_id
    ) g;
    IF total IS NULL THEN
        RETURN NULL;
    END IF;
    -- Lists in id order, as deletes take them, so that the two cannot
    -- deadlock over two lists. The check below runs after the lock, with a
    -- snapshot of its own.
    PERFORM 1 FROM lists WHERE id = ANY (list_ids) ORDER BY id FOR SHARE;
    -- The check joins the new rows to subscriptions. A few rows (a sign-up's
    -- confirmation, a welcome and its bonuses, a tick's steps) are checked
    -- with a plan cached for the session: planning it anew cost more than
    -- the rest of the insert. A broadcast's many rows are planned for their
    -- number, which a cached plan for one row would serve poorly.
    IF total <= 1000 THEN
        SELECT count(*) INTO missing
        FROM new_rows n
        WHERE NOT EXISTS (
            SELECT 1
            FROM subscriptions s
            WHERE s.id = n.subscription_id
              AND s.subscriber_id = n.subscriber_id
              AND s.list_id = n.list_id);
    ELSE
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
    END IF;
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

-- +goose Down
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION tidings_outbox_check_insert() RETURNS trigger
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
