package delivery

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// A relay that is overloaded says so with 421 (closing, RFC 5321 section
// 3.8) or 451 (local error in processing), as relays that rate-limit their
// senders do. Retrying each message harder only adds to the load, so the
// Pool as a whole slows down instead, and speeds up again once the relay has
// been quiet for a while.
const (
	overloadWindow = 10 * time.Second // what counts as "lately", and one step of the recovery
	overloadBusy   = 5                // busy replies in the window that make an overload, at least
	overloadShare  = 0.25             // and the share of the window's results they must pass
	slowestPace    = 1.0 / 30         // messages per second: however overloaded, one per 30 s goes
	recoveryStep   = 1.1              // the pace's growth per quiet window
)

// overload tracks the relay's recent results and the pace the Pool is
// slowed to because of them.
type overload struct {
	mu     sync.Mutex
	window []sample  // the results of the last overloadWindow, oldest first
	pace   float64   // messages per second while slowed; 0: not slowed
	full   float64   // the pace to recover to: Rate, or the pace seen when the slowing began
	quiet  time.Time // the start of the current quiet step: the last busy reply or change of pace
}

// sample is one result in the window.
type sample struct {
	at   time.Time
	busy bool // 421 or 451
}

// busy reports whether r is one of the replies of an overloaded relay.
func busy(r Result) bool {
	return r.Status == TempFailure && (r.Code == 421 || r.Code == 451)
}

// Report tells p the result of a send through one of its connections. When
// at least 5 of the results reported in the last 10 seconds, and more than
// a quarter of them, are 421 or 451, the relay is taken to be overloaded and
// p halves its pace: Rate, or with no Rate the pace at which the results
// came, never below one message per 30 seconds. Each 10 seconds without a
// 421 or 451 then adds a tenth to the pace, until it is back to Rate (or to
// no limit). The slowing is logged as a warning, the recovery as info.
func (p *Pool) Report(r Result) {
	now := p.now()
	o := &p.load
	o.mu.Lock()
	recovered := o.recover(now)
	for len(o.window) > 0 && now.Sub(o.window[0].at) >= overloadWindow {
		o.window = o.window[1:]
	}
	o.window = append(o.window, sample{at: now, busy: busy(r)})
	n, from, slowed := 0, o.pace, false
	if busy(r) {
		o.quiet = now
		for _, s := range o.window {
			if s.busy {
				n++
			}
		}
	}
	results := len(o.window)
	if n >= overloadBusy && float64(n) > overloadShare*float64(results) {
		if from == 0 {
			from = p.Rate
			if from == 0 {
				from = float64(results) / max(now.Sub(o.window[0].at), time.Second).Seconds()
			}
			o.full = from
		}
		// Each halving starts a new window: the replies that made this one
		// must not make the next.
		o.window = o.window[:0]
		slowed = max(from/2, slowestPace) != o.pace
		o.pace = max(from/2, slowestPace)
	}
	pace := o.pace
	o.mu.Unlock()

	if recovered || slowed {
		p.setLimit(now, pace)
	}
	if recovered {
		p.logger().Info("relay recovered: sending at full pace again", slog.Float64("rate", p.Rate))
	}
	if slowed {
		p.logger().Warn("relay overloaded: slowing down", slog.Int("busy_replies", n), slog.Int("results", results),
			slog.Float64("from_per_second", from), slog.Float64("per_second", pace))
	}
}

// recover adds a tenth to the pace for each quiet step that has passed by
// now, and reports whether that brought it back to full.
func (o *overload) recover(now time.Time) bool {
	if o.pace == 0 {
		return false
	}
	steps := int(now.Sub(o.quiet) / overloadWindow)
	if steps <= 0 {
		return false
	}
	o.quiet = o.quiet.Add(time.Duration(steps) * overloadWindow)
	for range steps {
		if o.pace *= recoveryStep; o.pace >= o.full {
			o.pace = 0
			return true
		}
	}
	return false
}

// Pace is the messages per second p allows now: Rate, or less while the
// relay is overloaded (see Report); 0 for no limit.
func (p *Pool) Pace() float64 {
	now := p.now()
	pace := p.adjust(now)
	if pace == 0 {
		return p.Rate
	}
	return pace
}

// adjust applies the recovery due by now, and returns the slowed pace, 0
// when not slowed.
func (p *Pool) adjust(now time.Time) float64 {
	o := &p.load
	o.mu.Lock()
	recovered := o.recover(now)
	pace := o.pace
	o.mu.Unlock()
	if recovered {
		p.setLimit(now, 0)
		p.logger().Info("relay recovered: sending at full pace again", slog.Float64("rate", p.Rate))
	} else if pace > 0 {
		p.setLimit(now, pace)
	}
	return pace
}

// setLimit paces p's sends to pace, or to Rate (or none) when pace is 0.
func (p *Pool) setLimit(now time.Time, pace float64) {
	limit := rate.Limit(pace)
	if pace == 0 {
		limit = rate.Inf
		if p.Rate > 0 {
			limit = rate.Limit(p.Rate)
		}
	}
	if l := p.rateLimiter(); l.Limit() != limit {
		l.SetLimitAt(now, limit)
	}
}

// rateLimiter is p's limiter, made on first use, at Rate.
func (p *Pool) rateLimiter() *rate.Limiter {
	p.limOnce.Do(func() {
		limit := rate.Inf
		if p.Rate > 0 {
			limit = rate.Limit(p.Rate)
		}
		// A burst of 1: the sends are spaced evenly, never bunched.
		p.limiter = rate.NewLimiter(limit, 1)
	})
	return p.limiter
}

func (p *Pool) logger() *slog.Logger {
	if p.Logger != nil {
		return p.Logger
	}
	return slog.New(slog.DiscardHandler)
}

// Wait blocks until the pace allows one more message, or ctx ends (its
// error). The first message goes at once; each one after waits its turn,
// 1/Rate after the one before (longer while the relay is overloaded, see
// Report), however many goroutines wait.
func (p *Pool) Wait(ctx context.Context) error {
	now := p.now()
	p.adjust(now)
	l := p.rateLimiter()
	if l.Limit() == rate.Inf {
		return nil
	}
	r := l.ReserveN(now, 1)
	d := r.DelayFrom(now)
	if d <= 0 {
		return nil
	}
	if err := p.sleep(ctx, d); err != nil {
		// The turn is given back, so the next waiter need not wait for it.
		r.CancelAt(p.now())
		return err
	}
	return nil
}
