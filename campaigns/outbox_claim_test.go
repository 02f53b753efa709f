package campaigns_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/tidings/tidings/campaigns"
	"github.com/tidings/tidings/subscribers"
)

// TestClaimer runs the outbox's claim and record statements on their own,
// against Postgres, without sending anything.
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
		c := campaigns.NewClaimer(e.db)
		t.Cleanup(func() { c.Close() })
		b, skipped, err := c.Claim(ctx, e.clock.Now(), 10)
		if err != nil || skipped != 0 {
			t.Fatalf("claim: %d skipped, %v", skipped, err)
		}
		if len(b.Items) != 6 {
			t.Fatalf("claimed %d, want 6", len(b.Items))
		}
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
		if err := b.Release(); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("Record", func(t *testing.T) {
		t.Parallel()
		e := newMailEnv(t, "2026-03-02T10:00:00Z")
		list := MustList(t, e.db, listOpts{slug: "coach", welcomeSubject: "Welcome", welcomeBody: "Hi"})
		mustConfirmMany(t, e.env, list, 3, "UTC")
		c := campaigns.NewClaimer(e.db)
		t.Cleanup(func() { c.Close() })
		now := e.clock.Now()
		b, _, err := c.Claim(ctx, now, 10)
		if err != nil || len(b.Items) != 3 {
			t.Fatalf("claimed %d, %v", len(b.Items), err)
		}
		later := now.Add(time.Hour)
		sent := map[int64]bool{b.Items[0].ID: true}
		retry := map[int64]time.Time{b.Items[1].ID: later}
		if err := c.Record(ctx, now, b, sent, retry); err != nil {
			t.Fatal(err)
		}
		var rows []struct {
			ID      int64     `db:"id"`
			Status  string    `db:"status"`
			Tried   int       `db:"attempts"`
			Code    int       `db:"smtp_code"`
			DueAt   time.Time `db:"due_at"`
			Message string    `db:"message_id"`
		}
		if err := e.db.Select(&rows, `SELECT id, status, attempts, smtp_code, due_at, message_id FROM outbox ORDER BY id`); err != nil {
			t.Fatal(err)
		}
		got := ""
		for _, r := range rows {
			got += fmt.Sprintf("%s %d %d %v %t; ", r.Status, r.Tried, r.Code, r.DueAt.Equal(later), r.Message != "")
		}
		// Sent, queued again for later with its Message-ID kept, and
		// released untouched.
		if want := "sent 1 250 false true; queued 1 451 true true; queued 0 0 false false; "; got != want {
			t.Fatalf("outbox after record:\n got %s\nwant %s", got, want)
		}
		// The released item is due at once; the retried one is not.
		b, _, err = c.Claim(ctx, now, 10)
		if err != nil || len(b.Items) != 1 || b.Items[0].ID != rows[2].ID {
			t.Fatalf("claimed %+v, %v", b.Items, err)
		}
		if err := b.Release(); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("NotMailable", func(t *testing.T) {
		t.Parallel()
		e := newMailEnv(t, "2026-03-02T10:00:00Z")
		list := MustList(t, e.db, listOpts{slug: "coach", welcomeSubject: "Welcome", welcomeBody: "Hi"})
		subs := mustConfirmMany(t, e.env, list, 2, "UTC")
		e.db.MustExec(`UPDATE subscriptions SET status = 'unsubscribed' WHERE id = $1`, subs[0].subscriptionID)
		c := campaigns.NewClaimer(e.db)
		t.Cleanup(func() { c.Close() })
		b, skipped, err := c.Claim(ctx, e.clock.Now(), 10)
		if err != nil || skipped != 1 || len(b.Items) != 1 || b.Items[0].SubscriptionID != subs[1].subscriptionID {
			t.Fatalf("claimed %+v, %d skipped, %v", b.Items, skipped, err)
		}
		if err := c.Record(ctx, e.clock.Now(), b, nil, nil); err != nil {
			t.Fatal(err)
		}
		var status string
		if err := e.db.Get(&status, `SELECT status FROM outbox WHERE subscription_id = $1`, subs[0].subscriptionID); err != nil || status != "skipped" {
			t.Fatalf("status %q, %v", status, err)
		}
	})

	t.Run("Empty", func(t *testing.T) {
		t.Parallel()
		e := newMailEnv(t, "2026-03-02T10:00:00Z")
		c := campaigns.NewClaimer(e.db)
		t.Cleanup(func() { c.Close() })
		for _, n := range []int{0, 10} {
			b, skipped, err := c.Claim(ctx, e.clock.Now(), n)
			if err != nil || skipped != 0 || len(b.Items) != 0 {
				t.Fatalf("claim of %d on an empty outbox: %+v, %d, %v", n, b.Items, skipped, err)
			}
			if err := c.Record(ctx, e.clock.Now(), b, nil, nil); err != nil {
				t.Fatal(err)
			}
		}
	})
}
