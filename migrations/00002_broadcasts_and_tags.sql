-- +goose Up

-- Tags on a subscriber: free-form labels an editor, a form or an import sets,
-- used to filter broadcasts. Stored normalised (trimmed, lower-case).
ALTER TABLE subscribers ADD COLUMN tags text[] NOT NULL DEFAULT '{}';
CREATE INDEX subscribers_tags ON subscribers USING gin (tags);

-- What happens when a subscriber's sequence step falls due within
-- broadcast_gap_hours of a broadcast they received: 'both' sends it anyway,
-- 'defer' moves the step to its next allowed slot after the gap.
ALTER TABLE lists ADD COLUMN step_broadcast_policy text NOT NULL DEFAULT 'both'
    CHECK (step_broadcast_policy IN ('both', 'defer'));
ALTER TABLE lists ADD COLUMN broadcast_gap_hours int NOT NULL DEFAULT 0
    CHECK (broadcast_gap_hours BETWEEN 0 AND 168);

-- A broadcast is a one-off send to a list. Its recipients are fixed when it
-- starts: one outbox row each, unique per (subscriber, broadcast).
CREATE TABLE broadcasts (
    id           bigserial PRIMARY KEY,
    list_id      bigint NOT NULL REFERENCES lists (id) ON DELETE CASCADE,
    subject      text NOT NULL,
    body         text NOT NULL,
    preheader    text NOT NULL DEFAULT '',
    tags_include text[] NOT NULL DEFAULT '{}',
    tags_exclude text[] NOT NULL DEFAULT '{}',
    status       text NOT NULL DEFAULT 'draft'
        CHECK (status IN ('draft', 'scheduled', 'sending', 'paused', 'sent', 'cancelled')),
    send_at      timestamptz,
    started_at   timestamptz,
    finished_at  timestamptz,
    recipients   int NOT NULL DEFAULT 0,
    created_at   timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL
);
CREATE INDEX broadcasts_due ON broadcasts (send_at) WHERE status = 'scheduled';
CREATE INDEX broadcasts_list ON broadcasts (list_id, created_at);

ALTER TABLE outbox ADD CONSTRAINT outbox_broadcast_fk
    FOREIGN KEY (broadcast_id) REFERENCES broadcasts (id) ON DELETE CASCADE;
CREATE INDEX outbox_broadcast_status ON outbox (broadcast_id, status) WHERE broadcast_id IS NOT NULL;

-- +goose Down
DROP INDEX outbox_broadcast_status;
ALTER TABLE outbox DROP CONSTRAINT outbox_broadcast_fk;
DROP TABLE broadcasts;
ALTER TABLE lists DROP COLUMN broadcast_gap_hours, DROP COLUMN step_broadcast_policy;
DROP INDEX subscribers_tags;
ALTER TABLE subscribers DROP COLUMN tags;
