package campaigns_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/tidings/tidings/campaigns"
	"github.com/tidings/tidings/internal/pgtest"
	"github.com/tidings/tidings/subscribers"
)

// stepRows returns the step ids queued for a subscription, in order.
func stepRows(tb testing.TB, e *env, subscriptionID int64) []int64 {
	tb.Helper()
	var ids []int64
	for _, r := range outbox(tb, e.db) {
		if r.SubscriptionID == subscriptionID && r.Kind == campaigns.KindStep && r.Status != campaigns.StatusSkipped {
			ids = append(ids, *r.StepID)
		}
	}
	return ids
}

func wantDue(tb testing.TB, e *env, s sub, stepID int64, due string) {
	tb.Helper()
	en := mustEnrollment(tb, e.db, s.subscriptionID)
	if stepID == 0 {
		if en.NextStepID != nil || en.NextDueAt != nil {
			tb.Fatalf("%s: next step %v due %s, want finished", s.email, en.NextStepID, dueString(en.NextDueAt))
		}
		return
	}
	if en.NextStepID == nil || *en.NextStepID != stepID || dueString(en.NextDueAt) != due {
		var got int64
		if en.NextStepID != nil {
			got = *en.NextStepID
		}
		tb.Fatalf("%s: next step %d due %s, want step %d due %s", s.email, got, dueString(en.NextDueAt), stepID, due)
	}
}

// tickAt moves the clock to at, ticks, and checks how many steps were queued.
func tickAt(tb testing.TB, e *env, at string, want int) {
	tb.Helper()
	e.clock.Set(at)
	if got := mustTick(tb, e.sched); got != want {
		tb.Fatalf("tick at %s queued %d, want %d", at, got, want)
	}
}

// TestScheduler_Sequence follows one subscriber in New York through the
// sequence: step 1 at 09:00 local the day after confirming, step 2 a week
// later across the spring change to daylight-saving time (still 09:00 local,
// now UTC-4), and a step added after they had finished, at their next slot.
func TestScheduler_Sequence(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t, pgtest.MustOpenDB(t), "2026-03-02T20:00:00Z") // Monday, 15:00 in New York
	list := MustList(t, e.db, listOpts{slug: "coach", tz: "Europe/Berlin"})
	s1 := MustStep(t, e.store, list, campaigns.Step{Subject: "Step 1", Body: "One", DelayDays: 1, SendTime: "09:00"})
	s2 := MustStep(t, e.store, list, campaigns.Step{Subject: "Step 2", Body: "Two", DelayDays: 7, SendTime: "09:00"})
	ny := MustSubscription(t, e.db, list, "ny@example.com", "America/New_York", subscribers.StatusPending)
	MustEvent(t, e.db, e.queue, ny, subscribers.EventConfirmed, e.clock.Now())
	wantDue(t, e, ny, s1.ID, "2026-03-03T14:00:00Z")

	tickAt(t, e, "2026-03-03T13:59:59Z", 0)
	tickAt(t, e, "2026-03-03T14:00:00Z", 1)
	tickAt(t, e, "2026-03-03T14:00:00Z", 0) // the same tick again: nothing twice
	if got := stepRows(t, e, ny.subscriptionID); len(got) != 1 || got[0] != s1.ID {
		t.Fatalf("queued steps %v, want [%d]", got, s1.ID)
	}
	// 8 March 2026: New York moves to UTC-4; 09:00 local is now 13:00Z.
	wantDue(t, e, ny, s2.ID, "2026-03-10T13:00:00Z")
	tickAt(t, e, "2026-03-10T12:59:00Z", 0)
	tickAt(t, e, "2026-03-10T13:00:05Z", 1)
	wantDue(t, e, ny, 0, "")
	rows := outbox(t, e.db)
	if r := rows[len(rows)-1]; r.Kind != "step" || *r.StepID != s2.ID || r.Priority != 1 || r.Status != "queued" ||
		r.DueAt.Format(time.RFC3339) != "2026-03-10T13:00:00Z" {
		t.Fatalf("step 2 row %+v", r)
	}

	// Finished. A step added on Friday 20 March at 11:00 local, seven days
	// after the last one: that was due on the 17th, so it goes at the next
	// 09:00, Saturday's.
	tickAt(t, e, "2026-03-20T15:00:00Z", 0)
	s3 := MustStep(t, e.store, list, campaigns.Step{Subject: "Step 3", Body: "Three", DelayDays: 7, SendTime: "09:00"})
	wantDue(t, e, ny, s3.ID, "2026-03-21T13:00:00Z")
	tickAt(t, e, "2026-03-21T12:59:00Z", 0)
	tickAt(t, e, "2026-03-21T13:00:00Z", 1)
	if got, want := stepRows(t, e, ny.subscriptionID), []int64{s1.ID, s2.ID, s3.ID}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("queued steps %v, want %v", got, want)
	}

	// A step added while the last one is recent keeps its delay.
	s4 := MustStep(t, e.store, list, campaigns.Step{Subject: "Step 4", Body: "Four", DelayDays: 2})
	wantDue(t, e, ny, s4.ID, "2026-03-23T13:00:00Z")
	_ = ctx
}

// TestScheduler_Zones checks the weekday restriction and that each
// subscriber's own zone (or the list's when they have none) decides.
func TestScheduler_Zones(t *testing.T) {
	t.Parallel()
	e := newEnv(t, pgtest.MustOpenDB(t), "2026-03-02T20:00:00Z") // Monday
	list := MustList(t, e.db, listOpts{slug: "coach", tz: "Asia/Tokyo"})
	mon := MustStep(t, e.store, list, campaigns.Step{Subject: "Mondays", Body: "x", DelayDays: 1, SendTime: "09:00", Weekdays: []string{"mon"}})
	ny := MustSubscription(t, e.db, list, "ny@example.com", "America/New_York", subscribers.StatusPending)
	berlin := MustSubscription(t, e.db, list, "berlin@example.com", "Europe/Berlin", subscribers.StatusPending)
	none := MustSubscription(t, e.db, list, "none@example.com", "", subscribers.StatusPending)
	bad := MustSubscription(t, e.db, list, "bad@example.com", "Mars/Olympus", subscribers.StatusPending)
	for _, s := range []sub{ny, berlin, none, bad} {
		MustEvent(t, e.db, e.queue, s, subscribers.EventConfirmed, e.clock.Now())
	}
	// From Tuesday 3 March, the next Monday is 9 March.
	wantDue(t, e, ny, mon.ID, "2026-03-09T13:00:00Z")     // 09:00 EDT
	wantDue(t, e, berlin, mon.ID, "2026-03-09T08:00:00Z") // 09:00 CET
	wantDue(t, e, none, mon.ID, "2026-03-09T00:00:00Z")   // 09:00 JST (the list's zone)
	wantDue(t, e, bad, mon.ID, "2026-03-09T00:00:00Z")
	if en := mustEnrollment(t, e.db, bad.subscriptionID); en.Timezone != "Asia/Tokyo" {
		t.Fatalf("bad zone enrolled as %q", en.Timezone)
	}
	tickAt(t, e, "2026-03-08T23:59:00Z", 0)
	tickAt(t, e, "2026-03-09T00:00:00Z", 2)
	tickAt(t, e, "2026-03-09T08:00:00Z", 1)
	tickAt(t, e, "2026-03-09T13:00:00Z", 1)
}

// TestScheduler_EditSequence: deleting a step skips it (and its queued
// messages), retiming a step moves those waiting for it, and a step inserted
// ahead of someone's place reaches them while one behind it does not.
func TestScheduler_EditSequence(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t, pgtest.MustOpenDB(t), "2026-03-01T10:00:00Z")
	list := MustList(t, e.db, listOpts{slug: "coach"})
	a := MustStep(t, e.store, list, campaigns.Step{Subject: "A", Body: "a", DelayDays: 1})
	b := MustStep(t, e.store, list, campaigns.Step{Subject: "B", Body: "b", DelayDays: 7})
	c := MustStep(t, e.store, list, campaigns.Step{Subject: "C", Body: "c", DelayDays: 7})
	early := MustSubscription(t, e.db, list, "early@example.com", "UTC", subscribers.StatusPending)
	MustEvent(t, e.db, e.queue, early, subscribers.EventConfirmed, e.clock.Now())
	tickAt(t, e, "2026-03-02T10:00:00Z", 1) // early: A
	late := MustSubscription(t, e.db, list, "late@example.com", "UTC", subscribers.StatusPending)
	e.clock.Set("2026-03-08T10:00:00Z")
	MustEvent(t, e.db, e.queue, late, subscribers.EventConfirmed, e.clock.Now())
	tickAt(t, e, "2026-03-09T10:00:00Z", 2) // early: B, late: A

	// Delete B: early's queued B is skipped; late goes from A to C, seven
	// days after A.
	if err := e.store.DeleteStep(ctx, list, b.ID); err != nil {
		t.Fatal(err)
	}
	for _, r := range outbox(t, e.db) {
		if r.StepID != nil && *r.StepID == b.ID && r.Status != campaigns.StatusSkipped {
			t.Fatalf("row of deleted step: %+v", r)
		}
	}
	wantDue(t, e, early, c.ID, "2026-03-16T10:00:00Z")
	wantDue(t, e, late, c.ID, "2026-03-16T10:00:00Z")

	// Retime C: both wait 14 days after their last step instead of 7.
	if _, err := e.store.UpdateStep(ctx, list, c.ID, campaigns.StepUpdate{DelayDays: ptr(14), SendTime: ptr("18:30")}); err != nil {
		t.Fatal(err)
	}
	wantDue(t, e, early, c.ID, "2026-03-23T18:30:00Z")
	wantDue(t, e, late, c.ID, "2026-03-23T18:30:00Z")
	// A new subject alone moves no one.
	if _, err := e.store.UpdateStep(ctx, list, c.ID, campaigns.StepUpdate{Subject: ptr("C, new")}); err != nil {
		t.Fatal(err)
	}
	wantDue(t, e, late, c.ID, "2026-03-23T18:30:00Z")

	// Insert D right after A: ahead of both (they passed A only), so it is next.
	e.clock.Set("2026-03-10T10:00:00Z")
	d := MustStep(t, e.store, list, campaigns.Step{Subject: "D", Body: "d", DelayDays: 3, Position: 2})
	wantDue(t, e, early, d.ID, "2026-03-12T10:00:00Z") // three days after B was due (the 9th)
	wantDue(t, e, late, d.ID, "2026-03-12T10:00:00Z")  // three days after A was due (the 9th)
	// Insert E at the very start: behind both, so it changes nothing for them.
	MustStep(t, e.store, list, campaigns.Step{Subject: "E", Body: "e", DelayDays: 0, Position: 1})
	wantDue(t, e, late, d.ID, "2026-03-12T10:00:00Z")

	tickAt(t, e, "2026-03-12T10:00:00Z", 2)
	tickAt(t, e, "2026-03-26T18:30:00Z", 2)
	tickAt(t, e, "2026-06-01T00:00:00Z", 0)
	if got, want := stepRows(t, e, early.subscriptionID), []int64{a.ID, d.ID, c.ID}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("early got steps %v, want %v", got, want)
	}
	if got, want := stepRows(t, e, late.subscriptionID), []int64{a.ID, d.ID, c.ID}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("late got steps %v, want %v", got, want)
	}
	wantDue(t, e, late, 0, "")
}

// TestScheduler_CatchUp: after the scheduler was down for weeks, an overdue
// step goes at once but the one after it keeps its delay: no burst.
func TestScheduler_CatchUp(t *testing.T) {
	t.Parallel()
	e := newEnv(t, pgtest.MustOpenDB(t), "2026-03-01T10:00:00Z")
	list := MustList(t, e.db, listOpts{slug: "coach"})
	MustStep(t, e.store, list, campaigns.Step{Subject: "A", Body: "a", DelayDays: 1})
	MustStep(t, e.store, list, campaigns.Step{Subject: "A2", Body: "right after A", DelayDays: 0})
	b := MustStep(t, e.store, list, campaigns.Step{Subject: "B", Body: "b", DelayDays: 7, SendTime: "09:00"})
	s := MustSubscription(t, e.db, list, "x@example.com", "UTC", subscribers.StatusPending)
	MustEvent(t, e.db, e.queue, s, subscribers.EventConfirmed, e.clock.Now())
	tickAt(t, e, "2026-04-01T12:00:00Z", 2) // A and A2, which has no delay
	wantDue(t, e, s, b.ID, "2026-04-08T09:00:00Z")
}

func TestScheduler_Tick(t *testing.T) {
	t.Parallel()

	// Many subscribers, small batches, several instances ticking at once:
	// every due step is queued exactly once, by one Tick call each.
	t.Run("Concurrent", func(t *testing.T) {
		t.Parallel()
		ctx := context.Background()
		e := newEnv(t, pgtest.MustOpenDB(t), "2026-03-02T10:00:00Z")
		list := MustList(t, e.db, listOpts{slug: "coach"})
		st := MustStep(t, e.store, list, campaigns.Step{Subject: "A", Body: "a", DelayDays: 1, SendTime: "09:00"})
		MustStep(t, e.store, list, campaigns.Step{Subject: "B", Body: "b", DelayDays: 7})
		const n = 300
		mustConfirmMany(t, e, list, n, "UTC")
		e.clock.Set("2026-03-03T09:00:00Z")

		// One Tick with batches of 7 queues them all.
		one := &campaigns.Scheduler{DB: e.db, Now: e.clock.Now, BatchSize: 7}
		var wg sync.WaitGroup
		counts := make([]int, 4)
		for i := range counts {
			wg.Go(func() {
				s := *one
				if i > 0 {
					s.BatchSize = 50
				}
				n, err := s.Tick(ctx)
				if err != nil {
					t.Error(err)
				}
				counts[i] = n
			})
		}
		wg.Wait()
		total := 0
		for _, c := range counts {
			total += c
		}
		// A Tick that finds the lock held leaves the rest to the holder, so
		// one more Tick picks up anything left over.
		total += mustTick(t, one)
		if total != n {
			t.Fatalf("ticks queued %v (+ rest) = %d, want %d", counts, total, n)
		}
		var rows, distinct, advanced int
		if err := e.db.Get(&rows, `SELECT count(*) FROM outbox WHERE step_id = $1`, st.ID); err != nil {
			t.Fatal(err)
		}
		if err := e.db.Get(&distinct, `SELECT count(DISTINCT subscriber_id) FROM outbox WHERE step_id = $1`, st.ID); err != nil {
			t.Fatal(err)
		}
		if err := e.db.Get(&advanced, `SELECT count(*) FROM enrollments WHERE last_position = 1 AND next_due_at = '2026-03-10T09:00:00Z'`); err != nil {
			t.Fatal(err)
		}
		if rows != n || distinct != n || advanced != n {
			t.Fatalf("%d rows for %d subscribers, %d advanced; want %d each", rows, distinct, advanced, n)
		}
		if got := mustTick(t, one); got != 0 {
			t.Fatalf("tick again queued %d", got)
		}
	})

	// While another instance holds the lock, a Tick does nothing.
	t.Run("Locked", func(t *testing.T) {
		t.Parallel()
		ctx := context.Background()
		e := newEnv(t, pgtest.MustOpenDB(t), "2026-03-02T10:00:00Z")
		list := MustList(t, e.db, listOpts{slug: "coach"})
		MustStep(t, e.store, list, campaigns.Step{Subject: "A", Body: "a", DelayDays: 0})
		mustConfirmMany(t, e, list, 3, "UTC")
		tx, err := e.db.BeginTxx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback()
		var ok bool
		if err := tx.Get(&ok, `SELECT pg_try_advisory_xact_lock(x'746964696e6773'::bigint)`); err != nil || !ok {
			t.Fatalf("lock: %v %v", ok, err)
		}
		if got := mustTick(t, e.sched); got != 0 {
			t.Fatalf("tick under another's lock queued %d", got)
		}
		tx.Rollback()
		if got := mustTick(t, e.sched); got != 3 {
			t.Fatalf("tick queued %d, want 3", got)
		}
	})

	// Someone who may not be mailed now (address suppressed) is passed over:
	// their place advances, no message is queued.
	t.Run("NotMailable", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, pgtest.MustOpenDB(t), "2026-03-02T10:00:00Z")
		list := MustList(t, e.db, listOpts{slug: "coach"})
		MustStep(t, e.store, list, campaigns.Step{Subject: "A", Body: "a", DelayDays: 0})
		b := MustStep(t, e.store, list, campaigns.Step{Subject: "B", Body: "b", DelayDays: 7})
		s := MustSubscription(t, e.db, list, "gone@example.com", "UTC", subscribers.StatusPending)
		MustEvent(t, e.db, e.queue, s, subscribers.EventConfirmed, e.clock.Now())
		if _, err := e.db.Exec(`INSERT INTO suppressions (email, reason, created_at) VALUES ('gone@example.com', 'test', now())`); err != nil {
			t.Fatal(err)
		}
		tickAt(t, e, "2026-03-02T10:00:00Z", 0)
		wantDue(t, e, s, b.ID, "2026-03-09T10:00:00Z")
	})
}

// mustConfirmMany subscribes and confirms n addresses to the list in one transaction.
func mustConfirmMany(tb testing.TB, e *env, list int64, n int, tz string) []sub {
	tb.Helper()
	ctx := context.Background()
	tx, err := e.db.BeginTxx(ctx, nil)
	if err != nil {
		tb.Fatal(err)
	}
	defer tx.Rollback()
	var rows []struct {
		SubscriptionID int64 `db:"subscription_id"`
		SubscriberID   int64 `db:"subscriber_id"`
	}
	err = tx.Select(&rows, `
		WITH r AS (
			INSERT INTO subscribers (email, name, timezone, created_at, updated_at)
			SELECT 'user' || i || '-' || $1::text || '@example.com', 'User ' || i, $2, now(), now()
			FROM generate_series(1, $3) i
			RETURNING id
		)
		INSERT INTO subscriptions (subscriber_id, list_id, status, created_at, updated_at)
		SELECT r.id, $1::bigint, 'confirmed', now(), now()
		FROM r
		RETURNING id AS subscription_id, subscriber_id`, list, tz, n)
	if err != nil {
		tb.Fatal(err)
	}
	var subs []sub
	for _, r := range rows {
		s := sub{subscriberID: r.SubscriberID, subscriptionID: r.SubscriptionID, listID: list, tz: tz}
		subs = append(subs, s)
		ev := subscribers.Event{SubscriptionID: s.subscriptionID, SubscriberID: s.subscriberID, ListID: list,
			Kind: subscribers.EventConfirmed, At: e.clock.Now(), Timezone: tz}
		if err := e.queue.OnEvent(ctx, tx, ev); err != nil {
			tb.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		tb.Fatal(err)
	}
	return subs
}

func TestQueue_OnEvent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("Confirmed", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, pgtest.MustOpenDB(t), "2026-03-02T10:00:00Z")
		list := MustList(t, e.db, listOpts{slug: "coach", welcomeSubject: "Welcome!", welcomeBody: "Hi"})
		for _, s := range []string{"Checklist", "Workbook"} {
			if err := e.store.CreateBonus(ctx, list, &campaigns.Bonus{Subject: s, Body: s}); err != nil {
				t.Fatal(err)
			}
		}
		first := MustStep(t, e.store, list, campaigns.Step{Subject: "A", Body: "a", DelayDays: 1, SendTime: "08:00"})
		s := MustSubscription(t, e.db, list, "ada@example.com", "Europe/Berlin", subscribers.StatusPending)
		MustEvent(t, e.db, e.queue, s, subscribers.EventConfirmed, e.clock.Now())
		MustEvent(t, e.db, e.queue, s, subscribers.EventConfirmed, e.clock.Now()) // twice: nothing twice
		rows := outbox(t, e.db)
		var kinds []string
		for _, r := range rows {
			kinds = append(kinds, r.Kind)
			if r.Priority != 1 || r.Status != "queued" || !r.DueAt.Equal(e.clock.Now()) || r.SubscriptionID != s.subscriptionID {
				t.Errorf("row %+v", r)
			}
		}
		if fmt.Sprint(kinds) != "[welcome bonus bonus]" {
			t.Fatalf("queued %v, want welcome and two bonuses", kinds)
		}
		if *rows[1].BonusID == *rows[2].BonusID {
			t.Fatalf("same bonus twice")
		}
		wantDue(t, e, s, first.ID, "2026-03-03T07:00:00Z")
		var n int
		if err := e.db.Get(&n, `SELECT count(*) FROM enrollments`); err != nil || n != 1 {
			t.Fatalf("%d enrollments, %v", n, err)
		}

		// A list without a welcome email queues none.
		bare := MustList(t, e.db, listOpts{slug: "bare"})
		s2 := MustSubscription(t, e.db, bare, "ada@example.com", "Europe/Berlin", subscribers.StatusPending)
		MustEvent(t, e.db, e.queue, s2, subscribers.EventConfirmed, e.clock.Now())
		if got := len(outbox(t, e.db)); got != 3 {
			t.Fatalf("%d rows, want 3", got)
		}
		wantDue(t, e, s2, 0, "")
	})

	t.Run("ConfirmationRequested", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, pgtest.MustOpenDB(t), "2026-03-02T10:00:00Z")
		list := MustList(t, e.db, listOpts{slug: "coach"})
		s := MustSubscription(t, e.db, list, "ada@example.com", "", subscribers.StatusPending)
		MustEvent(t, e.db, e.queue, s, subscribers.EventConfirmationRequested, e.clock.Now())
		rows := outbox(t, e.db)
		if len(rows) != 1 || rows[0].Kind != "confirm" || rows[0].Priority != 0 || rows[0].Status != "queued" {
			t.Fatalf("rows %+v", rows)
		}
		// Sent and failed; asked again later: the same row is queued afresh.
		if _, err := e.db.Exec(`UPDATE outbox SET status = 'failed', attempts = 8, temporary = true, last_error = 'x'`); err != nil {
			t.Fatal(err)
		}
		e.clock.Add(2 * time.Hour)
		MustEvent(t, e.db, e.queue, s, subscribers.EventConfirmationRequested, e.clock.Now())
		rows = outbox(t, e.db)
		if len(rows) != 1 || rows[0].Status != "queued" || rows[0].Attempts != 0 || rows[0].LastError != "" || !rows[0].DueAt.Equal(e.clock.Now()) {
			t.Fatalf("rows %+v", rows)
		}
	})

	t.Run("Unsubscribed", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, pgtest.MustOpenDB(t), "2026-03-02T10:00:00Z")
		list := MustList(t, e.db, listOpts{slug: "coach", welcomeSubject: "Welcome!", welcomeBody: "Hi"})
		a := MustStep(t, e.store, list, campaigns.Step{Subject: "A", Body: "a", DelayDays: 0})
		b := MustStep(t, e.store, list, campaigns.Step{Subject: "B", Body: "b", DelayDays: 7})
		c := MustStep(t, e.store, list, campaigns.Step{Subject: "C", Body: "c", DelayDays: 7})
		s := MustSubscription(t, e.db, list, "ada@example.com", "UTC", subscribers.StatusPending)
		other := MustSubscription(t, e.db, list, "bob@example.com", "UTC", subscribers.StatusPending)
		MustEvent(t, e.db, e.queue, s, subscribers.EventConfirmed, e.clock.Now())
		MustEvent(t, e.db, e.queue, other, subscribers.EventConfirmed, e.clock.Now())
		tickAt(t, e, "2026-03-02T10:00:00Z", 2)

		MustEvent(t, e.db, e.queue, s, subscribers.EventUnsubscribed, e.clock.Now())
		for _, r := range outbox(t, e.db) {
			if want := map[int64]string{s.subscriptionID: "skipped", other.subscriptionID: "queued"}[r.SubscriptionID]; r.Status != want {
				t.Errorf("%s row of %d: %s, want %s", r.Kind, r.SubscriptionID, r.Status, want)
			}
		}
		if en := mustEnrollment(t, e.db, s.subscriptionID); !en.Stopped {
			t.Fatal("enrollment not stopped")
		}
		tickAt(t, e, "2026-03-09T10:00:00Z", 1) // only bob's B
		if got := stepRows(t, e, s.subscriptionID); len(got) != 0 {
			t.Fatalf("unsubscribed got %v", got)
		}

		// Confirmed again: the enrollment goes on from where it stopped
		// (after A), timed from the new confirmation; no second welcome.
		e.clock.Set("2026-03-20T10:00:00Z")
		MustEvent(t, e.db, e.queue, s, subscribers.EventConfirmed, e.clock.Now())
		wantDue(t, e, s, b.ID, "2026-03-27T10:00:00Z")
		var welcomes int
		if err := e.db.Get(&welcomes, `SELECT count(*) FROM outbox WHERE kind = 'welcome' AND subscription_id = $1`, s.subscriptionID); err != nil || welcomes != 1 {
			t.Fatalf("%d welcome rows, %v", welcomes, err)
		}
		tickAt(t, e, "2026-03-27T10:00:00Z", 2) // hers B, his C
		_, _ = a, c

		// A bounce stops it the same way.
		MustEvent(t, e.db, e.queue, s, subscribers.EventBounced, e.clock.Now())
		if en := mustEnrollment(t, e.db, s.subscriptionID); !en.Stopped {
			t.Fatal("enrollment not stopped")
		}
		tickAt(t, e, "2026-04-27T10:00:00Z", 0)
	})
}

// TestScheduler_Run ticks at once and stops with its context.
func TestScheduler_Run(t *testing.T) {
	t.Parallel()
	e := newEnv(t, pgtest.MustOpenDB(t), "2026-03-02T10:00:00Z")
	list := MustList(t, e.db, listOpts{slug: "coach"})
	MustStep(t, e.store, list, campaigns.Step{Subject: "A", Body: "a", DelayDays: 0})
	mustConfirmMany(t, e, list, 3, "UTC")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	s := &campaigns.Scheduler{DB: e.db, Now: e.clock.Now, Interval: 10 * time.Millisecond}
	go func() { done <- s.Run(ctx) }()
	deadline := time.Now().Add(10 * time.Second)
	for len(outbox(t, e.db)) < 3 {
		if time.Now().After(deadline) {
			t.Fatal("nothing queued")
		}
		time.Sleep(10 * time.Millisecond) // waiting for the other goroutine, not scheduling
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
