package campaigns_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tidings/tidings/campaigns"
)

func TestParseRetrySchedule(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		in      string
		want    campaigns.RetrySchedule
		wantErr string // part of the error, "" for none
	}{
		{"5s,15s,1m", campaigns.RetrySchedule{5 * time.Second, 15 * time.Second, time.Minute}, ""},
		{" 1m , 1m,2h ", campaigns.RetrySchedule{time.Minute, time.Minute, 2 * time.Hour}, ""},
		{"90s", campaigns.RetrySchedule{90 * time.Second}, ""},
		{"", nil, "empty"},
		{"  ", nil, "empty"},
		{"5s,,1m", nil, `"" is not a duration`},
		{"5s,soon", nil, `"soon" is not a duration`},
		{"5", nil, `"5" is not a duration`},
		{"0s,1m", nil, `"0s" must be above 0`},
		{"1m,-5s", nil, `"-5s" must be above 0`},
		{"1m,30s", nil, `"30s" is shorter than 1m0s`},
		{strings.Repeat("1s,", 20) + "1s", nil, "at most 20"},
	} {
		got, err := campaigns.ParseRetrySchedule(tt.in)
		switch {
		case tt.wantErr == "" && err != nil:
			t.Errorf("ParseRetrySchedule(%q): %v", tt.in, err)
		case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
			t.Errorf("ParseRetrySchedule(%q): got error %v, want one saying %q", tt.in, err, tt.wantErr)
		case !slices.Equal(got, tt.want):
			t.Errorf("ParseRetrySchedule(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestRetrySchedule_Wait(t *testing.T) {
	t.Parallel()
	rs := campaigns.RetrySchedule{5 * time.Second, time.Minute}
	for _, tt := range []struct {
		attempt int
		want    time.Duration
	}{{0, 5 * time.Second}, {1, 5 * time.Second}, {2, time.Minute}, {3, time.Minute}, {50, time.Minute}} {
		if got := rs.Wait(tt.attempt); got != tt.want {
			t.Errorf("Wait(%d) = %s, want %s", tt.attempt, got, tt.want)
		}
	}

	// nil is the default, which the setting's default spells out.
	def, err := campaigns.ParseRetrySchedule(campaigns.DefaultRetrySchedule)
	if err != nil {
		t.Fatal(err)
	}
	var total time.Duration
	for i := 1; i <= len(def)+2; i++ {
		if got, want := campaigns.RetrySchedule(nil).Wait(i), def.Wait(i); got != want {
			t.Errorf("nil Wait(%d) = %s, want %s", i, got, want)
		}
		if i < campaigns.DefaultMaxAttempts {
			total += def.Wait(i)
		}
	}
	// Tried for about four hours before a temporary failure is final.
	if total < 3*time.Hour || total > 5*time.Hour {
		t.Errorf("the default schedule gives up after %s", total)
	}
	if got := def.String(); got != "5s,15s,30s,1m0s,2m0s,5m0s,15m0s,30m0s,1h0m0s,2h0m0s" {
		t.Errorf("String() = %q", got)
	}
}
