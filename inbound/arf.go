package inbound

import (
	"cmp"
	"net/mail"
	"strings"
)

// arfEvents returns the Complaint of a feedback report (RFC 5965), which
// is also the shape of Microsoft's JMRP reports and Yahoo's complaint
// feedback loop. The recipient is the report's Original-Rcpt-To; reports
// that redact it leave the enclosed message's own header to say whom it
// went to: Microsoft's X-HmXmrOriginalRecipient, else its To.
func (m *message) arfEvents() []Event {
	var report fields
	for _, block := range fieldBlocks(m.feedback) {
		report = append(report, block...)
	}
	ev := Event{Kind: Complaint, MessageID: m.originalID()}
	ev.FeedbackType = feedbackType(report.get("feedback-type"))
	ev.Recipient = cleanAddress(report.get("original-rcpt-to"))
	if ev.Recipient == "" && m.original != nil {
		ev.Recipient = cleanAddress(m.original.Get("X-Hmxmroriginalrecipient"))
		if ev.Recipient == "" {
			ev.Recipient = headerAddress(*m.original, "To")
		}
	}
	for _, name := range []string{"arrival-date", "received-date"} {
		if v := report.get(name); v != "" {
			if t, err := mail.ParseDate(v); err == nil {
				ev.At = t.UTC()
				break
			}
		}
	}
	if ev.At.IsZero() {
		ev.At = reportDate(m.header)
	}
	return []Event{ev}
}

// feedbackType returns a Feedback-Type (RFC 5965 section 7.3) as
// cleanFeedbackType does; a report without one, or with one that is no
// token, is abuse, which is what every feedback loop sends.
func feedbackType(v string) string {
	return cmp.Or(cleanFeedbackType(v), "abuse")
}

// cleanFeedbackType returns an ARF feedback type as a lower-case token
// (RFC 5965 section 7.3: abuse, fraud, virus, other, ...), or "".
func cleanFeedbackType(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	if len(s) > maxFeedbackType || strings.ContainsFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.')
	}) {
		return ""
	}
	return s
}
