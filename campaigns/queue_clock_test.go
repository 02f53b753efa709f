package campaigns_test

import (
	"testing"
	"time"

	"github.com/tidings/tidings/internal/pgtest"
	"github.com/tidings/tidings/subscribers"
)

// TestQueue_TakesTheEventsTime: what an event queues is due at the event's
// time, the one its transaction read, not at a second reading of a clock.
func TestQueue_TakesTheEventsTime(t *testing.T) {
	t.Parallel()
	e := newEnv(t, pgtest.MustOpenDB(t), "2026-03-02T10:00:00Z")
	list := MustList(t, e.db, listOpts{slug: "coach"})
	s := mustSubscribers(t, e.db, list, "reader", 1)[0]
	at := mustTime("2026-03-05T07:30:00Z") // not the clock's time
	MustEvent(t, e.db, e.queue, s, subscribers.EventConfirmationRequested, at)
	var due time.Time
	if err := e.db.Get(&due, `SELECT due_at FROM outbox WHERE kind = 'confirm'`); err != nil {
		t.Fatal(err)
	}
	if !due.Equal(at) {
		t.Errorf("the confirmation is due at %v, want the event's %v", due, at)
	}
}
