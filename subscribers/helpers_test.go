package subscribers_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/tidings/tidings"
	"github.com/tidings/tidings/internal/pgtest"
	"github.com/tidings/tidings/subscribers"
)

// clock is the injected time: tests move it with Add, never by sleeping.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// recorder is an OnEvent hook that records what it was called with and
// proves, from inside the transaction, that the change is visible there.
type recorder struct {
	mu     sync.Mutex
	events []subscribers.Event
	seen   []string // the subscription's status as the hook's tx sees it
	failOn string   // kind whose hook call fails; "*" for every kind
}

var errHook = errors.New("hook failed")

func (r *recorder) OnEvent(ctx context.Context, tx *sqlx.Tx, e subscribers.Event) error {
	var status string
	if err := tx.GetContext(ctx, &status, `SELECT status FROM subscriptions WHERE id = $1`, e.SubscriptionID); err != nil {
		return fmt.Errorf("hook: subscription %d not visible in the tx: %w", e.SubscriptionID, err)
	}
	var kind string
	if err := tx.GetContext(ctx, &kind, `SELECT kind FROM events WHERE id = $1`, e.ID); err != nil {
		return fmt.Errorf("hook: event %d not visible in the tx: %w", e.ID, err)
	}
	if kind != e.Kind {
		return fmt.Errorf("hook: event %d is %q in the table, %q in the call", e.ID, kind, e.Kind)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.failOn == "*" || r.failOn == e.Kind {
		return errHook
	}
	r.events = append(r.events, e)
	r.seen = append(r.seen, status)
	return nil
}

func (r *recorder) kinds() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, e := range r.events {
		out = append(out, e.Kind)
	}
	return out
}

func (r *recorder) last() subscribers.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.events) == 0 {
		return subscribers.Event{}
	}
	return r.events[len(r.events)-1]
}

func (r *recorder) reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events, r.seen = nil, nil
}

const baseURL = "https://news.example.com"

// env is a Store on a fresh database, with its clock, links and hook.
type env struct {
	db    *sqlx.DB
	clock *clock
	store *subscribers.Store
	links *subscribers.Links
	rec   *recorder
}

func newEnv(tb testing.TB) *env {
	tb.Helper()
	db := pgtest.MustOpenDB(tb)
	c := newClock()
	tokens := &subscribers.Tokens{Secret: []byte("0123456789abcdef0123456789abcdef")}
	rec := &recorder{}
	return &env{
		db:    db,
		clock: c,
		rec:   rec,
		store: &subscribers.Store{DB: db, Now: c.Now, Tokens: tokens, OnEvent: rec.OnEvent},
		links: &subscribers.Links{BaseURL: baseURL, Paths: testPaths, Tokens: tokens, Now: c.Now},
	}
}

// MustCreateList creates a list with slug in time zone America/New_York.
func (e *env) MustCreateList(tb testing.TB, slug string) *subscribers.List {
	tb.Helper()
	l := &subscribers.List{
		Slug: slug, Name: "The " + slug, FromName: "Editor", FromEmail: "editor@example.com",
		Timezone: "America/New_York", ConsentText: "Yes, send me " + slug + " every week.",
	}
	if err := e.store.CreateList(context.Background(), l); err != nil {
		tb.Fatal(err)
	}
	return l
}

// MustSubscribe signs email up to list, as from the hosted form.
func (e *env) MustSubscribe(tb testing.TB, list, email string) {
	tb.Helper()
	if _, err := e.store.Subscribe(context.Background(), subscribers.SubscribeRequest{List: list, Email: email, Meta: testMeta}); err != nil {
		tb.Fatalf("Subscribe(%s, %s): %v", list, email, err)
	}
}

// MustConfirm signs email up to list and confirms it; it returns the subscription id.
func (e *env) MustConfirm(tb testing.TB, list, email string) int64 {
	tb.Helper()
	e.MustSubscribe(tb, list, email)
	id := e.SubscriptionID(tb, list, email)
	if _, err := e.store.Confirm(context.Background(), token(e.links.Confirm(id)), testMeta); err != nil {
		tb.Fatalf("Confirm(%s, %s): %v", list, email, err)
	}
	return id
}

var testMeta = subscribers.Meta{IP: "203.0.113.7", UserAgent: "Mozilla/5.0 (test)", Form: "hosted"}

// token is the last path element of a link.
// testPaths are the link paths the web's route table gives in production.
var testPaths = subscribers.LinkPaths{Confirm: "/confirm/{token}", Unsubscribe: "/unsubscribe/{token}", Preferences: "/preferences/{token}"}

func token(link string) string { return link[strings.LastIndexByte(link, '/')+1:] }

// SubscriptionID is the id of email's subscription on list.
func (e *env) SubscriptionID(tb testing.TB, list, email string) int64 {
	tb.Helper()
	var id int64
	err := e.db.Get(&id, `
		SELECT s.id FROM subscriptions s
		JOIN subscribers r ON r.id = s.subscriber_id
		JOIN lists l ON l.id = s.list_id
		WHERE l.slug = $1 AND r.email = $2`, list, email)
	if err != nil {
		tb.Fatalf("subscription of %s on %s: %v", email, list, err)
	}
	return id
}

// SubscriberID is the id of the subscriber with email.
func (e *env) SubscriberID(tb testing.TB, email string) int64 {
	tb.Helper()
	var id int64
	if err := e.db.Get(&id, `SELECT id FROM subscribers WHERE email = $1`, email); err != nil {
		tb.Fatalf("subscriber %s: %v", email, err)
	}
	return id
}

// Status is the status of a subscription.
func (e *env) Status(tb testing.TB, id int64) string {
	tb.Helper()
	var s string
	if err := e.db.Get(&s, `SELECT status FROM subscriptions WHERE id = $1`, id); err != nil {
		tb.Fatal(err)
	}
	return s
}

// Kinds lists the kinds of the events of a subscription, oldest first.
func (e *env) Kinds(tb testing.TB, subscriptionID int64) []string {
	tb.Helper()
	var k []string
	if err := e.db.Select(&k, `SELECT kind FROM events WHERE subscription_id = $1 ORDER BY id`, subscriptionID); err != nil {
		tb.Fatal(err)
	}
	return k
}

// counts is the number of rows in the tables a sign-up writes.
type counts struct{ Subscribers, Subscriptions, Events, Suppressions int }

func (e *env) Counts(tb testing.TB) counts {
	tb.Helper()
	var c counts
	err := e.db.QueryRow(`SELECT (SELECT count(*) FROM subscribers), (SELECT count(*) FROM subscriptions),
		(SELECT count(*) FROM events), (SELECT count(*) FROM suppressions)`).Scan(&c.Subscribers, &c.Subscriptions, &c.Events, &c.Suppressions)
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// wantCode fails unless err carries code ("" for no error).
func wantCode(tb testing.TB, what string, err error, code string) {
	tb.Helper()
	if got := tidings.ErrorCode(err); got != code {
		tb.Fatalf("%s: error %v (code %q), want code %q", what, err, got, code)
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
