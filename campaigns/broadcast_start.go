package campaigns

import (
	"context"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
)

// startBroadcast queues one outbox row per recipient of b, which the caller
// has locked and found draft or scheduled, and sets it sending with its
// count of recipients, in the caller's transaction. The row lock makes a
// second start wait and then find it sending; the unique index
// outbox_broadcast_once makes a row for a subscriber at most once whatever
// happens. It returns the number of rows queued.
func startBroadcast(ctx context.Context, tx *sqlx.Tx, b *broadcastRow, now time.Time) (int64, error) {
	// The join below hashes a million rows for a big list; with the default
	// work_mem it spills to disk in batches, which also scatters the order
	// the rows arrive in, and so where the outbox's indexes are written.
	if _, err := tx.ExecContext(ctx, `SET LOCAL work_mem = '128MB'`); err != nil {
		return 0, fmt.Errorf("campaigns: start broadcast %d: %w", b.ID, err)
	}
	// Only startBroadcast queues a broadcast's rows, and only under the
	// broadcast's row lock, which is held here; so unless its status was
	// changed by hand, nothing is queued for it yet, and the rows can go in
	// without ON CONFLICT and its speculative insertion, which is a large
	// share of the time for a big list. Should a row be there after all, the unique index
	// outbox_broadcast_once makes the INSERT fail and the start roll back
	// rather than queue anyone twice; the check keeps the old way (skip who
	// has it) for that case.
	var queued bool
	const exists = `
		SELECT EXISTS (
			SELECT 1
			FROM outbox
			WHERE broadcast_id = $1)`
	if err := tx.GetContext(ctx, &queued, exists, b.ID); err != nil {
		return 0, fmt.Errorf("campaigns: start broadcast %d: %w", b.ID, err)
	}
	// One statement for any number of recipients. tags && $4: any of the
	// tags (the GIN index on subscribers.tags can serve it). In subscriber
	// order, so that each row's entry in outbox_broadcast_once (subscriber,
	// broadcast) goes at the end of what this start has written rather than
	// at random places in the index (docs/benchmarks.md).
	q := `
		INSERT INTO outbox (kind, subscriber_id, subscription_id, list_id, broadcast_id, ref, priority, status, due_at, created_at, updated_at)
		SELECT 'broadcast', m.subscriber_id, m.subscription_id, m.list_id, $1, 0, 2, 'queued', $3, $3, $3
		FROM mailable_subscriptions m
		WHERE m.list_id = $2
		  AND (cardinality($4::text[]) = 0 OR m.tags && $4::text[])
		  AND NOT (m.tags && $5::text[])
		ORDER BY m.subscriber_id`
	if queued {
		q += `
		ON CONFLICT DO NOTHING`
	}
	res, err := tx.ExecContext(ctx, q, b.ID, b.ListID, now, pq.Array(b.TagsInclude), pq.Array(b.TagsExclude))
	if err != nil {
		return 0, fmt.Errorf("campaigns: start broadcast %d: %w", b.ID, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("campaigns: start broadcast %d: %w", b.ID, err)
	}
	const update = `
		UPDATE broadcasts
		SET status = 'sending',
		    started_at = $2,
		    recipients = recipients + $3,
		    updated_at = $2
		WHERE id = $1`
	if _, err := tx.ExecContext(ctx, update, b.ID, now, n); err != nil {
		return 0, fmt.Errorf("campaigns: start broadcast %d: %w", b.ID, err)
	}
	return n, nil
}
