package inbound

import (
	"net/mail"
	"strings"
	"time"

	"github.com/emersion/go-message/textproto"
)

// dsnEvents returns the events of a delivery status notification (RFC
// 3464; RFC 6533 for message/global-delivery-status, whose fields are the
// same in UTF-8): one per recipient block whose Action is failed or
// delayed. Delivered, relayed and expanded recipients are reached, or out
// of sight, so they give none.
func (m *message) dsnEvents() []Event {
	var events []Event
	origID := m.originalID()
	sent := reportDate(m.header)
	for _, body := range m.statuses {
		var perMessage fields
		for _, block := range fieldBlocks(body) {
			if !block.has("action") && !block.has("final-recipient") && !block.has("original-recipient") {
				perMessage = append(perMessage, block...)
				continue
			}
			ev, ok := dsnRecipient(block, perMessage)
			if !ok {
				continue
			}
			ev.MessageID = origID
			if ev.MessageID == "" {
				// Gmail and Exchange name the original in the per-message
				// fields too, which is all there is when the copy is left out.
				ev.MessageID = msgID(perMessage.get("x-original-message-id"))
			}
			if ev.At.IsZero() {
				ev.At = sent
			}
			events = append(events, ev)
			if len(events) == maxEvents {
				return events
			}
		}
	}
	return events
}

// dsnRecipient returns the event of one per-recipient block, and false for
// a recipient that needs none.
func dsnRecipient(block, perMessage fields) (Event, bool) {
	var ev Event
	action, _, _ := strings.Cut(strings.ToLower(block.get("action")), " ")
	diagnostic := dsnDiagnostic(block.get("diagnostic-code"))
	status := enhancedStatus(block.get("status"))
	if status == "" {
		status = statusIn(diagnostic)
	}
	switch strings.TrimSpace(action) {
	case "failed":
		ev.Kind = Bounce
		if status == "" {
			// RFC 3464 section 2.3.3: failed means the MTA gave up.
			status = "5.0.0"
		}
		ev.Hard = classify(status, diagnostic)
	case "delayed":
		ev.Kind = Delayed
		if status == "" {
			status = "4.0.0"
		}
	default:
		return Event{}, false
	}
	ev.Status = status
	ev.Diagnostic = diagnostic
	ev.Recipient = dsnAddress(block.get("final-recipient"))
	if ev.Recipient == "" {
		ev.Recipient = dsnAddress(block.get("original-recipient"))
	}
	for _, name := range []string{"last-attempt-date", "arrival-date"} {
		v := block.get(name)
		if v == "" {
			v = perMessage.get(name)
		}
		if t, err := mail.ParseDate(v); err == nil && v != "" {
			ev.At = t.UTC()
			break
		}
	}
	return ev, true
}

// dsnAddress returns the address of a Final-Recipient or
// Original-Recipient field, "address-type; address" (RFC 3464 section
// 2.3.1), lower-cased. A field without the type, as some MTAs write it, is
// taken as the address.
func dsnAddress(v string) string {
	if _, addr, ok := strings.Cut(v, ";"); ok {
		v = addr
	}
	return cleanAddress(v)
}

// dsnDiagnostic returns the text of a Diagnostic-Code field without its
// diagnostic type ("smtp; 550 ...", RFC 3464 section 2.3.6), as one line of
// at most MaxDiagnostic bytes.
func dsnDiagnostic(v string) string {
	if typ, text, ok := strings.Cut(v, ";"); ok && isToken([]byte(strings.TrimSpace(typ))) {
		v = text
	}
	return cleanText(v, MaxDiagnostic)
}

// originalID returns the Message-ID of the enclosed original message, or "".
func (m *message) originalID() string {
	if m.original == nil {
		return ""
	}
	return msgID(m.original.Get("Message-Id"))
}

// reportDate returns the Date of h in UTC, or zero.
func reportDate(h textproto.Header) time.Time {
	t, err := mail.ParseDate(h.Get("Date"))
	if err != nil {
		return time.Time{}
	}
	return t.UTC()
}
