package inbound

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strconv"
	"time"
)

// mailgunWebhook is a Mailgun webhook body
// (https://documentation.mailgun.com/docs/mailgun/user-manual/webhooks/securing-webhooks):
// the signature beside the event it signs for.
type mailgunWebhook struct {
	Signature struct {
		// Timestamp is seconds since 1970, sent as a JSON string or number;
		// its text is what is signed.
		Timestamp       json.RawMessage `json:"timestamp"`
		Token           string          `json:"token"`
		Signature       string          `json:"signature"`
		ParentSignature string          `json:"parent-signature"`
	} `json:"signature"`
	EventData json.RawMessage `json:"event-data"`
}

// mailgunEvent is the part Tidings reads of a Mailgun event
// (https://documentation.mailgun.com/docs/mailgun/user-manual/events/event-types).
type mailgunEvent struct {
	Event          string      `json:"event"`
	ID             string      `json:"id"`
	Timestamp      json.Number `json:"timestamp"`
	Severity       string      `json:"severity"`
	Recipient      string      `json:"recipient"`
	DeliveryStatus struct {
		Code         json.Number `json:"code"`
		EnhancedCode string      `json:"enhanced-code"`
		Message      string      `json:"message"`
		Description  string      `json:"description"`
	} `json:"delivery-status"`
	Message struct {
		Headers struct {
			MessageID string `json:"message-id"`
		} `json:"headers"`
	} `json:"message"`
}

// decodeMailgun authenticates a Mailgun webhook, whose signature is the hex
// HMAC-SHA256 of its timestamp and token under the signing key, and whose
// timestamp must be within webhookWindow of the clock. A subaccount's
// event also carries the parent account's signature; either may match.
func (w *Webhooks) decodeMailgun(body []byte) ([]Event, error) {
	if len(w.mailgunKey) == 0 {
		return nil, unauthenticated(ProviderMailgun, "TIDINGS_MAILGUN_SIGNING_KEY is not set")
	}
	var hook mailgunWebhook
	if err := json.Unmarshal(body, &hook); err != nil {
		return nil, unauthenticated(ProviderMailgun, "the body is not a signed Mailgun webhook")
	}
	s := hook.Signature
	ts := string(bytes.Trim(s.Timestamp, `"`))
	secs, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || s.Token == "" {
		return nil, unauthenticated(ProviderMailgun, "no timestamp or token")
	}
	m := hmac.New(sha256.New, w.mailgunKey)
	m.Write([]byte(ts))
	m.Write([]byte(s.Token))
	want := m.Sum(nil)
	if !hexMACEqual(s.Signature, want) && !hexMACEqual(s.ParentSignature, want) {
		return nil, unauthenticated(ProviderMailgun, "the signature does not verify")
	}
	if d := w.now().Sub(time.Unix(secs, 0)); d > webhookWindow || d < -webhookWindow {
		return nil, unauthenticated(ProviderMailgun, "the timestamp is %s from the clock", d.Round(time.Second))
	}
	return decodeMailgunEvent(hook.EventData)
}

// hexMACEqual compares the hex MAC got with want in constant time.
func hexMACEqual(got string, want []byte) bool {
	b, err := hex.DecodeString(got)
	return err == nil && hmac.Equal(b, want)
}

// decodeMailgunEvent reads an authenticated Mailgun event: failed is a
// bounce (severity permanent hard, temporary soft), complained a
// complaint, unsubscribed an unsubscribe; the others give no Event.
func decodeMailgunEvent(data []byte) ([]Event, error) {
	var ev mailgunEvent
	if err := json.Unmarshal(data, &ev); err != nil {
		return nil, malformed(ProviderMailgun, "event-data is not the JSON of a Mailgun event")
	}
	e := Event{
		Recipient: ev.Recipient,
		MessageID: ev.Message.Headers.MessageID,
		ID:        ev.ID,
		At:        unixTime(ev.Timestamp),
	}
	switch ev.Event {
	case "failed":
		e.Kind, e.Hard = Bounce, ev.Severity == "permanent"
		ds := ev.DeliveryStatus
		e.Status = ds.EnhancedCode
		e.Diagnostic = ds.Message
		if e.Diagnostic == "" {
			e.Diagnostic = ds.Description
		}
		// An SMTP reply code (RFC 5321 section 4.2) leads the server's
		// words; Mailgun's own codes (6xx) do not.
		if code, err := ds.Code.Int64(); err == nil && code >= 200 && code < 600 {
			e.Diagnostic = strconv.FormatInt(code, 10) + " " + e.Diagnostic
		}
	case "complained":
		e.Kind = Complaint
	case "unsubscribed":
		e.Kind = Unsubscribe
	default:
		return nil, nil
	}
	es := eventList{provider: ProviderMailgun}
	if err := es.add(e); err != nil {
		return nil, err
	}
	return es.list, nil
}
