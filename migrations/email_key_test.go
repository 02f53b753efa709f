package migrations_test

import (
	"context"
	"errors"
	"io/fs"
	"strconv"
	"strings"
	"testing"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
	"github.com/pressly/goose/v3"

	"github.com/tidings/tidings/internal/pgtest"
	"github.com/tidings/tidings/migrations"
)

// emailKeyVersion is the migration that makes addresses unique by case.
const emailKeyVersion = 15

// mustMigrateBefore applies the migrations before version to a new empty
// database and returns it.
func mustMigrateBefore(t *testing.T, version int64) *sqlx.DB {
	t.Helper()
	db := sqlx.MustOpen("postgres", pgtest.MustCreateEmptyDB(t))
	t.Cleanup(func() { db.Close() })
	files, err := fs.Glob(migrations.FS(), "*.sql")
	if err != nil {
		t.Fatal(err)
	}
	var before int64
	for _, f := range files {
		n, err := strconv.ParseInt(strings.SplitN(f, "_", 2)[0], 10, 64)
		if err == nil && n < version && n > before {
			before = n
		}
	}
	p, err := goose.NewProvider(goose.DialectPostgres, db.DB, migrations.FS())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.UpTo(context.Background(), before); err != nil {
		t.Fatal(err)
	}
	return db
}

// TestEmailKey_MergesCaseDuplicates seeds three spellings of one address
// (and two of a suppression) before the migration, with subscriptions,
// events, messages, an enrollment and tags, and checks what the migration
// makes of them: one subscriber, the oldest, holding every event; one
// subscription per list; one message per key; the tags of all.
func TestEmailKey_MergesCaseDuplicates(t *testing.T) {
	t.Parallel()
	db := mustMigrateBefore(t, emailKeyVersion)
	seed := `
		INSERT INTO lists (id, slug, name, from_email, created_at, updated_at) VALUES
		    (1, 'news', 'News', 'ed@example.com', '2026-01-01', '2026-01-01'),
		    (2, 'tips', 'Tips', 'ed@example.com', '2026-01-01', '2026-01-01');
		INSERT INTO steps (id, list_id, position, subject, body, delay_days, created_at, updated_at) VALUES
		    (1, 1, 1, 'Step 1', 'Hello', 0, '2026-01-01', '2026-01-01');
		INSERT INTO broadcasts (id, list_id, subject, body, status, created_at, updated_at) VALUES
		    (1, 1, 'B', 'Body', 'sent', '2026-01-01', '2026-01-01');
		INSERT INTO subscribers (id, email, name, timezone, tags, created_at, updated_at) VALUES
		    (10, 'casea@example.com', '', '', '{x,z}', '2026-01-03', '2026-01-03'),
		    (11, 'CaseA@example.com', '', '', '{x}', '2026-01-01', '2026-01-01'),
		    (12, 'CASEA@example.com', 'Ada', 'Europe/Berlin', '{y}', '2026-01-02', '2026-01-02'),
		    (13, 'other@example.com', 'Other', '', '{}', '2026-01-01', '2026-01-01');
		INSERT INTO subscriptions (id, subscriber_id, list_id, status, confirmed_at, unsubscribed_at, created_at, updated_at) VALUES
		    (100, 11, 1, 'pending', NULL, NULL, '2026-01-01', '2026-01-01'),
		    (101, 12, 1, 'confirmed', '2026-01-02 10:00', NULL, '2026-01-02', '2026-01-02'),
		    (102, 10, 2, 'unsubscribed', '2026-01-03 10:00', '2026-01-04', '2026-01-03', '2026-01-04'),
		    (103, 13, 1, 'confirmed', '2026-01-01', NULL, '2026-01-01', '2026-01-01');
		INSERT INTO events (subscription_id, subscriber_id, list_id, kind, at) VALUES
		    (100, 11, 1, 'subscribed', '2026-01-01'),
		    (100, 11, 1, 'confirmation_requested', '2026-01-01'),
		    (101, 12, 1, 'subscribed', '2026-01-02'),
		    (101, 12, 1, 'confirmed', '2026-01-02 10:00'),
		    (102, 10, 2, 'subscribed', '2026-01-03'),
		    (102, 10, 2, 'confirmed', '2026-01-03 10:00'),
		    (102, 10, 2, 'unsubscribed', '2026-01-04'),
		    (103, 13, 1, 'imported', '2026-01-01');
		INSERT INTO outbox (id, kind, subscriber_id, subscription_id, list_id, step_id, broadcast_id, ref, priority, status, due_at, created_at, updated_at) VALUES
		    (1000, 'confirm', 11, 100, 1, NULL, NULL, 0, 0, 'sent', '2026-01-01', '2026-01-01', '2026-01-01'),
		    (1001, 'confirm', 12, 101, 1, NULL, NULL, 0, 0, 'sent', '2026-01-02', '2026-01-02', '2026-01-02'),
		    (1002, 'broadcast', 12, 101, 1, NULL, 1, 0, 2, 'sent', '2026-01-05', '2026-01-05', '2026-01-05'),
		    (1003, 'broadcast', 11, 100, 1, NULL, 1, 0, 2, 'skipped', '2026-01-05', '2026-01-05', '2026-01-05'),
		    (1004, 'step', 12, 101, 1, 1, NULL, 0, 1, 'queued', '2026-01-06', '2026-01-02', '2026-01-02'),
		    (1005, 'confirm', 10, 102, 2, NULL, NULL, 0, 0, 'sent', '2026-01-03', '2026-01-03', '2026-01-03');
		INSERT INTO enrollments (subscription_id, subscriber_id, list_id, timezone, anchor_at, created_at, updated_at) VALUES
		    (101, 12, 1, 'UTC', '2026-01-02 10:00', '2026-01-02', '2026-01-02');
		INSERT INTO suppressions (email, reason, created_at) VALUES
		    ('CaseB@example.com', 'bounced first', '2026-01-01'),
		    ('caseb@example.com', 'bounced again', '2026-01-02'),
		    ('plain@example.com', 'complained', '2026-01-01');`
	if _, err := db.Exec(seed); err != nil {
		t.Fatal(err)
	}
	var eventsBefore int
	db.Get(&eventsBefore, `SELECT count(*) FROM events`)

	if err := migrations.Up(context.Background(), db.DB); err != nil {
		t.Fatal(err)
	}

	var subs []struct {
		ID       int64          `db:"id"`
		Email    string         `db:"email"`
		Name     string         `db:"name"`
		Timezone string         `db:"timezone"`
		Tags     pq.StringArray `db:"tags"`
	}
	if err := db.Select(&subs, `SELECT id, email, name, timezone, tags FROM subscribers ORDER BY id`); err != nil {
		t.Fatal(err)
	}
	if len(subs) != 2 || subs[0].ID != 11 || subs[0].Email != "CaseA@example.com" || subs[0].Name != "Ada" ||
		subs[0].Timezone != "Europe/Berlin" || strings.Join(subs[0].Tags, ",") != "x,y,z" || subs[1].ID != 13 {
		t.Fatalf("subscribers after the merge: %+v; want the oldest (11, CaseA@example.com, Ada, Europe/Berlin, x,y,z) and 13", subs)
	}

	var events []struct {
		SubscriptionID int64 `db:"subscription_id"`
		SubscriberID   int64 `db:"subscriber_id"`
		Kind           string
	}
	if err := db.Select(&events, `SELECT subscription_id, subscriber_id, kind FROM events WHERE subscriber_id <> 13 OR subscriber_id IS NULL ORDER BY id`); err != nil {
		t.Fatal(err)
	}
	if len(events) != eventsBefore-1 {
		t.Fatalf("%d events of the merged subscriber, want all %d", len(events), eventsBefore-1)
	}
	for i, e := range events {
		wantSub := int64(101)
		if i >= 4 {
			wantSub = 102
		}
		if e.SubscriberID != 11 || e.SubscriptionID != wantSub {
			t.Errorf("event %d (%s): subscriber %d subscription %d, want 11 and %d", i, e.Kind, e.SubscriberID, e.SubscriptionID, wantSub)
		}
	}

	var subscriptions []struct {
		ID, SubscriberID, ListID int64
		Status                   string
	}
	if err := db.Select(&subscriptions, `SELECT id, subscriber_id AS subscriberid, list_id AS listid, status FROM subscriptions ORDER BY id`); err != nil {
		t.Fatal(err)
	}
	want := "101:11:1:confirmed 102:11:2:unsubscribed 103:13:1:confirmed"
	var got []string
	for _, s := range subscriptions {
		got = append(got, strconv.FormatInt(s.ID, 10)+":"+strconv.FormatInt(s.SubscriberID, 10)+":"+strconv.FormatInt(s.ListID, 10)+":"+s.Status)
	}
	if strings.Join(got, " ") != want {
		t.Errorf("subscriptions %v, want %s (id:subscriber:list:status)", got, want)
	}
	var into int64
	if err := db.Get(&into, `SELECT into_id FROM subscription_merges WHERE from_id = 100`); err != nil || into != 101 {
		t.Errorf("subscription 100 merged into %d (%v), want 101", into, err)
	}

	var outbox []string
	if err := db.Select(&outbox, `SELECT id || ':' || subscriber_id || ':' || subscription_id || ':' || status FROM outbox ORDER BY id`); err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(outbox, " "), "1000:11:101:sent 1002:11:101:sent 1004:11:101:queued 1005:11:102:sent"; got != want {
		t.Errorf("outbox %s, want %s (one message per key, the sent one kept)", got, want)
	}
	var enrolled int64
	if err := db.Get(&enrolled, `SELECT subscriber_id FROM enrollments WHERE subscription_id = 101`); err != nil || enrolled != 11 {
		t.Errorf("enrollment of 101: subscriber %d (%v), want 11", enrolled, err)
	}

	var sup []string
	if err := db.Select(&sup, `SELECT email || ':' || reason FROM suppressions ORDER BY email`); err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(sup, " "), "caseb@example.com:bounced first plain@example.com:complained"; got != want {
		t.Errorf("suppressions %s, want %s", got, want)
	}

	// Another spelling of the address can no longer be stored.
	_, err := db.Exec(`INSERT INTO subscribers (email, created_at, updated_at) VALUES ('casea@EXAMPLE.com', now(), now())`)
	var pqErr *pq.Error
	if !errors.As(err, &pqErr) || pqErr.Code != "23505" {
		t.Errorf("insert of another spelling: %v, want a unique violation", err)
	}
}
