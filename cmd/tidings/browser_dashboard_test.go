package main

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestBrowser_Dashboard fills a list with a few weeks of history and checks
// that the dashboard shows the counts, the weekly chart and recent events.
func TestBrowser_Dashboard(t *testing.T) {
	t.Parallel()
	p := startProgram(t)
	now := time.Now().UTC()
	var listID int64
	err := p.db.Get(&listID, `
		INSERT INTO lists (slug, name, from_email, timezone, postal_address, created_at, updated_at)
		VALUES ('effective-leadership', 'Effective Leadership', 'coach@example.com', 'Europe/London', '1 Example Street', $1, $1)
		RETURNING id`, now)
	if err != nil {
		t.Fatal(err)
	}
	// Twelve weeks of sign-ups, most confirmed, a few unsubscribed.
	p.db.MustExec(`
		INSERT INTO subscribers (email, name, created_at, updated_at)
		SELECT 'reader' || i || '@example.com', 'Reader ' || i, $1::timestamptz - (i % 84) * interval '1 day', $1
		FROM generate_series(1, 240) AS i`, now)
	p.db.MustExec(`
		INSERT INTO subscriptions (subscriber_id, list_id, status, confirmed_at, created_at, updated_at)
		SELECT id, $1, CASE WHEN id % 9 = 0 THEN 'pending' WHEN id % 13 = 0 THEN 'unsubscribed' ELSE 'confirmed' END,
		       created_at, created_at, created_at
		FROM subscribers`, listID)
	p.db.MustExec(`
		INSERT INTO events (subscription_id, subscriber_id, list_id, kind, at, ip, form, consent_text)
		SELECT s.id, s.subscriber_id, s.list_id, k.kind, s.created_at + k.lag, '203.0.113.7', 'hosted', 'Send me the series.'
		FROM subscriptions s
		CROSS JOIN (VALUES ('subscribed', interval '0'), ('confirmed', interval '10 minutes')) AS k(kind, lag)
		WHERE k.kind = 'subscribed' OR s.status <> 'pending'`)
	p.db.MustExec(`
		INSERT INTO events (subscription_id, subscriber_id, list_id, kind, at, reason)
		SELECT id, subscriber_id, list_id, 'unsubscribed', created_at + interval '1 hour', 'Too many emails'
		FROM subscriptions WHERE status = 'unsubscribed'`)

	ctx := newBrowser(t)
	var counts, events string
	var bars int
	err = chromedp.Run(ctx, signIn(p),
		chromedp.Text(`table.data`, &counts, chromedp.ByQuery),
		chromedp.Evaluate(`document.querySelectorAll("svg.chart rect").length`, &bars),
		chromedp.Text(`section.card:last-of-type table`, &events, chromedp.ByQuery),
	)
	if err != nil {
		t.Fatal(err)
	}
	var confirmed int
	p.db.Get(&confirmed, `SELECT count(*) FROM subscriptions WHERE status = 'confirmed'`)
	if !strings.Contains(counts, "Effective Leadership") || !strings.Contains(counts, fmt.Sprint(confirmed)) {
		t.Fatalf("the counts table does not show %d confirmed:\n%s", confirmed, counts)
	}
	if bars != 36 {
		t.Fatalf("the chart has %d bars, want 12 weeks × 3", bars)
	}
	if !strings.Contains(events, "@example.com") {
		t.Fatalf("no recent events:\n%s", events)
	}
}
