-- +goose Up

-- A list is a newsletter people sign up to. Its welcome email and consent text
-- live here; its sequence steps and bonus emails live in their own tables.
CREATE TABLE lists (
    id              bigserial PRIMARY KEY,
    slug            text NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
    name            text NOT NULL CHECK (name <> ''),
    from_name       text NOT NULL DEFAULT '',
    from_email      text NOT NULL CHECK (from_email <> ''),
    reply_to        text NOT NULL DEFAULT '',
    timezone        text NOT NULL DEFAULT 'UTC',
    postal_address  text NOT NULL DEFAULT '',
    consent_text    text NOT NULL DEFAULT '',
    welcome_subject text NOT NULL DEFAULT '',
    welcome_body    text NOT NULL DEFAULT '',
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL
);

-- Bonus emails: what a form promises, sent once right after confirmation.
CREATE TABLE bonuses (
    id         bigserial PRIMARY KEY,
    list_id    bigint NOT NULL REFERENCES lists (id) ON DELETE CASCADE,
    position   int NOT NULL,
    subject    text NOT NULL,
    body       text NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);
CREATE INDEX bonuses_list ON bonuses (list_id, position);

-- A subscriber is an address and its person; email is stored normalised
-- (ASCII domain, lower-cased domain), so equality is exact.
CREATE TABLE subscribers (
    id         bigserial PRIMARY KEY,
    email      text NOT NULL UNIQUE,
    name       text NOT NULL DEFAULT '',
    timezone   text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);

-- A subscription is a subscriber on one list, with a status.
CREATE TABLE subscriptions (
    id              bigserial PRIMARY KEY,
    subscriber_id   bigint NOT NULL REFERENCES subscribers (id) ON DELETE CASCADE,
    list_id         bigint NOT NULL REFERENCES lists (id) ON DELETE CASCADE,
    status          text NOT NULL CHECK (status IN ('pending', 'confirmed', 'unsubscribed', 'bounced', 'complained')),
    confirm_sent_at timestamptz, -- the last confirmation request, for the cool-down
    confirmed_at    timestamptz,
    unsubscribed_at timestamptz,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    UNIQUE (subscriber_id, list_id)
);
CREATE INDEX subscriptions_list_status ON subscriptions (list_id, status);

-- The event log is append-only: it is the consent proof. Nothing in Tidings
-- updates or deletes a row here.
CREATE TABLE events (
    id              bigserial PRIMARY KEY,
    subscription_id bigint REFERENCES subscriptions (id) ON DELETE SET NULL,
    subscriber_id   bigint REFERENCES subscribers (id) ON DELETE SET NULL,
    list_id         bigint REFERENCES lists (id) ON DELETE SET NULL,
    kind            text NOT NULL,
    at              timestamptz NOT NULL,
    ip              text NOT NULL DEFAULT '',
    user_agent      text NOT NULL DEFAULT '',
    form            text NOT NULL DEFAULT '',
    consent_text    text NOT NULL DEFAULT '',
    reason          text NOT NULL DEFAULT ''
);
CREATE INDEX events_subscriber ON events (subscriber_id, at);
CREATE INDEX events_list_at ON events (list_id, at);

-- Addresses that must never be mailed, whatever their subscriptions say.
CREATE TABLE suppressions (
    email      text PRIMARY KEY,
    reason     text NOT NULL,
    created_at timestamptz NOT NULL
);

-- The steps of a list's sequence. A deleted step is kept (deleted_at) so that
-- the outbox rows and history that name it stay whole.
CREATE TABLE steps (
    id         bigserial PRIMARY KEY,
    list_id    bigint NOT NULL REFERENCES lists (id) ON DELETE CASCADE,
    position   int NOT NULL CHECK (position > 0),
    subject    text NOT NULL,
    body       text NOT NULL,
    delay_days int NOT NULL CHECK (delay_days BETWEEN 0 AND 3650),
    send_time  time,                           -- local wall-clock time; NULL: as soon as due
    weekdays   int[] NOT NULL DEFAULT '{}',    -- ISO days 1 (Mon) .. 7 (Sun); empty: any day
    deleted_at timestamptz,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);
CREATE INDEX steps_list_position ON steps (list_id, position) WHERE deleted_at IS NULL;

-- Where a subscriber is in a list's sequence. anchor_at is the confirmation, then
-- the due time of the last step queued; next_due_at is computed from it in the
-- subscriber's time zone by tidings_next_due.
CREATE TABLE enrollments (
    subscription_id bigint PRIMARY KEY REFERENCES subscriptions (id) ON DELETE CASCADE,
    subscriber_id   bigint NOT NULL REFERENCES subscribers (id) ON DELETE CASCADE,
    list_id         bigint NOT NULL REFERENCES lists (id) ON DELETE CASCADE,
    timezone        text NOT NULL,
    last_position   int NOT NULL DEFAULT 0,
    anchor_at       timestamptz NOT NULL,
    next_step_id    bigint REFERENCES steps (id),
    next_due_at     timestamptz,
    stopped_at      timestamptz,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL
);
CREATE INDEX enrollments_due ON enrollments (next_due_at) WHERE stopped_at IS NULL AND next_due_at IS NOT NULL;
CREATE INDEX enrollments_list ON enrollments (list_id) WHERE stopped_at IS NULL;

-- The outbox: one row per message. The unique indexes are the at-most-once
-- guarantee: per (subscriber, step), per (subscriber, broadcast), and per
-- (subscriber, list, kind, ref) for the one-off mails (ref is the bonus id, else 0).
CREATE TABLE outbox (
    id              bigserial PRIMARY KEY,
    kind            text NOT NULL CHECK (kind IN ('confirm', 'welcome', 'bonus', 'step', 'broadcast')),
    subscriber_id   bigint NOT NULL REFERENCES subscribers (id) ON DELETE CASCADE,
    subscription_id bigint NOT NULL REFERENCES subscriptions (id) ON DELETE CASCADE,
    list_id         bigint NOT NULL REFERENCES lists (id) ON DELETE CASCADE,
    step_id         bigint REFERENCES steps (id),
    bonus_id        bigint REFERENCES bonuses (id) ON DELETE CASCADE,
    broadcast_id    bigint,
    ref             bigint NOT NULL DEFAULT 0,
    priority        smallint NOT NULL,          -- 0 transactional, 1 series and welcome, 2 bulk
    status          text NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'sending', 'sent', 'failed', 'skipped')),
    due_at          timestamptz NOT NULL,
    attempts        int NOT NULL DEFAULT 0,
    lease_until     timestamptz,
    message_id      text NOT NULL DEFAULT '',
    smtp_code       int NOT NULL DEFAULT 0,
    last_error      text NOT NULL DEFAULT '',
    temporary       boolean NOT NULL DEFAULT false, -- failed only because the retries ran out
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    sent_at         timestamptz
);
CREATE UNIQUE INDEX outbox_step_once ON outbox (subscriber_id, step_id) WHERE step_id IS NOT NULL;
CREATE UNIQUE INDEX outbox_broadcast_once ON outbox (subscriber_id, broadcast_id) WHERE broadcast_id IS NOT NULL;
CREATE UNIQUE INDEX outbox_oneoff_once ON outbox (subscriber_id, list_id, kind, ref) WHERE kind IN ('confirm', 'welcome', 'bonus');
CREATE INDEX outbox_claim ON outbox (priority, due_at, id) WHERE status = 'queued';
CREATE INDEX outbox_lease ON outbox (lease_until) WHERE status = 'sending';
CREATE INDEX outbox_subscription_queued ON outbox (subscription_id) WHERE status = 'queued';
CREATE INDEX outbox_subscriber ON outbox (subscriber_id, created_at);

-- API tokens: only a SHA-256 of the token is kept.
CREATE TABLE api_tokens (
    id           bigserial PRIMARY KEY,
    name         text NOT NULL,
    token_hash   bytea NOT NULL UNIQUE,
    created_at   timestamptz NOT NULL,
    last_used_at timestamptz
);

-- Who may be mailed, defined once: read by the scheduler when it queues and by
-- the dispatcher's last check before it sends.
CREATE VIEW mailable_subscriptions AS
SELECT s.id AS subscription_id, s.subscriber_id, s.list_id, r.email, r.name, r.timezone
FROM subscriptions s
JOIN subscribers r ON r.id = s.subscriber_id
WHERE s.status = 'confirmed'
  AND NOT EXISTS (SELECT 1 FROM suppressions x WHERE x.email = r.email);

-- tidings_next_due returns when a step falls due: delay_days calendar days after
-- the anchor's local date, at send_time local (or the anchor's local time of day
-- when send_time is NULL), on the first allowed weekday, never before the anchor.
-- The arithmetic is done on local wall-clock time and converted back through the
-- zone, so a daylight-saving change does not move the hour.
-- +goose StatementBegin
CREATE FUNCTION tidings_next_due(anchor timestamptz, tz text, delay_days int, send_time time, weekdays int[])
RETURNS timestamptz
LANGUAGE plpgsql STABLE AS $$
DECLARE
    local_anchor timestamp := anchor AT TIME ZONE tz;
    first_day    date := (anchor AT TIME ZONE tz)::date + delay_days;
    candidate    timestamp;
BEGIN
    FOR i IN 0..14 LOOP
        candidate := (first_day + i) + COALESCE(send_time, local_anchor::time);
        IF candidate >= local_anchor
           AND (cardinality(weekdays) = 0 OR extract(isodow FROM first_day + i)::int = ANY (weekdays)) THEN
            RETURN candidate AT TIME ZONE tz;
        END IF;
    END LOOP;
    RETURN NULL;
END;
$$;
-- +goose StatementEnd

-- +goose Down
DROP FUNCTION tidings_next_due;
DROP VIEW mailable_subscriptions;
DROP TABLE api_tokens, outbox, enrollments, steps, suppressions, events, subscriptions, subscribers, bonuses, lists;
