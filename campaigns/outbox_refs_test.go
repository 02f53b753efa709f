package campaigns_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/tidings/tidings/campaigns"
	"github.com/tidings/tidings/internal/pgtest"
	"github.com/tidings/tidings/subscribers"
)

// orphans counts outbox rows whose subscription, subscriber, list or
// broadcast is gone, or whose subscription is another subscriber's or list's.
func orphans(tb testing.TB, db *sqlx.DB) int {
	tb.Helper()
	var n int
	err := db.Get(&n, `
		SELECT count(*)
		FROM outbox o
		LEFT JOIN subscriptions s ON s.id = o.subscription_id
		                         AND s.subscriber_id = o.subscriber_id
		                         AND s.list_id = o.list_id
		LEFT JOIN broadcasts b ON b.id = o.broadcast_id
		WHERE s.id IS NULL
		   OR (o.broadcast_id IS NOT NULL AND b.id IS NULL)`)
	if err != nil {
		tb.Fatal(err)
	}
	return n
}

// TestOutbox_References: the outbox's references, which triggers enforce
// instead of foreign keys (migration 00008), are checked on insert and
// cascade on delete as the foreign keys did.
func TestOutbox_References(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("ErrNoSubscription", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, pgtest.MustOpenDB(t), "2026-03-02T10:00:00Z")
		list := MustList(t, e.db, listOpts{slug: "coach"})
		a := MustSubscription(t, e.db, list, "a@example.com", "UTC", subscribers.StatusConfirmed)
		b := MustSubscription(t, e.db, list, "b@example.com", "UTC", subscribers.StatusConfirmed)
		for _, tc := range []struct {
			name                                 string
			subscriberID, subscriptionID, listID int64
		}{
			{"another subscriber's subscription", b.subscriberID, a.subscriptionID, list},
			{"no such subscription", a.subscriberID, a.subscriptionID + 1000, list},
			{"another list", a.subscriberID, a.subscriptionID, list + 1000},
		} {
			_, err := e.db.Exec(`
				INSERT INTO outbox (kind, subscriber_id, subscription_id, list_id, priority, due_at, created_at, updated_at)
				VALUES ('welcome', $1, $2, $3, 1, now(), now(), now())`, tc.subscriberID, tc.subscriptionID, tc.listID)
			var pqErr *pq.Error
			if !errors.As(err, &pqErr) || pqErr.Code != "23503" || pqErr.Constraint != "outbox_subscription_ref" {
				t.Errorf("%s: got %v, want foreign_key_violation of outbox_subscription_ref", tc.name, err)
			}
		}
		_, err := e.db.Exec(`
			INSERT INTO outbox (kind, subscriber_id, subscription_id, list_id, broadcast_id, priority, due_at, created_at, updated_at)
			VALUES ('broadcast', $1, $2, $3, 999999, 2, now(), now(), now())`, a.subscriberID, a.subscriptionID, list)
		var pqErr *pq.Error
		if !errors.As(err, &pqErr) || pqErr.Code != "23503" || pqErr.Constraint != "outbox_broadcast_ref" {
			t.Errorf("unknown broadcast: got %v, want foreign_key_violation of outbox_broadcast_ref", err)
		}
	})

	// ManyRows: the check on insert plans a few rows and many rows each its
	// own way (migration 00022); both refuse a row that names no
	// subscription, and let the rest in.
	t.Run("ManyRows", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, pgtest.MustOpenDB(t), "2026-03-02T10:00:00Z")
		list := MustList(t, e.db, listOpts{slug: "coach"})
		e.db.MustExec(`
			WITH r AS (
			    INSERT INTO subscribers (email, created_at, updated_at)
			    SELECT 'reader' || i || '@example.com', now(), now()
			    FROM generate_series(1, 1001) i
			    RETURNING id)
			INSERT INTO subscriptions (subscriber_id, list_id, status, created_at, updated_at)
			SELECT id, $1, 'confirmed', now(), now()
			FROM r`, list)
		const insert = `
			INSERT INTO outbox (kind, subscriber_id, subscription_id, list_id, priority, due_at, created_at, updated_at)
			SELECT 'welcome', subscriber_id, CASE WHEN row_number() OVER (ORDER BY id) = $3 THEN id + 100000 ELSE id END, list_id, 1, now(), now(), now()
			FROM (SELECT * FROM subscriptions WHERE list_id = $1 ORDER BY id LIMIT $2) s`
		for _, n := range []int{1000, 1001} {
			_, err := e.db.Exec(insert, list, n, n/2)
			var pqErr *pq.Error
			if !errors.As(err, &pqErr) || pqErr.Code != "23503" || pqErr.Constraint != "outbox_subscription_ref" {
				t.Errorf("%d rows, one naming no subscription: got %v, want foreign_key_violation of outbox_subscription_ref", n, err)
			}
			if got := orphans(t, e.db); got != 0 {
				t.Errorf("%d rows: %d orphans after a refused insert", n, got)
			}
		}
		for _, n := range []int{1000, 1001} {
			e.db.MustExec(`DELETE FROM outbox`)
			if _, err := e.db.Exec(insert, list, n, 0); err != nil {
				t.Errorf("%d rows, all naming their subscription: %v", n, err)
			}
			var got int
			if err := e.db.Get(&got, `SELECT count(*) FROM outbox`); err != nil || got != n {
				t.Errorf("%d rows inserted: %d in the outbox (%v)", n, got, err)
			}
		}
	})

	// ErrUpdate: a reference changed to something missing is refused and
	// changes nothing; one set to NULL (as DeleteBonus does) is let through.
	t.Run("ErrUpdate", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, pgtest.MustOpenDB(t), "2026-03-02T10:00:00Z")
		list := MustList(t, e.db, listOpts{slug: "coach"})
		mustSubscribers(t, e.db, list, "reader", 1)
		b := MustBroadcast(t, e.store, campaigns.Broadcast{List: "coach"})
		if _, err := e.store.SendNow(ctx, b.ID); err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct{ set, constraint string }{
			{"broadcast_id = 999999", "outbox_broadcast_ref"},
			{"step_id = 999999", "outbox_step_ref"},
			{"bonus_id = 999999", "outbox_bonus_ref"},
			{"subscription_id = subscription_id + 1000", "outbox_subscription_ref"},
		} {
			_, err := e.db.Exec(`UPDATE outbox SET ` + tc.set)
			var pqErr *pq.Error
			if !errors.As(err, &pqErr) || pqErr.Code != "23503" || pqErr.Constraint != tc.constraint {
				t.Errorf("SET %s: got %v, want foreign_key_violation of %s", tc.set, err, tc.constraint)
			}
		}
		if got := broadcastRows(t, e.db, b.ID); got["queued"] != 1 || orphans(t, e.db) != 0 {
			t.Fatalf("rows %v after refused updates, want 1 queued and no orphans", got)
		}
		e.db.MustExec(`UPDATE outbox SET broadcast_id = NULL`)
	})

	t.Run("Cascade", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, pgtest.MustOpenDB(t), "2026-03-02T10:00:00Z")
		list := MustList(t, e.db, listOpts{slug: "coach", welcomeSubject: "Welcome", welcomeBody: "Hi."})
		other := MustList(t, e.db, listOpts{slug: "other"})
		subs := mustSubscribers(t, e.db, list, "reader", 3)
		MustEvent(t, e.db, e.queue, subs[0], subscribers.EventConfirmed, e.clock.Now()) // a welcome row
		MustSubscription(t, e.db, other, "reader2@example.com", "UTC", subscribers.StatusConfirmed)
		mustSubscribers(t, e.db, other, "else", 2)
		var ids []int64
		for _, slug := range []string{"coach", "other"} {
			b := MustBroadcast(t, e.store, campaigns.Broadcast{List: slug})
			if _, err := e.store.SendNow(ctx, b.ID); err != nil {
				t.Fatal(err)
			}
			ids = append(ids, b.ID)
		}
		count := func() int {
			var n int
			if err := e.db.Get(&n, `SELECT count(*) FROM outbox`); err != nil {
				t.Fatal(err)
			}
			return n
		}
		if got := count(); got != 1+3+3 {
			t.Fatalf("%d outbox rows, want 7", got)
		}
		// A subscriber goes with its subscriptions on both lists.
		e.db.MustExec(`DELETE FROM subscribers WHERE id = $1`, subs[1].subscriberID)
		if got := count(); got != 5 {
			t.Errorf("after deleting a subscriber on both lists: %d rows, want 5", got)
		}
		e.db.MustExec(`DELETE FROM subscriptions WHERE id = $1`, subs[0].subscriptionID)
		if got := count(); got != 3 {
			t.Errorf("after deleting a subscription with a welcome and a broadcast: %d rows, want 3", got)
		}
		e.db.MustExec(`DELETE FROM broadcasts WHERE id = $1`, ids[1])
		if got := count(); got != 1 {
			t.Errorf("after deleting a broadcast: %d rows, want 1", got)
		}
		e.db.MustExec(`DELETE FROM lists WHERE id = $1`, list)
		if got := count(); got != 0 {
			t.Errorf("after deleting the list: %d rows, want 0", got)
		}
	})

	// ListWithSeries: a list whose subscribers got their welcome, bonus and
	// a step goes whole, with its steps and their outbox rows, whichever of
	// its cascades runs first.
	t.Run("ListWithSeries", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, pgtest.MustOpenDB(t), "2026-03-02T10:00:00Z")
		list := MustList(t, e.db, listOpts{slug: "coach", welcomeSubject: "Welcome", welcomeBody: "Hi."})
		if err := e.store.CreateBonus(ctx, list, &campaigns.Bonus{Subject: "Checklist", Body: "It."}); err != nil {
			t.Fatal(err)
		}
		MustStep(t, e.store, list, campaigns.Step{Subject: "A", Body: "a", DelayDays: 0})
		s := MustSubscription(t, e.db, list, "ada@example.com", "UTC", subscribers.StatusPending)
		MustEvent(t, e.db, e.queue, s, subscribers.EventConfirmed, e.clock.Now())
		e.clock.Add(time.Hour)
		mustTick(t, e.sched)
		var kinds []string
		if err := e.db.Select(&kinds, `SELECT kind FROM outbox ORDER BY id`); err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(kinds) != "[welcome bonus step]" {
			t.Fatalf("queued %v, want a welcome, a bonus and a step", kinds)
		}
		e.db.MustExec(`DELETE FROM lists WHERE id = $1`, list)
		var n int
		if err := e.db.Get(&n, `SELECT (SELECT count(*) FROM outbox) + (SELECT count(*) FROM steps)`); err != nil || n != 0 {
			t.Fatalf("%d outbox rows and steps left (%v), want none", n, err)
		}
	})

	// DeleteWaits: a subscriber deleted while a broadcast is being queued
	// waits for it and then takes its rows with it; one deleted first makes
	// the start fail and change nothing.
	t.Run("DeleteWaits", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, pgtest.MustOpenDB(t), "2026-03-02T10:00:00Z")
		list := MustList(t, e.db, listOpts{slug: "coach"})
		subs := mustSubscribers(t, e.db, list, "reader", 3)
		b := MustBroadcast(t, e.store, campaigns.Broadcast{List: "coach"})

		tx := e.db.MustBegin()
		defer tx.Rollback()
		tx.MustExec(`
			INSERT INTO outbox (kind, subscriber_id, subscription_id, list_id, broadcast_id, priority, due_at, created_at, updated_at)
			SELECT 'broadcast', m.subscriber_id, m.subscription_id, m.list_id, $1, 2, now(), now(), now()
			FROM mailable_subscriptions m
			WHERE m.list_id = $2`, b.ID, list)
		var pid int
		if err := tx.Get(&pid, `SELECT pg_backend_pid()`); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() {
			_, err := e.db.Exec(`DELETE FROM subscribers WHERE id = $1`, subs[0].subscriberID)
			done <- err
		}()
		mustWaitBlocked(t, e.db, pid)
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if got := broadcastRows(t, e.db, b.ID); got["queued"] != 2 || orphans(t, e.db) != 0 {
			t.Fatalf("rows %v with %d orphans, want 2 queued and none", got, orphans(t, e.db))
		}

		// The other way round: the delete holds the subscription, the start waits for it.
		b2 := MustBroadcast(t, e.store, campaigns.Broadcast{List: "coach"})
		del := e.db.MustBegin()
		defer del.Rollback()
		del.MustExec(`DELETE FROM subscribers WHERE id = $1`, subs[1].subscriberID)
		if err := del.Get(&pid, `SELECT pg_backend_pid()`); err != nil {
			t.Fatal(err)
		}
		go func() {
			_, err := e.store.SendNow(ctx, b2.ID)
			done <- err
		}()
		mustWaitBlocked(t, e.db, pid)
		if err := del.Commit(); err != nil {
			t.Fatal(err)
		}
		var pqErr *pq.Error
		if err := <-done; !errors.As(err, &pqErr) || pqErr.Code != "23503" {
			t.Fatalf("SendNow: got %v, want a foreign_key_violation", err)
		}
		got, err := e.store.BroadcastByID(ctx, b2.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != campaigns.BroadcastDraft || len(broadcastRows(t, e.db, b2.ID)) != 0 || orphans(t, e.db) != 0 {
			t.Fatalf("broadcast %s with rows %v, want a draft with none", got.Status, broadcastRows(t, e.db, b2.ID))
		}
		// Started again, it goes to whoever is left.
		if got, err := e.store.SendNow(ctx, b2.ID); err != nil || got.Recipients != 1 {
			t.Fatalf("SendNow again: %v, %+v, want 1 recipient", err, got)
		}
	})
}

// mustWaitBlocked returns once some backend is waiting for a lock that the
// backend pid holds.
func mustWaitBlocked(tb testing.TB, db *sqlx.DB, pid int) {
	tb.Helper()
	for range 100000 {
		var blocked bool
		err := db.Get(&blocked, `
			SELECT EXISTS (
				SELECT 1
				FROM pg_stat_activity
				WHERE $1 = ANY (pg_blocking_pids(pid)))`, pid)
		if err != nil {
			tb.Fatal(err)
		}
		if blocked {
			return
		}
	}
	tb.Fatal("no backend waited for the lock")
}

// TestStore_SendNow_Restarted: a broadcast whose status was set back by hand
// after it had queued its rows queues only the recipients it had not (the
// ON CONFLICT path of startBroadcast).
func TestStore_SendNow_Restarted(t *testing.T) {
	t.Parallel()
	e := newEnv(t, pgtest.MustOpenDB(t), "2026-03-02T10:00:00Z")
	ctx := context.Background()
	list := MustList(t, e.db, listOpts{slug: "coach"})
	mustSubscribers(t, e.db, list, "reader", 3)
	b := MustBroadcast(t, e.store, campaigns.Broadcast{List: "coach"})
	if _, err := e.store.SendNow(ctx, b.ID); err != nil {
		t.Fatal(err)
	}
	mustSubscribers(t, e.db, list, "late", 2)
	e.db.MustExec(`UPDATE broadcasts SET status = 'draft' WHERE id = $1`, b.ID)
	got, err := e.store.SendNow(ctx, b.ID)
	if err != nil {
		t.Fatal(err)
	}
	if rows := broadcastRows(t, e.db, b.ID); rows["queued"] != 5 || len(rows) != 1 || got.Recipients != 5 {
		t.Fatalf("rows %v, recipients %d, want 5 queued once each", rows, got.Recipients)
	}
}
