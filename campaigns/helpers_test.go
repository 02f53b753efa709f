package campaigns_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/tidings/tidings/campaigns"
	"github.com/tidings/tidings/subscribers"
)

// clock is the injected time, moved by the test.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock(s string) *clock { return &clock{t: mustTime(s)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Set(s string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = mustTime(s)
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func mustTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t.UTC()
}

// env is one test's database, clock and campaigns types wired together.
type env struct {
	db    *sqlx.DB
	clock *clock
	store *campaigns.Store
	queue *campaigns.Queue
	sched *campaigns.Scheduler
}

func newEnv(tb testing.TB, db *sqlx.DB, start string) *env {
	tb.Helper()
	c := newClock(start)
	return &env{
		db:    db,
		clock: c,
		store: &campaigns.Store{DB: db, Now: c.Now},
		queue: &campaigns.Queue{},
		sched: &campaigns.Scheduler{DB: db, Now: c.Now},
	}
}

type listOpts struct {
	slug, tz, welcomeSubject, welcomeBody string
}

// MustList inserts a list and returns its id.
func MustList(tb testing.TB, db *sqlx.DB, o listOpts) int64 {
	tb.Helper()
	if o.tz == "" {
		o.tz = "UTC"
	}
	var id int64
	err := db.Get(&id, `
		INSERT INTO lists (slug, name, from_name, from_email, reply_to, timezone, postal_address, welcome_subject, welcome_body, created_at, updated_at)
		VALUES ($1, $2, 'The Coach', 'coach@example.com', 'replies@example.com', $3, '1 Main St, Springfield', $4, $5, now(), now())
		RETURNING id`, o.slug, "List "+o.slug, o.tz, o.welcomeSubject, o.welcomeBody)
	if err != nil {
		tb.Fatal(err)
	}
	return id
}

// sub is a subscriber on a list.
type sub struct {
	subscriberID, subscriptionID, listID int64
	email, tz                            string
}

// MustSubscription inserts a subscriber (if new) and its subscription with status.
func MustSubscription(tb testing.TB, db *sqlx.DB, listID int64, email, tz, status string) sub {
	tb.Helper()
	var s sub
	s.listID, s.email, s.tz = listID, email, tz
	err := db.Get(&s.subscriberID, `
		INSERT INTO subscribers (email, name, timezone, created_at, updated_at)
		VALUES ($1, 'Ada Lovelace', $2, now(), now())
		ON CONFLICT (email_key) DO UPDATE SET updated_at = now()
		RETURNING id`, email, tz)
	if err != nil {
		tb.Fatal(err)
	}
	err = db.Get(&s.subscriptionID, `
		INSERT INTO subscriptions (subscriber_id, list_id, status, created_at, updated_at)
		VALUES ($1, $2, $3, now(), now())
		RETURNING id`, s.subscriberID, listID, status)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// MustEvent sets the subscription's status for kind (as subscribers would)
// and calls q.OnEvent in the same transaction.
func MustEvent(tb testing.TB, db *sqlx.DB, q *campaigns.Queue, s sub, kind string, at time.Time) {
	tb.Helper()
	status := map[string]string{
		subscribers.EventConfirmationRequested: subscribers.StatusPending,
		subscribers.EventConfirmed:             subscribers.StatusConfirmed,
		subscribers.EventUnsubscribed:          subscribers.StatusUnsubscribed,
		subscribers.EventBounced:               subscribers.StatusBounced,
	}[kind]
	ctx := context.Background()
	tx, err := db.BeginTxx(ctx, nil)
	if err != nil {
		tb.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := tx.Exec(`UPDATE subscriptions SET status = $2 WHERE id = $1`, s.subscriptionID, status); err != nil {
		tb.Fatal(err)
	}
	e := subscribers.Event{
		SubscriptionID: s.subscriptionID, SubscriberID: s.subscriberID, ListID: s.listID,
		Kind: kind, At: at, Timezone: s.tz,
	}
	if err := q.OnEvent(ctx, tx, e); err != nil {
		tb.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		tb.Fatal(err)
	}
}

// MustStep creates a step and returns it.
func MustStep(tb testing.TB, s *campaigns.Store, listID int64, st campaigns.Step) *campaigns.Step {
	tb.Helper()
	if err := s.CreateStep(context.Background(), listID, &st); err != nil {
		tb.Fatal(err)
	}
	return &st
}

// outboxRow is an outbox row as the tests look at it.
type outboxRow struct {
	ID             int64     `db:"id"`
	Kind           string    `db:"kind"`
	SubscriptionID int64     `db:"subscription_id"`
	StepID         *int64    `db:"step_id"`
	BonusID        *int64    `db:"bonus_id"`
	Priority       int       `db:"priority"`
	Status         string    `db:"status"`
	DueAt          time.Time `db:"due_at"`
	Attempts       int       `db:"attempts"`
	MessageID      string    `db:"message_id"`
	SMTPCode       int       `db:"smtp_code"`
	LastError      string    `db:"last_error"`
	Temporary      bool      `db:"temporary"`
}

func outbox(tb testing.TB, db *sqlx.DB) []outboxRow {
	tb.Helper()
	var rows []outboxRow
	err := db.Select(&rows, `
		SELECT id, kind, subscription_id, step_id, bonus_id, priority, status, due_at, attempts, message_id, smtp_code, last_error, temporary
		FROM outbox
		ORDER BY id`)
	if err != nil {
		tb.Fatal(err)
	}
	for i := range rows {
		rows[i].DueAt = rows[i].DueAt.UTC()
	}
	return rows
}

// enrollment is an enrollment as the tests look at it.
type enrollment struct {
	LastPosition int        `db:"last_position"`
	NextStepID   *int64     `db:"next_step_id"`
	NextDueAt    *time.Time `db:"next_due_at"`
	Stopped      bool       `db:"stopped"`
	Timezone     string     `db:"timezone"`
}

func mustEnrollment(tb testing.TB, db *sqlx.DB, subscriptionID int64) enrollment {
	tb.Helper()
	var e enrollment
	err := db.Get(&e, `
		SELECT last_position, next_step_id, next_due_at, stopped_at IS NOT NULL AS stopped, timezone
		FROM enrollments
		WHERE subscription_id = $1`, subscriptionID)
	if err != nil {
		tb.Fatal(err)
	}
	if e.NextDueAt != nil {
		t := e.NextDueAt.UTC()
		e.NextDueAt = &t
	}
	return e
}

func dueString(t *time.Time) string {
	if t == nil {
		return "<nil>"
	}
	return t.UTC().Format(time.RFC3339)
}

func mustTick(tb testing.TB, s *campaigns.Scheduler) int {
	tb.Helper()
	n, err := s.Tick(context.Background())
	if err != nil {
		tb.Fatal(err)
	}
	return n
}
