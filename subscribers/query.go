package subscribers

import (
	"context"
	"database/sql"
	"errors"
	"strconv"
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
	// The query is put together from fixed pieces, only those the filter
	// uses, so that each is a plain AND the planner can work with: an
	// EXISTS inside an OR (as in "$2 = '' OR EXISTS ...") is never turned
	// into a semi-join, and would make a rare list or status scan every
	// subscriber in id order. The list is passed by id, so the planner
	// knows from its statistics how many subscriptions it has.
	args := []any{f.AfterID}
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	where := []string{"r.id > $1"}
	var listID int64
	if f.List != "" {
		l, err := listBySlug(ctx, s.DB, f.List)
		if err != nil {
			return nil, wrap("subscribers", err)
		}
		listID = l.ID
	}
	// With no list or status, subscribers without any subscription are
	// listed too. The subscriptions are found by (list_id, status), by
	// (status, subscriber_id) or by (subscriber_id, list_id), whichever
	// the planner deems cheaper.
	switch {
	case f.List != "" && f.Status != "":
		where = append(where, `EXISTS (
		        SELECT 1
		        FROM subscriptions s
		        WHERE s.subscriber_id = r.id
		          AND s.list_id = `+arg(listID)+`
		          AND s.status = `+arg(f.Status)+`)`)
	case f.List != "":
		where = append(where, `EXISTS (
		        SELECT 1
		        FROM subscriptions s
		        WHERE s.subscriber_id = r.id
		          AND s.list_id = `+arg(listID)+`)`)
	case f.Status != "":
		where = append(where, `EXISTS (
		        SELECT 1
		        FROM subscriptions s
		        WHERE s.subscriber_id = r.id
		          AND s.status = `+arg(f.Status)+`)`)
	}
	if f.Query != "" {
		// ILIKE ... ESCAPE: the search term is matched as text, its % and _
		// taken literally. The trigram indexes on email and name (pg_trgm,
		// migration 00006) serve it.
		p := arg("%" + escapeLike(f.Query) + "%")
		where = append(where, `(r.email ILIKE `+p+` ESCAPE '\' OR r.name ILIKE `+p+` ESCAPE '\')`)
	}
	if f.Tag != "" {
		// tags @> ARRAY[tag] can use the GIN index on tags.
		where = append(where, `r.tags @> ARRAY[`+arg(f.Tag)+`::text]`)
	}
	q := `
		SELECT r.id, r.email, r.name, r.timezone, r.tags, r.created_at, r.updated_at
		FROM subscribers r
		WHERE ` + strings.Join(where, "\n		  AND ") + `
		ORDER BY r.id
		LIMIT ` + arg(f.Limit)
	subs := []*Subscriber{}
	if err := s.DB.SelectContext(ctx, &subs, q, args...); err != nil {
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
