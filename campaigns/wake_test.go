package campaigns_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/lib/pq"

	"github.com/tidings/tidings/campaigns"
	"github.com/tidings/tidings/internal/pgtest"
	"github.com/tidings/tidings/subscribers"
)

// woken waits for a value on wake, and fails the test after a while.
func woken(tb testing.TB, wake <-chan struct{}, what string) {
	tb.Helper()
	select {
	case <-wake:
	case <-time.After(30 * time.Second):
		tb.Fatalf("not woken %s", what)
	}
}

// TestListenQueue: the listener wakes when it starts listening and when
// mail is queued.
func TestListenQueue(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	db, dsn := pgtest.MustOpenDBURL(t)
	e := newEnv(t, db, "2026-03-02T10:00:00Z")
	list := MustList(t, e.db, listOpts{slug: "coach", welcomeSubject: "Welcome", welcomeBody: "Hi"})
	wake := campaigns.ListenQueue(ctx, dsn, slog.New(slog.DiscardHandler))
	woken(t, wake, "when it started listening")
	s := MustSubscription(t, e.db, list, "ann@example.com", "UTC", subscribers.StatusPending)
	MustEvent(t, e.db, e.queue, s, subscribers.EventConfirmed, e.clock.Now())
	woken(t, wake, "by queued mail")
}

// TestQueueNotifications: the triggers of migration 00012 notify once per
// transaction that queues mail or sets a broadcast sending, when it
// commits, and not otherwise.
func TestQueueNotifications(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, dsn := pgtest.MustOpenDBURL(t)
	e := newEnv(t, db, "2026-03-02T10:00:00Z")
	list := MustList(t, e.db, listOpts{slug: "coach", welcomeSubject: "Welcome", welcomeBody: "Hi"})
	if err := e.store.CreateBonus(ctx, list, &campaigns.Bonus{Subject: "Bonus", Body: "b"}); err != nil {
		t.Fatal(err)
	}
	l := pq.NewListener(dsn, time.Second, time.Second, nil)
	t.Cleanup(func() { l.Close() })
	if err := l.Listen(campaigns.QueueChannel); err != nil {
		t.Fatal(err)
	}
	// count runs do and returns how many notifications it caused: those
	// that arrive before a marker sent after it (notifications arrive in
	// the order their transactions commit).
	count := func(what string, do func() error) int {
		t.Helper()
		if err := do(); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if _, err := e.db.Exec(`SELECT pg_notify($1, 'marker')`, campaigns.QueueChannel); err != nil {
			t.Fatal(err)
		}
		n := 0
		for {
			select {
			case m := <-l.Notify:
				if m == nil {
					t.Fatalf("%s: the listener reconnected", what)
				}
				if m.Extra == "marker" {
					return n
				}
				n++
			case <-time.After(30 * time.Second):
				t.Fatalf("%s: no marker", what)
			}
		}
	}
	var s sub
	tests := []struct {
		what string
		do   func() error
		want int
	}{
		{"a confirmation (welcome and bonus queued)", func() error {
			s = MustSubscription(t, e.db, list, "ann@example.com", "UTC", subscribers.StatusPending)
			MustEvent(t, e.db, e.queue, s, subscribers.EventConfirmed, e.clock.Now())
			return nil
		}, 1},
		{"an insert rolled back", func() error {
			tx := e.db.MustBegin()
			if _, err := tx.Exec(`INSERT INTO outbox (kind, subscriber_id, subscription_id, list_id, ref, priority, status, due_at, created_at, updated_at)
				SELECT 'welcome', subscriber_id, id, list_id, 7, 1, 'queued', now(), now(), now() FROM subscriptions WHERE id = $1`, s.subscriptionID); err != nil {
				return err
			}
			return tx.Rollback()
		}, 0},
		{"outcomes recorded", func() error {
			_, err := e.db.Exec(`UPDATE outbox SET status = 'sent', attempts = 1`)
			return err
		}, 0},
	}
	for _, tt := range tests {
		if got := count(tt.what, tt.do); got != tt.want {
			t.Errorf("%s: %d notifications, want %d", tt.what, got, tt.want)
		}
	}
	id := MustBroadcast(t, e.store, campaigns.Broadcast{List: "coach"}).ID
	for _, tt := range []struct {
		what string
		do   func(context.Context, int64) (*campaigns.Broadcast, error)
		want int
	}{
		{"send now", e.store.SendNow, 1},
		{"pause", e.store.Pause, 0},
		{"resume", e.store.Resume, 1},
		{"cancel", e.store.Cancel, 0},
	} {
		got := count(tt.what, func() error { _, err := tt.do(ctx, id); return err })
		if got != tt.want {
			t.Errorf("%s: %d notifications, want %d", tt.what, got, tt.want)
		}
	}
}

// TestDispatcher_Wake: with Wake from ListenQueue, Run sends mail queued
// while it waits at once, long before its next poll.
func TestDispatcher_Wake(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	db, dsn := pgtest.MustOpenDBURL(t)
	e := newMailEnvDB(t, db, "2026-03-02T10:00:00Z")
	list := MustList(t, e.db, listOpts{slug: "coach", welcomeSubject: "Welcome", welcomeBody: "Hi"})
	d := e.dispatcher(t)
	d.PollInterval = time.Hour
	d.Wake = campaigns.ListenQueue(ctx, dsn, slog.New(slog.DiscardHandler))

	// The first claim sends ann's welcome; the next finds nothing, and Run
	// waits.
	s := MustSubscription(t, e.db, list, "ann@example.com", "UTC", subscribers.StatusPending)
	MustEvent(t, e.db, e.queue, s, subscribers.EventConfirmed, e.clock.Now())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	wctx, wcancel := context.WithTimeout(ctx, 30*time.Second)
	defer wcancel()
	if err := e.catch.WaitFor(wctx, 1); err != nil {
		t.Fatal(err)
	}
	s = MustSubscription(t, e.db, list, "bob@example.com", "UTC", subscribers.StatusPending)
	MustEvent(t, e.db, e.queue, s, subscribers.EventConfirmed, e.clock.Now())
	if err := e.catch.WaitFor(wctx, 2); err != nil {
		t.Fatalf("bob's welcome: %v (Run waits for its next poll, in an hour)", err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
