package inbound

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/json"
	"net/http"
)

// postmarkRecord is the part Tidings reads of a Postmark bounce or spam
// complaint webhook
// (https://postmarkapp.com/developer/webhooks/bounce-webhook). Its
// MessageID is Postmark's own id of the message, not its Message-ID
// header, so it is not taken.
type postmarkRecord struct {
	RecordType string      `json:"RecordType"`
	ID         json.Number `json:"ID"`
	Type       string      `json:"Type"`
	Email      string      `json:"Email"`
	Details    string      `json:"Details"`
	BouncedAt  string      `json:"BouncedAt"`
}

// postmarkTypes maps Postmark's bounce types
// (https://postmarkapp.com/developer/api/bounce-api#bounce-types) to what
// they report. The types that say nothing of the recipient's address (an
// auto-responder, a DMARC refusal of our own domain, an error of the
// account or template, a challenge, a virus notice) are not here, and give
// no Event.
var postmarkTypes = map[string]struct {
	kind Kind
	hard bool
}{
	"HardBounce":          {Bounce, true},
	"BadEmailAddress":     {Bounce, true},
	"ManuallyDeactivated": {Bounce, true}, // Postmark no longer sends to it
	"SoftBounce":          {Bounce, false},
	"Transient":           {Bounce, false},
	"DnsError":            {Bounce, false},
	"Blocked":             {Bounce, false},
	"Unknown":             {Bounce, false},
	"SpamComplaint":       {Complaint, false},
	"Unsubscribe":         {Unsubscribe, false}, // a request to be removed
}

// decodePostmark authenticates a Postmark webhook by the HTTP Basic
// credentials Postmark sends from its webhook URL: the password must be
// the configured token, compared in constant time; the user is not
// checked.
func (w *Webhooks) decodePostmark(header http.Header, body []byte) ([]Event, error) {
	if w.postmarkToken == "" {
		return nil, unauthenticated(ProviderPostmark, "TIDINGS_POSTMARK_TOKEN is not set")
	}
	_, password, ok := (&http.Request{Header: header}).BasicAuth()
	if !ok {
		return nil, unauthenticated(ProviderPostmark, "no Basic credentials")
	}
	// Comparing digests keeps the token's length from showing in the time.
	got, want := sha256.Sum256([]byte(password)), sha256.Sum256([]byte(w.postmarkToken))
	if !hmac.Equal(got[:], want[:]) {
		return nil, unauthenticated(ProviderPostmark, "the password is not the token")
	}
	return decodePostmarkRecord(body)
}

// decodePostmarkRecord reads an authenticated Postmark record: a Bounce by
// its type (see postmarkTypes), a SpamComplaint, and nothing for the other
// record types (Delivery, Open, Click, SubscriptionChange).
func decodePostmarkRecord(body []byte) ([]Event, error) {
	var r postmarkRecord
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, malformed(ProviderPostmark, "not the JSON of a Postmark record")
	}
	var kind Kind
	var hard bool
	switch r.RecordType {
	case "Bounce":
		t, ok := postmarkTypes[r.Type]
		if !ok {
			return nil, nil
		}
		kind, hard = t.kind, t.hard
	case "SpamComplaint":
		kind = Complaint
	default:
		return nil, nil
	}
	e := Event{Kind: kind, Hard: hard, Recipient: r.Email, ID: r.ID.String(), At: parseTime(r.BouncedAt)}
	if kind == Bounce {
		e.Diagnostic = r.Details
	}
	es := eventList{provider: ProviderPostmark}
	if err := es.add(e); err != nil {
		return nil, err
	}
	return es.list, nil
}
