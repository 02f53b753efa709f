package inbound

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tidings/tidings"
)

const mailgunTestKey = "key-0123456789abcdef"

// mailgunSigned returns a Mailgun webhook body of eventData, signed with
// key at the Unix time ts (as a JSON string, as Mailgun sends it).
func mailgunSigned(key string, ts int64, token, eventData string) string {
	return `{"signature":{"timestamp":"` + strconv.FormatInt(ts, 10) + `","token":"` + token +
		`","signature":"` + mailgunSignature(key, ts, token) + `"},"event-data":` + eventData + `}`
}

// mailgunSignature is the hex HMAC-SHA256 of ts and token under key.
func mailgunSignature(key string, ts int64, token string) string {
	m := hmac.New(sha256.New, []byte(key))
	m.Write([]byte(strconv.FormatInt(ts, 10) + token))
	return hex.EncodeToString(m.Sum(nil))
}

// The Mailgun events of the tests.
const (
	mailgunPermanent = `{"event":"failed","id":"G9Bn5sl1TC6-mnn3OyT_rA","timestamp":1772445590.908181,"severity":"permanent","reason":"bounce",` +
		`"recipient":"Jane@Example.com","delivery-status":{"code":550,"enhanced-code":"5.1.1","message":"5.1.1 The email account does not exist",` +
		`"description":""},"message":{"headers":{"message-id":"m1@tidings.example","to":"jane@example.com"}}}`
	mailgunTemporary = `{"event":"failed","id":"t-2","timestamp":1772445500,"severity":"temporary","recipient":"full@example.com",` +
		`"delivery-status":{"code":452,"message":"4.2.2 Mailbox full\nTry later"},"message":{"headers":{"message-id":"<m2@tidings.example>"}}}`
	mailgunSuppressed = `{"event":"failed","id":"s-3","timestamp":1772445500,"severity":"permanent","reason":"suppress-bounce","recipient":"gone@example.com",` +
		`"delivery-status":{"code":605,"message":"","description":"Not delivering to previously bounced address"}}`
	mailgunComplained = `{"event":"complained","id":"c-4","timestamp":1772445000,"recipient":"angry@example.com","message":{"headers":{"message-id":"m3@tidings.example"}}}`
	mailgunUnsub      = `{"event":"unsubscribed","id":"u-5","timestamp":1772445000,"recipient":"Leaving@Example.com"}`
	mailgunDelivered  = `{"event":"delivered","id":"d-6","timestamp":1772445000,"recipient":"ok@example.com"}`
)

func TestWebhooks_Decode_Mailgun(t *testing.T) {
	w := mustWebhooks(t, WebhookConfig{MailgunSigningKey: mailgunTestKey})
	now := webhookNow.Unix()
	token := strings.Repeat("a1", 25)
	good := mailgunSigned(mailgunTestKey, now, token, mailgunPermanent)
	stamp := strconv.FormatInt(now, 10)
	numeric := strings.Replace(mailgunSigned(mailgunTestKey, now, token, mailgunUnsub), `"timestamp":"`+stamp+`"`, `"timestamp":`+stamp, 1)
	parent := `{"signature":{"timestamp":"` + stamp + `","token":"` + token + `","signature":"00","parent-signature":"` +
		mailgunSignature(mailgunTestKey, now, token) + `"},"event-data":` + mailgunComplained + `}`
	noEventData := `{"signature":{"timestamp":"` + stamp + `","token":"` + token + `","signature":"` +
		mailgunSignature(mailgunTestKey, now, token) + `"}}`

	runWebhookCases(t, w, ProviderMailgun, []webhookCase{
		{name: "Permanent", body: good, want: []Event{{
			Kind: Bounce, Hard: true, Recipient: "jane@example.com", MessageID: "<m1@tidings.example>", Status: "5.1.1",
			Diagnostic: "550 5.1.1 The email account does not exist", ID: "G9Bn5sl1TC6-mnn3OyT_rA",
			At: time.Date(2026, 3, 2, 9, 59, 50, 908181000, time.UTC),
		}}},
		{name: "Temporary", body: mailgunSigned(mailgunTestKey, now, token, mailgunTemporary), want: []Event{{
			Kind: Bounce, Recipient: "full@example.com", MessageID: "<m2@tidings.example>", Status: "4.2.2",
			Diagnostic: "452 4.2.2 Mailbox full Try later", ID: "t-2", At: time.Unix(1772445500, 0).UTC(),
		}}},
		{name: "Suppressed", body: mailgunSigned(mailgunTestKey, now, token, mailgunSuppressed), want: []Event{{
			Kind: Bounce, Hard: true, Recipient: "gone@example.com", Diagnostic: "Not delivering to previously bounced address",
			ID: "s-3", At: time.Unix(1772445500, 0).UTC(),
		}}},
		{name: "Complained", body: mailgunSigned(mailgunTestKey, now, token, mailgunComplained), want: []Event{{
			Kind: Complaint, Recipient: "angry@example.com", MessageID: "<m3@tidings.example>", ID: "c-4", At: time.Unix(1772445000, 0).UTC(),
		}}},
		{name: "UnsubscribedNumericTimestamp", body: numeric, want: []Event{{
			Kind: Unsubscribe, Recipient: "leaving@example.com", ID: "u-5", At: time.Unix(1772445000, 0).UTC(),
		}}},
		{name: "ParentSignature", body: parent, want: []Event{{
			Kind: Complaint, Recipient: "angry@example.com", MessageID: "<m3@tidings.example>", ID: "c-4", At: time.Unix(1772445000, 0).UTC(),
		}}},
		{name: "Delivered", body: mailgunSigned(mailgunTestKey, now, token, mailgunDelivered)},
		{name: "NotAnAddress", body: mailgunSigned(mailgunTestKey, now, token, `{"event":"complained","id":"x","recipient":"<script>"}`)},
		{name: "EventDataNull", body: mailgunSigned(mailgunTestKey, now, token, `null`)},

		{name: "NotJSON", body: `signature=abc&token=def`, code: tidings.EUNAUTHORIZED},
		{name: "NoSignature", body: `{"event-data":` + mailgunPermanent + `}`, code: tidings.EUNAUTHORIZED},
		{name: "NoToken", body: mailgunSigned(mailgunTestKey, now, "", mailgunPermanent), code: tidings.EUNAUTHORIZED},
		{name: "BadSignature", body: strings.Replace(good, `"signature":"`, `"signature":"00`, 1), code: tidings.EUNAUTHORIZED},
		{name: "SignatureNotHex", body: strings.Replace(good, `"signature":"`, `"signature":"zz`, 1), code: tidings.EUNAUTHORIZED},
		{name: "WrongKey", body: mailgunSigned("key-other", now, token, mailgunPermanent), code: tidings.EUNAUTHORIZED},
		{name: "AlteredToken", body: strings.Replace(good, token, "b2"+token[2:], 1), code: tidings.EUNAUTHORIZED},
		{name: "AlteredTimestamp", body: strings.Replace(good, `"`+stamp+`"`, `"`+strconv.FormatInt(now+1, 10)+`"`, 1), code: tidings.EUNAUTHORIZED},
		{name: "Stale", body: mailgunSigned(mailgunTestKey, now-11*60, token, mailgunPermanent), code: tidings.EUNAUTHORIZED},
		{name: "Future", body: mailgunSigned(mailgunTestKey, now+11*60, token, mailgunPermanent), code: tidings.EUNAUTHORIZED},
		{name: "TimestampNotANumber", body: strings.Replace(good, `"timestamp":"`+stamp, `"timestamp":"soon`, 1), code: tidings.EUNAUTHORIZED},
		{name: "MalformedAfterAuth", body: mailgunSigned(mailgunTestKey, now, token, `"failed"`), code: tidings.EMALFORMED},
		{name: "NoEventData", body: noEventData, code: tidings.EMALFORMED},
		{name: "NineMinutesOld", body: mailgunSigned(mailgunTestKey, now-9*60, token, mailgunDelivered)},
	})
}
