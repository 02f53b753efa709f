package web

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// count writes n with thousands separators: 1,234,567.
func count(n int) string {
	s := strconv.Itoa(n)
	if n < 0 {
		return "-" + count(-n)
	}
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// rateText says a rate of messages a second in words.
func rateText(rate float64) string {
	switch {
	case rate <= 0:
		return "–"
	case rate >= 10:
		return fmt.Sprintf("%s messages a second", count(int(math.Round(rate))))
	case rate >= 1:
		return strings.TrimSuffix(fmt.Sprintf("%.1f", rate), ".0") + " messages a second"
	}
	n := int(math.Max(1, math.Round(rate*60)))
	return fmt.Sprintf("%d %s a minute", n, plural(n, "message", "messages"))
}

// roughly says a duration the way people do: "40 seconds", "3 minutes",
// "1 hour 20 minutes".
func roughly(d time.Duration) string {
	switch {
	case d < time.Minute:
		n := max(1, int(d.Round(time.Second)/time.Second))
		return fmt.Sprintf("%d %s", n, plural(n, "second", "seconds"))
	case d < time.Hour:
		n := int(d.Round(time.Minute) / time.Minute)
		return fmt.Sprintf("%d %s", n, plural(n, "minute", "minutes"))
	}
	d = d.Round(time.Minute)
	h, m := int(d/time.Hour), int(d%time.Hour/time.Minute)
	out := fmt.Sprintf("%d %s", h, plural(h, "hour", "hours"))
	if m > 0 {
		out += fmt.Sprintf(" %d %s", m, plural(m, "minute", "minutes"))
	}
	return out
}
