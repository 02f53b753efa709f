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

// The bounds on the fields of a webhook's Events. A provider's words are
// stored and shown, so each is kept to what its standard allows.
const (
	// maxRecipient is the longest address a path holds (RFC 5321 section
	// 4.5.3.1.3: 256 octets with its angle brackets).
	maxRecipient = 254
	// maxLocalPart is the longest local part (RFC 5321 section 4.5.3.1.1).
	maxLocalPart = 64
	// maxMessageID is the longest header line (RFC 5322 section 2.1.1); a
	// longer Message-ID is dropped, since a cut one would name nothing.
	maxMessageID = 998
	// maxEventID bounds Event.ID; a longer id is replaced by its hash, which
	// stays unique and is the same when the event is delivered again.
	maxEventID = 255
	// maxFeedbackType bounds Event.FeedbackType, a short token (RFC 5965).
	maxFeedbackType = 64
)

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
		e.Status = findStatus(e.Diagnostic)
	}
	e.Diagnostic = cleanText(e.Diagnostic, MaxDiagnostic)
	e.FeedbackType = cleanFeedbackType(e.FeedbackType)
	e.ID = cleanEventID(e.ID)
	es.list = append(es.list, e)
	return nil
}

// cleanRecipient lower-cases addr and says whether it looks like an address:
// one local part and one domain, within RFC 5321's lengths, with no space,
// control character or address punctuation that a bare address never holds.
// Quoted local parts are not taken; no relay reports one in a webhook.
func cleanRecipient(addr string) (string, bool) {
	// Validity is checked first: ToLower turns invalid bytes into U+FFFD.
	if !utf8.ValidString(addr) {
		return "", false
	}
	addr = strings.ToLower(strings.TrimSpace(addr))
	if len(addr) > maxRecipient {
		return "", false
	}
	local, domain, ok := strings.Cut(addr, "@")
	if !ok || local == "" || len(local) > maxLocalPart || domain == "" {
		return "", false
	}
	if strings.ContainsFunc(addr, func(r rune) bool {
		return unicode.IsSpace(r) || unicode.IsControl(r) || strings.ContainsRune(`"(),:;<>[\]`, r)
	}) || strings.Contains(domain, "@") {
		return "", false
	}
	if strings.HasPrefix(local, ".") || strings.HasSuffix(local, ".") || strings.Contains(local, "..") ||
		strings.HasPrefix(domain, ".") || strings.HasSuffix(domain, ".") || strings.Contains(domain, "..") ||
		strings.HasPrefix(domain, "-") {
		return "", false
	}
	return addr, true
}

// cleanMessageID returns id in angle brackets, as Event.MessageID is, or ""
// for an id that is empty, too long or holds a space or control character
// (RFC 5322 section 3.6.4: msg-id is "<" id-left "@" id-right ">").
func cleanMessageID(id string) string {
	id = strings.TrimSpace(id)
	if id == "" {
		return ""
	}
	if !strings.HasPrefix(id, "<") {
		id = "<" + id
	}
	if !strings.HasSuffix(id, ">") || len(id) == 1 {
		id += ">"
	}
	if len(id) > maxMessageID || len(id) < 3 || !utf8.ValidString(id) ||
		strings.ContainsFunc(id, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) ||
		strings.Count(id, "<") != 1 || strings.Count(id, ">") != 1 {
		return ""
	}
	return id
}

// cleanStatus returns s if it is an RFC 3463 enhanced status code
// (class "." subject "." detail: a class of 2, 4 or 5, a subject of at most
// three digits and a detail of at most three), else "".
func cleanStatus(s string) string {
	s = strings.TrimSpace(s)
	if n := statusLen(s); n > 0 && n == len(s) {
		return s
	}
	return ""
}

// statusLen returns the length of the enhanced status code s starts with,
// or 0.
func statusLen(s string) int {
	if len(s) < 5 || (s[0] != '2' && s[0] != '4' && s[0] != '5') || s[1] != '.' {
		return 0
	}
	i := 2
	for part := 0; part < 2; part++ {
		start := i
		for i < len(s) && i-start < 4 && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if n := i - start; n == 0 || n > 3 {
			return 0
		}
		if part == 0 {
			if i == len(s) || s[i] != '.' {
				return 0
			}
			i++
		}
	}
	return i
}

// findStatus returns the first enhanced status code in a server's words
// ("550 5.1.1 User unknown"), or "": providers that report no code of
// their own quote the remote server's reply.
func findStatus(text string) string {
	if len(text) > MaxDiagnostic {
		text = text[:MaxDiagnostic]
	}
	for i := 0; i+5 <= len(text); i++ {
		if i > 0 && (text[i-1] >= '0' && text[i-1] <= '9' || text[i-1] == '.') {
			continue
		}
		n := statusLen(text[i:])
		if n > 0 && (i+n == len(text) || text[i+n] != '.' && (text[i+n] < '0' || text[i+n] > '9')) {
			return text[i : i+n]
		}
	}
	return ""
}

// cleanText makes s one readable line of at most max bytes: invalid UTF-8
// and control characters (line breaks included) become spaces, runs of
// spaces one space, and a cut falls between characters.
func cleanText(s string, max int) string {
	var b strings.Builder
	space := false
	for _, r := range s {
		if r == utf8.RuneError || unicode.IsControl(r) || unicode.IsSpace(r) {
			space = b.Len() > 0
			continue
		}
		n := utf8.RuneLen(r)
		if space {
			n++
		}
		if b.Len()+n > max {
			break
		}
		if space {
			b.WriteByte(' ')
			space = false
		}
		b.WriteRune(r)
	}
	return b.String()
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
