package main

import (
	"flag"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tidings/tidings/campaigns"
)

// TestParseConfig_RetrySchedule: the schedule comes from the flag, else the
// environment, else the default, and a bad one names the variable.
func TestParseConfig_RetrySchedule(t *testing.T) {
	t.Parallel()
	base := map[string]string{
		"TIDINGS_DATABASE_URL": "postgres://tidings:tidings@127.0.0.1:5432/x?sslmode=disable",
		"TIDINGS_SMTP_URL":     "smtp://127.0.0.1:2525?tls=none",
		"TIDINGS_SECRET":       strings.Repeat("k", 32),
	}
	def, err := campaigns.ParseRetrySchedule(campaigns.DefaultRetrySchedule)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		args    []string
		env     string
		want    campaigns.RetrySchedule
		wantErr bool
	}{
		{nil, "", def, false},
		{nil, "10s,1m", campaigns.RetrySchedule{10 * time.Second, time.Minute}, false},
		{[]string{"--retry-schedule", "2m"}, "10s,1m", campaigns.RetrySchedule{2 * time.Minute}, false},
		{nil, "1m,10s", nil, true},
		{[]string{"--retry-schedule", "-1s"}, "", nil, true},
		{nil, "later", nil, true},
	} {
		fs := flag.NewFlagSet("serve", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		get := settingFlags(fs, func(k string) string {
			if k == "TIDINGS_RETRY_SCHEDULE" {
				return tt.env
			}
			return base[k]
		})
		if err := fs.Parse(tt.args); err != nil {
			t.Fatal(err)
		}
		c, err := parseConfig(get, false, "all")
		switch {
		case tt.wantErr && (err == nil || !strings.Contains(err.Error(), "TIDINGS_RETRY_SCHEDULE") || !strings.Contains(err.Error(), campaigns.DefaultRetrySchedule)):
			t.Errorf("%q, env %q: got error %v, want one naming TIDINGS_RETRY_SCHEDULE with an example", tt.args, tt.env, err)
		case !tt.wantErr && err != nil:
			t.Errorf("%q, env %q: %v", tt.args, tt.env, err)
		case !slices.Equal(c.RetrySchedule, tt.want):
			t.Errorf("%q, env %q: schedule %v, want %v", tt.args, tt.env, c.RetrySchedule, tt.want)
		}
	}
}
