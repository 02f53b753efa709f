package campaigns_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/tidings/tidings/campaigns"
	"github.com/tidings/tidings/subscribers"
)

// TestDispatcher_RetrySchedule: a temporary failure, then success, on a
// schedule of the dispatcher's own: retried when its first wait is up, not a
// moment before.
func TestDispatcher_RetrySchedule(t *testing.T) {
	t.Parallel()
	e := newMailEnv(t, "2026-03-02T10:00:00Z")
	list := MustList(t, e.db, listOpts{slug: "coach", welcomeSubject: "Welcome", welcomeBody: "Hi"})
	s := MustSubscription(t, e.db, list, "grey@example.com", "UTC", subscribers.StatusPending)
	MustEvent(t, e.db, e.queue, s, subscribers.EventConfirmed, e.clock.Now())
	e.reply("grey@example.com", &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 7, 1}, Message: "greylisted"})
	d := e.dispatcher(t)
	d.Retries = campaigns.RetrySchedule{40 * time.Second, 10 * time.Minute}
	start := e.clock.Now()
	mustRunOnce(t, d)
	if r := outbox(t, e.db)[0]; r.Status != "queued" || r.Attempts != 1 || !r.DueAt.Equal(start.Add(40*time.Second)) {
		t.Fatalf("after 451: %+v", r)
	}
	e.reply("grey@example.com", nil)
	e.clock.Add(39 * time.Second)
	if n := mustRunOnce(t, d); n != 0 {
		t.Fatalf("retried %s after the failure, before the schedule's 40s", e.clock.Now().Sub(start))
	}
	e.clock.Add(time.Second)
	if n := mustRunOnce(t, d); n != 1 {
		t.Fatalf("not retried at the schedule's 40s: processed %d", n)
	}
	if r := outbox(t, e.db)[0]; r.Status != "sent" || r.Attempts != 2 {
		t.Fatalf("after the retry: %+v", r)
	}
	if msgs := e.catch.Messages(); len(msgs) != 1 {
		t.Fatalf("caught %d", len(msgs))
	}
}

// TestDispatcher_Overload: a relay that answers 451 to most messages is
// overloaded, and the dispatcher's Pool slows down for it; the messages
// wait for the retry schedule, each once.
func TestDispatcher_Overload(t *testing.T) {
	t.Parallel()
	e := newMailEnv(t, "2026-03-02T10:00:00Z")
	list := MustList(t, e.db, listOpts{slug: "coach", welcomeSubject: "Welcome", welcomeBody: "Hi"})
	for i := range 10 {
		email := fmt.Sprintf("user%d@example.com", i)
		s := MustSubscription(t, e.db, list, email, "UTC", subscribers.StatusPending)
		MustEvent(t, e.db, e.queue, s, subscribers.EventConfirmed, e.clock.Now())
		if i >= 2 {
			e.reply(email, &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 7, 0}, Message: "too many messages, slow down"})
		}
	}
	d := e.dispatcher(t)
	d.Pool.Rate = 10
	// The Pool's waits move the test's clock on, rather than sleep.
	d.Pool.Now = e.clock.Now
	d.Pool.Sleep = func(ctx context.Context, wait time.Duration) error {
		e.clock.Add(wait)
		return ctx.Err()
	}
	if n := mustRunOnce(t, d); n != 10 {
		t.Fatalf("processed %d, want 10", n)
	}
	// 8 of 10 busy within a second: half the pace, once.
	if got := d.Pool.Pace(); got != 5 {
		t.Fatalf("Pace() = %v after 8 replies of 451 in 10, want 5", got)
	}
	queued := 0
	for _, r := range outbox(t, e.db) {
		if r.Status == "queued" && r.Attempts == 1 && r.SMTPCode == 451 {
			queued++
		}
	}
	if queued != 8 || len(e.catch.Messages()) != 2 {
		t.Fatalf("%d queued for a retry and %d caught, want 8 and 2", queued, len(e.catch.Messages()))
	}
}
