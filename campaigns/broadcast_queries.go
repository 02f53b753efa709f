package campaigns

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/tidings/tidings"
)

// Queries of the editor's broadcast pages: how many a broadcast would reach
// if it started now, the broadcasts sending now, and the figures of many
// broadcasts at once for the index.

// BroadcastAudience counts the subscribers broadcast id would be queued for
// if it started now: those its list may mail (mailable_subscriptions) with
// any of its TagsInclude (when it has any) and none of its TagsExclude, less
// any already queued for it. It is the count startBroadcast's INSERT ...
// SELECT would make, so the "Send to N recipients now?" question and the
// figure afterwards agree unless a subscription changes in between. Returns
// ENOTFOUND for an unknown broadcast.
func (s *Store) BroadcastAudience(ctx context.Context, id int64) (int, error) {
	const q = `
		SELECT (
			SELECT count(DISTINCT m.subscriber_id)
			FROM mailable_subscriptions m
			JOIN subscribers r ON r.id = m.subscriber_id
			WHERE m.list_id = b.list_id
			  AND (cardinality(b.tags_include) = 0 OR r.tags && b.tags_include)
			  AND NOT (r.tags && b.tags_exclude)
			  AND NOT EXISTS (
			      SELECT 1
			      FROM outbox o
			      WHERE o.subscriber_id = m.subscriber_id
			        AND o.broadcast_id = b.id)
		)
		FROM broadcasts b
		WHERE b.id = $1`
	var n int
	if err := s.DB.GetContext(ctx, &n, q, id); errors.Is(err, sql.ErrNoRows) {
		return 0, tidings.Errorf(tidings.ENOTFOUND, broadcastNotFound, id)
	} else if err != nil {
		return 0, fmt.Errorf("campaigns: broadcast %d audience: %w", id, err)
	}
	return n, nil
}

// ActiveBroadcasts returns the broadcasts that are sending or paused, the
// longest running first, each with its Stats, read in one snapshot.
func (s *Store) ActiveBroadcasts(ctx context.Context) ([]*Broadcast, error) {
	var res []*Broadcast
	if err := s.inTx(ctx, &sql.TxOptions{ReadOnly: true, Isolation: sql.LevelRepeatableRead}, func(tx *sqlx.Tx, now time.Time) error {
		const q = `
			SELECT ` + broadcastColumns + `
			FROM broadcasts b
			JOIN lists l ON l.id = b.list_id
			WHERE b.status IN ('sending', 'paused')
			ORDER BY b.started_at, b.id
			LIMIT $1`
		var rows []broadcastRow
		if err := tx.SelectContext(ctx, &rows, q, maxListed); err != nil {
			return fmt.Errorf("campaigns: active broadcasts: %w", err)
		}
		out := make([]*Broadcast, 0, len(rows))
		for i := range rows {
			var err error
			b := rows[i].broadcast()
			if b.BroadcastStats, err = broadcastStats(ctx, tx, b, now); err != nil {
				return err
			}
			out = append(out, b)
		}
		res = out
		return nil
	}); err != nil {
		return nil, err
	}
	return res, nil
}

// BroadcastFigures returns, for each of the broadcasts ids that has started,
// its counts of messages by status and its unsubscribes, as BroadcastByID
// works them out but in two set-based statements for any number of
// broadcasts; Rate and EstimatedFinish are left zero. Broadcasts that have
// not started (or do not exist) are absent from the map.
func (s *Store) BroadcastFigures(ctx context.Context, ids []int64) (map[int64]*BroadcastStats, error) {
	out := make(map[int64]*BroadcastStats, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	var res map[int64]*BroadcastStats
	if err := s.inTx(ctx, &sql.TxOptions{ReadOnly: true, Isolation: sql.LevelRepeatableRead}, func(tx *sqlx.Tx, now time.Time) error {
		const counts = `
			SELECT b.id,
			       count(o.id) FILTER (WHERE o.status = 'queued') AS queued,
			       count(o.id) FILTER (WHERE o.status = 'sent') AS sent,
			       count(o.id) FILTER (WHERE o.status = 'failed') AS failed,
			       count(o.id) FILTER (WHERE o.status = 'failed' AND o.temporary) AS retryable,
			       count(o.id) FILTER (WHERE o.status = 'skipped') AS skipped
			FROM broadcasts b
			LEFT JOIN outbox o ON o.broadcast_id = b.id
			WHERE b.id = ANY($1)
			  AND b.started_at IS NOT NULL
			GROUP BY b.id`
		rows, err := tx.QueryxContext(ctx, counts, pq.Array(ids))
		if err != nil {
			return fmt.Errorf("campaigns: broadcast figures: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var id int64
			st := &BroadcastStats{}
			if err := rows.Scan(&id, &st.Queued, &st.Sent, &st.Failed, &st.Retryable, &st.Skipped); err != nil {
				return fmt.Errorf("campaigns: broadcast figures: %w", err)
			}
			out[id] = st
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("campaigns: broadcast figures: %w", err)
		}
		// Unsubscribes, defined as in broadcastStats: an unsubscribe from a
		// broadcast's list after it started, whose last message sent before it
		// was that broadcast. Each unsubscribe is looked at once, whatever the
		// number of broadcasts of its list.
		const unsubs = `
			WITH started AS (
				SELECT id, list_id, started_at
				FROM broadcasts
				WHERE id = ANY($1)
				  AND started_at IS NOT NULL
			), ev AS (
				SELECT ev.subscriber_id, ev.list_id, ev.at
				FROM events ev
				WHERE ev.kind = 'unsubscribed'
				  AND ev.list_id IN (SELECT list_id FROM started)
				  AND ev.at >= (SELECT min(started_at) FROM started)
			)
			SELECT b.id, count(*)
			FROM ev
			CROSS JOIN LATERAL tidings_last_sent(ev.subscriber_id, ev.at) last
			JOIN started b ON b.id = last.broadcast_id
			WHERE ev.list_id = b.list_id
			  AND ev.at >= b.started_at
			GROUP BY b.id`
		var us []struct {
			ID    int64 `db:"id"`
			Count int   `db:"count"`
		}
		if err := tx.SelectContext(ctx, &us, unsubs, pq.Array(ids)); err != nil {
			return fmt.Errorf("campaigns: broadcast figures: %w", err)
		}
		for _, u := range us {
			if st := out[u.ID]; st != nil {
				st.Unsubscribes = u.Count
			}
		}
		res = out
		return nil
	}); err != nil {
		return nil, err
	}
	return res, nil
}
