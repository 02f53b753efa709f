package inbound

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// The headers of SendGrid's signed event webhook
// (https://www.twilio.com/docs/sendgrid/for-developers/tracking-events/getting-started-event-webhook-security-features).
const (
	sendGridSignatureHeader = "X-Twilio-Email-Event-Webhook-Signature"
	sendGridTimestampHeader = "X-Twilio-Email-Event-Webhook-Timestamp"
)

// sendGridEvent is the part Tidings reads of a SendGrid event
// (https://www.twilio.com/docs/sendgrid/for-developers/tracking-events/event).
type sendGridEvent struct {
	Event     string      `json:"event"`
	Email     string      `json:"email"`
	Timestamp json.Number `json:"timestamp"`
	SMTPID    string      `json:"smtp-id"`
	EventID   string      `json:"sg_event_id"`
	Type      string      `json:"type"`
	Status    string      `json:"status"`
	Reason    string      `json:"reason"`
}

// parseSendGridKey reads SendGrid's verification key: an ECDSA P-256
// public key as base64 DER (SubjectPublicKeyInfo), as SendGrid shows it,
// or the same in PEM.
func parseSendGridKey(s string) (*ecdsa.PublicKey, error) {
	s = strings.TrimSpace(s)
	var der []byte
	if block, _ := pem.Decode([]byte(s)); block != nil {
		der = block.Bytes
	} else {
		var err error
		if der, err = base64.StdEncoding.DecodeString(s); err != nil {
			return nil, errors.New("not base64 DER or PEM")
		}
	}
	key, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return nil, errors.New("not a public key")
	}
	ec, ok := key.(*ecdsa.PublicKey)
	if !ok || ec.Curve != elliptic.P256() {
		return nil, errors.New("not an ECDSA P-256 public key")
	}
	return ec, nil
}

// decodeSendGrid authenticates a SendGrid signed event webhook: the
// signature is ECDSA P-256 with SHA-256 over the timestamp header and the
// raw body, in ASN.1 and base64, and the timestamp must be within
// webhookWindow of the clock.
func (w *Webhooks) decodeSendGrid(header http.Header, body []byte) ([]Event, error) {
	if w.sendGridKey == nil {
		return nil, unauthenticated(ProviderSendGrid, "TIDINGS_SENDGRID_PUBLIC_KEY is not set")
	}
	ts := header.Get(sendGridTimestampHeader)
	sig, err := base64.StdEncoding.DecodeString(header.Get(sendGridSignatureHeader))
	if ts == "" || err != nil || len(sig) == 0 {
		return nil, unauthenticated(ProviderSendGrid, "no signature or timestamp header")
	}
	h := sha256.New()
	h.Write([]byte(ts))
	h.Write(body)
	if !ecdsa.VerifyASN1(w.sendGridKey, h.Sum(nil), sig) {
		return nil, unauthenticated(ProviderSendGrid, "the signature does not verify")
	}
	secs, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return nil, unauthenticated(ProviderSendGrid, "the timestamp is not a number")
	}
	if d := w.now().Sub(time.Unix(secs, 0)); d > webhookWindow || d < -webhookWindow {
		return nil, unauthenticated(ProviderSendGrid, "the timestamp is %s from the clock", d.Round(time.Second))
	}
	return decodeSendGridEvents(body)
}

// decodeSendGridEvents reads an authenticated batch of SendGrid events: a
// bounce of type bounce is hard unless its status is of class 4, one of
// type blocked soft; a drop for a bounced or invalid address is hard; a
// spam report is a complaint; an unsubscribe (from all mail or a group) an
// unsubscribe; the others give no Event.
func decodeSendGridEvents(body []byte) ([]Event, error) {
	var batch []sendGridEvent
	if err := json.Unmarshal(body, &batch); err != nil {
		return nil, malformed(ProviderSendGrid, "not the JSON array of SendGrid events")
	}
	es := eventList{provider: ProviderSendGrid}
	for _, ev := range batch {
		e := Event{Recipient: ev.Email, MessageID: ev.SMTPID, ID: ev.EventID, At: unixTime(ev.Timestamp)}
		switch ev.Event {
		case "bounce":
			e.Kind, e.Status, e.Diagnostic = Bounce, ev.Status, ev.Reason
			e.Hard = ev.Type != "blocked" && !strings.HasPrefix(strings.TrimSpace(ev.Status), "4")
		case "dropped":
			if ev.Reason != "Bounced Address" && ev.Reason != "Invalid" {
				continue
			}
			e.Kind, e.Hard, e.Diagnostic = Bounce, true, ev.Reason
		case "spamreport":
			e.Kind = Complaint
		case "unsubscribe", "group_unsubscribe":
			e.Kind = Unsubscribe
		default:
			continue
		}
		if err := es.add(e); err != nil {
			return nil, err
		}
	}
	return es.list, nil
}
