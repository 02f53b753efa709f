-- +goose Up

-- tidings_step_after is the step a subscriber of list gets after the one at
-- position: the next one in order that is not deleted, or no row. The
-- scheduler, the queue and step editing all ask it; being a single STABLE
-- SELECT, Postgres inlines it into each of their statements.
-- +goose StatementBegin
CREATE FUNCTION tidings_step_after(list bigint, after_position int)
RETURNS TABLE (id bigint, delay_days int, send_time time, weekdays int[])
LANGUAGE sql STABLE AS $$
    SELECT s.id, s.delay_days, s.send_time, s.weekdays
    FROM steps s
    WHERE s.list_id = list
      AND s.deleted_at IS NULL
      AND s.position > after_position
    ORDER BY s.position, s.id
    LIMIT 1
$$;
-- +goose StatementEnd

-- +goose Down
DROP FUNCTION tidings_step_after(bigint, int);
