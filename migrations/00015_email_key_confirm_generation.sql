-- +goose Up

-- One inbox, one subscriber. Addresses were unique as typed, so
-- "Ada@example.com" and "ada@example.com" were two subscribers, each mailed.
-- They become unique by their lower-cased form, email_key, while email keeps
-- what was typed, for display and sending. (The domain was lower-cased
-- already; local parts are ASCII, so lower() means the same here as in Go.)
--
-- First the subscribers that already share a key are merged into the oldest
-- of them, the winner, without losing anything of the consent proof: every
-- event moves to the winner (and to the subscription it merged into); of two
-- subscriptions on one list one is kept, the other's events and messages move
-- to it, and its id is remembered in subscription_merges so that the links
-- in emails already sent (unsubscribe never expires) still find it.

CREATE TEMPORARY TABLE merge_members ON COMMIT DROP AS
SELECT r.id, first_value(r.id) OVER (PARTITION BY lower(r.email) ORDER BY r.created_at, r.id) AS winner_id
FROM subscribers r
WHERE lower(r.email) IN (
    SELECT lower(email)
    FROM subscribers
    GROUP BY lower(email)
    HAVING count(*) > 1);

-- Of the subscriptions of one group on one list, the one kept says what the
-- inbox's status is: a complaint or a bounce first (they are facts about the
-- inbox), else the most recent decision (a confirmation or an unsubscribe).
CREATE TEMPORARY TABLE merge_subscriptions ON COMMIT DROP AS
SELECT s.id AS from_id, m.winner_id,
       first_value(s.id) OVER (
           PARTITION BY m.winner_id, s.list_id
           ORDER BY CASE s.status WHEN 'complained' THEN 0 WHEN 'bounced' THEN 1 ELSE 2 END,
                    GREATEST(s.confirmed_at, s.unsubscribed_at, s.created_at) DESC, s.id) AS into_id
FROM subscriptions s
JOIN merge_members m ON m.id = s.subscriber_id;

-- Links to a subscription merged into another find the one kept.
CREATE TABLE subscription_merges (
    from_id bigint PRIMARY KEY,
    into_id bigint NOT NULL REFERENCES subscriptions (id) ON DELETE CASCADE
);
INSERT INTO subscription_merges (from_id, into_id)
SELECT from_id, into_id
FROM merge_subscriptions
WHERE from_id <> into_id;

UPDATE events e
SET subscriber_id = m.winner_id
FROM merge_members m
WHERE e.subscriber_id = m.id
  AND m.id <> m.winner_id;
UPDATE events e
SET subscription_id = ms.into_id
FROM merge_subscriptions ms
WHERE e.subscription_id = ms.from_id
  AND ms.from_id <> ms.into_id;

-- The outbox holds one message per (subscriber, step), (subscriber,
-- broadcast) and (subscriber, list, kind, ref). Of a group's messages with
-- one such key, the one kept is the one sent (else failed, queued, skipped),
-- so the history shows what reached the inbox and nothing goes twice.
DELETE FROM outbox o
USING (
    SELECT o.id,
           row_number() OVER (
               PARTITION BY ms.winner_id,
                            CASE WHEN o.step_id IS NOT NULL THEN 'step ' || o.step_id
                                 WHEN o.broadcast_id IS NOT NULL THEN 'broadcast ' || o.broadcast_id
                                 WHEN o.kind IN ('confirm', 'welcome', 'bonus') THEN o.kind || ' ' || o.list_id || ' ' || o.ref
                                 ELSE 'row ' || o.id END
               ORDER BY CASE o.status WHEN 'sent' THEN 0 WHEN 'failed' THEN 1 WHEN 'queued' THEN 2 ELSE 3 END, o.id) AS n
    FROM outbox o
    JOIN merge_subscriptions ms ON ms.from_id = o.subscription_id
) d
WHERE o.id = d.id
  AND d.n > 1;

-- The messages of a subscription that goes move to the one kept, still of
-- its present subscriber (the outbox's reference trigger checks the pair).
UPDATE outbox o
SET subscription_id = ms.into_id,
    subscriber_id = k.subscriber_id
FROM merge_subscriptions ms
JOIN subscriptions k ON k.id = ms.into_id
WHERE o.subscription_id = ms.from_id
  AND ms.from_id <> ms.into_id;

-- Its enrollment goes with it (ON DELETE CASCADE); the kept one's stays.
DELETE FROM subscriptions s
USING merge_subscriptions ms
WHERE s.id = ms.from_id
  AND ms.from_id <> ms.into_id;

-- The kept subscriptions move to the winner, and their messages after them.
-- outbox_subscriptions_key refuses to move a subscription that messages name;
-- it is off for this one statement, and the messages follow at once.
ALTER TABLE subscriptions DISABLE TRIGGER outbox_subscriptions_key;
UPDATE subscriptions s
SET subscriber_id = ms.winner_id
FROM merge_subscriptions ms
WHERE s.id = ms.into_id
  AND ms.from_id = ms.into_id
  AND s.subscriber_id <> ms.winner_id;
ALTER TABLE subscriptions ENABLE TRIGGER outbox_subscriptions_key;
UPDATE outbox o
SET subscriber_id = m.winner_id
FROM merge_members m
WHERE o.subscriber_id = m.id
  AND m.id <> m.winner_id;
UPDATE enrollments e
SET subscriber_id = m.winner_id
FROM merge_members m
WHERE e.subscriber_id = m.id
  AND m.id <> m.winner_id;

-- The winner keeps its name and time zone, or takes the oldest other
-- member's when it has none, and gets the tags of all.
UPDATE subscribers w
SET tags = ARRAY(
        SELECT t
        FROM merge_members m2
        JOIN subscribers r2 ON r2.id = m2.id
        CROSS JOIN unnest(r2.tags) AS u (t)
        WHERE m2.winner_id = w.id
        GROUP BY t
        ORDER BY t COLLATE "C"),
    name = COALESCE(NULLIF(w.name, ''), (
        SELECT r2.name
        FROM merge_members m2
        JOIN subscribers r2 ON r2.id = m2.id
        WHERE m2.winner_id = w.id
          AND r2.name <> ''
        ORDER BY r2.created_at, r2.id
        LIMIT 1), ''),
    timezone = COALESCE(NULLIF(w.timezone, ''), (
        SELECT r2.timezone
        FROM merge_members m2
        JOIN subscribers r2 ON r2.id = m2.id
        WHERE m2.winner_id = w.id
          AND r2.timezone <> ''
        ORDER BY r2.created_at, r2.id
        LIMIT 1), '')
FROM merge_members m
WHERE m.id = w.id
  AND m.winner_id = w.id;

DELETE FROM subscribers r
USING merge_members m
WHERE r.id = m.id
  AND m.id <> m.winner_id;

ALTER TABLE subscribers DROP CONSTRAINT subscribers_email_key;
ALTER TABLE subscribers ADD COLUMN email_key text GENERATED ALWAYS AS (lower(email)) STORED;
ALTER TABLE subscribers ADD CONSTRAINT subscribers_email_key_unique UNIQUE (email_key);

-- Suppressions are kept by the key: of several spellings of one address,
-- the oldest suppression (and its reason) stays.
CREATE TEMPORARY TABLE merge_suppressions ON COMMIT DROP AS
SELECT DISTINCT ON (lower(email)) lower(email) AS email, reason, created_at
FROM suppressions
WHERE lower(email) IN (
    SELECT lower(email)
    FROM suppressions
    WHERE email <> lower(email))
ORDER BY lower(email), created_at, email;
DELETE FROM suppressions x
USING merge_suppressions m
WHERE lower(x.email) = m.email;
INSERT INTO suppressions (email, reason, created_at)
SELECT email, reason, created_at
FROM merge_suppressions;
ALTER TABLE suppressions ADD CONSTRAINT suppressions_email_lower CHECK (email = lower(email));

CREATE OR REPLACE VIEW mailable_subscriptions AS
SELECT s.id AS subscription_id, s.subscriber_id, s.list_id, r.email, r.name, r.timezone, r.tags
FROM subscriptions s
JOIN subscribers r ON r.id = s.subscriber_id
WHERE s.status = 'confirmed'
  AND NOT EXISTS (SELECT 1 FROM suppressions x WHERE x.email = r.email_key);

-- Each confirmation request of a subscription gets the next generation, and
-- its link carries it: a new request makes every earlier link stale.
ALTER TABLE subscriptions ADD COLUMN confirm_generation int NOT NULL DEFAULT 0;

-- +goose Down
-- The merges are not undone: the merged subscribers stay one.
ALTER TABLE subscriptions DROP COLUMN confirm_generation;
CREATE OR REPLACE VIEW mailable_subscriptions AS
SELECT s.id AS subscription_id, s.subscriber_id, s.list_id, r.email, r.name, r.timezone, r.tags
FROM subscriptions s
JOIN subscribers r ON r.id = s.subscriber_id
WHERE s.status = 'confirmed'
  AND NOT EXISTS (SELECT 1 FROM suppressions x WHERE x.email = r.email);
ALTER TABLE suppressions DROP CONSTRAINT suppressions_email_lower;
ALTER TABLE subscribers DROP CONSTRAINT subscribers_email_key_unique;
ALTER TABLE subscribers DROP COLUMN email_key;
ALTER TABLE subscribers ADD CONSTRAINT subscribers_email_key UNIQUE (email);
DROP TABLE subscription_merges;
