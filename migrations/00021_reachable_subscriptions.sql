-- +goose Up

-- Who may be mailed is defined once. A subscription is reachable while its
-- address is not suppressed; a reachable subscription may be sent its
-- confirmation request while it is pending, and everything else once it is
-- confirmed (mailable_subscriptions). The dispatcher's last check before a
-- confirmation is sent asked the first question inline; it now asks this view.
CREATE VIEW reachable_subscriptions AS
SELECT s.id AS subscription_id, s.subscriber_id, s.list_id, s.status, r.email, r.name, r.timezone, r.tags
FROM subscriptions s
JOIN subscribers r ON r.id = s.subscriber_id
WHERE NOT EXISTS (SELECT 1 FROM suppressions x WHERE x.email = r.email_key);

CREATE OR REPLACE VIEW mailable_subscriptions AS
SELECT subscription_id, subscriber_id, list_id, email, name, timezone, tags
FROM reachable_subscriptions
WHERE status = 'confirmed';

-- +goose Down
CREATE OR REPLACE VIEW mailable_subscriptions AS
SELECT s.id AS subscription_id, s.subscriber_id, s.list_id, r.email, r.name, r.timezone, r.tags
FROM subscriptions s
JOIN subscribers r ON r.id = s.subscriber_id
WHERE s.status = 'confirmed'
  AND NOT EXISTS (SELECT 1 FROM suppressions x WHERE x.email = r.email_key);
DROP VIEW reachable_subscriptions;
