package web

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tidings/tidings/campaigns"
	"github.com/tidings/tidings/subscribers"
)

// What a broadcast's page and the dashboard say of a broadcast: its
// progress, its times, its audience and the schedule picker's defaults, in
// words for people.

// broadcastProgress is how far a started broadcast has got, for the progress
// bar on its page and on the dashboard, and as the JSON of its progress
// endpoint, which broadcasts.js polls.
type broadcastProgress struct {
	ID           int64   `json:"id"`
	Status       string  `json:"status"`
	Label        string  `json:"status_label"`
	Recipients   int     `json:"recipients"`
	Done         int     `json:"done"` // sent + failed + skipped
	Sent         int     `json:"sent"`
	Failed       int     `json:"failed"`
	Skipped      int     `json:"skipped"`
	Queued       int     `json:"queued"`
	Retryable    int     `json:"retryable"`
	Unsubscribes int     `json:"unsubscribes"`
	Percent      int     `json:"percent"` // whole percent done, 100 only when all are done
	PercentText  string  `json:"percent_text"`
	Summary      string  `json:"summary"` // "412 of 1,000 messages done"
	SentWidth    float64 `json:"sent_width"`
	FailedWidth  float64 `json:"failed_width"`
	SkippedWidth float64 `json:"skipped_width"`
	Rate         float64 `json:"rate"` // messages a second
	RateText     string  `json:"rate_text"`
	// EstimatedFinish is when a sending broadcast should be done; nil when
	// it is not sending or nothing went out in the last minute.
	EstimatedFinish *time.Time `json:"estimated_finish"`
	FinishText      string     `json:"finish_text"`
	// Detail is one line of the figures, and while sending the rate and
	// the estimated finish, for the dashboard.
	Detail string `json:"detail"`
	URL    string `json:"-"`
}

// progressOf works out the progress of b, which has its Stats, at now, with
// times in loc.
func progressOf(b *campaigns.Broadcast, loc *time.Location, now time.Time, url string) *broadcastProgress {
	st := b.BroadcastStats
	if st == nil {
		st = &campaigns.BroadcastStats{}
	}
	p := &broadcastProgress{
		ID: b.ID, Status: b.Status, Label: statusLabels[b.Status], Recipients: b.Recipients,
		Sent: st.Sent, Failed: st.Failed, Skipped: st.Skipped, Queued: st.Queued,
		Retryable: st.Retryable, Unsubscribes: st.Unsubscribes, Rate: st.Rate, URL: url,
	}
	p.Done = p.Sent + p.Failed + p.Skipped
	total := max(p.Recipients, p.Done+p.Queued)
	switch {
	case total == 0 && (b.Status == campaigns.BroadcastSent || b.Status == campaigns.BroadcastCancelled):
		p.Percent = 100
	case total > 0:
		// Rounded down, so 100 % means every message is done.
		p.Percent = p.Done * 100 / total
		width := func(n int) float64 { return math.Round(float64(n)*10000/float64(total)) / 100 }
		p.SentWidth, p.FailedWidth, p.SkippedWidth = width(p.Sent), width(p.Failed), width(p.Skipped)
	}
	p.PercentText = strconv.Itoa(p.Percent) + " %"
	p.Summary = fmt.Sprintf("%s of %s %s done", count(p.Done), count(total), plural(total, "message", "messages"))
	p.RateText = rateText(p.Rate)
	if st.EstimatedFinish != nil {
		t := st.EstimatedFinish.In(loc)
		p.EstimatedFinish = &t
		p.FinishText = "about " + t.Format("15:04 MST")
		if d := t.Sub(now); d > 0 {
			p.FinishText += ", in " + roughly(d)
		}
	}
	p.Detail = fmt.Sprintf("%s sent, %s failed, %s skipped", count(p.Sent), count(p.Failed), count(p.Skipped))
	if b.Status == campaigns.BroadcastSending && p.Rate > 0 {
		p.Detail += " · " + p.RateText
		if p.FinishText != "" {
			p.Detail += " · finishing " + p.FinishText
		}
	}
	return p
}

// broadcastTimes says when b is due, started and finished.
func (s *Server) broadcastTimes(b *campaigns.Broadcast, loc *time.Location) string {
	var parts []string
	if b.Status == campaigns.BroadcastScheduled && b.SendAt != nil {
		parts = append(parts, "Starts "+localTime(*b.SendAt, loc))
	}
	if b.StartedAt != nil {
		parts = append(parts, "Started "+localTime(*b.StartedAt, loc))
	}
	if b.FinishedAt != nil {
		verb := "Finished "
		if b.Status == campaigns.BroadcastCancelled {
			verb = "Cancelled "
		}
		line := verb + localTime(*b.FinishedAt, loc)
		if b.StartedAt != nil {
			line += ", after " + roughly(b.FinishedAt.Sub(*b.StartedAt))
		}
		parts = append(parts, line)
	}
	return strings.Join(parts, " · ")
}

// defaultSchedule fills the picker: the scheduled time in the list's time
// zone, or tomorrow at 09:00 there.
func defaultSchedule(b *campaigns.Broadcast, l *subscribers.List, now time.Time) scheduleForm {
	loc := zoneOf(l)
	zone := l.Timezone
	if zone == "" {
		zone = "UTC"
	}
	if b.SendAt != nil {
		t := b.SendAt.In(loc)
		return scheduleForm{Date: t.Format("2006-01-02"), Time: t.Format("15:04"), Zone: zone}
	}
	return scheduleForm{Date: now.In(loc).AddDate(0, 0, 1).Format("2006-01-02"), Time: "09:00", Zone: zone}
}

// zoneChoices are the time zones offered: the common ones, with the list's
// and the one picked added when they are not among them.
func zoneChoices(extra ...string) []string {
	zones := slices.Clone(commonZones)
	for _, z := range extra {
		if z != "" && !slices.Contains(zones, z) && subscribers.ValidateTimezone(z) == nil {
			zones = append([]string{z}, zones...)
		}
	}
	return zones
}

// audienceFilter describes the tag filter of b, or "".
func audienceFilter(b *campaigns.Broadcast) string {
	var parts []string
	if len(b.TagsInclude) > 0 {
		parts = append(parts, "tagged "+strings.Join(b.TagsInclude, " or "))
	}
	if len(b.TagsExclude) > 0 {
		parts = append(parts, "not tagged "+strings.Join(b.TagsExclude, " or "))
	}
	if len(parts) == 0 {
		return ""
	}
	return " " + strings.Join(parts, " and ")
}
