package campaigns

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jmoiron/sqlx"
)

// schedulerLock is the advisory lock key of the scheduler ("tidings" in
// ASCII). Changes to a sequence take it too, so they never interleave with a
// tick's work.
const schedulerLock int64 = 0x746964696e6773

// Scheduler defaults.
const (
	DefaultInterval  = 5 * time.Second
	DefaultBatchSize = 5000
)

// Scheduler turns the enrollments whose next step is due into outbox rows and
// advances them. Any number of instances may run one against a database: each
// batch runs under a transaction-scoped advisory lock, and an instance that
// finds the lock taken leaves the tick to the instance holding it.
type Scheduler struct {
	DB        *sqlx.DB
	Now       func() time.Time
	Interval  time.Duration // between ticks; default DefaultInterval
	BatchSize int           // enrollments per transaction; default DefaultBatchSize
	Logger    *slog.Logger
}

func (s *Scheduler) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC()
	}
	return time.Now().UTC()
}

// Tick does what is due at the scheduler's current time and returns how many
// messages it queued:
//
//   - it starts every scheduled broadcast whose send_at has come (one
//     transaction each, one INSERT ... SELECT for all its recipients);
//   - it queues every step due, in batches of BatchSize enrollments, each
//     batch one transaction and one set-based statement, until none is due;
//     under a list's "defer" policy, a step due within broadcast_gap_hours
//     after its subscriber was sent a broadcast is moved to its next slot
//     after the gap instead;
//   - it marks sent the sending broadcasts with nothing left to send.
//
// The steps part returns early when another instance holds the scheduler
// lock; broadcasts are shared through their row locks. Running it twice
// queues nothing twice: each enrollment is advanced in the same statement
// that queues its step, a broadcast is only started from scheduled, and the
// outbox keeps at most one row per subscriber and step or broadcast. Errors
// are internal (EINTERNAL).
func (s *Scheduler) Tick(ctx context.Context) (int, error) {
	now := s.now()
	total, err := s.startBroadcasts(ctx, now)
	if err != nil {
		return total, err
	}
	size := s.BatchSize
	if size <= 0 {
		size = DefaultBatchSize
	}
	for {
		queued, moved, ok, err := s.tickBatch(ctx, now, size)
		total += queued
		if err != nil {
			return total, err
		} else if !ok || moved == 0 {
			break
		}
	}
	return total, finishBroadcasts(ctx, s.DB, now, nil)
}

// startBroadcasts starts the scheduled broadcasts due at now, oldest first,
// one transaction each. SKIP LOCKED leaves one that another instance (or a
// SendNow) is starting to it.
func (s *Scheduler) startBroadcasts(ctx context.Context, now time.Time) (int, error) {
	total := 0
	for {
		n, ok, err := s.startOne(ctx, now)
		total += int(n)
		if err != nil || !ok {
			return total, err
		}
		s.logger().Info("broadcast started", slog.Int64("queued", n))
	}
}

func (s *Scheduler) startOne(ctx context.Context, now time.Time) (n int64, ok bool, err error) {
	err = runTx(ctx, s.DB, nil, now, func(tx *sqlx.Tx, now time.Time) error {
		const q = `
			SELECT ` + broadcastColumns + `
			FROM broadcasts b
			JOIN lists l ON l.id = b.list_id
			WHERE b.status = 'scheduled'
			  AND b.send_at <= $1
			ORDER BY b.send_at, b.id
			LIMIT 1
			FOR UPDATE OF b SKIP LOCKED`
		var b broadcastRow
		if err := tx.GetContext(ctx, &b, q, now); errors.Is(err, sql.ErrNoRows) {
			return nil
		} else if err != nil {
			return fmt.Errorf("campaigns: start broadcasts: %w", err)
		}
		var err error
		if n, err = startBroadcast(ctx, tx, &b, now); err != nil {
			return err
		}
		ok = true
		return nil
	})
	if err != nil {
		return 0, false, err
	}
	return n, ok, nil
}

func (s *Scheduler) logger() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.New(slog.DiscardHandler)
}

// tickBatch queues and advances, or postpones, up to size due enrollments in
// one transaction, and says how many it queued and how many enrollments it
// moved. ok is false when another instance holds the scheduler lock.
func (s *Scheduler) tickBatch(ctx context.Context, now time.Time, size int) (queued, moved int, ok bool, err error) {
	var n struct {
		Queued int `db:"queued"`
		Moved  int `db:"moved"`
	}
	err = runTx(ctx, s.DB, nil, now, func(tx *sqlx.Tx, now time.Time) error {
		if err := tx.GetContext(ctx, &ok, `SELECT pg_try_advisory_xact_lock($1)`, schedulerLock); err != nil {
			return fmt.Errorf("campaigns: tick: lock: %w", err)
		} else if !ok {
			return nil
		}

		// due: the enrollments whose next step has come, locked (SKIP LOCKED: an
		//      unsubscribe holding one keeps it for the next tick). gap_until is
		//      set when the list's policy is 'defer' and the subscriber was sent
		//      a broadcast within the list's gap before now: the end of that gap.
		// postponed: those with a gap_until wait for the step's next slot after
		//      it (never before it: tidings_next_due keeps to its anchor), and
		//      are neither queued nor advanced.
		// queued: one outbox row each, only for subscriptions that may be mailed
		//      now, at most once per subscriber and step.
		// advanced: each enrollment moves past the step, anchored at the step's
		//      due time so the schedule does not drift with the tick. If the step
		//      after is overdue too (the scheduler was down), it is re-anchored at
		//      now so that the subscriber is not sent a burst; a step with no
		//      delay still follows at once.
		// A deleted step (a sequence change always moves enrollments off it, so
		// this is only a safety net) is passed without queuing and without moving
		// the place.
		const q = `
			WITH due AS (
				SELECT e.subscription_id, e.subscriber_id, e.list_id, e.timezone, e.next_due_at, s.id AS step_id,
				       s.send_time, s.weekdays,
				       s.deleted_at IS NULL AS live,
				       CASE WHEN s.deleted_at IS NULL THEN s.position ELSE e.last_position END AS position,
				       CASE WHEN l.step_broadcast_policy = 'defer' AND l.broadcast_gap_hours > 0 AND s.deleted_at IS NULL THEN (
				           SELECT max(o.sent_at)
				           FROM outbox o
				           WHERE o.subscriber_id = e.subscriber_id
				             AND o.broadcast_id IS NOT NULL
				             AND o.status = 'sent'
				             AND o.sent_at > $1::timestamptz - make_interval(hours => l.broadcast_gap_hours)
				             AND o.sent_at <= $1
				       ) + make_interval(hours => l.broadcast_gap_hours) END AS gap_until
				FROM enrollments e
				JOIN steps s ON s.id = e.next_step_id
				JOIN lists l ON l.id = e.list_id
				WHERE e.next_due_at <= $1
				  AND e.stopped_at IS NULL
				ORDER BY e.next_due_at, e.subscription_id
				LIMIT $2
				FOR UPDATE OF e SKIP LOCKED
			),
			queued AS (
				INSERT INTO outbox (kind, subscriber_id, subscription_id, list_id, step_id, ref, priority, status, due_at, created_at, updated_at)
				SELECT 'step', d.subscriber_id, d.subscription_id, d.list_id, d.step_id, 0, 1, 'queued', d.next_due_at, $1, $1
				FROM due d
				JOIN mailable_subscriptions m ON m.subscription_id = d.subscription_id
				WHERE d.live
				  AND d.gap_until IS NULL
				ON CONFLICT DO NOTHING
				RETURNING 1
			),
			postponed AS (
				UPDATE enrollments e
				SET next_due_at = COALESCE(tidings_next_due(d.gap_until, d.timezone, 0, d.send_time, d.weekdays), d.gap_until),
				    updated_at = $1
				FROM due d
				WHERE e.subscription_id = d.subscription_id
				  AND d.gap_until IS NOT NULL
				RETURNING 1
			),
			following AS (
				SELECT d.subscription_id, d.position, d.timezone, d.next_due_at AS due_at,
				       n.id AS step_id, n.delay_days, n.send_time, n.weekdays,
				       tidings_next_due(d.next_due_at, d.timezone, n.delay_days, n.send_time, n.weekdays) AS on_time
				FROM due d
				LEFT JOIN LATERAL tidings_step_after(d.list_id, d.position) n ON true
				WHERE d.gap_until IS NULL
			),
			advanced AS (
				UPDATE enrollments e
				SET last_position = f.position,
				    anchor_at = CASE WHEN f.on_time <= $1 AND f.delay_days > 0 THEN $1 ELSE f.due_at END,
				    next_step_id = f.step_id,
				    next_due_at = CASE
				        WHEN f.step_id IS NULL THEN NULL
				        WHEN f.on_time <= $1 AND f.delay_days > 0 THEN tidings_next_due($1, f.timezone, f.delay_days, f.send_time, f.weekdays)
				        ELSE f.on_time END,
				    updated_at = $1
				FROM following f
				WHERE e.subscription_id = f.subscription_id
				RETURNING 1
			)
			SELECT (SELECT count(*) FROM queued) AS queued,
			       (SELECT count(*) FROM advanced) + (SELECT count(*) FROM postponed) AS moved`
		if err := tx.GetContext(ctx, &n, q, now, size); err != nil {
			return fmt.Errorf("campaigns: tick: %w", err)
		}
		return nil
	})
	if err != nil {
		return 0, 0, ok, err
	}
	return n.Queued, n.Moved, ok, nil
}

// Run ticks at once and then every Interval until ctx is done, and returns
// nil then. A failed tick is logged and retried on the next.
func (s *Scheduler) Run(ctx context.Context) error {
	interval := s.Interval
	if interval <= 0 {
		interval = DefaultInterval
	}
	log := s.logger()
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		n, err := s.Tick(ctx)
		if err != nil && ctx.Err() == nil {
			log.Error("scheduler tick failed", slog.Any("err", err))
		} else if n > 0 {
			log.Info("scheduler queued steps", slog.Int("queued", n))
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}
