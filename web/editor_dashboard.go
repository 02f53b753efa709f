package web

import (
	"fmt"
	"html/template"
	"net/http"
	"strings"
	"time"

	"github.com/tidings/tidings/subscribers"
)

// handleEditorDashboard shows the state of every list at a glance.
func (s *Server) handleEditorDashboard(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	counts, err := s.subscribers.CountsByList(ctx)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	weeks, err := s.subscribers.WeeklyActivity(ctx, 12)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	events, err := s.subscribers.RecentEvents(ctx, 15)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	sends, err := s.campaigns.SendCountsSince(ctx, s.now().Add(-7*24*time.Hour))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	sending, err := s.sendingNow(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	p := s.editorPage(r, "Dashboard", map[string]any{
		"Counts": counts, "Chart": activityChart(weeks), "Weeks": weeks, "Events": events, "Sends": sends,
		"Inbox": s.inbox != nil, "Sending": sending,
	})
	s.render(w, r, http.StatusOK, "editor_dashboard", p)
}

// activityChart draws sign-ups, confirmations and unsubscribes per week as
// grouped bars in SVG, server-side.
func activityChart(weeks []subscribers.WeekActivity) template.HTML {
	const width, height, pad, labelH = 720, 220, 28, 22
	max := 1
	for _, w := range weeks {
		for _, v := range []int{w.Signups, w.Confirmations, w.Unsubscribes} {
			if v > max {
				max = v
			}
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" viewBox="0 0 %d %d" role="img" aria-label="Sign-ups, confirmations and unsubscribes per week for the last %d weeks">`, width, height, len(weeks))
	plotH := float64(height - pad - labelH)
	fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#d1d5db"/>`, pad, height-labelH, width-4, height-labelH)
	fmt.Fprintf(&b, `<text x="2" y="%d" font-size="11" fill="#6b7280">%d</text>`, pad-6, max)
	if len(weeks) > 0 {
		slot := float64(width-pad-8) / float64(len(weeks))
		bar := slot / 4
		for i, w := range weeks {
			x := float64(pad) + float64(i)*slot + bar/2
			for j, v := range []int{w.Signups, w.Confirmations, w.Unsubscribes} {
				h := plotH * float64(v) / float64(max)
				color := []string{"#93c5fd", "#1d4ed8", "#f59e0b"}[j]
				fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%s: %d</title></rect>`,
					x+float64(j)*bar, float64(height-labelH)-h, bar-1, h, color,
					[]string{"Sign-ups", "Confirmations", "Unsubscribes"}[j], v)
			}
			fmt.Fprintf(&b, `<text x="%.1f" y="%d" font-size="11" fill="#6b7280" text-anchor="middle">%s</text>`, x+1.5*bar, height-6, w.Week.Format("2 Jan"))
		}
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}
