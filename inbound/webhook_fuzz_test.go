package inbound

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/tidings/tidings"
)

// checkFuzzedEvents fails unless events and err are what a decoder may
// give for any input: a malformed error and no events, or at most
// MaxWebhookEvents events within every bound.
func checkFuzzedEvents(t *testing.T, input []byte, events []Event, err error) {
	t.Helper()
	if err != nil {
		if code := tidings.ErrorCode(err); code != tidings.EMALFORMED {
			t.Fatalf("decode(%q): error %v of code %q; want %q", input, err, code, tidings.EMALFORMED)
		}
		if events != nil {
			t.Fatalf("decode(%q) = %+v with an error", input, events)
		}
		return
	}
	if len(events) > MaxWebhookEvents {
		t.Fatalf("decode(%q) gave %d events", input, len(events))
	}
	for _, e := range events {
		switch e.Kind {
		case Bounce, Complaint, Unsubscribe:
		default:
			t.Fatalf("decode(%q): kind %q", input, e.Kind)
		}
		if r, ok := cleanRecipient(e.Recipient); !ok || r != e.Recipient {
			t.Fatalf("decode(%q): recipient %q", input, e.Recipient)
		}
		if e.MessageID != "" && (cleanMessageID(e.MessageID) != e.MessageID || !strings.HasPrefix(e.MessageID, "<")) {
			t.Fatalf("decode(%q): Message-ID %q", input, e.MessageID)
		}
		if cleanStatus(e.Status) != e.Status {
			t.Fatalf("decode(%q): status %q", input, e.Status)
		}
		if len(e.Diagnostic) > MaxDiagnostic || !utf8.ValidString(e.Diagnostic) || cleanText(e.Diagnostic, MaxDiagnostic) != e.Diagnostic {
			t.Fatalf("decode(%q): diagnostic %q", input, e.Diagnostic)
		}
		if cleanFeedbackType(e.FeedbackType) != e.FeedbackType || cleanEventID(e.ID) != e.ID || len(e.ID) > maxEventID {
			t.Fatalf("decode(%q): feedback type %q, id %q", input, e.FeedbackType, e.ID)
		}
		if e.Kind != Bounce && e.Hard {
			t.Fatalf("decode(%q): a hard %s", input, e.Kind)
		}
	}
}

func FuzzDecodeSES(f *testing.F) {
	for _, s := range []string{sesPermanentBounce, sesTransientEvent, sesComplaint, sesDelivery, "plain words"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, message []byte) {
		events, err := decodeSES("sns-id", string(message))
		checkFuzzedEvents(t, message, events, err)
	})
}

func FuzzDecodePostmark(f *testing.F) {
	for _, s := range []string{postmarkHard, postmarkSoft, postmarkBadAddress, postmarkAutoResponse, postmarkUnsubscribe, postmarkSpam, postmarkDelivery} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		events, err := decodePostmarkRecord(body)
		checkFuzzedEvents(t, body, events, err)
	})
}

func FuzzDecodeMailgun(f *testing.F) {
	for _, s := range []string{mailgunPermanent, mailgunTemporary, mailgunSuppressed, mailgunComplained, mailgunUnsub, mailgunDelivered} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, eventData []byte) {
		events, err := decodeMailgunEvent(eventData)
		checkFuzzedEvents(t, eventData, events, err)
	})
}

func FuzzDecodeSendGrid(f *testing.F) {
	f.Add([]byte(sendGridBatch))
	f.Add([]byte(sendGridVectorBody))
	f.Fuzz(func(t *testing.T, body []byte) {
		events, err := decodeSendGridEvents(body)
		checkFuzzedEvents(t, body, events, err)
	})
}

// FuzzParseSNS fuzzes what is read of an SNS message before its signature
// is checked: the envelope and the string to sign.
func FuzzParseSNS(f *testing.F) {
	f.Add([]byte(`{"Type":"Notification","MessageId":"n-1","TopicArn":"` + snsTestTopic + `","Message":"{}","Timestamp":"2026-03-02T09:59:58.000Z",` +
		`"SignatureVersion":"1","Signature":"c2ln","SigningCertURL":"` + snsTestCertURL + `"}`))
	f.Add([]byte(`{"Type":"SubscriptionConfirmation","MessageId":"s-1","Token":"t","TopicArn":"` + snsTestTopic + `","Message":"m",` +
		`"SubscribeURL":"https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription","Timestamp":"x","SignatureVersion":"2","Signature":"c2ln"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		m, signed, err := parseSNS(body)
		if err != nil {
			if tidings.ErrorCode(err) != tidings.EUNAUTHORIZED || signed != "" {
				t.Fatalf("parseSNS(%q) = %q, %v; want ErrUnauthenticated and nothing to verify", body, signed, err)
			}
			return
		}
		if !strings.HasPrefix(signed, "Message\n"+m.Message+"\nMessageId\n"+m.MessageID+"\n") ||
			!strings.HasSuffix(signed, "TopicArn\n"+m.TopicARN+"\nType\n"+m.Type+"\n") {
			t.Fatalf("parseSNS(%q): string to sign %q does not frame the message's fields", body, signed)
		}
		_ = checkSNSURL(m.SigningCertURL, true)
		_ = checkSNSURL(m.SubscribeURL, false)
	})
}
