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

	tx, err := s.DB.BeginTxx(ctx, nil)
	if err != nil {
		return 0, wrap("subscribe", err)
	}
	defer tx.Rollback()
	now := s.now()
	id, err := s.subscribe(ctx, tx, req.List, email, name, req.Timezone, tags, m, now)
	if err != nil {
		return 0, wrap("subscribe", err)
	}
	if err := tx.Commit(); err != nil {
		return 0, wrap("subscribe", err)
	}
	return id, nil
}

func (s *Store) subscribe(ctx context.Context, tx *sqlx.Tx, slug, email, name, tz string, tags []string, m Meta, now time.Time) (int64, error) {
	list, err := listBySlug(ctx, tx, slug)
	if err != nil {
		return 0, err
	}
	if sup, err := isSuppressed(ctx, tx, email); err != nil {
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
	return sub.ID, s.requestConfirmation(ctx, tx, sub, now, m)
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
	now := s.now()
	id, generation, err := s.Tokens.VerifyConfirm(token, now)
	if err != nil {
		return nil, wrap("confirm", err)
	}
	m = cleanMeta(m)
	tx, err := s.DB.BeginTxx(ctx, nil)
	if err != nil {
		return nil, wrap("confirm", err)
	}
	defer tx.Rollback()
	res, err := s.confirm(ctx, tx, id, generation, now, m)
	if err != nil {
		return nil, wrap("confirm", err)
	}
	if err := tx.Commit(); err != nil {
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
	now := s.now()
	id, err := s.Tokens.Verify(PurposeUnsubscribe, token, now)
	if err != nil {
		return nil, wrap("unsubscribe", err)
	}
	m = cleanMeta(m)
	reason = cleanReason(reason)
	tx, err := s.DB.BeginTxx(ctx, nil)
	if err != nil {
		return nil, wrap("unsubscribe", err)
	}
	defer tx.Rollback()
	res, err := s.unsubscribe(ctx, tx, id, reason, now, m)
	if err != nil {
		return nil, wrap("unsubscribe", err)
	}
	if err := tx.Commit(); err != nil {
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
	tx, err := s.DB.BeginTxx(ctx, nil)
	if err != nil {
		return wrap("bounce", err)
	}
	defer tx.Rollback()
	now := s.now()
	if err := s.bounce(ctx, tx, email, reason, now); err != nil {
		return wrap("bounce", err)
	}
	return wrap("bounce", tx.Commit())
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
	tx, err := s.DB.BeginTxx(ctx, nil)
	if err != nil {
		return wrap("suppress", err)
	}
	defer tx.Rollback()
	now := s.now()
	if err := suppress(ctx, tx, email, reason, now); err != nil {
		return wrap("suppress", err)
	}
	return wrap("suppress", tx.Commit())
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

// AddRequest is a subscriber added by an editor through the API.
type AddRequest struct {
	Email    string
	Name     string
	Timezone string
	Lists    []string // slugs of the lists to subscribe to
	// Tags are added to the subscriber's (see NormalizeTags); none is removed.
	Tags []string
	// Status is StatusPending (the default: a confirmation email is sent)
	// or StatusConfirmed, for people who already consented elsewhere; that
	// is recorded as an EventImported.
	Status string
	Meta   Meta
}

// maxAddLists bounds the lists of one AddRequest.
const maxAddLists = 100

// Add creates or updates a subscriber and subscribes it to the given lists,
// all or nothing. For an existing subscriber, a non-empty name or time zone
// replaces the stored one (an editor is trusted) and the tags are added to
// its own. For each list, a new
// subscription is pending (EventSubscribed and EventConfirmationRequested) or
// confirmed (EventImported, reason "added via API as confirmed"); a pending
// one asked to be confirmed becomes confirmed the same way; a pending one asked
// to be pending has its confirmation requested again after the cool-down; a
// confirmed one is left alone.
//
// Add never re-subscribes someone who left: it returns ECONFLICT for a
// suppressed address and for an unsubscribed, bounced or complained
// subscription. It returns EINVALID for bad input (including tags that would
// make more than 50) and ENOTFOUND for an unknown list.
func (s *Store) Add(ctx context.Context, req AddRequest) (*Subscriber, error) {
	email, err := NormalizeEmail(req.Email)
	if err != nil {
		return nil, err
	}
	name, err := ValidateName(req.Name)
	if err != nil {
		return nil, err
	}
	if req.Timezone != "" {
		if err := ValidateTimezone(req.Timezone); err != nil {
			return nil, err
		}
	}
	tags, err := NormalizeTags(req.Tags)
	if err != nil {
		return nil, err
	}
	status := req.Status
	if status == "" {
		status = StatusPending
	}
	if status != StatusPending && status != StatusConfirmed {
		return nil, tidings.Errorf(tidings.EINVALID, "The status must be %q or %q, not %q.", StatusPending, StatusConfirmed, truncateRunes(status, 40))
	}
	if len(req.Lists) > maxAddLists {
		return nil, tidings.Errorf(tidings.EINVALID, "At most %d lists at once.", maxAddLists)
	}
	slugs := make([]string, 0, len(req.Lists))
	seen := make(map[string]bool, len(req.Lists))
	for _, slug := range req.Lists {
		if !seen[slug] {
			seen[slug] = true
			slugs = append(slugs, slug)
		}
	}
	m := cleanMeta(req.Meta)

	tx, err := s.DB.BeginTxx(ctx, nil)
	if err != nil {
		return nil, wrap("add", err)
	}
	defer tx.Rollback()
	now := s.now()
	sub, err := s.add(ctx, tx, email, name, req.Timezone, tags, slugs, status, m, now)
	if err != nil {
		return nil, wrap("add", err)
	}
	if err := tx.Commit(); err != nil {
		return nil, wrap("add", err)
	}
	return sub, nil
}

func (s *Store) add(ctx context.Context, tx *sqlx.Tx, email, name, tz string, tags, slugs []string, status string, m Meta, now time.Time) (*Subscriber, error) {
	lists := make([]*List, len(slugs))
	for i, slug := range slugs {
		l, err := listBySlug(ctx, tx, slug)
		if err != nil {
			return nil, err
		}
		lists[i] = l
	}
	if sup, err := isSuppressed(ctx, tx, email); err != nil {
		return nil, err
	} else if sup {
		return nil, tidings.Errorf(tidings.ECONFLICT, "%s is suppressed (it bounced, complained or was blocked); it cannot be added again.", email)
	}
	r, created, err := upsertSubscriber(ctx, tx, email, name, tz, tags, now)
	if err != nil {
		return nil, err
	}
	if merged := mergeTags(r.Tags, tags); !created && len(merged) != len(r.Tags) {
		if len(merged) > MaxTags {
			return nil, tidings.Errorf(tidings.EINVALID, "%s would have %d tags; a subscriber can have at most %d.", email, len(merged), MaxTags)
		}
		if err := setTags(ctx, tx, r.ID, merged, now); err != nil {
			return nil, err
		}
	}
	if !created && (name != "" && name != r.Name || tz != "" && tz != r.Timezone) {
		const q = `
			UPDATE subscribers
			SET name = CASE WHEN $2 = '' THEN name ELSE $2 END,
			    timezone = CASE WHEN $3 = '' THEN timezone ELSE $3 END,
			    updated_at = $4
			WHERE id = $1`
		if _, err := tx.ExecContext(ctx, q, r.ID, name, tz, now); err != nil {
			return nil, err
		}
	}
	for _, l := range lists {
		if err := s.addTo(ctx, tx, r.ID, l, status, m, now); err != nil {
			return nil, err
		}
	}
	out, err := subscriberByID(ctx, tx, r.ID)
	if err != nil {
		return nil, err
	}
	return out, nil
}

// addTo subscribes one subscriber to one list for Add.
func (s *Store) addTo(ctx context.Context, tx *sqlx.Tx, subscriberID int64, l *List, status string, m Meta, now time.Time) error {
	sub, created, err := upsertSubscription(ctx, tx, subscriberID, l.ID, status, now)
	if err != nil {
		return err
	}
	if !created {
		switch sub.Status {
		case StatusConfirmed:
			return nil
		case StatusPending:
		case StatusUnsubscribed:
			return tidings.Errorf(tidings.ECONFLICT, "%s unsubscribed from %q; only they can sign up again.", sub.Email, l.Slug)
		default:
			return tidings.Errorf(tidings.ECONFLICT, "Mail to %s for %q bounced or was reported as spam; it cannot be added again.", sub.Email, l.Slug)
		}
	}
	if status == StatusConfirmed {
		if !created {
			const q = `
				UPDATE subscriptions
				SET status = 'confirmed', confirmed_at = $2, updated_at = $2
				WHERE id = $1`
			if _, err := tx.ExecContext(ctx, q, sub.ID, now); err != nil {
				return err
			}
		}
		e := newEvent(EventImported, sub, now, m)
		e.Reason = "added via API as confirmed"
		return s.appendEvent(ctx, tx, e)
	}
	if created {
		e := newEvent(EventSubscribed, sub, now, m)
		e.Reason = "added via API"
		if err := s.appendEvent(ctx, tx, e); err != nil {
			return err
		}
	}
	return s.requestConfirmation(ctx, tx, sub, now, m)
}
