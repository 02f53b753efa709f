package subscribers

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/jmoiron/sqlx"
)

// Bounce records that mail to email bounced for good (or was reported as
// spam upstream): the address is suppressed, and each of its pending or
// confirmed subscriptions becomes bounced with an EventBounced carrying
// reason, on which OnEvent skips its queued messages. It is idempotent and
// also suppresses an address Tidings has no subscriber for. It returns
// EINVALID for a malformed address.
func (s *Store) Bounce(ctx context.Context, email, reason string) error {
	email, err := NormalizeEmail(email)
	if err != nil {
		return err
	}
	reason = cleanReason(reason)
	return wrap("bounce", s.inTx(ctx, nil, func(tx *sqlx.Tx, now time.Time) error {
		return s.bounce(ctx, tx, email, reason, now)
	}))
}

func (s *Store) bounce(ctx context.Context, tx *sqlx.Tx, email, reason string, now time.Time) error {
	if err := suppress(ctx, tx, email, reason, now); err != nil {
		return err
	}
	const lock = `
		SELECT id, email, name, timezone
		FROM subscribers
		WHERE email_key = $1
		FOR NO KEY UPDATE`
	var r subscriberRow
	if err := tx.GetContext(ctx, &r, lock, EmailKey(email)); errors.Is(err, sql.ErrNoRows) {
		return nil
	} else if err != nil {
		return err
	}
	const q = `
		UPDATE subscriptions s
		SET status = 'bounced', updated_at = $2
		FROM lists l
		WHERE s.subscriber_id = $1
		  AND s.status IN ('pending', 'confirmed')
		  AND l.id = s.list_id
		RETURNING s.id, s.subscriber_id, s.list_id, s.status, s.confirmed_at, s.unsubscribed_at, s.created_at, s.confirm_sent_at,
		          l.timezone AS list_timezone`
	var subs []*subscriptionRow
	if err := tx.SelectContext(ctx, &subs, q, r.ID, now); err != nil {
		return err
	}
	for _, sub := range subs {
		sub.Email, sub.SubscriberTimezone = r.Email, r.Timezone
		e := newEvent(EventBounced, sub, now, Meta{})
		e.Reason = reason
		if err := s.appendEvent(ctx, tx, e); err != nil {
			return err
		}
	}
	return nil
}

// Suppress puts email on the suppression list, so that nothing is sent to it
// whatever its subscriptions say (mailable_subscriptions leaves it out) and
// sign-ups of it are ignored. Its subscriptions are left as they are. It is
// idempotent: the first reason is kept. It returns EINVALID for a malformed
// address.
func (s *Store) Suppress(ctx context.Context, email, reason string) error {
	email, err := NormalizeEmail(email)
	if err != nil {
		return err
	}
	reason = cleanReason(reason)
	return wrap("suppress", s.inTx(ctx, nil, func(tx *sqlx.Tx, now time.Time) error {
		return suppress(ctx, tx, email, reason, now)
	}))
}

// suppress puts email on the suppression list by its EmailKey, so that each
// spelling of the address is suppressed with it.
func suppress(ctx context.Context, tx *sqlx.Tx, email, reason string, now time.Time) error {
	const q = `
		INSERT INTO suppressions (email, reason, created_at)
		VALUES ($1, $2, $3)
		ON CONFLICT (email) DO NOTHING`
	_, err := tx.ExecContext(ctx, q, EmailKey(email), reason, now)
	return err
}
