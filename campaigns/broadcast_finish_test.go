package campaigns_test

import (
	"context"
	"testing"
	"time"

	"github.com/tidings/tidings/campaigns"
)

// TestDispatcher_FinishesBroadcast: a broadcast is marked sent as soon as
// its last message has an outcome, with no scheduler tick in between, and a
// finished broadcast's rate runs from its first message sent to its last.
func TestDispatcher_FinishesBroadcast(t *testing.T) {
	t.Parallel()
	e := newMailEnv(t, "2026-03-02T10:00:00Z")
	ctx := context.Background()
	list := MustList(t, e.db, listOpts{slug: "coach"})
	mustSubscribers(t, e.db, list, "reader", 40)
	b := MustBroadcast(t, e.store, campaigns.Broadcast{List: "coach"})
	if _, err := e.store.SendNow(ctx, b.ID); err != nil {
		t.Fatal(err)
	}
	d := e.dispatcher(t)
	d.BatchSize = 15 // three batches: only the last one finishes it
	e.clock.Add(5 * time.Second)
	for i := 0; i < 3; i++ {
		mustRunOnce(t, d)
	}
	got, err := e.store.BroadcastByID(ctx, b.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Sent != 40 || got.Status != campaigns.BroadcastSent {
		t.Fatalf("after its last message: status %s, %d sent; want sent, 40", got.Status, got.Sent)
	}
	if got.FinishedAt == nil || !got.FinishedAt.Equal(e.clock.Now()) {
		t.Fatalf("finished at %v, want %v", got.FinishedAt, e.clock.Now())
	}

	// 40 messages over 6 ms: 39 gaps of 6/39 ms. Looked at a minute later,
	// the rate is still theirs, not 40 over the minute.
	start := e.clock.Now()
	e.db.MustExec(`
		UPDATE outbox o
		SET sent_at = $2::timestamptz + (r.n - 1) * (interval '6 milliseconds' / 39)
		FROM (SELECT id, row_number() OVER (ORDER BY id) AS n FROM outbox WHERE broadcast_id = $1) r
		WHERE o.id = r.id`, b.ID, start)
	e.clock.Add(time.Minute)
	if got, err = e.store.BroadcastByID(ctx, b.ID); err != nil {
		t.Fatal(err)
	}
	if want := 39 / 0.006; got.Rate < want*0.99 || got.Rate > want*1.01 {
		t.Errorf("rate %.1f/s, want %.1f/s", got.Rate, want)
	}
}
