package campaigns

// Fuzz targets for the parsers of send times and schedules. `go test` runs
// their seeds (testdata/fuzz/FuzzXxx and the f.Add calls); `make fuzz` runs
// each for FUZZTIME.

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// FuzzParseSendAt checks that a send time ParseSendAt accepts comes out in
// UTC, and that it reads back the same: formatted as RFC 3339 it parses to
// the same instant, and, for a local time, formatting it in the zone gives
// what was typed.
func FuzzParseSendAt(f *testing.F) {
	for _, s := range [][2]string{
		{"2026-03-10T09:00:00+01:00", ""},
		{"2026-03-10T09:00", "Europe/Berlin"},
		{"2026-03-29 02:30", "Europe/Berlin"}, // a time the clocks skip
		{"2026-10-25T02:30:00", "Europe/Berlin"},
		{"2026-03-10T09:00:00Z", "Europe/Berlin"},
		{"9999-12-31T23:59:59+14:00", ""},
		{"2026-03-10T09:00\r\n", "UTC\x00"},
		{"0000-01-01T00:00:00-23:59", ""},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, sendAt, tz string) {
		got, err := ParseSendAt(sendAt, tz)
		if err != nil {
			if !got.IsZero() {
				t.Fatalf("ParseSendAt(%q, %q) = %v with error %v", sendAt, tz, got, err)
			}
			return
		}
		if got.Location() != time.UTC {
			t.Fatalf("ParseSendAt(%q, %q) = %v, not in UTC", sendAt, tz, got)
		}
		if y := got.Year(); y < 0 || y > 9999 {
			t.Fatalf("ParseSendAt(%q, %q) = %v, which RFC 3339 cannot write", sendAt, tz, got)
		}
		back, err := ParseSendAt(got.Format(time.RFC3339Nano), "")
		if err != nil || !back.Equal(got) {
			t.Fatalf("ParseSendAt(%q, %q) = %v, which reads back as %v, %v", sendAt, tz, got, back, err)
		}
	})
}

// FuzzValidateStep checks the schedule fields of a step: an accepted
// send_time is HH:MM, accepted weekdays come out once each, in week order,
// as the names Tidings writes, and validating the result again changes
// nothing. The weekdays are the fuzzed string split at commas.
func FuzzValidateStep(f *testing.F) {
	for _, s := range [][2]string{
		{"09:00", "mon,tue"},
		{" 23:59 ", "SUN, sun ,Mon"},
		{"24:00", ""},
		{"9:00", "monday"},
		{"09:00\n", "mon\x00"},
		{"０９:００", "mon"},
		{"", strings.Repeat("fri,", 100)},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, sendTime, days string) {
		var weekdays []string
		if days != "" {
			weekdays = strings.Split(days, ",")
		}
		st := &Step{Subject: "Week 1", Body: "Hello {{.FirstName}}", SendTime: sendTime, Weekdays: weekdays}
		v, err := validateStep(st)
		if err != nil {
			return
		}
		if v.SendTime != "" && !sendTimeRE.MatchString(v.SendTime) {
			t.Fatalf("validateStep accepted send_time %q as %q", sendTime, v.SendTime)
		}
		if _, err := time.Parse("15:04", v.SendTime); v.SendTime != "" && err != nil {
			t.Fatalf("send_time %q is not a clock time: %v", v.SendTime, err)
		}
		if v.weekdays == nil || !slices.IsSorted(v.weekdays) || len(slices.Compact(slices.Clone(v.weekdays))) != len(v.weekdays) || len(v.weekdays) > 7 {
			t.Fatalf("weekdays %q gave %v", days, v.weekdays)
		}
		if len(v.Weekdays) != len(v.weekdays) {
			t.Fatalf("weekdays %q: names %q for numbers %v", days, v.Weekdays, v.weekdays)
		}
		again, err := validateStep(&v.Step)
		if err != nil || again.SendTime != v.SendTime || !slices.Equal(again.Weekdays, v.Weekdays) {
			t.Fatalf("validateStep(%q, %q) = %q %q, again %+v, %v", sendTime, days, v.SendTime, v.Weekdays, again, err)
		}
	})
}
