package web

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// minSweep is how many buckets a limiter keeps before it first looks for
// refilled ones to forget.
const minSweep = 10000

// limiter keeps a token bucket per key (an IP or an address). Buckets that have
// refilled are forgotten, so memory stays bounded by the keys active recently.
type limiter struct {
	mu      sync.Mutex
	every   time.Duration
	burst   int
	buckets map[string]*rate.Limiter
	// sweepAt is the number of buckets at which the next sweep forgets the
	// refilled ones: twice what the last sweep kept, at least minSweep, so
	// that a spike of new keys, none refilled yet, does not scan them all
	// on every request (sweeps cost O(1) a request, amortised).
	sweepAt int
	now     func() time.Time
}

func newLimiter(every time.Duration, burst int, now func() time.Time) *limiter {
	return &limiter{every: every, burst: burst, buckets: make(map[string]*rate.Limiter), sweepAt: minSweep, now: now}
}

// allow reports whether key may act now, and takes a token if so.
func (l *limiter) allow(key string) bool {
	if l == nil || l.every <= 0 {
		return true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if len(l.buckets) >= l.sweepAt {
		for k, b := range l.buckets {
			if b.TokensAt(now) >= float64(l.burst) {
				delete(l.buckets, k)
			}
		}
		l.sweepAt = max(minSweep, 2*len(l.buckets))
	}
	b, ok := l.buckets[key]
	if !ok {
		b = rate.NewLimiter(rate.Every(l.every), l.burst)
		l.buckets[key] = b
	}
	return b.AllowN(now, 1)
}
