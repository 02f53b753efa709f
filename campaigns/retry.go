package campaigns

import (
	"fmt"
	"strings"
	"time"
)

// DefaultRetrySchedule is the wait after each temporary failure of a send:
// short at first, for a relay that hung up or greylists for a few seconds,
// then longer, for one that is down. With DefaultMaxAttempts it gives up
// about four hours after the first try.
const DefaultRetrySchedule = "5s,15s,30s,1m,2m,5m,15m,30m,1h,2h"

// defaultRetries is DefaultRetrySchedule parsed, once; Wait only reads it.
var defaultRetries = func() RetrySchedule {
	rs, err := ParseRetrySchedule(DefaultRetrySchedule)
	if err != nil {
		panic("campaigns: DefaultRetrySchedule: " + err.Error())
	}
	return rs
}()

// MaxRetrySchedule is the most waits a RetrySchedule may list.
const MaxRetrySchedule = 20

// RetrySchedule is the wait after each temporary failure of a send: the
// first after the first failure, and so on; past its end, the last one
// again (TIDINGS_RETRY_SCHEDULE).
type RetrySchedule []time.Duration

// ParseRetrySchedule parses a comma-separated list of Go durations, such as
// "5s,15s,30s,1m,2m,5m": each above 0, none shorter than the one before, at
// most MaxRetrySchedule of them.
func ParseRetrySchedule(s string) (RetrySchedule, error) {
	if strings.TrimSpace(s) == "" {
		return nil, fmt.Errorf("retry schedule is empty")
	}
	parts := strings.Split(s, ",")
	if len(parts) > MaxRetrySchedule {
		return nil, fmt.Errorf("retry schedule has %d waits, at most %d", len(parts), MaxRetrySchedule)
	}
	rs := make(RetrySchedule, len(parts))
	for i, p := range parts {
		p = strings.TrimSpace(p)
		d, err := time.ParseDuration(p)
		if err != nil {
			return nil, fmt.Errorf("retry schedule: %q is not a duration such as 30s or 5m", p)
		}
		if d <= 0 {
			return nil, fmt.Errorf("retry schedule: %q must be above 0", p)
		}
		if i > 0 && d < rs[i-1] {
			return nil, fmt.Errorf("retry schedule: %q is shorter than %s before it", p, rs[i-1])
		}
		rs[i] = d
	}
	return rs, nil
}

// Wait is the wait after the attempt-th temporary failure, counted from 1;
// past the end of rs, its last wait. An empty rs is DefaultRetrySchedule.
func (rs RetrySchedule) Wait(attempt int) time.Duration {
	if len(rs) == 0 {
		rs = defaultRetries
	}
	return rs[min(max(attempt, 1), len(rs))-1]
}

// String is rs as ParseRetrySchedule reads it.
func (rs RetrySchedule) String() string {
	parts := make([]string, len(rs))
	for i, d := range rs {
		parts[i] = d.String()
	}
	return strings.Join(parts, ",")
}
