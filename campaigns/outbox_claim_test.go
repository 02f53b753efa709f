package campaigns_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/tidings/tidings/campaigns"
	"github.com/tidings/tidings/subscribers"
)

const lease = 10 * time.Minute

// mustClaimer returns a claimer on db whose claims hold for lease.
func mustClaimer(tb testing.TB, db *sqlx.DB) *campaigns.Claimer {
	tb.Helper()
	c := campaigns.NewClaimer(db, lease)
	tb.Cleanup(func() { c.Close() })
	return c
}

func mustClaim(tb testing.TB, c *campaigns.Claimer, now time.Time, n, want int) *campaigns.Batch {
	tb.Helper()
	b, err := c.Claim(context.Background(), now, n)
	if err != nil {
		tb.Fatal(err)
	}
	if len(b.Items) != want {
		tb.Fatalf("claimed %d, want %d", len(b.Items), want)
	}
	return b
}

// outboxState is each row's status, attempts and whether it is claimed, in
// id order.
func outboxState(tb testing.TB, db *sqlx.DB) string {
	tb.Helper()
	var rows []struct {
		Status  string `db:"status"`
		Tried   int    `db:"attempts"`
		Claimed bool   `db:"claimed"`
	}
	if err := db.Select(&rows, `SELECT status, attempts, claimed_until IS NOT NULL AS claimed FROM outbox ORDER BY id`); err != nil {
		tb.Fatal(err)
	}
	out := ""
	for _, r := range rows {
		out += fmt.Sprintf("%s %d %t; ", r.Status, r.Tried, r.Claimed)
	}
	return out
}

// TestClaimer runs the outbox's claim, check and record statements on their
// own, against Postgres, without sending anything.
func TestClaimer(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("Order", func(t *testing.T) {
		t.Parallel()
		e := newMailEnv(t, "2026-03-02T10:00:00Z")
		list := MustList(t, e.db, listOpts{slug: "coach", welcomeSubject: "Welcome {{.Name}}", welcomeBody: "Hi"})
		mustConfirmMany(t, e.env, list, 5, "UTC")
		e.clock.Add(time.Minute)
		p := MustSubscription(t, e.db, list, "new@example.com", "", subscribers.StatusPending)
		MustEvent(t, e.db, e.queue, p, subscribers.EventConfirmationRequested, e.clock.Now())
		b := mustClaim(t, mustClaimer(t, e.db), e.clock.Now(), 10, 6)
		// The confirmation first, though it was queued last; then the
		// welcome emails in the order they were queued, with what it takes
		// to send them.
		if it := b.Items[0]; it.Kind != campaigns.KindConfirm || it.Email != "new@example.com" || it.ConfirmGeneration != 0 {
			t.Fatalf("first %+v", it)
		}
		for i, it := range b.Items[1:] {
			if it.Kind != campaigns.KindWelcome || it.Subject != "Welcome {{.Name}}" || it.FromEmail != "coach@example.com" ||
				it.ListSlug != "coach" || it.Status != campaigns.StatusSending || (i > 0 && it.ID < b.Items[i].ID) {
				t.Fatalf("item %d: %+v", i+1, it)
			}
		}
		// Claimed and committed: the rows are marked, still queued.
		if got, want := outboxState(t, e.db), "queued 0 true; queued 0 true; queued 0 true; queued 0 true; queued 0 true; queued 0 true; "; got != want {
			t.Fatalf("outbox after claim:\n got %s\nwant %s", got, want)
		}
	})

	t.Run("Lapse", func(t *testing.T) {
		// Another claim does not take what a claim holds, until it lapses.
		t.Parallel()
		e := newMailEnv(t, "2026-03-02T10:00:00Z")
		list := MustList(t, e.db, listOpts{slug: "coach", welcomeSubject: "Welcome", welcomeBody: "Hi"})
		mustConfirmMany(t, e.env, list, 5, "UTC")
		now := e.clock.Now()
		dead, other := mustClaimer(t, e.db), mustClaimer(t, e.db)
		held := mustClaim(t, dead, now, 3, 3)
		mustClaim(t, other, now.Add(time.Second), 10, 2)
		mustClaim(t, other, now.Add(lease-time.Second), 10, 0)
		again := mustClaim(t, other, now.Add(lease), 10, 3)
		for i := range again.Items {
			if again.Items[i].ID != held.Items[i].ID {
				t.Fatalf("claimed %d again, want %d", again.Items[i].ID, held.Items[i].ID)
			}
		}
		// The dead claim's check and record touch nothing now.
		if ok, err := dead.Check(ctx, held, now); err != nil || len(ok) != 0 {
			t.Fatalf("check of a lapsed claim: %v, %v", ok, err)
		}
		sent := map[int64]bool{held.Items[0].ID: true}
		if err := dead.Record(ctx, now, held, sent, nil); err != nil {
			t.Fatal(err)
		}
		if got := outboxState(t, e.db); got != "queued 0 true; queued 0 true; queued 0 true; queued 0 true; queued 0 true; " {
			t.Fatalf("outbox after a lapsed claim's record: %s", got)
		}
	})

	t.Run("Record", func(t *testing.T) {
		t.Parallel()
		e := newMailEnv(t, "2026-03-02T10:00:00Z")
		list := MustList(t, e.db, listOpts{slug: "coach", welcomeSubject: "Welcome", welcomeBody: "Hi"})
		mustConfirmMany(t, e.env, list, 3, "UTC")
		c := mustClaimer(t, e.db)
		now := e.clock.Now()
		b := mustClaim(t, c, now, 10, 3)
		later := now.Add(time.Hour)
		sent := map[int64]bool{b.Items[0].ID: true}
		retry := map[int64]time.Time{b.Items[1].ID: later}
		if err := c.Record(ctx, now, b, sent, retry); err != nil {
			t.Fatal(err)
		}
		// Sent, queued again for later, and released untouched: none
		// claimed any more.
		if got, want := outboxState(t, e.db), "sent 1 false; queued 1 false; queued 0 false; "; got != want {
			t.Fatalf("outbox after record:\n got %s\nwant %s", got, want)
		}
		var due time.Time
		if err := e.db.Get(&due, `SELECT due_at FROM outbox WHERE id = $1`, b.Items[1].ID); err != nil || !due.Equal(later) {
			t.Fatalf("retry due %s, %v", due, err)
		}
		// The released item is claimable at once; the retried one is not.
		if again := mustClaim(t, c, now, 10, 1); again.Items[0].ID != b.Items[2].ID {
			t.Fatalf("claimed %d", again.Items[0].ID)
		}
	})

	t.Run("Release", func(t *testing.T) {
		t.Parallel()
		e := newMailEnv(t, "2026-03-02T10:00:00Z")
		list := MustList(t, e.db, listOpts{slug: "coach", welcomeSubject: "Welcome", welcomeBody: "Hi"})
		mustConfirmMany(t, e.env, list, 2, "UTC")
		c := mustClaimer(t, e.db)
		b := mustClaim(t, c, e.clock.Now(), 10, 2)
		if err := b.Release(); err != nil {
			t.Fatal(err)
		}
		mustClaim(t, mustClaimer(t, e.db), e.clock.Now(), 10, 2)
	})

	t.Run("Check", func(t *testing.T) {
		t.Parallel()
		e := newMailEnv(t, "2026-03-02T10:00:00Z")
		list := MustList(t, e.db, listOpts{slug: "coach", welcomeSubject: "Welcome", welcomeBody: "Hi"})
		subs := mustConfirmMany(t, e.env, list, 4, "UTC")
		c := mustClaimer(t, e.db)
		now := e.clock.Now()
		b := mustClaim(t, c, now, 10, 4)
		byID := map[int64]int64{} // subscription by outbox id
		for _, it := range b.Items {
			byID[it.ID] = it.SubscriptionID
		}
		// After the claim: the first unsubscribes behind the Queue's back
		// (the row stays queued), the second's row is skipped, the third's
		// address is suppressed.
		e.db.MustExec(`UPDATE subscriptions SET status = 'unsubscribed' WHERE id = $1`, subs[0].subscriptionID)
		e.db.MustExec(`UPDATE outbox SET status = 'skipped' WHERE subscription_id = $1`, subs[1].subscriptionID)
		e.db.MustExec(`INSERT INTO suppressions (email, reason, created_at) SELECT email_key, 'complaint', now() FROM subscribers WHERE id = $1`, subs[2].subscriberID)
		ok, err := c.Check(ctx, b, now.Add(time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		got := map[int64]string{}
		for id, mailable := range ok {
			got[byID[id]] = map[bool]string{true: "send", false: "skip"}[mailable]
		}
		want := map[int64]string{subs[0].subscriptionID: "skip", subs[2].subscriptionID: "skip", subs[3].subscriptionID: "send"}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("check: got %v, want %v", got, want)
		}
		// A send that would outlast the claim is not made.
		if ok, err := c.Check(ctx, b, now.Add(lease+time.Second)); err != nil || len(ok) != 0 {
			t.Fatalf("check past the lapse: %v, %v", ok, err)
		}
	})

	t.Run("SkippedWhileSending", func(t *testing.T) {
		// Rows skipped after the claim (an unsubscribe) stay skipped,
		// unless the relay was handed the message: then it is recorded sent.
		t.Parallel()
		e := newMailEnv(t, "2026-03-02T10:00:00Z")
		list := MustList(t, e.db, listOpts{slug: "coach", welcomeSubject: "Welcome", welcomeBody: "Hi"})
		mustConfirmMany(t, e.env, list, 3, "UTC")
		c := mustClaimer(t, e.db)
		now := e.clock.Now()
		b := mustClaim(t, c, now, 10, 3)
		e.db.MustExec(`UPDATE outbox SET status = 'skipped'`)
		sent := map[int64]bool{b.Items[0].ID: true}
		retry := map[int64]time.Time{b.Items[1].ID: now.Add(time.Hour)}
		if err := c.Record(ctx, now, b, sent, retry); err != nil {
			t.Fatal(err)
		}
		if got, want := outboxState(t, e.db), "sent 1 false; skipped 0 true; skipped 0 true; "; got != want {
			t.Fatalf("outbox:\n got %s\nwant %s", got, want)
		}
	})

	t.Run("Empty", func(t *testing.T) {
		t.Parallel()
		e := newMailEnv(t, "2026-03-02T10:00:00Z")
		c := mustClaimer(t, e.db)
		for _, n := range []int{0, 10} {
			b := mustClaim(t, c, e.clock.Now(), n, 0)
			if err := c.Record(ctx, e.clock.Now(), b, nil, nil); err != nil {
				t.Fatal(err)
			}
		}
	})
}
