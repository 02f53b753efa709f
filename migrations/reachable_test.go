package migrations_test

import (
	"context"
	"slices"
	"testing"

	"github.com/pressly/goose/v3"

	"github.com/tidings/tidings/migrations"
)

// reachableVersion is the migration that defines who may be mailed once.
const reachableVersion = 21

// TestReachableSubscriptions: a subscription is reachable while its address
// (by its lower-cased key) is not suppressed, whatever its status, and
// mailable when reachable and confirmed; the migration goes down and up
// again.
func TestReachableSubscriptions(t *testing.T) {
	t.Parallel()
	db := mustMigrateBefore(t, reachableVersion+1)
	db.MustExec(`INSERT INTO lists (id, slug, name, from_email, created_at, updated_at) VALUES (1, 'l', 'L', 'from@example.com', now(), now())`)
	for i, sub := range []struct{ email, status string }{
		{"pending@example.com", "pending"},
		{"confirmed@example.com", "confirmed"},
		{"Suppressed@Example.com", "confirmed"},
		{"suppressed-pending@example.com", "pending"},
		{"left@example.com", "unsubscribed"},
	} {
		db.MustExec(`INSERT INTO subscribers (id, email, created_at, updated_at) VALUES ($1, $2, now(), now())`, i+1, sub.email)
		db.MustExec(`INSERT INTO subscriptions (id, subscriber_id, list_id, status, created_at, updated_at) VALUES ($1, $1, 1, $2, now(), now())`, i+1, sub.status)
	}
	db.MustExec(`INSERT INTO suppressions (email, reason, created_at) VALUES ('suppressed@example.com', 'complaint', now()), ('suppressed-pending@example.com', 'bounce', now())`)

	check := func(when string) {
		t.Helper()
		var reachable, mailable []string
		if err := db.Select(&reachable, `SELECT email FROM reachable_subscriptions ORDER BY subscription_id`); err != nil {
			t.Fatal(err)
		}
		if err := db.Select(&mailable, `SELECT email FROM mailable_subscriptions ORDER BY subscription_id`); err != nil {
			t.Fatal(err)
		}
		if want := []string{"pending@example.com", "confirmed@example.com", "left@example.com"}; !slices.Equal(reachable, want) {
			t.Errorf("%s: reachable %v, want %v", when, reachable, want)
		}
		if want := []string{"confirmed@example.com"}; !slices.Equal(mailable, want) {
			t.Errorf("%s: mailable %v, want %v", when, mailable, want)
		}
	}
	check("up")

	p, err := goose.NewProvider(goose.DialectPostgres, db.DB, migrations.FS())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.DownTo(context.Background(), reachableVersion-1); err != nil {
		t.Fatal(err)
	}
	var mailable []string
	if err := db.Select(&mailable, `SELECT email FROM mailable_subscriptions`); err != nil || !slices.Equal(mailable, []string{"confirmed@example.com"}) {
		t.Errorf("down: mailable %v, %v", mailable, err)
	}
	if _, err := p.UpTo(context.Background(), reachableVersion); err != nil {
		t.Fatal(err)
	}
	check("up again")
}
