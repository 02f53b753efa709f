package campaigns

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
)

// finishBroadcasts marks sent, at now, each sending broadcast of ids (every
// sending broadcast when ids is nil) that has nothing left queued. A paused
// one waits for Resume; one whose failed messages are retried becomes
// sending again (RetryFailed).
//
// The dispatcher calls it for the broadcasts of a batch right after that
// batch's outcomes are committed, so a broadcast is sent as soon as its last
// message has an outcome; the scheduler's tick calls it for all, which
// catches a broadcast whose last rows were skipped rather than sent. It runs
// as a statement of its own, holding no other lock: when the last two
// batches of a broadcast are recorded at once, the one that commits second
// sees both, since its statement starts after its own commit.
func finishBroadcasts(ctx context.Context, db sqlx.ExecerContext, now time.Time, ids []int64) error {
	const q = `
		UPDATE broadcasts b
		SET status = 'sent',
		    finished_at = $1,
		    updated_at = $1
		WHERE b.status = 'sending'
		  AND ($2::bigint[] IS NULL OR b.id = ANY($2))
		  AND NOT EXISTS (
		      SELECT 1
		      FROM outbox o
		      WHERE o.broadcast_id = b.id
		        AND o.status = 'queued')`
	var arg any // NULL: every broadcast
	if ids != nil {
		arg = pq.Array(ids)
	}
	if _, err := db.ExecContext(ctx, q, now, arg); err != nil {
		return fmt.Errorf("campaigns: finish broadcasts: %w", err)
	}
	return nil
}

// finish marks sent the broadcasts of outcomes, just recorded, that have
// nothing left to send: a broadcast is sent as soon as its last message has
// an outcome, not at the scheduler's next tick. The outcomes are safe
// already, so a failure is only logged; the tick finishes the broadcast.
func (d *Dispatcher) finish(ctx context.Context, outcomes []outcome) {
	if ids := broadcastsOf(outcomes); len(ids) > 0 {
		if err := finishBroadcasts(ctx, d.DB, d.now(), ids); err != nil {
			d.logger().Error("finish broadcasts failed", slog.Any("err", err))
		}
	}
}

// broadcastsOf returns the broadcasts the outcomes' items belong to.
func broadcastsOf(outcomes []outcome) []int64 {
	var ids []int64
	for _, o := range outcomes {
		if id := o.item.BroadcastID; id != 0 && !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	return ids
}
