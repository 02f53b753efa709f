package pgtest_test

import (
	"testing"

	"github.com/tidings/tidings/internal/pgtest"
)

func TestMustOpenDB(t *testing.T) {
	t.Parallel()
	db := pgtest.MustOpenDB(t)
	var n int
	if err := db.Get(&n, `SELECT count(*) FROM lists`); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Fatalf("got %d lists, want 0", n)
	}
}

func TestNextDue(t *testing.T) {
	t.Parallel()
	db := pgtest.MustOpenDB(t)
	for _, tt := range []struct {
		anchor, tz, sendTime, weekdays string
		delay                          int
		want                           string
	}{
		// Confirmed Monday 15:00 in New York; step 1 next day 09:00.
		{"2026-03-02T20:00:00Z", "America/New_York", "09:00", "{}", 1, "2026-03-03T14:00:00Z"},
		// Across the spring change (8 March 2026): still 09:00 local, now UTC-4.
		{"2026-03-03T14:00:00Z", "America/New_York", "09:00", "{}", 7, "2026-03-10T13:00:00Z"},
		// Same day, send time already passed: next day.
		{"2026-03-02T20:00:00Z", "America/New_York", "09:00", "{}", 0, "2026-03-03T14:00:00Z"},
		// Only Mondays (1): from Tuesday 3 March, the next Monday is 9 March.
		{"2026-03-02T20:00:00Z", "America/New_York", "09:00", "{1}", 1, "2026-03-09T13:00:00Z"},
		// No send time: the anchor's local time of day.
		{"2026-03-02T20:00:00Z", "Europe/Berlin", "", "{}", 7, "2026-03-09T20:00:00Z"},
	} {
		var got string
		var st any
		if tt.sendTime != "" {
			st = tt.sendTime
		}
		err := db.Get(&got, `SELECT to_char(tidings_next_due($1, $2, $3, $4::time, $5::int[]) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')`,
			tt.anchor, tt.tz, tt.delay, st, tt.weekdays)
		if err != nil {
			t.Fatal(err)
		}
		if got != tt.want {
			t.Errorf("next_due(%s, %s, %d, %q, %s) = %s, want %s", tt.anchor, tt.tz, tt.delay, tt.sendTime, tt.weekdays, got, tt.want)
		}
	}
}
