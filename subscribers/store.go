package subscribers

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

// DefaultConfirmCooldown is Store.ConfirmCooldown when it is zero.
const DefaultConfirmCooldown = time.Hour

// Store keeps lists, subscribers, subscriptions, events and suppressions in
// Postgres. It is safe for concurrent use, also by several processes on one
// database: every change runs in one transaction that locks the subscriber
// row first, so changes to one subscriber's subscriptions are serialised
// while different subscribers proceed in parallel.
type Store struct {
	DB  *sqlx.DB
	Now func() time.Time // the clock; read once per transaction; nil means time.Now

	// Tokens verifies the tokens of confirm and unsubscribe links.
	Tokens *Tokens

	// OnEvent, when set, is called inside the transaction for every event
	// appended, after the event row is written. An error from it rolls the
	// whole change back and is returned (wrapped) to the caller.
	OnEvent EventFunc

	// OnEvents, when set, is called instead of OnEvent for the events that
	// one statement appends together (the sign-ups of a batch), in the order
	// they were appended, so that what they queue can be queued together
	// too. Without it, OnEvent is called for each.
	OnEvents EventsFunc

	// signups are the sign-ups waiting to be written together (see
	// subscribeQueued).
	signups signupQueue

	// ConfirmCooldown is the least time between two confirmation requests
	// for one subscription, so repeated sign-ups cannot be used to flood a
	// mailbox. Zero means DefaultConfirmCooldown (1h); negative means none.
	ConfirmCooldown time.Duration
}

// Meta holds the facts of the request that made a change, kept in the event
// as the consent record.
type Meta struct {
	IP        string
	UserAgent string
	Form      string // which form or channel: "hosted", "api", "embed-homepage", ...
}

// Subscription is a subscriber on one list, with its status.
type Subscription struct {
	ID             int64      `db:"id" json:"id"`
	SubscriberID   int64      `db:"subscriber_id" json:"subscriber_id"`
	ListID         int64      `db:"list_id" json:"list_id"`
	Status         string     `db:"status" json:"status"`
	ConfirmedAt    *time.Time `db:"confirmed_at" json:"confirmed_at,omitempty"`
	UnsubscribedAt *time.Time `db:"unsubscribed_at" json:"unsubscribed_at,omitempty"`
	CreatedAt      time.Time  `db:"created_at" json:"created_at"`
}

// Subscriber is an address and its person, with a summary of its subscriptions.
type Subscriber struct {
	ID            int64                 `db:"id" json:"id"`
	Email         string                `db:"email" json:"email"`
	Name          string                `db:"name" json:"name"`
	Timezone      string                `db:"timezone" json:"timezone"`
	Tags          pq.StringArray        `db:"tags" json:"tags"` // normalised, sorted; never nil when read
	CreatedAt     time.Time             `db:"created_at" json:"created_at"`
	UpdatedAt     time.Time             `db:"updated_at" json:"updated_at"`
	Subscriptions []SubscriptionSummary `db:"-" json:"subscriptions"`
}

// SubscriptionSummary is one subscription as shown with its subscriber.
type SubscriptionSummary struct {
	List           string     `db:"list" json:"list"` // the list's slug
	Status         string     `db:"status" json:"status"`
	ConfirmedAt    *time.Time `db:"confirmed_at" json:"confirmed_at,omitempty"`
	UnsubscribedAt *time.Time `db:"unsubscribed_at" json:"unsubscribed_at,omitempty"`
}

// now reads the clock. Postgres keeps microseconds, so the time is truncated
// to them: a value read back then equals the one written.
func (s *Store) now() time.Time {
	var t time.Time
	if s.Now != nil {
		t = s.Now()
	} else {
		t = time.Now()
	}
	return t.UTC().Truncate(time.Microsecond)
}

// inTx runs fn in one transaction and commits it when fn returns nil. It
// reads the clock once, after the begin, and hands that time to fn: every
// row fn writes and every event it appends, and so every OnEvent hook it
// calls, agree on now. opts is nil for a read-write transaction at the
// default isolation. An error from fn rolls the transaction back and is
// returned as it is.
func (s *Store) inTx(ctx context.Context, opts *sql.TxOptions, fn func(tx *sqlx.Tx, now time.Time) error) error {
	tx, err := s.DB.BeginTxx(ctx, opts)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := fn(tx, s.now()); err != nil {
		return err
	}
	return tx.Commit()
}

func (s *Store) cooldown() time.Duration {
	if s.ConfirmCooldown == 0 {
		return DefaultConfirmCooldown
	}
	return s.ConfirmCooldown
}

// wrap adds the operation to an unexpected error once; application errors
// (*tidings.Error, possibly already wrapped) pass through unchanged.
func wrap(op string, err error) error {
	var e *tidings.Error
	if err == nil || errors.As(err, &e) {
		return err
	}
	return fmt.Errorf("subscribers: %s: %w", op, err)
}

// isUniqueViolation reports whether err is Postgres' unique_violation on the
// named constraint.
func isUniqueViolation(err error, constraint string) bool {
	var pqErr *pq.Error
	return errors.As(err, &pqErr) && pqErr.Code == "23505" && pqErr.Constraint == constraint
}

// appendEvent writes e, fills in its id and calls OnEvent in the same
// transaction (see appendEvents).
func (s *Store) appendEvent(ctx context.Context, tx *sqlx.Tx, e *Event) error {
	return s.appendEvents(ctx, tx, []*Event{e})
}

// appendEvents writes events in one statement, fills in their ids, and calls
// OnEvents (or OnEvent for each) in the same transaction.
func (s *Store) appendEvents(ctx context.Context, tx *sqlx.Tx, events []*Event) error {
	if len(events) == 0 {
		return nil
	}
	n := len(events)
	subscriptions, subscribers, lists := make([]int64, n), make([]int64, n), make([]int64, n)
	kinds, ats, ips, agents, forms, consents, reasons := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	for i, e := range events {
		subscriptions[i], subscribers[i], lists[i] = e.SubscriptionID, e.SubscriberID, e.ListID
		kinds[i], ats[i], ips[i], agents[i] = e.Kind, e.At.Format(time.RFC3339Nano), e.IP, e.UserAgent
		forms[i], consents[i], reasons[i] = e.Form, e.ConsentText, e.Reason
	}
	// The rows are inserted in the order of events (ORDER BY i), so their
	// ids, drawn from the sequence one row after the other, ascend in that
	// order: read back sorted, the k-th id is the k-th event's, whatever
	// order RETURNING gives them in.
	const q = `
		WITH u AS (
		    SELECT *
		    FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::text[], $5::timestamptz[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[])
		         WITH ORDINALITY AS u (subscription_id, subscriber_id, list_id, kind, at, ip, user_agent, form, consent_text, reason, i)
		), e AS (
		    INSERT INTO events (subscription_id, subscriber_id, list_id, kind, at, ip, user_agent, form, consent_text, reason)
		    SELECT subscription_id, subscriber_id, list_id, kind, at, ip, user_agent, form, consent_text, reason
		    FROM u
		    ORDER BY i
		    RETURNING id
		)
		SELECT id FROM e ORDER BY id`
	var ids []int64
	if err := tx.SelectContext(ctx, &ids, q, pq.Array(subscriptions), pq.Array(subscribers), pq.Array(lists),
		pq.StringArray(kinds), pq.StringArray(ats), pq.StringArray(ips), pq.StringArray(agents), pq.StringArray(forms),
		pq.StringArray(consents), pq.StringArray(reasons)); err != nil {
		return fmt.Errorf("append %s event (of %d): %w", events[0].Kind, n, err)
	}
	if len(ids) != n {
		return fmt.Errorf("append %d events: %d written", n, len(ids))
	}
	out := make([]Event, n)
	for i, e := range events {
		e.ID = ids[i]
		out[i] = *e
	}
	switch {
	case s.OnEvents != nil:
		if err := s.OnEvents(ctx, tx, out); err != nil {
			return fmt.Errorf("on %d events: %w", n, err)
		}
	case s.OnEvent != nil:
		for _, e := range out {
			if err := s.OnEvent(ctx, tx, e); err != nil {
				return fmt.Errorf("on %s event: %w", e.Kind, err)
			}
		}
	}
	return nil
}

// newEvent returns an event of kind for sub at now, with the request facts.
func newEvent(kind string, sub *subscriptionRow, now time.Time, m Meta) *Event {
	return &Event{
		SubscriptionID: sub.ID,
		SubscriberID:   sub.SubscriberID,
		ListID:         sub.ListID,
		Kind:           kind,
		At:             now,
		IP:             m.IP,
		UserAgent:      m.UserAgent,
		Form:           m.Form,
		Timezone:       sub.timezone(),
	}
}

// cleanMeta makes the request facts storable: valid UTF-8 without control
// characters, IP at most 100 runes, user agent 500, form 100.
func cleanMeta(m Meta) Meta {
	return Meta{IP: cleanFact(m.IP, 100), UserAgent: cleanFact(m.UserAgent, 500), Form: cleanFact(m.Form, 100)}
}

// subscriberRow is the locked subscriber a change works on.
type subscriberRow struct {
	ID       int64          `db:"id"`
	Email    string         `db:"email"`
	Name     string         `db:"name"`
	Timezone string         `db:"timezone"`
	Tags     pq.StringArray `db:"tags"` // read only by upsertSubscriber
}

// subscriptionRow is a subscription with what its events need: the
// subscriber's address and the effective time zone.
type subscriptionRow struct {
	Subscription
	ConfirmSentAt      *time.Time `db:"confirm_sent_at"`
	ConfirmGeneration  int        `db:"confirm_generation"`
	Email              string     `db:"email"`
	SubscriberTimezone string     `db:"subscriber_timezone"`
	ListTimezone       string     `db:"list_timezone"`
}

// timezone is the subscriber's time zone, else the list's.
func (r *subscriptionRow) timezone() string {
	if r.SubscriberTimezone != "" {
		return r.SubscriberTimezone
	}
	return r.ListTimezone
}

// lockSubscriberOfSubscription locks the subscriber row of a subscription
// (ENOTFOUND if the subscription is gone). Every change to subscriptions
// takes the subscriber's lock first, so two changes of one subscriber never
// deadlock. FOR NO KEY UPDATE does not block the FOR KEY SHARE locks that
// foreign keys to the subscriber (outbox, enrollments) take inside OnEvent.
func lockSubscriberOfSubscription(ctx context.Context, tx *sqlx.Tx, subscriptionID int64) (*subscriberRow, error) {
	const q = `
		SELECT id, email, name, timezone
		FROM subscribers
		WHERE id = (SELECT subscriber_id FROM subscriptions WHERE id = $1)
		FOR NO KEY UPDATE`
	var r subscriberRow
	if err := tx.GetContext(ctx, &r, q, subscriptionID); errors.Is(err, sql.ErrNoRows) {
		return nil, tidings.Errorf(tidings.ENOTFOUND, "This subscription does not exist.")
	} else if err != nil {
		return nil, err
	}
	return &r, nil
}

// lockSubscription locks the subscriber of the subscription with id, then
// reads the subscription, locked. A subscription merged into another (two
// spellings of one address, migration 00015) is found as the one it was
// merged into, so the links in emails sent before still work. It returns
// ENOTFOUND when there is none.
func lockSubscription(ctx context.Context, tx *sqlx.Tx, id int64) (*subscriptionRow, error) {
	_, err := lockSubscriberOfSubscription(ctx, tx, id)
	if tidings.ErrorCode(err) == tidings.ENOTFOUND {
		into, ok, merr := mergedInto(ctx, tx, id)
		if merr != nil {
			return nil, merr
		} else if !ok {
			return nil, err
		}
		id = into
		_, err = lockSubscriberOfSubscription(ctx, tx, id)
	}
	if err != nil {
		return nil, err
	}
	return subscriptionByID(ctx, tx, id)
}

// mergedInto returns the subscription that the one with id was merged into,
// if it was.
func mergedInto(ctx context.Context, q sqlx.QueryerContext, id int64) (int64, bool, error) {
	const query = `
		SELECT into_id
		FROM subscription_merges
		WHERE from_id = $1`
	var into int64
	if err := sqlx.GetContext(ctx, q, &into, query, id); errors.Is(err, sql.ErrNoRows) {
		return 0, false, nil
	} else if err != nil {
		return 0, false, err
	}
	return into, true, nil
}

// subscriptionByID reads a subscription, locking it; the caller holds the
// subscriber's lock already.
func subscriptionByID(ctx context.Context, tx *sqlx.Tx, id int64) (*subscriptionRow, error) {
	const q = `
		SELECT s.id, s.subscriber_id, s.list_id, s.status, s.confirmed_at, s.unsubscribed_at, s.created_at, s.confirm_sent_at,
		       s.confirm_generation, r.email, r.timezone AS subscriber_timezone, l.timezone AS list_timezone
		FROM subscriptions s
		JOIN subscribers r ON r.id = s.subscriber_id
		JOIN lists l ON l.id = s.list_id
		WHERE s.id = $1
		FOR NO KEY UPDATE OF s`
	var r subscriptionRow
	if err := tx.GetContext(ctx, &r, q, id); errors.Is(err, sql.ErrNoRows) {
		return nil, tidings.Errorf(tidings.ENOTFOUND, "This subscription does not exist.")
	} else if err != nil {
		return nil, err
	}
	return &r, nil
}

// subscriptionOf reads the subscription of a subscriber on a list, locking it.
func subscriptionOf(ctx context.Context, tx *sqlx.Tx, subscriberID, listID int64) (*subscriptionRow, error) {
	const q = `
		SELECT s.id, s.subscriber_id, s.list_id, s.status, s.confirmed_at, s.unsubscribed_at, s.created_at, s.confirm_sent_at,
		       s.confirm_generation, r.email, r.timezone AS subscriber_timezone, l.timezone AS list_timezone
		FROM subscriptions s
		JOIN subscribers r ON r.id = s.subscriber_id
		JOIN lists l ON l.id = s.list_id
		WHERE s.subscriber_id = $1
		  AND s.list_id = $2
		FOR NO KEY UPDATE OF s`
	var r subscriptionRow
	if err := tx.GetContext(ctx, &r, q, subscriberID, listID); err != nil {
		return nil, err
	}
	return &r, nil
}

// upsertSubscriber returns the subscriber with email (in any case: the
// unique key is EmailKey), locked, creating it with email as given, name,
// timezone and tags (normalised, not nil) if there is none; created says
// which. A subscriber found keeps the address as it was first typed.
//
// INSERT ... ON CONFLICT DO NOTHING waits for a concurrent transaction that
// inserted the same address and, once it commits, returns no row; the SELECT
// then sees the committed row and waits for its lock. So two simultaneous
// sign-ups of one address make one subscriber and run one after the other.
func upsertSubscriber(ctx context.Context, tx *sqlx.Tx, email, name, timezone string, tags []string, now time.Time) (r *subscriberRow, created bool, err error) {
	const insert = `
		INSERT INTO subscribers (email, name, timezone, tags, created_at, updated_at)
		VALUES ($1, $2, $3, COALESCE($4, '{}'::text[]), $5, $5)
		ON CONFLICT (email_key) DO NOTHING
		RETURNING id, email, name, timezone, tags`
	const lock = `
		SELECT id, email, name, timezone, tags
		FROM subscribers
		WHERE email_key = $1
		FOR NO KEY UPDATE`
	r = new(subscriberRow)
	err = tx.GetContext(ctx, r, insert, email, name, timezone, pq.StringArray(tags), now)
	if err == nil {
		return r, true, nil
	} else if !errors.Is(err, sql.ErrNoRows) {
		return nil, false, err
	}
	if err := tx.GetContext(ctx, r, lock, EmailKey(email)); err != nil {
		return nil, false, err
	}
	return r, false, nil
}

// subscriptionReturning and subscriptionReadBack read new subscriptions back
// as subscriptionRows, with what their events need, in the statement that
// inserts them: INSERT INTO subscriptions ... RETURNING subscriptionReturning
// in a CTE named s, followed by subscriptionReadBack.
const (
	subscriptionReturning = `id, subscriber_id, list_id, status, confirmed_at, unsubscribed_at, created_at, confirm_sent_at, confirm_generation`
	subscriptionReadBack  = `
		SELECT s.id, s.subscriber_id, s.list_id, s.status, s.confirmed_at, s.unsubscribed_at, s.created_at, s.confirm_sent_at,
		       s.confirm_generation, r.email, r.timezone AS subscriber_timezone, l.timezone AS list_timezone
		FROM s
		JOIN subscribers r ON r.id = s.subscriber_id
		JOIN lists l ON l.id = s.list_id`
)

// upsertSubscription returns the subscription of the subscriber on the list,
// locked, creating it with status if there is none; created says which. A
// subscription is created pending only to be sent its confirmation request at
// once, so a new pending one is created with that request recorded (the time
// and generation 0, as newConfirmation records it): the caller appends
// EventConfirmationRequested without another statement.
func upsertSubscription(ctx context.Context, tx *sqlx.Tx, subscriberID, listID int64, status string, now time.Time) (r *subscriptionRow, created bool, err error) {
	// A new subscription is read back with what its events need in the
	// same statement; the subscriber's row is locked already, and a new row
	// is locked by its insert.
	const insert = `
		WITH s AS (
		    INSERT INTO subscriptions (subscriber_id, list_id, status, confirmed_at, confirm_sent_at, created_at, updated_at)
		    VALUES ($1, $2, $3, CASE WHEN $3 = 'confirmed' THEN $4::timestamptz END, CASE WHEN $3 = 'pending' THEN $4::timestamptz END, $4, $4)
		    ON CONFLICT (subscriber_id, list_id) DO NOTHING
		    RETURNING ` + subscriptionReturning + `
		)` + subscriptionReadBack
	r = new(subscriptionRow)
	err = tx.GetContext(ctx, r, insert, subscriberID, listID, status, now)
	if err == nil {
		return r, true, nil
	} else if !errors.Is(err, sql.ErrNoRows) {
		return nil, false, err
	}
	r, err = subscriptionOf(ctx, tx, subscriberID, listID)
	if err != nil {
		return nil, false, err
	}
	return r, false, nil
}

// isSuppressed reports whether email, in any case, is on the suppression list.
func isSuppressed(ctx context.Context, tx *sqlx.Tx, email string) (bool, error) {
	const q = `SELECT EXISTS (SELECT 1 FROM suppressions WHERE email = $1)`
	var ok bool
	err := tx.GetContext(ctx, &ok, q, EmailKey(email))
	return ok, err
}

// summaries returns the subscriptions of the given subscribers, by subscriber id.
func summaries(ctx context.Context, q sqlx.QueryerContext, ids []int64) (map[int64][]SubscriptionSummary, error) {
	const query = `
		SELECT s.subscriber_id, l.slug AS list, s.status, s.confirmed_at, s.unsubscribed_at
		FROM subscriptions s
		JOIN lists l ON l.id = s.list_id
		WHERE s.subscriber_id = ANY($1)
		ORDER BY s.subscriber_id, l.slug`
	var rows []struct {
		SubscriberID int64 `db:"subscriber_id"`
		SubscriptionSummary
	}
	if err := sqlx.SelectContext(ctx, q, &rows, query, pq.Array(ids)); err != nil {
		return nil, err
	}
	out := make(map[int64][]SubscriptionSummary, len(ids))
	for _, r := range rows {
		out[r.SubscriberID] = append(out[r.SubscriberID], r.SubscriptionSummary)
	}
	return out, nil
}

// attachSummaries fills in the Subscriptions of each subscriber.
func attachSummaries(ctx context.Context, q sqlx.QueryerContext, subs []*Subscriber) error {
	if len(subs) == 0 {
		return nil
	}
	ids := make([]int64, len(subs))
	for i, s := range subs {
		ids[i] = s.ID
	}
	m, err := summaries(ctx, q, ids)
	if err != nil {
		return err
	}
	for _, s := range subs {
		s.Subscriptions = m[s.ID]
		if s.Subscriptions == nil {
			s.Subscriptions = []SubscriptionSummary{}
		}
	}
	return nil
}
