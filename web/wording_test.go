package web

import (
	"testing"
	"time"
)

func TestWording(t *testing.T) {
	for _, tt := range []struct {
		got, want string
	}{
		{count(0), "0"},
		{count(999), "999"},
		{count(1234567), "1,234,567"},
		{count(-1234), "-1,234"},
		{rateText(0), "–"},
		{rateText(0.01), "1 message a minute"},
		{rateText(0.5), "30 messages a minute"},
		{rateText(2.5), "2.5 messages a second"},
		{rateText(3), "3 messages a second"},
		{rateText(1234.4), "1,234 messages a second"},
		{roughly(400 * time.Millisecond), "1 second"},
		{roughly(40 * time.Second), "40 seconds"},
		{roughly(3 * time.Minute), "3 minutes"},
		{roughly(time.Hour), "1 hour"},
		{roughly(80 * time.Minute), "1 hour 20 minutes"},
		{roughly(2*time.Hour + time.Minute), "2 hours 1 minute"},
	} {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
}
