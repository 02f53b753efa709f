package campaigns

import (
	"context"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
)

// broadcastStats counts b's outbox rows by status and works out its rate,
// estimated finish and unsubscribes.
func broadcastStats(ctx context.Context, tx *sqlx.Tx, b *Broadcast, now time.Time) (*BroadcastStats, error) {
	st := &BroadcastStats{}
	// While it sends, the rate is over the last minute up to now (or since
	// the start, if that is less); once it is done, from its first
	// message sent to its last, so that a broadcast that went out in a
	// moment is not averaged over the seconds until someone looked.
	const counts = `
		SELECT count(*) FILTER (WHERE status = 'queued') AS queued,
		       count(*) FILTER (WHERE status = 'sent') AS sent,
		       count(*) FILTER (WHERE status = 'failed') AS failed,
		       count(*) FILTER (WHERE status = 'failed' AND temporary) AS retryable,
		       count(*) FILTER (WHERE status = 'skipped') AS skipped,
		       count(*) FILTER (WHERE status = 'sent' AND sent_at > $2) AS recent,
		       min(sent_at) AS first_sent,
		       max(sent_at) AS last_sent
		FROM outbox
		WHERE broadcast_id = $1`
	var c struct {
		Queued, Sent, Failed, Retryable, Skipped, Recent int
		FirstSent, LastSent                              *time.Time
	}
	row := tx.QueryRowxContext(ctx, counts, b.ID, now.Add(-rateWindow))
	if err := row.Scan(&c.Queued, &c.Sent, &c.Failed, &c.Retryable, &c.Skipped, &c.Recent, &c.FirstSent, &c.LastSent); err != nil {
		return nil, fmt.Errorf("campaigns: broadcast %d stats: %w", b.ID, err)
	}
	st.Queued, st.Sent, st.Failed, st.Retryable, st.Skipped = c.Queued, c.Sent, c.Failed, c.Retryable, c.Skipped
	switch {
	case b.Status == BroadcastSending:
		begin := now.Add(-rateWindow)
		if b.StartedAt != nil && b.StartedAt.After(begin) {
			begin = *b.StartedAt
		}
		if secs := now.Sub(begin).Seconds(); secs > 0 {
			st.Rate = float64(c.Recent) / secs
		}
	case c.Sent >= 2: // one message has no rate
		if secs := c.LastSent.Sub(*c.FirstSent).Seconds(); secs > 0 {
			st.Rate = float64(c.Sent-1) / secs
		}
	}
	if left := c.Queued; b.Status == BroadcastSending && left > 0 && st.Rate > 0 {
		t := now.Add(time.Duration(float64(left) / st.Rate * float64(time.Second))).Truncate(time.Second)
		st.EstimatedFinish = &t
	}

	// Unsubscribes it caused: each unsubscribe from its list since it started
	// whose subscriber's last message sent before it was this broadcast
	// (tidings_last_sent, which the list of broadcasts counts by too).
	// events_list_at finds the unsubscribes, outbox_broadcast_once (which
	// leads with subscriber_id) the messages before each.
	if b.StartedAt != nil {
		const unsubs = `
			SELECT count(*)
			FROM events ev
			CROSS JOIN LATERAL tidings_last_sent(ev.subscriber_id, ev.at) last
			WHERE ev.list_id = $2
			  AND ev.kind = 'unsubscribed'
			  AND ev.at >= $3
			  AND last.broadcast_id = $1`
		if err := tx.GetContext(ctx, &st.Unsubscribes, unsubs, b.ID, b.ListID, *b.StartedAt); err != nil {
			return nil, fmt.Errorf("campaigns: broadcast %d unsubscribes: %w", b.ID, err)
		}
	}
	return st, nil
}
