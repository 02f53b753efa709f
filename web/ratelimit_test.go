package web

import (
	"strconv"
	"testing"
	"time"
)

func TestLimiter(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	t.Run("Burst", func(t *testing.T) {
		l := newLimiter(time.Minute, 2, clock)
		for i, want := range []bool{true, true, false} {
			if got := l.allow("a"); got != want {
				t.Fatalf("call %d: got %v, want %v", i, got, want)
			}
		}
		if !l.allow("b") {
			t.Fatal("another key shares the bucket of a")
		}
	})
	t.Run("SweepAmortised", func(t *testing.T) {
		// Keys that have not refilled are kept, and the next sweep waits
		// until there are twice as many.
		l := newLimiter(time.Hour, 1, clock)
		for i := range minSweep + 1 {
			l.allow(strconv.Itoa(i))
		}
		if got, want := l.sweepAt, 2*(minSweep); got != want {
			t.Fatalf("sweepAt = %d, want %d", got, want)
		}
		if l.allow("0") {
			t.Fatal("a key that has not refilled was forgotten")
		}
	})
	t.Run("SweepForgetsRefilled", func(t *testing.T) {
		now := now
		l := newLimiter(time.Second, 1, func() time.Time { return now })
		for i := range minSweep {
			l.allow(strconv.Itoa(i))
		}
		now = now.Add(time.Minute) // all refilled
		l.allow("new")
		if got := len(l.buckets); got != 1 {
			t.Fatalf("%d buckets kept, want 1 (the sweep forgets every refilled one, then adds the new key's)", got)
		}
		if got := l.sweepAt; got != minSweep {
			t.Fatalf("sweepAt = %d, want %d", got, minSweep)
		}
	})
}
