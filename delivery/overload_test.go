package delivery_test

import (
	"bytes"
	"log/slog"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/tidings/tidings/delivery"
)

// report is n results of one kind, reported one after another, every apart,
// after the clock has moved on by after.
type report struct {
	after time.Duration
	n     int
	code  int // 0: sent; 421, 451, 450, 550: that reply
	every time.Duration
}

func (r report) result() delivery.Result {
	switch {
	case r.code == 0:
		return delivery.Result{Status: delivery.Sent}
	case r.code >= 500:
		return delivery.Result{Status: delivery.PermFailure, Code: r.code}
	}
	return delivery.Result{Status: delivery.TempFailure, Code: r.code}
}

func TestPool_Report(t *testing.T) {
	t.Parallel()
	const s = time.Second
	busy5 := []report{{n: 5, code: 451}, {n: 5}} // half of ten
	for _, tt := range []struct {
		name    string
		rate    float64
		reports []report
		want    float64 // Pace() at the end
		warns   int     // slowing down
		infos   int     // recovered
	}{
		{"Quiet", 10, []report{{n: 20, every: 100 * time.Millisecond}}, 10, 0, 0},
		{"FourBusy", 10, []report{{n: 4, code: 451}}, 10, 0, 0},
		{"Overload451", 10, busy5, 5, 1, 0},
		{"Overload421", 10, []report{{n: 5, code: 421}}, 5, 1, 0},
		{"OtherTemporary", 10, []report{{n: 10, code: 450}}, 10, 0, 0},
		{"Permanent", 10, []report{{n: 10, code: 550}}, 10, 0, 0},
		// 5 of 25 is a fifth, not more than a quarter.
		{"SmallShare", 10, []report{{n: 20}, {n: 5, code: 451}}, 10, 0, 0},
		{"JustOverAQuarter", 10, []report{{n: 14}, {n: 5, code: 451}}, 5, 1, 0},
		// 3 and then 2 more, but 10 s apart.
		{"OutsideWindow", 10, []report{{n: 3, code: 451}, {after: 10 * s, n: 2, code: 451}}, 10, 0, 0},
		{"Twice", 10, []report{{n: 5, code: 451}, {after: s, n: 5, code: 451}}, 2.5, 2, 0},
		{"Floor", 0.05, []report{{n: 5, code: 451}}, 1.0 / 30, 1, 0},
		{"FloorStays", 0.05, []report{{n: 5, code: 451}, {after: s, n: 5, code: 451}}, 1.0 / 30, 1, 0},
		// No Rate: half the pace the results came at, 10 in 9 s.
		{"NoRate", 0, []report{{n: 5, every: s}, {n: 5, code: 421, every: s}}, 10.0 / 9 / 2, 1, 0},
		{"Recovering", 10, []report{{n: 5, code: 451}, {after: 10 * s}}, 5.5, 1, 0},
		{"RecoveringTwoSteps", 10, []report{{n: 5, code: 451}, {after: 25 * s}}, 5 * 1.1 * 1.1, 1, 0},
		{"NotYetRecovered", 10, []report{{n: 5, code: 451}, {after: 70 * s}}, 5 * math.Pow(1.1, 7), 1, 0},
		{"Recovered", 10, []report{{n: 5, code: 451}, {after: 80 * s}}, 10, 1, 1},
		{"RecoveredNoRate", 0, []report{{n: 5, every: s}, {n: 5, code: 421, every: s}, {after: 80 * s}}, 0, 1, 1},
		// A busy reply starts the quiet step again.
		{"BusyDelaysRecovery", 10, []report{{n: 5, code: 451}, {after: 5 * s, n: 1, code: 451}, {after: 7 * s}}, 5, 1, 0},
		{"BusyThenQuiet", 10, []report{{n: 5, code: 451}, {after: 5 * s, n: 1, code: 451}, {after: 10 * s}}, 5.5, 1, 0},
		{"SlowedAgainWhileRecovering", 10, []report{{n: 5, code: 451}, {after: 20 * s, n: 5, code: 451}}, 5 * 1.1 * 1.1 / 2, 2, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			clock := &fakeClock{now: time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)}
			var logs bytes.Buffer
			p := &delivery.Pool{Rate: tt.rate, Now: clock.Now, Sleep: clock.Sleep, Logger: slog.New(slog.NewTextHandler(&logs, nil))}
			for i, r := range tt.reports {
				clock.now = clock.now.Add(r.after)
				for j := range r.n {
					if j > 0 || i > 0 && r.after == 0 {
						clock.now = clock.now.Add(r.every)
					}
					p.Report(r.result())
				}
			}
			if got := p.Pace(); math.Abs(got-tt.want) > 1e-9 {
				t.Errorf("%+v at %v/s: Pace() = %v, want %v", tt.reports, tt.rate, got, tt.want)
			}
			if got := strings.Count(logs.String(), "level=WARN"); got != tt.warns {
				t.Errorf("%+v: %d warnings, want %d:\n%s", tt.reports, got, tt.warns, logs.String())
			}
			if got := strings.Count(logs.String(), "level=INFO"); got != tt.infos {
				t.Errorf("%+v: %d infos, want %d:\n%s", tt.reports, got, tt.infos, logs.String())
			}
		})
	}
}

// TestPool_Report_Wait: the slowed pace is what Wait spaces the sends by,
// also with no Rate, and the spacing ends with the recovery.
func TestPool_Report_Wait(t *testing.T) {
	t.Parallel()
	clock := &fakeClock{now: time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)}
	p := &delivery.Pool{Now: clock.Now, Sleep: clock.Sleep}
	for i := range 10 {
		if i > 0 {
			clock.now = clock.now.Add(100 * time.Millisecond)
		}
		r := delivery.Result{Status: delivery.Sent}
		if i >= 5 {
			r = delivery.Result{Status: delivery.TempFailure, Code: 421}
		}
		p.Report(r)
	}
	// 10 results in 0.9 s, taken as 10 in the shortest span, 1 s: half of
	// 10 a second.
	if got := p.Pace(); got != 5 {
		t.Fatalf("Pace() = %v, want 5", got)
	}
	start := clock.Now()
	for range 3 {
		if err := p.Wait(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	if got, want := clock.Now().Sub(start), 400*time.Millisecond; got != want {
		t.Errorf("3 sends at 5/s took %s, want %s", got, want)
	}
	clock.now = clock.now.Add(10 * time.Minute)
	start = clock.Now()
	for range 3 {
		if err := p.Wait(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	if got := clock.Now().Sub(start); got != 0 || p.Pace() != 0 {
		t.Errorf("after recovery: 3 sends took %s, Pace() = %v, want no limit", got, p.Pace())
	}
}
