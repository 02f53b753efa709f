package campaigns

import (
	"context"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/tidings/tidings/subscribers"
)

// Queue turns subscription events into outbox rows and enrollments. Its
// OnEvent is wired as subscribers.Store.OnEvent, so it runs inside the
// transaction that changed the subscription: a sign-up and its confirmation
// message, or an unsubscribe and the skipping of its queued messages, commit
// together or not at all. It has no clock of its own: what it queues is
// due at the event's time, the time its transaction read once.
type Queue struct{}

// OnEvent applies event e in tx:
//
//   - confirmation_requested queues the confirmation email (priority 0, due
//     now), or queues it again if it was queued before;
//   - confirmed queues the welcome email (when the list has one) and one email
//     per bonus (priority 1), each at most once per subscriber and list, and
//     enrolls the subscription in the list's sequence, or restarts a stopped
//     enrollment from where it was;
//   - imported, from an import (Event.Series), does what confirmed does
//     (SeriesWelcome), or only the enrollment, without the welcome email
//     and the bonuses (SeriesJoin), or nothing (SeriesNone, and a subscriber
//     added as confirmed through the API, whose event has no Series);
//   - unsubscribed, bounced and complained skip the subscription's queued
//     messages and stop its enrollment.
//
// Other kinds change nothing. Every statement is safe to run twice. Errors are
// internal (EINTERNAL); the caller's transaction should then roll back.
func (q *Queue) OnEvent(ctx context.Context, tx *sqlx.Tx, e subscribers.Event) error {
	if e.At.IsZero() {
		return fmt.Errorf("campaigns: %s of subscription %d has no time", e.Kind, e.SubscriptionID)
	}
	now := e.At.UTC()
	var err error
	switch e.Kind {
	case subscribers.EventConfirmationRequested:
		err = queueConfirmations(ctx, tx, []subscribers.Event{e})
	case subscribers.EventConfirmed:
		err = startSeries(ctx, tx, now, e, true)
	case subscribers.EventImported:
		switch e.Series {
		case subscribers.SeriesWelcome:
			err = startSeries(ctx, tx, now, e, true)
		case subscribers.SeriesJoin:
			err = startSeries(ctx, tx, now, e, false)
		}
	case subscribers.EventUnsubscribed, subscribers.EventBounced, subscribers.EventComplained:
		err = stopSubscription(ctx, tx, now, e.SubscriptionID, e.Kind)
	}
	if err != nil {
		return fmt.Errorf("campaigns: on %s of subscription %d: %w", e.Kind, e.SubscriptionID, err)
	}
	return nil
}

// OnEvents applies events in tx as OnEvent applies each, in their order,
// but queues the confirmation emails they request in one statement, after
// the rest: it is wired as subscribers.Store.OnEvents, for the sign-ups that
// are written together.
func (q *Queue) OnEvents(ctx context.Context, tx *sqlx.Tx, events []subscribers.Event) error {
	var confirms []subscribers.Event
	for _, e := range events {
		if e.Kind != subscribers.EventConfirmationRequested {
			if err := q.OnEvent(ctx, tx, e); err != nil {
				return err
			}
			continue
		}
		if e.At.IsZero() {
			return fmt.Errorf("campaigns: %s of subscription %d has no time", e.Kind, e.SubscriptionID)
		}
		confirms = append(confirms, e)
	}
	if err := queueConfirmations(ctx, tx, confirms); err != nil {
		return fmt.Errorf("campaigns: on %d confirmation requests: %w", len(confirms), err)
	}
	return nil
}

// queueConfirmations queues the confirmation email of each event, due at its
// time. A second request (the subscriber signed up again after the
// cool-down) queues the same row again, and takes it from a claim that holds
// it: that claim's last check then finds the row no longer held, so the
// earlier request's link is not sent (or, if the relay already has it, not
// recorded), and the new request's goes out. Of two requests of one
// subscription among events, the later one counts.
func queueConfirmations(ctx context.Context, tx *sqlx.Tx, events []subscribers.Event) error {
	type key struct{ subscriber, list int64 }
	last := make(map[key]int, len(events))
	for i, e := range events {
		last[key{e.SubscriberID, e.ListID}] = i
	}
	var subscriberIDs, subscriptionIDs, listIDs []int64
	var dues []string
	for i, e := range events {
		if last[key{e.SubscriberID, e.ListID}] != i {
			continue
		}
		subscriberIDs, subscriptionIDs, listIDs = append(subscriberIDs, e.SubscriberID), append(subscriptionIDs, e.SubscriptionID), append(listIDs, e.ListID)
		dues = append(dues, e.At.UTC().Format(time.RFC3339Nano))
	}
	if len(dues) == 0 {
		return nil
	}
	const q = `
		INSERT INTO outbox (kind, subscriber_id, subscription_id, list_id, ref, priority, status, due_at, created_at, updated_at)
		SELECT 'confirm', r, s, l, 0, 0, 'queued', d, d, d
		FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::timestamptz[]) AS u (r, s, l, d)
		ON CONFLICT (subscriber_id, list_id, kind, ref) WHERE kind IN ('confirm', 'welcome', 'bonus')
		DO UPDATE SET
		    subscription_id = EXCLUDED.subscription_id,
		    status = 'queued',
		    due_at = EXCLUDED.due_at,
		    attempts = 0,
		    message_id = '',
		    smtp_code = 0,
		    last_error = '',
		    temporary = false,
		    sent_at = NULL,
		    claimed_until = NULL,
		    claimed_by = NULL,
		    updated_at = EXCLUDED.updated_at`
	_, err := tx.ExecContext(ctx, q, pq.Array(subscriberIDs), pq.Array(subscriptionIDs), pq.Array(listIDs), pq.StringArray(dues))
	return err
}

// startSeries enrolls the subscription in the list's sequence and, with
// welcome, first queues the welcome and bonus emails.
func startSeries(ctx context.Context, tx *sqlx.Tx, now time.Time, e subscribers.Event, welcome bool) error {
	// FOR SHARE: a change to the list's sequence (which locks the row FOR NO
	// KEY UPDATE) waits for this enrollment to commit, and this waits for it,
	// so neither misses the other.
	var tz string
	const list = `
		SELECT timezone
		FROM lists
		WHERE id = $1
		FOR SHARE`
	if err := tx.GetContext(ctx, &tz, list, e.ListID); err != nil {
		return err
	}
	if subscribers.ValidateTimezone(e.Timezone) == nil {
		tz = e.Timezone
	} else if subscribers.ValidateTimezone(tz) != nil {
		tz = "UTC"
	}
	at := e.At.UTC()
	if at.IsZero() {
		at = now
	}

	if welcome {
		if err := queueWelcome(ctx, tx, now, e); err != nil {
			return err
		}
	}

	// A new enrollment starts before the first step, anchored at the
	// confirmation. One that exists (confirmed again after unsubscribing)
	// keeps its place and restarts from this confirmation; the next step and
	// its due time are computed below for both.
	const enroll = `
		INSERT INTO enrollments (subscription_id, subscriber_id, list_id, timezone, last_position, anchor_at, created_at, updated_at)
		VALUES ($1, $2, $3, $4, 0, $5, $6, $6)
		ON CONFLICT (subscription_id) DO UPDATE SET
		    timezone = EXCLUDED.timezone,
		    anchor_at = EXCLUDED.anchor_at,
		    stopped_at = NULL,
		    updated_at = EXCLUDED.updated_at`
	if _, err := tx.ExecContext(ctx, enroll, e.SubscriptionID, e.SubscriberID, e.ListID, tz, at, now); err != nil {
		return err
	}
	const next = `
		UPDATE enrollments e
		SET next_step_id = n.id,
		    next_due_at = tidings_next_due(e.anchor_at, e.timezone, n.delay_days, n.send_time, n.weekdays)
		FROM enrollments e2
		LEFT JOIN LATERAL tidings_step_after(e2.list_id, e2.last_position) n ON true
		WHERE e.subscription_id = $1
		  AND e2.subscription_id = e.subscription_id`
	_, err := tx.ExecContext(ctx, next, e.SubscriptionID)
	return err
}

// queueWelcome queues the list's welcome email (when it has one) and its
// bonuses, each at most once per subscriber and list.
func queueWelcome(ctx context.Context, tx *sqlx.Tx, now time.Time, e subscribers.Event) error {
	const welcome = `
		INSERT INTO outbox (kind, subscriber_id, subscription_id, list_id, ref, priority, status, due_at, created_at, updated_at)
		SELECT 'welcome', $1, $2, l.id, 0, 1, 'queued', $4, $4, $4
		FROM lists l
		WHERE l.id = $3
		  AND l.welcome_subject <> ''
		ON CONFLICT DO NOTHING`
	if _, err := tx.ExecContext(ctx, welcome, e.SubscriberID, e.SubscriptionID, e.ListID, now); err != nil {
		return err
	}
	const bonuses = `
		INSERT INTO outbox (kind, subscriber_id, subscription_id, list_id, bonus_id, ref, priority, status, due_at, created_at, updated_at)
		SELECT 'bonus', $1, $2, b.list_id, b.id, b.id, 1, 'queued', $4, $4, $4
		FROM bonuses b
		WHERE b.list_id = $3
		ORDER BY b.position, b.id
		ON CONFLICT DO NOTHING`
	_, err := tx.ExecContext(ctx, bonuses, e.SubscriberID, e.SubscriptionID, e.ListID, now)
	return err
}

// stopSubscription skips what is still queued for the subscription and stops
// its enrollment. The enrollment goes first: its row lock makes this wait for
// a scheduler tick that is queuing a step for it, so the row that tick
// inserts is visible (and skipped) by the statement after.
func stopSubscription(ctx context.Context, tx *sqlx.Tx, now time.Time, subscriptionID int64, why string) error {
	const stop = `
		UPDATE enrollments
		SET stopped_at = $2,
		    updated_at = $2
		WHERE subscription_id = $1
		  AND stopped_at IS NULL`
	if _, err := tx.ExecContext(ctx, stop, subscriptionID, now); err != nil {
		return err
	}
	// By subscriber too: outbox_broadcast_once finds a subscriber's rows.
	const skip = `
		UPDATE outbox
		SET status = 'skipped',
		    last_error = $3,
		    updated_at = $2
		WHERE subscriber_id = (SELECT subscriber_id FROM subscriptions WHERE id = $1)
		  AND subscription_id = $1
		  AND status = 'queued'`
	_, err := tx.ExecContext(ctx, skip, subscriptionID, now, why)
	return err
}
