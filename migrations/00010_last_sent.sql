-- +goose Up

-- tidings_last_sent is the last message sent to a subscriber at or before a
-- time: its broadcast_id (NULL for one that was not a broadcast), or no row.
-- An unsubscribe is put down to a broadcast when that broadcast was the last
-- thing its subscriber was sent before it; the broadcast's own figures and
-- the list of broadcasts both count it so, through this one definition.
-- Being a single STABLE SELECT, it is inlined into their statements.
-- +goose StatementBegin
CREATE FUNCTION tidings_last_sent(subscriber bigint, at_or_before timestamptz)
RETURNS TABLE (broadcast_id bigint)
LANGUAGE sql STABLE AS $$
    SELECT o.broadcast_id
    FROM outbox o
    WHERE o.subscriber_id = subscriber
      AND o.status = 'sent'
      AND o.sent_at <= at_or_before
    ORDER BY o.sent_at DESC, o.id DESC
    LIMIT 1
$$;
-- +goose StatementEnd

-- +goose Down
DROP FUNCTION tidings_last_sent(bigint, timestamptz);
