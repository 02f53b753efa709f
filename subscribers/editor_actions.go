package subscribers

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/tidings/tidings"
)

// EventErased is appended to each subscription of a subscriber an editor
// erased, just before the subscriber is deleted: what stays of the consent
// proof then says when and by whom it was anonymised.
const EventErased = "erased"

// SuppressionErased is the reason of the suppression an erasure leaves, so
// that the address is never mailed or signed up again.
const SuppressionErased = "erased"

// EditorChange says who changes a subscription from the editor UI, kept in
// the event it appends.
type EditorChange struct {
	SubscriberID int64
	List         string // the list's slug
	Editor       string // the editor's address, named in the event's reason
	Meta         Meta   // the editor's request
}

// UnsubscribeByEditor stops a subscription on behalf of its subscriber, as
// the unsubscribe link does: a pending or confirmed subscription becomes
// unsubscribed with an EventUnsubscribed whose reason is "unsubscribed by
// editor EDITOR", on which OnEvent skips its queued messages and stops its
// enrollment. An unsubscribed, bounced or complained one is left as it is and
// reported as Already.
//
// It returns ENOTFOUND for an unknown subscriber or list, or when the
// subscriber has no subscription on the list.
func (s *Store) UnsubscribeByEditor(ctx context.Context, c EditorChange) (*UnsubscribeResult, error) {
	m := editorMeta(c.Meta)
	reason := cleanReason("unsubscribed by editor " + c.Editor)
	var res *UnsubscribeResult
	err := s.inTx(ctx, nil, func(tx *sqlx.Tx, now time.Time) error {
		sub, err := editorSubscription(ctx, tx, c)
		if err != nil {
			return err
		}
		res, err = s.unsubscribe(ctx, tx, sub.ID, reason, now, m)
		return err
	})
	if err != nil {
		return nil, wrap("unsubscribe by editor", err)
	}
	return res, nil
}

// Resubscribe asks a subscriber to confirm a subscription again: an editor
// can never put someone back on a list, only send them a new confirmation
// request. An unsubscribed subscription becomes pending, its earlier dates
// cleared (they stay in the event log), with an EventConfirmationRequested
// whose reason is "resubscribed by editor EDITOR", on which OnEvent queues
// the confirmation email; following its link confirms as after a sign-up. A
// pending subscription has its confirmation email sent again, unless one was
// requested within ConfirmCooldown.
//
// It returns ENOTFOUND for an unknown subscriber or list, or when the
// subscriber has no subscription on the list; ECONFLICT for a confirmed
// subscription, a bounced or complained one, a suppressed address, and a
// pending one within the cool-down.
func (s *Store) Resubscribe(ctx context.Context, c EditorChange) error {
	m := editorMeta(c.Meta)
	return wrap("resubscribe", s.inTx(ctx, nil, func(tx *sqlx.Tx, now time.Time) error {
		return s.resubscribe(ctx, tx, c, now, m)
	}))
}

func (s *Store) resubscribe(ctx context.Context, tx *sqlx.Tx, c EditorChange, now time.Time, m Meta) error {
	sub, err := editorSubscription(ctx, tx, c)
	if err != nil {
		return err
	}
	if sup, err := isSuppressed(ctx, tx, sub.Email); err != nil {
		return err
	} else if sup {
		return tidings.Errorf(tidings.ECONFLICT, "%s is suppressed (it bounced, complained or was blocked), so no confirmation request can be sent.", sub.Email)
	}
	reason := "resubscribed by editor " + c.Editor
	switch sub.Status {
	case StatusUnsubscribed:
		const q = `
			UPDATE subscriptions
			SET status = 'pending', confirmed_at = NULL, unsubscribed_at = NULL, updated_at = $2
			WHERE id = $1`
		if _, err := tx.ExecContext(ctx, q, sub.ID, now); err != nil {
			return err
		}
		if err := newConfirmation(ctx, tx, sub, now); err != nil {
			return err
		}
	case StatusPending:
		if sub.ConfirmSentAt != nil && now.Sub(*sub.ConfirmSentAt) < s.cooldown() {
			next := sub.ConfirmSentAt.Add(s.cooldown())
			return tidings.Errorf(tidings.ECONFLICT, "A confirmation request was sent at %s UTC; another can be sent from %s UTC.",
				sub.ConfirmSentAt.UTC().Format("15:04"), next.UTC().Format("15:04"))
		}
		if err := newConfirmation(ctx, tx, sub, now); err != nil {
			return err
		}
		reason = "confirmation requested again by editor " + c.Editor
	case StatusConfirmed:
		return tidings.Errorf(tidings.ECONFLICT, "%s is subscribed and confirmed already.", sub.Email)
	default:
		return tidings.Errorf(tidings.ECONFLICT, "Mail to %s bounced or was reported as spam, so no confirmation request can be sent.", sub.Email)
	}
	e := newEvent(EventConfirmationRequested, sub, now, m)
	e.Reason = cleanReason(reason)
	return s.appendEvent(ctx, tx, e)
}

// editorSubscription locks the subscriber of c and reads, locked, its
// subscription on c's list: ENOTFOUND when either is missing.
func editorSubscription(ctx context.Context, tx *sqlx.Tx, c EditorChange) (*subscriptionRow, error) {
	list, err := listBySlug(ctx, tx, c.List)
	if err != nil {
		return nil, err
	}
	if _, err := lockSubscriber(ctx, tx, c.SubscriberID); err != nil {
		return nil, err
	}
	sub, err := subscriptionOf(ctx, tx, c.SubscriberID, list.ID)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, tidings.Errorf(tidings.ENOTFOUND, "Subscriber %d has no subscription on %q.", c.SubscriberID, list.Slug)
	}
	return sub, err
}

// lockSubscriber locks a subscriber row FOR NO KEY UPDATE, as every change
// of its subscriptions does first (ENOTFOUND if there is none).
func lockSubscriber(ctx context.Context, tx *sqlx.Tx, id int64) (*subscriberRow, error) {
	const q = `
		SELECT id, email, name, timezone
		FROM subscribers
		WHERE id = $1
		FOR NO KEY UPDATE`
	var r subscriberRow
	if err := tx.GetContext(ctx, &r, q, id); errors.Is(err, sql.ErrNoRows) {
		return nil, tidings.Errorf(tidings.ENOTFOUND, "There is no subscriber %d.", id)
	} else if err != nil {
		return nil, err
	}
	return &r, nil
}

// editorMeta is the request facts of an editor's change, form "editor".
func editorMeta(m Meta) Meta {
	m = cleanMeta(m)
	m.Form = "editor"
	return m
}

// Erase deletes a subscriber's personal data, as data-protection law lets
// people ask, and returns the address it had. In one transaction:
//
//   - the address is suppressed (reason "erased"; an earlier suppression
//     keeps its own reason), so it is never mailed or signed up again;
//   - each subscription gets an EventErased (reason "erased by editor
//     EDITOR"), on which OnEvent is called as for every change;
//   - the IP address and user agent of each of its events are blanked, and
//     the address taken out of their reasons (a bounce message may quote it);
//   - the subscriber is deleted, and with it its subscriptions, enrollments
//     and outbox items.
//
// The events stay, anonymised: their subscriber and subscription become
// NULL, so the log still shows when people signed up, confirmed and left.
// Only the suppression keeps the address. It returns ENOTFOUND for an
// unknown subscriber.
func (s *Store) Erase(ctx context.Context, subscriberID int64, editor string) (string, error) {
	var email string
	err := s.inTx(ctx, nil, func(tx *sqlx.Tx, now time.Time) error {
		var err error
		email, err = s.erase(ctx, tx, subscriberID, editor, now)
		return err
	})
	if err != nil {
		return "", wrap("erase", err)
	}
	return email, nil
}

func (s *Store) erase(ctx context.Context, tx *sqlx.Tx, id int64, editor string, now time.Time) (string, error) {
	// FOR UPDATE, not FOR NO KEY UPDATE: the row is about to be deleted, so
	// sign-ups and imports of the address wait until it is gone (and then
	// find it suppressed).
	const lock = `
		SELECT id, email, name, timezone
		FROM subscribers
		WHERE id = $1
		FOR UPDATE`
	r := new(subscriberRow)
	if err := tx.GetContext(ctx, r, lock, id); errors.Is(err, sql.ErrNoRows) {
		return "", tidings.Errorf(tidings.ENOTFOUND, "There is no subscriber %d.", id)
	} else if err != nil {
		return "", err
	}
	if err := suppress(ctx, tx, r.Email, SuppressionErased, now); err != nil {
		return "", err
	}
	const subs = `
		SELECT s.id, s.subscriber_id, s.list_id, s.status, s.confirmed_at, s.unsubscribed_at, s.created_at, s.confirm_sent_at,
		       l.timezone AS list_timezone
		FROM subscriptions s
		JOIN lists l ON l.id = s.list_id
		WHERE s.subscriber_id = $1
		ORDER BY s.id
		FOR UPDATE OF s`
	var rows []*subscriptionRow
	if err := tx.SelectContext(ctx, &rows, subs, id); err != nil {
		return "", err
	}
	for _, sub := range rows {
		sub.Email, sub.SubscriberTimezone = r.Email, r.Timezone
		e := newEvent(EventErased, sub, now, Meta{Form: "editor"})
		e.Reason = cleanReason("erased by editor " + editor)
		if err := s.appendEvent(ctx, tx, e); err != nil {
			return "", err
		}
	}
	// The address is matched case-insensitively and literally: QuoteMeta's
	// escapes (a backslash before punctuation) mean the same in Postgres'
	// regular expressions as in Go's.
	const anonymise = `
		UPDATE events
		SET ip = '', user_agent = '', reason = regexp_replace(reason, $2, '[erased]', 'gi')
		WHERE subscriber_id = $1`
	if _, err := tx.ExecContext(ctx, anonymise, id, regexp.QuoteMeta(r.Email)); err != nil {
		return "", fmt.Errorf("anonymise events: %w", err)
	}
	const del = `
		DELETE FROM subscribers
		WHERE id = $1`
	if _, err := tx.ExecContext(ctx, del, id); err != nil {
		return "", fmt.Errorf("delete subscriber: %w", err)
	}
	return r.Email, nil
}
