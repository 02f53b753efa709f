package campaigns_test

import (
	"context"
	"testing"
	"time"

	"github.com/tidings/tidings"
	"github.com/tidings/tidings/campaigns"
	"github.com/tidings/tidings/internal/pgtest"
	"github.com/tidings/tidings/subscribers"
)

func TestStore_UpdateBonus(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t, pgtest.MustOpenDB(t), "2026-03-02T12:00:00Z")
	list := MustList(t, e.db, listOpts{slug: "coach"})
	b := &campaigns.Bonus{Subject: "Checklist", Body: "Here"}
	if err := e.store.CreateBonus(ctx, list, b); err != nil {
		t.Fatal(err)
	}

	t.Run("OK", func(t *testing.T) {
		e.clock.Add(time.Hour)
		got, err := e.store.UpdateBonus(ctx, list, b.ID, campaigns.BonusUpdate{Body: ptr("Here it is, {{or .FirstName \"friend\"}}.")})
		if err != nil {
			t.Fatal(err)
		}
		if got.Subject != "Checklist" || got.Body != "Here it is, {{or .FirstName \"friend\"}}." || !got.UpdatedAt.Equal(e.clock.Now()) {
			t.Fatalf("updated %+v", got)
		}
		if again, _ := e.store.BonusByID(ctx, list, b.ID); again.Body != got.Body {
			t.Fatalf("stored %+v", again)
		}
	})

	t.Run("ErrInvalid", func(t *testing.T) {
		for _, u := range []campaigns.BonusUpdate{
			{Subject: ptr("")},
			{Subject: ptr("Two\nlines")},
			{Body: ptr("{{.Nope}}")},
			{Body: ptr("{{if .Name}}")},
		} {
			if _, err := e.store.UpdateBonus(ctx, list, b.ID, u); tidings.ErrorCode(err) != tidings.EINVALID {
				t.Errorf("UpdateBonus(subject %v, body %v): %v, want EINVALID", strOr(u.Subject), strOr(u.Body), err)
			}
		}
		if got, _ := e.store.BonusByID(ctx, list, b.ID); got.Subject != "Checklist" {
			t.Fatalf("bad input changed the bonus: %+v", got)
		}
	})

	t.Run("ErrNotFound", func(t *testing.T) {
		other := MustList(t, e.db, listOpts{slug: "other"})
		for _, tt := range []struct{ list, id int64 }{{list, 9999}, {other, b.ID}, {9999, b.ID}} {
			if _, err := e.store.UpdateBonus(ctx, tt.list, tt.id, campaigns.BonusUpdate{Subject: ptr("x")}); tidings.ErrorCode(err) != tidings.ENOTFOUND {
				t.Errorf("UpdateBonus(list %d, bonus %d): %v, want ENOTFOUND", tt.list, tt.id, err)
			}
		}
	})
}

func strOr(p *string) string {
	if p == nil {
		return "<nil>"
	}
	return *p
}

func TestStore_DeleteBonus(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t, pgtest.MustOpenDB(t), "2026-03-02T12:00:00Z")
	list := MustList(t, e.db, listOpts{slug: "coach"})
	var ids []int64
	for _, s := range []string{"One", "Two", "Three"} {
		b := &campaigns.Bonus{Subject: s, Body: "Body of " + s}
		if err := e.store.CreateBonus(ctx, list, b); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, b.ID)
	}
	// Two subscribers confirm: each has the three bonuses queued. One of
	// Ada's is sent already.
	ada := MustSubscription(t, e.db, list, "ada@example.com", "UTC", subscribers.StatusPending)
	bo := MustSubscription(t, e.db, list, "bo@example.com", "UTC", subscribers.StatusPending)
	MustEvent(t, e.db, e.queue, ada, subscribers.EventConfirmed, e.clock.Now())
	MustEvent(t, e.db, e.queue, bo, subscribers.EventConfirmed, e.clock.Now())
	if _, err := e.db.Exec(`UPDATE outbox SET status = 'sent', sent_at = now() WHERE bonus_id = $1 AND subscription_id = $2`, ids[1], ada.subscriptionID); err != nil {
		t.Fatal(err)
	}

	if err := e.store.DeleteBonus(ctx, list, ids[1]); err != nil {
		t.Fatal(err)
	}
	bs, err := e.store.Bonuses(ctx, list)
	if err != nil {
		t.Fatal(err)
	}
	if len(bs) != 2 || bs[0].Subject != "One" || bs[1].Subject != "Three" || bs[1].Position != 2 {
		t.Fatalf("bonuses after delete: %+v %+v", bs[0], bs[1])
	}
	// The sent message stays in Ada's history; Bo's copy is skipped, not sent.
	var rows []struct {
		Email   string `db:"email"`
		Status  string `db:"status"`
		Ref     int64  `db:"ref"`
		BonusID *int64 `db:"bonus_id"`
	}
	err = e.db.Select(&rows, `
		SELECT r.email, o.status, o.ref, o.bonus_id
		FROM outbox o JOIN subscribers r ON r.id = o.subscriber_id
		WHERE o.kind = 'bonus' AND o.ref = $1
		ORDER BY r.email`, ids[1])
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || rows[0].Status != "sent" || rows[1].Status != "skipped" || rows[0].BonusID != nil || rows[1].BonusID != nil {
		t.Fatalf("outbox rows of the deleted bonus: %+v", rows)
	}
	var queued int
	e.db.Get(&queued, `SELECT count(*) FROM outbox WHERE kind = 'bonus' AND status = 'queued'`)
	if queued != 4 {
		t.Fatalf("%d bonus messages queued, want the 4 of the other bonuses", queued)
	}

	if err := e.store.DeleteBonus(ctx, list, ids[1]); tidings.ErrorCode(err) != tidings.ENOTFOUND {
		t.Fatalf("deleting again: %v, want ENOTFOUND", err)
	}
}

func TestStore_StepReach(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	// Monday 2 March 2026, 12:00 UTC.
	e := newEnv(t, pgtest.MustOpenDB(t), "2026-03-02T12:00:00Z")
	list := MustList(t, e.db, listOpts{slug: "coach"})
	one := MustStep(t, e.store, list, campaigns.Step{Subject: "One", Body: "1", DelayDays: 1, SendTime: "08:00"})
	two := MustStep(t, e.store, list, campaigns.Step{Subject: "Two", Body: "2", DelayDays: 7, SendTime: "08:00"})

	reach := func(st *campaigns.Step) *campaigns.Reach {
		t.Helper()
		r, err := e.store.StepReach(ctx, list, st.ID)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	if r := reach(one); r.Subscribers != 0 || r.NextAt != nil {
		t.Fatalf("nobody enrolled: %+v", r)
	}

	// Ada in Tokyo and Bo in New York confirm now; Cy confirms and leaves.
	ada := MustSubscription(t, e.db, list, "ada@example.com", "Asia/Tokyo", subscribers.StatusPending)
	bo := MustSubscription(t, e.db, list, "bo@example.com", "America/New_York", subscribers.StatusPending)
	cy := MustSubscription(t, e.db, list, "cy@example.com", "UTC", subscribers.StatusPending)
	for _, s := range []sub{ada, bo, cy} {
		MustEvent(t, e.db, e.queue, s, subscribers.EventConfirmed, e.clock.Now())
	}
	MustEvent(t, e.db, e.queue, cy, subscribers.EventUnsubscribed, e.clock.Now())

	r := reach(one)
	// Ada gets step one at 08:00 Tokyo on Tuesday 3 March (Monday 23:00 UTC),
	// before Bo at 08:00 New York.
	if r.Subscribers != 2 || r.Queued != 0 || r.NextAt == nil || !r.NextAt.Equal(mustTime("2026-03-02T23:00:00Z")) || r.NextTimezone != "Asia/Tokyo" {
		t.Fatalf("step one: %+v at %s", r, dueString(r.NextAt))
	}
	if r := reach(two); r.Subscribers != 2 || r.NextAt != nil {
		t.Fatalf("step two: %+v", r)
	}
	waiting, err := e.store.Waiting(ctx, list)
	if err != nil {
		t.Fatal(err)
	}
	if waiting[one.ID] != 2 || waiting[two.ID] != 0 {
		t.Fatalf("waiting %v", waiting)
	}

	// Ada's step one is queued: she still counts, as queued, until it is sent.
	e.clock.Set("2026-03-02T23:00:00Z")
	if n := mustTick(t, e.sched); n != 1 {
		t.Fatalf("tick queued %d, want 1", n)
	}
	r = reach(one)
	if r.Subscribers != 2 || r.Queued != 1 || r.NextAt == nil || !r.NextAt.Equal(mustTime("2026-03-02T23:00:00Z")) {
		t.Fatalf("step one with Ada's queued: %+v at %s", r, dueString(r.NextAt))
	}
	e.db.MustExec(`UPDATE outbox SET status = 'sent', sent_at = now() WHERE step_id = $1`, one.ID)
	r = reach(one)
	if r.Subscribers != 1 || r.NextTimezone != "America/New_York" || !r.NextAt.Equal(mustTime("2026-03-03T13:00:00Z")) {
		t.Fatalf("step one after Ada got it: %+v at %s", r, dueString(r.NextAt))
	}
	// Ada now waits for step two, Bo still behind it.
	if r := reach(two); r.Subscribers != 2 || r.NextTimezone != "Asia/Tokyo" {
		t.Fatalf("step two: %+v", r)
	}

	counts, err := e.store.StepCounts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if counts[list] != 2 {
		t.Fatalf("step counts %v", counts)
	}
	if _, err := e.store.StepReach(ctx, list, 9999); tidings.ErrorCode(err) != tidings.ENOTFOUND {
		t.Fatalf("unknown step: %v", err)
	}
}
