package subscribers

import (
	"context"
	"fmt"
	"time"
)

// ListCounts is the number of subscriptions of a list in each status.
type ListCounts struct {
	Slug         string `db:"slug" json:"list"`
	Name         string `db:"name" json:"name"`
	Pending      int    `db:"pending" json:"pending"`
	Confirmed    int    `db:"confirmed" json:"confirmed"`
	Unsubscribed int    `db:"unsubscribed" json:"unsubscribed"`
	Bounced      int    `db:"bounced" json:"bounced"`
	Complained   int    `db:"complained" json:"complained"`
}

// CountsByList returns the subscriptions of every list by status.
func (s *Store) CountsByList(ctx context.Context) ([]ListCounts, error) {
	const q = `
		SELECT l.slug, l.name,
		       count(*) FILTER (WHERE s.status = 'pending') AS pending,
		       count(*) FILTER (WHERE s.status = 'confirmed') AS confirmed,
		       count(*) FILTER (WHERE s.status = 'unsubscribed') AS unsubscribed,
		       count(*) FILTER (WHERE s.status = 'bounced') AS bounced,
		       count(*) FILTER (WHERE s.status = 'complained') AS complained
		FROM lists l
		LEFT JOIN subscriptions s ON s.list_id = l.id
		GROUP BY l.id
		ORDER BY l.name`
	out := []ListCounts{}
	if err := s.DB.SelectContext(ctx, &out, q); err != nil {
		return nil, fmt.Errorf("subscribers: counts by list: %w", err)
	}
	return out, nil
}

// WeekActivity is what happened in one week: sign-ups, confirmations and unsubscribes.
type WeekActivity struct {
	Week          time.Time `db:"week" json:"week"`
	Signups       int       `db:"signups" json:"signups"`
	Confirmations int       `db:"confirmations" json:"confirmations"`
	Unsubscribes  int       `db:"unsubscribes" json:"unsubscribes"`
}

// WeeklyActivity returns the last n weeks (Monday to Sunday, UTC), oldest
// first, including weeks with nothing in them.
func (s *Store) WeeklyActivity(ctx context.Context, n int) ([]WeekActivity, error) {
	const q = `
		WITH weeks AS (
			SELECT generate_series(date_trunc('week', $1::timestamptz AT TIME ZONE 'UTC') - ($2 - 1) * interval '1 week',
			                       date_trunc('week', $1::timestamptz AT TIME ZONE 'UTC'),
			                       interval '1 week') AS week
		)
		SELECT w.week AT TIME ZONE 'UTC' AS week,
		       count(e.id) FILTER (WHERE e.kind = 'subscribed') AS signups,
		       count(e.id) FILTER (WHERE e.kind = 'confirmed') AS confirmations,
		       count(e.id) FILTER (WHERE e.kind = 'unsubscribed') AS unsubscribes
		FROM weeks w
		LEFT JOIN events e
		       ON e.at >= w.week AT TIME ZONE 'UTC'
		      AND e.at < (w.week + interval '1 week') AT TIME ZONE 'UTC'
		      AND e.kind IN ('subscribed', 'confirmed', 'unsubscribed')
		GROUP BY w.week
		ORDER BY w.week`
	out := []WeekActivity{}
	if err := s.DB.SelectContext(ctx, &out, q, s.now(), n); err != nil {
		return nil, fmt.Errorf("subscribers: weekly activity: %w", err)
	}
	return out, nil
}

// RecentEvent is an event with the address and list it concerns.
type RecentEvent struct {
	Event
	Email string `db:"email" json:"email"`
	List  string `db:"list" json:"list"`
}

// RecentEvents returns the newest n events across all lists.
func (s *Store) RecentEvents(ctx context.Context, n int) ([]RecentEvent, error) {
	const q = `
		SELECT e.id, COALESCE(e.subscription_id, 0) AS subscription_id, COALESCE(e.subscriber_id, 0) AS subscriber_id,
		       COALESCE(e.list_id, 0) AS list_id, e.kind, e.at, e.ip, e.user_agent, e.form, e.consent_text, e.reason,
		       COALESCE(r.email, '') AS email, COALESCE(l.name, '') AS list
		FROM events e
		LEFT JOIN subscribers r ON r.id = e.subscriber_id
		LEFT JOIN lists l ON l.id = e.list_id
		ORDER BY e.id DESC
		LIMIT $1`
	out := []RecentEvent{}
	if err := s.DB.SelectContext(ctx, &out, q, n); err != nil {
		return nil, fmt.Errorf("subscribers: recent events: %w", err)
	}
	return out, nil
}
