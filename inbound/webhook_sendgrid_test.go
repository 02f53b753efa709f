package inbound

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tidings/tidings"
)

// sendGridKey makes an ECDSA P-256 key and its public half as SendGrid
// shows it, base64 DER.
func sendGridKey(tb testing.TB, curve elliptic.Curve) (*ecdsa.PrivateKey, string) {
	tb.Helper()
	key, err := ecdsa.GenerateKey(curve, rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		tb.Fatal(err)
	}
	return key, base64.StdEncoding.EncodeToString(der)
}

// rsaPublicKeyBase64 is an RSA public key in base64 DER: a key of the
// wrong kind for SendGrid.
func rsaPublicKeyBase64(tb testing.TB) string {
	tb.Helper()
	der, err := x509.MarshalPKIXPublicKey(&mustSNS(tb).key.PublicKey)
	if err != nil {
		tb.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(der)
}

// sendGridSigned returns the headers that sign body with key at ts.
func sendGridSigned(tb testing.TB, key *ecdsa.PrivateKey, ts int64, body string) http.Header {
	tb.Helper()
	stamp := strconv.FormatInt(ts, 10)
	sum := sha256.Sum256([]byte(stamp + body))
	sig, err := ecdsa.SignASN1(rand.Reader, key, sum[:])
	if err != nil {
		tb.Fatal(err)
	}
	return http.Header{
		"X-Twilio-Email-Event-Webhook-Signature": {base64.StdEncoding.EncodeToString(sig)},
		"X-Twilio-Email-Event-Webhook-Timestamp": {stamp},
	}
}

// sendGridBatch is the SendGrid batch of the tests: one of each event.
const sendGridBatch = `[
{"email":"Jane@Example.com","timestamp":1772445590,"smtp-id":"<m1@tidings.example>","event":"bounce","sg_event_id":"ev-1",
 "sg_message_id":"sg-1","reason":"550 5.1.1 The email account that you tried to reach does not exist","status":"5.1.1","type":"bounce"},
{"email":"blocked@example.com","timestamp":1772445591,"smtp-id":"<m2@tidings.example>","event":"bounce","sg_event_id":"ev-2",
 "reason":"550 5.7.1 blocked by policy","status":"5.7.1","type":"blocked"},
{"email":"later@example.com","timestamp":1772445592,"event":"bounce","sg_event_id":"ev-3","reason":"452 try later","status":"4.2.2","type":"bounce"},
{"email":"gone@example.com","timestamp":1772445593,"smtp-id":"<m4@tidings.example>","event":"dropped","sg_event_id":"ev-4","reason":"Bounced Address"},
{"email":"bad@example.com","timestamp":1772445594,"event":"dropped","sg_event_id":"ev-5","reason":"Invalid"},
{"email":"quiet@example.com","timestamp":1772445595,"event":"dropped","sg_event_id":"ev-6","reason":"Unsubscribed Address"},
{"email":"Angry@Example.com","timestamp":1772445596,"smtp-id":"<m7@tidings.example>","event":"spamreport","sg_event_id":"ev-7"},
{"email":"leaving@example.com","timestamp":1772445597,"event":"unsubscribe","sg_event_id":"ev-8"},
{"email":"group@example.com","timestamp":1772445598,"event":"group_unsubscribe","sg_event_id":"ev-9","asm_group_id":1},
{"email":"ok@example.com","timestamp":1772445599,"event":"delivered","sg_event_id":"ev-10"},
{"email":"not an address","timestamp":1772445599,"event":"spamreport","sg_event_id":"ev-11"}
]`

func TestWebhooks_Decode_SendGrid(t *testing.T) {
	key, public := sendGridKey(t, elliptic.P256())
	other, _ := sendGridKey(t, elliptic.P256())
	w := mustWebhooks(t, WebhookConfig{SendGridPublicKey: public})
	now := webhookNow.Unix()
	at := func(sec int64) time.Time { return time.Unix(sec, 0).UTC() }
	good := sendGridSigned(t, key, now, sendGridBatch)
	stale := sendGridSigned(t, key, now-11*60, sendGridBatch)
	noSignature := http.Header{"X-Twilio-Email-Event-Webhook-Timestamp": good["X-Twilio-Email-Event-Webhook-Timestamp"]}
	noTimestamp := http.Header{"X-Twilio-Email-Event-Webhook-Signature": good["X-Twilio-Email-Event-Webhook-Signature"]}
	otherTime := sendGridSigned(t, key, now, sendGridBatch)
	otherTime.Set("X-Twilio-Email-Event-Webhook-Timestamp", strconv.FormatInt(now+1, 10))

	runWebhookCases(t, w, ProviderSendGrid, []webhookCase{
		{name: "Batch", header: good, body: sendGridBatch, want: []Event{
			{Kind: Bounce, Hard: true, Recipient: "jane@example.com", MessageID: "<m1@tidings.example>", Status: "5.1.1",
				Diagnostic: "550 5.1.1 The email account that you tried to reach does not exist", ID: "ev-1", At: at(1772445590)},
			{Kind: Bounce, Recipient: "blocked@example.com", MessageID: "<m2@tidings.example>", Status: "5.7.1",
				Diagnostic: "550 5.7.1 blocked by policy", ID: "ev-2", At: at(1772445591)},
			{Kind: Bounce, Recipient: "later@example.com", Status: "4.2.2", Diagnostic: "452 try later", ID: "ev-3", At: at(1772445592)},
			{Kind: Bounce, Hard: true, Recipient: "gone@example.com", MessageID: "<m4@tidings.example>", Diagnostic: "Bounced Address", ID: "ev-4", At: at(1772445593)},
			{Kind: Bounce, Hard: true, Recipient: "bad@example.com", Diagnostic: "Invalid", ID: "ev-5", At: at(1772445594)},
			{Kind: Complaint, Recipient: "angry@example.com", MessageID: "<m7@tidings.example>", ID: "ev-7", At: at(1772445596)},
			{Kind: Unsubscribe, Recipient: "leaving@example.com", ID: "ev-8", At: at(1772445597)},
			{Kind: Unsubscribe, Recipient: "group@example.com", ID: "ev-9", At: at(1772445598)},
		}},
		{name: "Empty", header: sendGridSigned(t, key, now, `[]`), body: `[]`},
		{name: "Open", header: sendGridSigned(t, key, now, `[{"event":"open","email":"ok@example.com"}]`), body: `[{"event":"open","email":"ok@example.com"}]`},

		{name: "NoHeaders", body: sendGridBatch, code: tidings.EUNAUTHORIZED},
		{name: "NoSignature", header: noSignature, body: sendGridBatch, code: tidings.EUNAUTHORIZED},
		{name: "NoTimestamp", header: noTimestamp, body: sendGridBatch, code: tidings.EUNAUTHORIZED},
		{name: "SignatureNotBase64", header: http.Header{"X-Twilio-Email-Event-Webhook-Signature": {"!!"}, "X-Twilio-Email-Event-Webhook-Timestamp": {"1"}}, body: sendGridBatch, code: tidings.EUNAUTHORIZED},
		{name: "AlteredBody", header: good, body: strings.Replace(sendGridBatch, "Jane@", "Joan@", 1), code: tidings.EUNAUTHORIZED},
		{name: "AlteredTimestamp", header: otherTime, body: sendGridBatch, code: tidings.EUNAUTHORIZED},
		{name: "WrongKey", header: sendGridSigned(t, other, now, sendGridBatch), body: sendGridBatch, code: tidings.EUNAUTHORIZED},
		{name: "Stale", header: stale, body: sendGridBatch, code: tidings.EUNAUTHORIZED},
		{name: "Future", header: sendGridSigned(t, key, now+11*60, sendGridBatch), body: sendGridBatch, code: tidings.EUNAUTHORIZED},
		{name: "TimestampNotANumber", header: sendGridSigned(t, key, 0, sendGridBatch), body: sendGridBatch, code: tidings.EUNAUTHORIZED},
		{name: "MalformedAfterAuth", header: sendGridSigned(t, key, now, `{"event":"bounce"}`), body: `{"event":"bounce"}`, code: tidings.EMALFORMED},
		{name: "TruncatedAfterAuth", header: sendGridSigned(t, key, now, `[{"event":"bounce"`), body: `[{"event":"bounce"`, code: tidings.EMALFORMED},
	})

	t.Run("PEMKey", func(t *testing.T) {
		der, _ := base64.StdEncoding.DecodeString(public)
		w := mustWebhooks(t, WebhookConfig{SendGridPublicKey: string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))})
		runWebhookCases(t, w, ProviderSendGrid, []webhookCase{{name: "OtherBody", header: good, body: `[]`, code: tidings.EUNAUTHORIZED},
			{name: "Empty", header: sendGridSigned(t, key, now, `[]`), body: `[]`}})
	})

	t.Run("P384Key", func(t *testing.T) {
		_, p384 := sendGridKey(t, elliptic.P384())
		if _, err := NewWebhooks(WebhookConfig{SendGridPublicKey: p384}); err == nil {
			t.Errorf("NewWebhooks(SendGridPublicKey: %q) = nil error; want P-256 required", p384)
		}
	})
}

// SendGrid's own test vector (from its libraries' tests): a key, a batch
// and its signature made by SendGrid, so the scheme is SendGrid's and not
// only our reading of it.
const (
	sendGridVectorKey       = "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE83T4O/n84iotIvIW4mdBgQ/7dAfSmpqIM8kF9mN1flpVKS3GRqe62gw+2fNNRaINXvVpiglSI8eNEc6wEA3F+g=="
	sendGridVectorSignature = "MEUCIGHQVtGj+Y3LkG9fLcxf3qfI10QysgDWmMOVmxG0u6ZUAiEAyBiXDWzM+uOe5W0JuG+luQAbPIqHh89M15TluLtEZtM="
	sendGridVectorTimestamp = "1600112502"
	sendGridVectorBody      = `[{"email":"hello@world.com","event":"dropped","reason":"Bounced Address","sg_event_id":"ZHJvcC0xMDk5NDkxOS1MUnpYbF9OSFN0T0doUTRrb2ZTbV9BLTA",` +
		`"sg_message_id":"LRzXl_NHStOGhQ4kofSm_A.filterdrecv-p3mdw1-756b745b58-kmzbl-18-5F5FC76C-9.0","smtp-id":"<LRzXl_NHStOGhQ4kofSm_A@ismtpd0039p1iad1.sendgrid.net>",` +
		`"timestamp":1600112492}]` + "\r\n"
)

func TestWebhooks_Decode_SendGridVector(t *testing.T) {
	w := mustWebhooks(t, WebhookConfig{SendGridPublicKey: sendGridVectorKey, Now: func() time.Time { return time.Unix(1600112502, 0) }})
	header := http.Header{
		"X-Twilio-Email-Event-Webhook-Signature": {sendGridVectorSignature},
		"X-Twilio-Email-Event-Webhook-Timestamp": {sendGridVectorTimestamp},
	}
	runWebhookCases(t, w, ProviderSendGrid, []webhookCase{
		{name: "Dropped", header: header, body: sendGridVectorBody, want: []Event{{
			Kind: Bounce, Hard: true, Recipient: "hello@world.com", MessageID: "<LRzXl_NHStOGhQ4kofSm_A@ismtpd0039p1iad1.sendgrid.net>",
			Diagnostic: "Bounced Address", ID: "ZHJvcC0xMDk5NDkxOS1MUnpYbF9OSFN0T0doUTRrb2ZTbV9BLTA", At: time.Unix(1600112492, 0).UTC(),
		}}},
		{name: "WithoutCRLF", header: header, body: strings.TrimSuffix(sendGridVectorBody, "\r\n"), code: tidings.EUNAUTHORIZED},
	})
}
