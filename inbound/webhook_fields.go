package inbound

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// maxEventID bounds Event.ID; a longer id is replaced by its hash, which
// stays unique and is the same when the event is delivered again.
const maxEventID = 255

// eventList gathers the Events of one request, dropping those whose recipient
// is not an address and refusing more than MaxWebhookEvents.
type eventList struct {
	provider string
	list     []Event
}

// add cleans e and keeps it if its recipient looks like an address. Its
// error is for a request with more than MaxWebhookEvents.
func (es *eventList) add(e Event) error {
	recipient, ok := cleanRecipient(e.Recipient)
	if !ok {
		return nil
	}
	if len(es.list) == MaxWebhookEvents {
		return malformed(es.provider, "more than %d events", MaxWebhookEvents)
	}
	e.Recipient = recipient
	e.MessageID = cleanMessageID(e.MessageID)
	e.Status = cleanStatus(e.Status)
	if e.Status == "" {
		e.Status = enhancedStatus(e.Diagnostic)
	}
	e.Diagnostic = cleanText(e.Diagnostic, MaxDiagnostic)
	e.FeedbackType = cleanFeedbackType(e.FeedbackType)
	e.ID = cleanEventID(e.ID)
	es.list = append(es.list, e)
	return nil
}

// cleanEventID returns id bounded: as it is when short and printable, else
// its SHA-256 in hex, which keeps ids apart and a redelivery's the same.
func cleanEventID(id string) string {
	id = strings.TrimSpace(id)
	if len(id) <= maxEventID && utf8.ValidString(id) &&
		!strings.ContainsFunc(id, func(r rune) bool { return unicode.IsControl(r) }) {
		return id
	}
	sum := sha256.Sum256([]byte(id))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// parseTime reads a provider's RFC 3339 time, with or without fractions of
// a second; zero for anything else.
func parseTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(s))
	if err != nil {
		return time.Time{}
	}
	return t.UTC()
}

// unixTime returns the time of a JSON number of seconds since 1970, with
// up to nine digits of fraction, or zero for anything else (an exponent, a
// negative number, a year past 9999).
func unixTime(n json.Number) time.Time {
	whole, frac, _ := strings.Cut(string(n), ".")
	secs, err := strconv.ParseInt(whole, 10, 64)
	if err != nil || secs <= 0 || secs >= 253402300800 || len(frac) > 9 {
		return time.Time{}
	}
	var nanos int64
	if frac != "" {
		f, err := strconv.ParseUint(frac, 10, 32)
		if err != nil {
			return time.Time{}
		}
		nanos = int64(f)
		for range 9 - len(frac) {
			nanos *= 10
		}
	}
	return time.Unix(secs, nanos).UTC()
}
