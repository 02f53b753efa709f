-- +goose Up

-- Dispatchers that find nothing due wait for a notification on the channel
-- tidings_outbox (campaigns.ListenQueue) as well as for their next poll, so
-- that mail queued to go now goes at once: any rows queued (once per INSERT
-- statement, however many rows it queues: a broadcast's million is one
-- notification) and a broadcast that starts sending, resumes, or has its
-- failures queued again. A notification is sent when its transaction
-- commits, and none when it rolls back.
-- +goose StatementBegin
CREATE FUNCTION tidings_outbox_notify() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('tidings_outbox', '');
    RETURN NULL;
END;
$$;
-- +goose StatementEnd
CREATE TRIGGER outbox_queued
    AFTER INSERT ON outbox
    FOR EACH STATEMENT EXECUTE FUNCTION tidings_outbox_notify();
CREATE TRIGGER broadcasts_sending
    AFTER UPDATE OF status ON broadcasts
    FOR EACH ROW
    WHEN (NEW.status = 'sending')
    EXECUTE FUNCTION tidings_outbox_notify();

-- +goose Down
DROP TRIGGER broadcasts_sending ON broadcasts;
DROP TRIGGER outbox_queued ON outbox;
DROP FUNCTION tidings_outbox_notify();
