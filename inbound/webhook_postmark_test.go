package inbound

import (
	"encoding/base64"
	"net/http"
	"testing"
	"time"

	"github.com/tidings/tidings"
)

const postmarkTestToken = "pm-0123456789abcdef"

// postmarkAuth returns the header of a request to https://user:password@...
func postmarkAuth(user, password string) http.Header {
	return http.Header{"Authorization": {"Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+password))}}
}

// The Postmark records of the tests.
const (
	postmarkHard = `{"RecordType":"Bounce","ID":4323372036854775807,"Type":"HardBounce","TypeCode":1,"Name":"Hard bounce",` +
		`"MessageID":"883953f4-6105-42a2-a16a-77a8eac79483","Description":"The server was unable to deliver your message.",` +
		`"Details":"smtp;550 5.1.1 The email account that you tried to reach does not exist","Email":"Jane@Example.com",` +
		`"From":"news@tidings.example","BouncedAt":"2026-03-02T09:59:54.9070259Z","Inactive":true,"MessageStream":"broadcast"}`
	postmarkSoft         = `{"RecordType":"Bounce","ID":42,"Type":"SoftBounce","TypeCode":4096,"Details":"mailbox full","Email":"full@example.com","BouncedAt":"2026-03-02T09:00:00Z"}`
	postmarkBadAddress   = `{"RecordType":"Bounce","ID":43,"Type":"BadEmailAddress","TypeCode":100000,"Email":"bad@example.com","BouncedAt":"2026-03-02T09:00:00Z"}`
	postmarkAutoResponse = `{"RecordType":"Bounce","ID":44,"Type":"AutoResponder","TypeCode":64,"Email":"away@example.com","BouncedAt":"2026-03-02T09:00:00Z"}`
	postmarkUnsubscribe  = `{"RecordType":"Bounce","ID":45,"Type":"Unsubscribe","TypeCode":16,"Email":"Leaving@Example.com","BouncedAt":"2026-03-02T09:00:00Z"}`
	postmarkSpam         = `{"RecordType":"SpamComplaint","ID":46,"Type":"SpamComplaint","TypeCode":100001,"Details":"Test spam complaint details",` +
		`"Email":"angry@example.com","BouncedAt":"2026-03-02T08:00:00Z"}`
	postmarkDelivery = `{"RecordType":"Delivery","MessageID":"883953f4","Recipient":"ok@example.com","DeliveredAt":"2026-03-02T08:00:00Z"}`
	postmarkOpen     = `{"RecordType":"Open","Recipient":"ok@example.com","ReceivedAt":"2026-03-02T08:00:00Z"}`
)

func TestWebhooks_Decode_Postmark(t *testing.T) {
	w := mustWebhooks(t, WebhookConfig{PostmarkToken: postmarkTestToken})
	auth := postmarkAuth("postmark", postmarkTestToken)
	runWebhookCases(t, w, ProviderPostmark, []webhookCase{
		{name: "HardBounce", header: auth, body: postmarkHard, want: []Event{{
			Kind: Bounce, Hard: true, Recipient: "jane@example.com", Status: "5.1.1",
			Diagnostic: "smtp;550 5.1.1 The email account that you tried to reach does not exist",
			ID:         "4323372036854775807", At: time.Date(2026, 3, 2, 9, 59, 54, 907025900, time.UTC),
		}}},
		{name: "SoftBounce", header: auth, body: postmarkSoft, want: []Event{{
			Kind: Bounce, Recipient: "full@example.com", Diagnostic: "mailbox full", ID: "42", At: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC),
		}}},
		{name: "BadEmailAddress", header: auth, body: postmarkBadAddress, want: []Event{{
			Kind: Bounce, Hard: true, Recipient: "bad@example.com", ID: "43", At: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC),
		}}},
		{name: "Unsubscribe", header: auth, body: postmarkUnsubscribe, want: []Event{{
			Kind: Unsubscribe, Recipient: "leaving@example.com", ID: "45", At: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC),
		}}},
		{name: "SpamComplaint", header: auth, body: postmarkSpam, want: []Event{{
			Kind: Complaint, Recipient: "angry@example.com", ID: "46", At: time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC),
		}}},
		{name: "AnyUser", header: postmarkAuth("", postmarkTestToken), body: postmarkSpam, want: []Event{{
			Kind: Complaint, Recipient: "angry@example.com", ID: "46", At: time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC),
		}}},
		{name: "AutoResponder", header: auth, body: postmarkAutoResponse},
		{name: "Delivery", header: auth, body: postmarkDelivery},
		{name: "Open", header: auth, body: postmarkOpen},
		{name: "UnknownType", header: auth, body: `{"RecordType":"Bounce","ID":47,"Type":"SomethingNew","Email":"x@example.com"}`},

		{name: "NoAuthorization", body: postmarkHard, code: tidings.EUNAUTHORIZED},
		{name: "WrongToken", header: postmarkAuth("postmark", postmarkTestToken+"x"), body: postmarkHard, code: tidings.EUNAUTHORIZED},
		{name: "TokenAsUser", header: postmarkAuth(postmarkTestToken, ""), body: postmarkHard, code: tidings.EUNAUTHORIZED},
		{name: "Bearer", header: http.Header{"Authorization": {"Bearer " + postmarkTestToken}}, body: postmarkHard, code: tidings.EUNAUTHORIZED},
		{name: "NotBase64", header: http.Header{"Authorization": {"Basic " + postmarkTestToken}}, body: postmarkHard, code: tidings.EUNAUTHORIZED},
		{name: "MalformedAfterAuth", header: auth, body: `{"RecordType":"Bounce",`, code: tidings.EMALFORMED},
		{name: "IDNotANumber", header: auth, body: `{"RecordType":"Bounce","ID":{},"Type":"HardBounce","Email":"x@example.com"}`, code: tidings.EMALFORMED},
	})
}
