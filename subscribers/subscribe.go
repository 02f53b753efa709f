package subscribers

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/tidings/tidings"
)

// SubscribeRequest is a sign-up from a form.
type SubscribeRequest struct {
	List     string // the list's slug
	Email    string
	Name     string // optional
	Timezone string // optional IANA zone; empty means the list's
	// Tags are optional labels from a hidden form field (see NormalizeTags).
	// They are added only to a new subscriber, or to one that has no
	// confirmed subscription on any list, so a stranger cannot relabel
	// someone who already receives mail.
	Tags []string
	Meta Meta
}

// Subscribe records a sign-up for double opt-in.
//
// All input is checked first; on error nothing is stored. A new address, or a
// pending or unsubscribed subscription, becomes pending with an
// EventSubscribed that holds the consent (the list's consent text, IP, user
// agent, form); then, unless a confirmation was requested within
// ConfirmCooldown, an EventConfirmationRequested, on which OnEvent queues the
// confirmation email. A confirmed subscription, a bounced or complained one,
// and a suppressed address change nothing. The name and time zone are stored
// only for a new subscriber, so a stranger cannot change someone's. Tags are
// added when the sign-up is taken and the subscriber is new or has no
// confirmed subscription on any list, and only while it stays within 50
// tags; otherwise they are dropped without a word.
//
// The effect seen from outside is the same whether or not the address was
// known, so the form cannot be used to find out who subscribes. It returns the
// id of the subscription signed up, or 0 when nothing was stored (a suppressed
// address); the id is for binding the sign-up to its browser and must never
// be shown, since it would tell a known address from a new one. It returns EINVALID for bad input and
// ENOTFOUND for an unknown list.
func (s *Store) Subscribe(ctx context.Context, req SubscribeRequest) (int64, error) {
	email, err := NormalizeEmail(req.Email)
	if err != nil {
		return 0, err
	}
	name, err := ValidateName(req.Name)
	if err != nil {
		return 0, err
	}
	if req.Timezone != "" {
		if err := ValidateTimezone(req.Timezone); err != nil {
			return 0, err
		}
	}
	tags, err := NormalizeTags(req.Tags)
	if err != nil {
		return 0, err
	}
	m := cleanMeta(req.Meta)

	// Written with the sign-ups that arrive at the same time, in one
	// transaction (subscribe_batch.go).
	id, err := s.subscribeQueued(ctx, &queuedSignup{
		slug: req.List, email: email, name: name, tz: req.Timezone, tags: tags, meta: m, done: make(chan struct{}),
	})
	if err != nil {
		return 0, wrap("subscribe", err)
	}
	return id, nil
}

func (s *Store) subscribe(ctx context.Context, tx *sqlx.Tx, slug, email, name, tz string, tags []string, m Meta, now time.Time) (int64, error) {
	list, sup, err := listForSignup(ctx, tx, slug, email)
	if err != nil {
		return 0, err
	} else if sup {
		return 0, nil
	}
	r, newSubscriber, err := upsertSubscriber(ctx, tx, email, name, tz, tags, now)
	if err != nil {
		return 0, err
	}
	sub, created, err := upsertSubscription(ctx, tx, r.ID, list.ID, StatusPending, now)
	if err != nil {
		return 0, err
	}
	switch {
	case created, sub.Status == StatusPending:
	case sub.Status == StatusUnsubscribed:
		// Signing up again after unsubscribing is a new consent. The
		// earlier dates stay in the event log. It gets a confirmation
		// email of its own whenever the last one was sent: only the
		// mailbox's owner can unsubscribe (the link is in their mail), so
		// this cannot be repeated by a stranger to flood it. Signing up
		// again while pending meets the cool-down as before.
		const q = `
			UPDATE subscriptions
			SET status = 'pending', confirmed_at = NULL, unsubscribed_at = NULL, updated_at = $2
			WHERE id = $1`
		if _, err := tx.ExecContext(ctx, q, sub.ID, now); err != nil {
			return 0, err
		}
		sub.ConfirmSentAt = nil
	default:
		// Confirmed already, or bounced or complained: nothing to do, and
		// nothing to tell.
		return sub.ID, nil
	}
	if !newSubscriber && len(tags) > 0 {
		if err := addSignupTags(ctx, tx, r, tags, now); err != nil {
			return 0, err
		}
	}
	e := newEvent(EventSubscribed, sub, now, m)
	e.ConsentText = list.ConsentText
	if err := s.appendEvent(ctx, tx, e); err != nil {
		return 0, err
	}
	if created {
		return sub.ID, s.confirmationRequested(ctx, tx, sub, now, m)
	}
	return sub.ID, s.requestConfirmation(ctx, tx, sub, now, m)
}

// listForSignup reads the list of a sign-up (ENOTFOUND if there is none)
// and whether email, in any case, is suppressed (as isSuppressed), in one
// round trip.
func listForSignup(ctx context.Context, tx *sqlx.Tx, slug, email string) (*List, bool, error) {
	if !validSlug(slug) {
		return nil, false, errNoList(slug)
	}
	const q = `
		SELECT ` + listColumns + `,
		       EXISTS (SELECT 1 FROM suppressions WHERE email = $2) AS suppressed
		FROM lists
		WHERE slug = $1`
	var row struct {
		List
		Suppressed bool `db:"suppressed"`
	}
	if err := tx.GetContext(ctx, &row, q, slug, EmailKey(email)); errors.Is(err, sql.ErrNoRows) {
		return nil, false, errNoList(slug)
	} else if err != nil {
		return nil, false, err
	}
	return &row.List, row.Suppressed, nil
}

// addSignupTags adds the tags of a sign-up to an existing subscriber (locked)
// that has no confirmed subscription, if they fit within MaxTags. Otherwise
// it does nothing: the sign-up answers the same either way.
func addSignupTags(ctx context.Context, tx *sqlx.Tx, r *subscriberRow, tags []string, now time.Time) error {
	const confirmed = `
		SELECT EXISTS (
		    SELECT 1
		    FROM subscriptions
		    WHERE subscriber_id = $1
		      AND status = 'confirmed')`
	var ok bool
	if err := tx.GetContext(ctx, &ok, confirmed, r.ID); err != nil || ok {
		return err
	}
	merged := mergeTags(r.Tags, tags)
	if len(merged) > MaxTags || len(merged) == len(r.Tags) {
		return nil
	}
	return setTags(ctx, tx, r.ID, merged, now)
}

// requestConfirmation appends EventConfirmationRequested (on which OnEvent
// queues the email) unless one was requested within the cool-down (by
// sub.ConfirmSentAt).
func (s *Store) requestConfirmation(ctx context.Context, tx *sqlx.Tx, sub *subscriptionRow, now time.Time, m Meta) error {
	if sub.ConfirmSentAt != nil && now.Sub(*sub.ConfirmSentAt) < s.cooldown() {
		return nil
	}
	if err := newConfirmation(ctx, tx, sub, now); err != nil {
		return err
	}
	return s.confirmationRequested(ctx, tx, sub, now, m)
}

// confirmationRequested appends EventConfirmationRequested for a request
// recorded at now, by newConfirmation or by the insert of a new pending
// subscription (see upsertSubscription).
func (s *Store) confirmationRequested(ctx context.Context, tx *sqlx.Tx, sub *subscriptionRow, now time.Time, m Meta) error {
	return s.appendEvent(ctx, tx, newEvent(EventConfirmationRequested, sub, now, m))
}

// newConfirmation records a confirmation request of sub at now: the time,
// for the cool-down, and the next generation (the first request is
// generation 0), which the email's link carries. Store.Confirm refuses a link
// of an earlier generation, so each new request invalidates the links sent
// before it.
func newConfirmation(ctx context.Context, tx *sqlx.Tx, sub *subscriptionRow, now time.Time) error {
	const q = `
		UPDATE subscriptions
		SET confirm_generation = CASE WHEN confirm_sent_at IS NULL THEN confirm_generation ELSE confirm_generation + 1 END,
		    confirm_sent_at = $2,
		    updated_at = $2
		WHERE id = $1
		RETURNING confirm_generation`
	if err := tx.GetContext(ctx, &sub.ConfirmGeneration, q, sub.ID, now); err != nil {
		return err
	}
	sub.ConfirmSentAt = &now
	return nil
}

// ConfirmResult is what following a confirmation link did.
type ConfirmResult struct {
	Subscription     *Subscription
	List             *List
	AlreadyConfirmed bool // it was confirmed before; nothing changed
}

// Confirm follows a double opt-in link. A pending subscription becomes
// confirmed with an EventConfirmed (on which OnEvent queues the welcome and
// bonus emails and enrolls it in the sequence). A confirmed one is reported
// as AlreadyConfirmed and left alone.
//
// It returns EINVALID for a forged or malformed token, EEXPIRED for an expired
// one or one of an earlier confirmation request than the last (a newer email
// was sent), ENOTFOUND when the subscription no longer exists, and ECONFLICT
// when it was unsubscribed or bounced since (the reader has to sign up
// again).
func (s *Store) Confirm(ctx context.Context, token string, m Meta) (*ConfirmResult, error) {
	m = cleanMeta(m)
	var res *ConfirmResult
	// The token is verified at the transaction's time, so its expiry and
	// the confirmation agree on now.
	err := s.inTx(ctx, nil, func(tx *sqlx.Tx, now time.Time) error {
		id, generation, err := s.Tokens.VerifyConfirm(token, now)
		if err != nil {
			return err
		}
		res, err = s.confirm(ctx, tx, id, generation, now, m)
		return err
	})
	if err != nil {
		return nil, wrap("confirm", err)
	}
	return res, nil
}

// errStaleConfirm is the answer to the link of a confirmation request that
// a newer one replaced.
var errStaleConfirm = tidings.Errorf(tidings.EEXPIRED, "This link was replaced by the one in a newer confirmation email. Please use the link in the latest email, or sign up again.")

func (s *Store) confirm(ctx context.Context, tx *sqlx.Tx, id int64, generation int, now time.Time, m Meta) (*ConfirmResult, error) {
	sub, err := lockSubscription(ctx, tx, id)
	if err != nil {
		return nil, err
	}
	list, err := listByID(ctx, tx, sub.ListID)
	if err != nil {
		return nil, err
	}
	res := &ConfirmResult{Subscription: &sub.Subscription, List: list}
	switch sub.Status {
	case StatusConfirmed:
		res.AlreadyConfirmed = true
		return res, nil
	case StatusPending:
		if sub.ID == id && generation != sub.ConfirmGeneration {
			return nil, errStaleConfirm
		}
	case StatusUnsubscribed:
		return nil, tidings.Errorf(tidings.ECONFLICT, "This subscription was cancelled after the link was sent. To receive the emails, sign up again on the form.")
	default:
		return nil, tidings.Errorf(tidings.ECONFLICT, "Emails to this address could not be delivered, so the subscription was stopped.")
	}
	const q = `
		UPDATE subscriptions
		SET status = 'confirmed', confirmed_at = $2, updated_at = $2
		WHERE id = $1`
	if _, err := tx.ExecContext(ctx, q, sub.ID, now); err != nil {
		return nil, err
	}
	sub.Status, sub.ConfirmedAt = StatusConfirmed, &now
	if err := s.appendEvent(ctx, tx, newEvent(EventConfirmed, sub, now, m)); err != nil {
		return nil, err
	}
	return res, nil
}

// UnsubscribeResult is what following an unsubscribe link did.
type UnsubscribeResult struct {
	List    *List
	Email   string
	Already bool // it was unsubscribed (or stopped by a bounce) before; nothing changed
}

// Unsubscribe stops a subscription at once, from the unsubscribe page or an
// RFC 8058 one-click POST. A pending or confirmed subscription becomes
// unsubscribed with an EventUnsubscribed carrying reason (at most 500
// characters), on which OnEvent skips its queued messages and stops its
// enrollment. Repeating it reports Already and appends nothing.
//
// It returns EINVALID for a forged or malformed token and ENOTFOUND when the
// subscription no longer exists.
func (s *Store) Unsubscribe(ctx context.Context, token, reason string, m Meta) (*UnsubscribeResult, error) {
	m = cleanMeta(m)
	reason = cleanReason(reason)
	var res *UnsubscribeResult
	err := s.inTx(ctx, nil, func(tx *sqlx.Tx, now time.Time) error {
		id, err := s.Tokens.Verify(PurposeUnsubscribe, token, now)
		if err != nil {
			return err
		}
		res, err = s.unsubscribe(ctx, tx, id, reason, now, m)
		return err
	})
	if err != nil {
		return nil, wrap("unsubscribe", err)
	}
	return res, nil
}

func (s *Store) unsubscribe(ctx context.Context, tx *sqlx.Tx, id int64, reason string, now time.Time, m Meta) (*UnsubscribeResult, error) {
	sub, err := lockSubscription(ctx, tx, id)
	if err != nil {
		return nil, err
	}
	list, err := listByID(ctx, tx, sub.ListID)
	if err != nil {
		return nil, err
	}
	res := &UnsubscribeResult{List: list, Email: sub.Email}
	if sub.Status != StatusPending && sub.Status != StatusConfirmed {
		// Unsubscribed, bounced or complained: no mail goes out already.
		res.Already = true
		return res, nil
	}
	const q = `
		UPDATE subscriptions
		SET status = 'unsubscribed', unsubscribed_at = $2, updated_at = $2
		WHERE id = $1`
	if _, err := tx.ExecContext(ctx, q, sub.ID, now); err != nil {
		return nil, err
	}
	e := newEvent(EventUnsubscribed, sub, now, m)
	e.Reason = reason
	if err := s.appendEvent(ctx, tx, e); err != nil {
		return nil, err
	}
	return res, nil
}

// SubscriptionByToken returns the subscription a link's token was signed
// for, its list and its address, for the pages a link opens (a GET changes
// nothing). It returns EINVALID for a forged or malformed token or one for
// another purpose, EEXPIRED for an expired one (or a confirmation link that
// a newer confirmation email replaced) and ENOTFOUND when the subscription
// no longer exists.
func (s *Store) SubscriptionByToken(ctx context.Context, purpose, token string) (*Subscription, *List, string, error) {
	now := s.now()
	id, generation, err := s.Tokens.verify(purpose, token, now)
	if err != nil {
		return nil, nil, "", wrap("subscription by token", err)
	}
	const q = `
		SELECT s.id, s.subscriber_id, s.list_id, s.status, s.confirmed_at, s.unsubscribed_at, s.created_at, s.confirm_generation, r.email,
		       l.id AS "list.id", l.slug AS "list.slug", l.name AS "list.name", l.from_name AS "list.from_name",
		       l.from_email AS "list.from_email", l.reply_to AS "list.reply_to", l.timezone AS "list.timezone",
		       l.postal_address AS "list.postal_address", l.consent_text AS "list.consent_text",
		       l.welcome_subject AS "list.welcome_subject", l.welcome_body AS "list.welcome_body",
		       l.created_at AS "list.created_at", l.updated_at AS "list.updated_at"
		FROM subscriptions s
		JOIN subscribers r ON r.id = s.subscriber_id
		JOIN lists l ON l.id = s.list_id
		WHERE s.id = $1`
	var row struct {
		Subscription
		ConfirmGeneration int    `db:"confirm_generation"`
		Email             string `db:"email"`
		List              List   `db:"list"`
	}
	err = s.DB.GetContext(ctx, &row, q, id)
	merged := false
	if errors.Is(err, sql.ErrNoRows) {
		into, ok, merr := mergedInto(ctx, s.DB, id)
		if merr != nil {
			return nil, nil, "", wrap("subscription by token", merr)
		} else if ok {
			merged = true
			err = s.DB.GetContext(ctx, &row, q, into)
		}
	}
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil, "", tidings.Errorf(tidings.ENOTFOUND, "This subscription does not exist.")
	} else if err != nil {
		return nil, nil, "", wrap("subscription by token", err)
	}
	if purpose == PurposeConfirm && !merged && row.Status == StatusPending && generation != row.ConfirmGeneration {
		return nil, nil, "", errStaleConfirm
	}
	return &row.Subscription, &row.List, row.Email, nil
}

// maxAddLists bounds the lists of one AddRequest.
const maxAddLists = 100
