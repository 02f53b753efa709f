package subscribers

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"unicode/utf8"

	"github.com/jmoiron/sqlx"

	"github.com/tidings/tidings"
)

// Page sizes of Subscribers.
const (
	DefaultLimit = 50
	MaxLimit     = 500
)

// Filter selects subscribers for Subscribers.
type Filter struct {
	List   string // a list slug: only subscribers with a subscription on it
	Status string // only subscribers with a subscription in this status (on List, if given)
	Query  string // a piece of the address or the name, case-insensitive
	Tag    string // only subscribers with this tag (normalised as NormalizeTag does)
	// AfterID and Limit page through the result, which is ordered by id:
	// pass the last id of one page to get the next. Limit is DefaultLimit
	// (50) when zero, at most MaxLimit (500).
	AfterID int64
	Limit   int
}

// validStatus reports whether status is one of the subscription statuses.
func validStatus(status string) bool {
	switch status {
	case StatusPending, StatusConfirmed, StatusUnsubscribed, StatusBounced, StatusComplained:
		return true
	}
	return false
}

// escapeLike quotes the LIKE wildcards (and the escape character) in s, so it
// matches literally.
func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// Subscribers returns a page of subscribers matching f, by id, each with its
// subscriptions. It returns EINVALID for an unknown status, a bad limit, a
// bad tag or a search term over 254 characters, and ENOTFOUND for an unknown
// list.
func (s *Store) Subscribers(ctx context.Context, f Filter) ([]*Subscriber, error) {
	if f.Status != "" && !validStatus(f.Status) {
		return nil, tidings.Errorf(tidings.EINVALID, "%q is not a status; use pending, confirmed, unsubscribed, bounced or complained.", truncateRunes(f.Status, 40))
	}
	switch {
	case f.Limit == 0:
		f.Limit = DefaultLimit
	case f.Limit < 0 || f.Limit > MaxLimit:
		return nil, tidings.Errorf(tidings.EINVALID, "The limit must be between 1 and %d.", MaxLimit)
	}
	if f.AfterID < 0 {
		return nil, tidings.Errorf(tidings.EINVALID, "The cursor (after) must not be negative.")
	}
	if !utf8.ValidString(f.Query) || utf8.RuneCountInString(f.Query) > maxEmailLen {
		return nil, tidings.Errorf(tidings.EINVALID, "The search term is too long.")
	}
	if f.Tag != "" {
		tag, err := NormalizeTag(f.Tag)
		if err != nil {
			return nil, err
		}
		f.Tag = tag
	}
	if f.List != "" {
		if _, err := listBySlug(ctx, s.DB, f.List); err != nil {
			return nil, wrap("subscribers", err)
		}
	}
	pattern := ""
	if f.Query != "" {
		pattern = "%" + escapeLike(f.Query) + "%"
	}
	// ILIKE ... ESCAPE: the search term is matched as text, its % and _
	// taken literally. With no list or status, subscribers without any
	// subscription are listed too. tags @> ARRAY[tag] can use the GIN index
	// on tags.
	const q = `
		SELECT r.id, r.email, r.name, r.timezone, r.tags, r.created_at, r.updated_at
		FROM subscribers r
		WHERE r.id > $1
		  AND (($2 = '' AND $3 = '') OR EXISTS (
		        SELECT 1
		        FROM subscriptions s
		        JOIN lists l ON l.id = s.list_id
		        WHERE s.subscriber_id = r.id
		          AND ($2 = '' OR l.slug = $2)
		          AND ($3 = '' OR s.status = $3)))
		  AND ($4 = '' OR r.email ILIKE $4 ESCAPE '\' OR r.name ILIKE $4 ESCAPE '\')
		  AND ($6 = '' OR r.tags @> ARRAY[$6::text])
		ORDER BY r.id
		LIMIT $5`
	subs := []*Subscriber{}
	if err := s.DB.SelectContext(ctx, &subs, q, f.AfterID, f.List, f.Status, pattern, f.Limit, f.Tag); err != nil {
		return nil, wrap("subscribers", err)
	}
	if err := attachSummaries(ctx, s.DB, subs); err != nil {
		return nil, wrap("subscribers", err)
	}
	return subs, nil
}

// SubscriberByID returns the subscriber with id and its subscriptions, or ENOTFOUND.
func (s *Store) SubscriberByID(ctx context.Context, id int64) (*Subscriber, error) {
	sub, err := subscriberByID(ctx, s.DB, id)
	return sub, wrap("subscriber", err)
}

func subscriberByID(ctx context.Context, q sqlx.QueryerContext, id int64) (*Subscriber, error) {
	const query = `
		SELECT id, email, name, timezone, tags, created_at, updated_at
		FROM subscribers
		WHERE id = $1`
	var sub Subscriber
	if err := sqlx.GetContext(ctx, q, &sub, query, id); errors.Is(err, sql.ErrNoRows) {
		return nil, tidings.Errorf(tidings.ENOTFOUND, "There is no subscriber %d.", id)
	} else if err != nil {
		return nil, err
	}
	if err := attachSummaries(ctx, q, []*Subscriber{&sub}); err != nil {
		return nil, err
	}
	return &sub, nil
}

// Events returns the event log of a subscriber, oldest first: the consent
// proof. It returns ENOTFOUND for an unknown subscriber.
func (s *Store) Events(ctx context.Context, subscriberID int64) ([]Event, error) {
	// The ids survive as NULL when a subscription or list is deleted; such
	// an event keeps its place in the log with id 0.
	const q = `
		SELECT e.id, COALESCE(e.subscription_id, 0) AS subscription_id, COALESCE(e.subscriber_id, 0) AS subscriber_id,
		       COALESCE(e.list_id, 0) AS list_id, e.kind, e.at, e.ip, e.user_agent, e.form, e.consent_text, e.reason
		FROM events e
		WHERE e.subscriber_id = $1
		ORDER BY e.at, e.id`
	const exists = `SELECT EXISTS (SELECT 1 FROM subscribers WHERE id = $1)`
	var ok bool
	if err := s.DB.GetContext(ctx, &ok, exists, subscriberID); err != nil {
		return nil, wrap("events", err)
	} else if !ok {
		return nil, tidings.Errorf(tidings.ENOTFOUND, "There is no subscriber %d.", subscriberID)
	}
	events := []Event{}
	if err := s.DB.SelectContext(ctx, &events, q, subscriberID); err != nil {
		return nil, wrap("events", err)
	}
	return events, nil
}
