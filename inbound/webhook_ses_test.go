package inbound

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tidings/tidings"
)

// snsTestHost is the SNS host the tests' client reaches the test server by.
const snsTestHost = "sns.us-east-1.amazonaws.com"

const (
	snsTestTopic   = "arn:aws:sns:us-east-1:123456789012:ses-bounces"
	snsTestCertURL = "https://" + snsTestHost + "/SimpleNotificationService-test.pem"
)

// snsFixture is a fake SNS: a key and its self-signed certificate for
// sns.us-east-1.amazonaws.com, served over TLS by a test server that the
// client of Webhooks dials for that host, so the host rule is the real one.
type snsFixture struct {
	key       *rsa.PrivateKey
	otherKey  *rsa.PrivateKey // a key whose certificate is not served
	certPEM   []byte
	notAfter  time.Time
	client    *http.Client
	certGets  atomic.Int32
	mu        sync.Mutex
	confirmed []string // the Tokens of the SubscribeURLs fetched
}

var (
	snsOnce    sync.Once
	snsShared  *snsFixture
	snsOnceErr error
)

// mustSNS returns the fake SNS, made once for the package's tests.
func mustSNS(tb testing.TB) *snsFixture {
	tb.Helper()
	snsOnce.Do(func() { snsShared, snsOnceErr = newSNSFixture() })
	if snsOnceErr != nil {
		tb.Fatal(snsOnceErr)
	}
	return snsShared
}

func newSNSFixture() (*snsFixture, error) {
	f := &snsFixture{}
	var err error
	if f.key, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		return nil, err
	}
	if f.otherKey, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		return nil, err
	}
	// The TLS check of the client runs on the real clock; Webhooks checks
	// validity on the test clock, which the window also covers.
	notBefore := time.Now().Add(-time.Hour)
	if webhookNow.Before(notBefore) {
		notBefore = webhookNow.Add(-time.Hour)
	}
	f.notAfter = time.Now().Add(365 * 24 * time.Hour)
	if webhookNow.After(f.notAfter) {
		f.notAfter = webhookNow.Add(24 * time.Hour)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "sns.amazonaws.com"},
		DNSNames:              []string{snsTestHost},
		NotBefore:             notBefore,
		NotAfter:              f.notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &f.key.PublicKey, f.key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	f.certPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})

	mux := http.NewServeMux()
	mux.HandleFunc("GET /SimpleNotificationService-test.pem", func(w http.ResponseWriter, r *http.Request) {
		f.certGets.Add(1)
		w.Write(f.certPEM)
	})
	mux.HandleFunc("GET /broken.pem", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "down", http.StatusServiceUnavailable)
	})
	mux.HandleFunc("GET /missing.pem", http.NotFound)
	mux.HandleFunc("GET /garbage.pem", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("not a certificate")) })
	mux.HandleFunc("GET /redirect.pem", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "https://example.com/cert.pem", http.StatusFound)
	})
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("Action") != "ConfirmSubscription" {
			http.NotFound(w, r)
			return
		}
		f.mu.Lock()
		f.confirmed = append(f.confirmed, r.URL.Query().Get("Token"))
		f.mu.Unlock()
		w.Write([]byte("<ConfirmSubscriptionResponse/>"))
	})
	srv := httptest.NewUnstartedServer(mux)
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: f.key, Leaf: cert}}}
	srv.StartTLS()
	// The server lives as long as the test binary: the fixture is shared.

	roots := x509.NewCertPool()
	roots.AddCert(cert)
	addr := srv.Listener.Addr().String()
	f.client = &http.Client{Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: roots},
		DialContext: func(ctx context.Context, network, hostport string) (net.Conn, error) {
			if hostport != snsTestHost+":443" {
				return nil, errors.New("the test network reaches only " + snsTestHost)
			}
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		},
	}}
	return f, nil
}

// snsSigned returns the JSON of an SNS message signed with key in version
// ("1" or "2"), its string to sign built here as AWS documents it.
func snsSigned(tb testing.TB, key *rsa.PrivateKey, version string, m map[string]string) string {
	tb.Helper()
	var names []string
	switch m["Type"] {
	case "Notification":
		names = []string{"Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"}
	default:
		names = []string{"Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"}
	}
	var b strings.Builder
	for _, n := range names {
		if v, ok := m[n]; ok && (n != "Subject" || v != "") {
			b.WriteString(n + "\n" + v + "\n")
		}
	}
	var sig []byte
	var err error
	if version == "1" {
		sum := sha1.Sum([]byte(b.String()))
		sig, err = rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA1, sum[:])
	} else {
		sum := sha256.Sum256([]byte(b.String()))
		sig, err = rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
	}
	if err != nil {
		tb.Fatal(err)
	}
	out := map[string]string{"SignatureVersion": version, "Signature": base64.StdEncoding.EncodeToString(sig)}
	if _, ok := m["SigningCertURL"]; !ok {
		out["SigningCertURL"] = snsTestCertURL
	}
	for k, v := range m {
		out[k] = v
	}
	data, err := json.Marshal(out)
	if err != nil {
		tb.Fatal(err)
	}
	return string(data)
}

// snsNotify returns the fields of an SNS notification of message.
func snsNotify(id, message string, extra ...string) map[string]string {
	m := map[string]string{
		"Type": "Notification", "MessageId": id, "TopicArn": snsTestTopic,
		"Message": message, "Timestamp": "2026-03-02T09:59:58.000Z",
	}
	for i := 0; i+1 < len(extra); i += 2 {
		m[extra[i]] = extra[i+1]
	}
	return m
}

// The SES messages of the tests.
const (
	sesPermanentBounce = `{"notificationType":"Bounce","bounce":{"bounceType":"Permanent","bounceSubType":"General",` +
		`"bouncedRecipients":[{"emailAddress":"Jane@Example.com","action":"failed","status":"5.1.1","diagnosticCode":"smtp; 550 5.1.1 user unknown"},` +
		`{"emailAddress":"not an address"},{"emailAddress":"bob@example.org","status":"5.0.0"}],` +
		`"timestamp":"2026-03-02T09:59:50.123Z","feedbackId":"0100-abc"},` +
		`"mail":{"messageId":"0100-ses-id","commonHeaders":{"messageId":"<m1@tidings.example>"},"headers":[{"name":"Message-ID","value":"<ignored@x>"}]}}`
	sesTransientEvent = `{"eventType":"Bounce","bounce":{"bounceType":"Transient","bouncedRecipients":[{"emailAddress":"full@example.com","diagnosticCode":"452 4.2.2 mailbox full"}],` +
		`"timestamp":"2026-03-02T09:58:00Z"},"mail":{"headers":[{"name":"From","value":"a@b"},{"name":"message-id","value":"m2@tidings.example"}]}}`
	sesComplaint = `{"notificationType":"Complaint","complaint":{"complainedRecipients":[{"emailAddress":"Angry@Example.com"}],` +
		`"complaintFeedbackType":"abuse","timestamp":"2026-03-02T09:00:00Z"},"mail":{"commonHeaders":{"messageId":"<m3@tidings.example>"}}}`
	sesDelivery = `{"notificationType":"Delivery","delivery":{"recipients":["ok@example.com"]},"mail":{}}`
)

func TestWebhooks_Decode_SES(t *testing.T) {
	f := mustSNS(t)
	w := mustWebhooks(t, WebhookConfig{Client: f.client})
	key, other := f.key, f.otherKey
	confirm := map[string]string{
		"Type": "SubscriptionConfirmation", "MessageId": "sub-1", "TopicArn": snsTestTopic, "Token": "tok-1",
		"Message": "You have chosen to subscribe.", "Timestamp": "2026-03-02T09:59:58.000Z",
		"SubscribeURL": "https://" + snsTestHost + "/?Action=ConfirmSubscription&TopicArn=" + snsTestTopic + "&Token=tok-1",
	}
	with := func(m map[string]string, kv ...string) map[string]string {
		out := map[string]string{}
		for k, v := range m {
			out[k] = v
		}
		for i := 0; i+1 < len(kv); i += 2 {
			out[kv[i]] = kv[i+1]
		}
		return out
	}
	tampered := strings.Replace(snsSigned(t, key, "2", snsNotify("n-9", sesPermanentBounce)), "Jane@", "Joan@", 1)

	runWebhookCases(t, w, ProviderSES, []webhookCase{
		{name: "PermanentBounceV1", body: snsSigned(t, key, "1", snsNotify("n-1", sesPermanentBounce)), want: []Event{
			{Kind: Bounce, Hard: true, Recipient: "jane@example.com", MessageID: "<m1@tidings.example>", Status: "5.1.1",
				Diagnostic: "smtp; 550 5.1.1 user unknown", ID: "n-1:jane@example.com", At: time.Date(2026, 3, 2, 9, 59, 50, 123e6, time.UTC)},
			{Kind: Bounce, Hard: true, Recipient: "bob@example.org", MessageID: "<m1@tidings.example>", Status: "5.0.0",
				ID: "n-1:bob@example.org", At: time.Date(2026, 3, 2, 9, 59, 50, 123e6, time.UTC)},
		}},
		{name: "TransientEventV2", body: snsSigned(t, key, "2", snsNotify("n-2", sesTransientEvent, "Subject", "Amazon SES Email Event Notification")), want: []Event{
			{Kind: Bounce, Recipient: "full@example.com", MessageID: "<m2@tidings.example>", Status: "4.2.2",
				Diagnostic: "452 4.2.2 mailbox full", ID: "n-2:full@example.com", At: time.Date(2026, 3, 2, 9, 58, 0, 0, time.UTC)},
		}},
		{name: "Complaint", body: snsSigned(t, key, "2", snsNotify("n-3", sesComplaint)), want: []Event{
			{Kind: Complaint, Recipient: "angry@example.com", MessageID: "<m3@tidings.example>", FeedbackType: "abuse",
				ID: "n-3:angry@example.com", At: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)},
		}},
		{name: "Delivery", body: snsSigned(t, key, "1", snsNotify("n-4", sesDelivery))},
		{name: "PlainWords", body: snsSigned(t, key, "1", snsNotify("n-5", "Successfully validated SNS topic for Amazon SES event publishing."))},
		{name: "UnsubscribeConfirmation", body: snsSigned(t, key, "2", with(confirm, "Type", "UnsubscribeConfirmation"))},

		{name: "NotJSON", body: `Type=Notification`, code: tidings.EUNAUTHORIZED},
		{name: "UnknownType", body: snsSigned(t, key, "2", with(snsNotify("n-6", sesDelivery), "Type", "Telegram")), code: tidings.EUNAUTHORIZED},
		{name: "NoSignature", body: `{"Type":"Notification","MessageId":"x","TopicArn":"` + snsTestTopic + `","Message":"{}","SigningCertURL":"` + snsTestCertURL + `","SignatureVersion":"1"}`, code: tidings.EUNAUTHORIZED},
		{name: "AlteredMessage", body: tampered, code: tidings.EUNAUTHORIZED},
		{name: "OtherKey", body: snsSigned(t, other, "2", snsNotify("n-7", sesPermanentBounce)), code: tidings.EUNAUTHORIZED},
		{name: "Version3", body: strings.Replace(snsSigned(t, key, "2", snsNotify("n-8", sesPermanentBounce)), `"SignatureVersion":"2"`, `"SignatureVersion":"3"`, 1), code: tidings.EUNAUTHORIZED},
		{name: "VersionMismatch", body: strings.Replace(snsSigned(t, key, "2", snsNotify("n-8", sesPermanentBounce)), `"SignatureVersion":"2"`, `"SignatureVersion":"1"`, 1), code: tidings.EUNAUTHORIZED},
		{name: "CertHTTP", body: snsSigned(t, key, "2", snsNotify("n-10", sesPermanentBounce, "SigningCertURL", "http://"+snsTestHost+"/SimpleNotificationService-test.pem")), code: tidings.EUNAUTHORIZED},
		{name: "CertOtherHost", body: snsSigned(t, key, "2", snsNotify("n-11", sesPermanentBounce, "SigningCertURL", "https://evil.example/SimpleNotificationService-test.pem")), code: tidings.EUNAUTHORIZED},
		{name: "CertLookalikeHost", body: snsSigned(t, key, "2", snsNotify("n-12", sesPermanentBounce, "SigningCertURL", "https://"+snsTestHost+".evil.example/x.pem")), code: tidings.EUNAUTHORIZED},
		{name: "CertUserinfo", body: snsSigned(t, key, "2", snsNotify("n-13", sesPermanentBounce, "SigningCertURL", "https://"+snsTestHost+"@evil.example/x.pem")), code: tidings.EUNAUTHORIZED},
		{name: "CertPort", body: snsSigned(t, key, "2", snsNotify("n-14", sesPermanentBounce, "SigningCertURL", "https://"+snsTestHost+":8443/SimpleNotificationService-test.pem")), code: tidings.EUNAUTHORIZED},
		{name: "CertNotPEM", body: snsSigned(t, key, "2", snsNotify("n-15", sesPermanentBounce, "SigningCertURL", "https://"+snsTestHost+"/SimpleNotificationService-test.pem.txt")), code: tidings.EUNAUTHORIZED},
		{name: "CertQuery", body: snsSigned(t, key, "2", snsNotify("n-16", sesPermanentBounce, "SigningCertURL", snsTestCertURL+"?x=.pem")), code: tidings.EUNAUTHORIZED},
		{name: "CertMissing", body: snsSigned(t, key, "2", snsNotify("n-17", sesPermanentBounce, "SigningCertURL", "https://"+snsTestHost+"/missing.pem")), code: tidings.EUNAUTHORIZED},
		{name: "CertGarbage", body: snsSigned(t, key, "2", snsNotify("n-18", sesPermanentBounce, "SigningCertURL", "https://"+snsTestHost+"/garbage.pem")), code: tidings.EUNAUTHORIZED},
		{name: "CertRedirect", body: snsSigned(t, key, "2", snsNotify("n-19", sesPermanentBounce, "SigningCertURL", "https://"+snsTestHost+"/redirect.pem")), code: tidings.EUNAUTHORIZED},
		{name: "CertServerDown", body: snsSigned(t, key, "2", snsNotify("n-20", sesPermanentBounce, "SigningCertURL", "https://"+snsTestHost+"/broken.pem")), code: tidings.EUNAVAILABLE},
		{name: "CertUnreachableRegion", body: snsSigned(t, key, "2", snsNotify("n-21", sesPermanentBounce, "SigningCertURL", "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-test.pem")), code: tidings.EUNAVAILABLE},
		{name: "SubscribeURLOtherHost", body: snsSigned(t, key, "2", with(confirm, "SubscribeURL", "https://evil.example/?Action=ConfirmSubscription&Token=tok-1")), code: tidings.EUNAUTHORIZED},
		{name: "SubscribeURLHTTP", body: snsSigned(t, key, "2", with(confirm, "SubscribeURL", "http://"+snsTestHost+"/?Action=ConfirmSubscription&Token=tok-1")), code: tidings.EUNAUTHORIZED},
		{name: "MalformedAfterAuth", body: snsSigned(t, key, "2", snsNotify("n-22", `{"notificationType":"Bounce","bounce":{"bouncedRecipients":[`)), code: tidings.EMALFORMED},
		{name: "RecipientsNotAList", body: snsSigned(t, key, "1", snsNotify("n-23", `{"notificationType":"Bounce","bounce":{"bouncedRecipients":"jane@example.com"}}`)), code: tidings.EMALFORMED},
	})

	t.Run("SubscriptionConfirmation", func(t *testing.T) {
		body := snsSigned(t, key, "1", with(confirm, "Token", "tok-confirm", "SubscribeURL",
			"https://"+snsTestHost+"/?Action=ConfirmSubscription&TopicArn="+snsTestTopic+"&Token=tok-confirm"))
		got, err := w.Decode(context.Background(), ProviderSES, nil, []byte(body))
		if err != nil || got != nil {
			t.Fatalf("Decode(%s) = %+v, %v; want no events, no error", body, got, err)
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		found := false
		for _, tok := range f.confirmed {
			found = found || tok == "tok-confirm"
		}
		if !found {
			t.Errorf("Decode(%s) did not GET the SubscribeURL; the server saw tokens %q", body, f.confirmed)
		}
	})
}

func TestWebhooks_Decode_SESTopics(t *testing.T) {
	f := mustSNS(t)
	w := mustWebhooks(t, WebhookConfig{Client: f.client, SNSTopics: []string{"arn:aws:sns:us-east-1:123456789012:other"}})
	body := snsSigned(t, f.key, "2", snsNotify("t-1", sesPermanentBounce))
	_, err := w.Decode(context.Background(), ProviderSES, nil, []byte(body))
	checkWebhookError(t, err, tidings.EUNAUTHORIZED, body)

	w = mustWebhooks(t, WebhookConfig{Client: f.client, SNSTopics: []string{snsTestTopic}})
	if got, err := w.Decode(context.Background(), ProviderSES, nil, []byte(body)); err != nil || len(got) != 2 {
		t.Errorf("Decode(%s) with its topic allowed = %+v, %v; want 2 events", body, got, err)
	}
}

func TestWebhooks_Decode_SESCertificate(t *testing.T) {
	f := mustSNS(t)
	body := snsSigned(t, f.key, "2", snsNotify("c-1", sesComplaint))

	t.Run("Cached", func(t *testing.T) {
		w := mustWebhooks(t, WebhookConfig{Client: f.client})
		before := f.certGets.Load()
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				if _, err := w.Decode(context.Background(), ProviderSES, nil, []byte(body)); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		after := f.certGets.Load()
		for range 3 {
			if _, err := w.Decode(context.Background(), ProviderSES, nil, []byte(body)); err != nil {
				t.Fatal(err)
			}
		}
		if n := f.certGets.Load(); n != after || after-before < 1 || after-before > 4 {
			t.Errorf("certificate fetched %d times for 4 concurrent and %d later decodes; want at most 4, then none", after-before, n-after)
		}
	})

	t.Run("Expired", func(t *testing.T) {
		late := f.notAfter.Add(time.Minute)
		w := mustWebhooks(t, WebhookConfig{Client: f.client, Now: func() time.Time { return late }})
		_, err := w.Decode(context.Background(), ProviderSES, nil, []byte(body))
		checkWebhookError(t, err, tidings.EUNAUTHORIZED, body)
	})

	t.Run("DefaultClientRefusesTestHost", func(t *testing.T) {
		// The default client trusts only the system's roots, so the test's
		// self-signed SNS certificate is refused: AWS is reached only
		// through real TLS.
		tr := f.client.Transport.(*http.Transport).Clone()
		tr.TLSClientConfig = nil
		w := mustWebhooks(t, WebhookConfig{Client: &http.Client{Transport: tr}})
		_, err := w.Decode(context.Background(), ProviderSES, nil, []byte(body))
		if err == nil {
			t.Errorf("Decode(%s) with an untrusted certificate succeeded", body)
		}
	})
}

func TestCheckSNSURL(t *testing.T) {
	for _, raw := range []string{
		"https://sns.us-east-1.amazonaws.com/SimpleNotificationService-abc.pem",
		"https://sns.cn-north-1.amazonaws.com.cn/SimpleNotificationService-abc.pem",
		"https://sns.us-gov-west-1.amazonaws.com/a.pem",
	} {
		if err := checkSNSURL(raw, true); err != nil {
			t.Errorf("checkSNSURL(%q) = %v; want nil", raw, err)
		}
	}
	for _, raw := range []string{
		"", "sns.us-east-1.amazonaws.com/a.pem", "http://sns.us-east-1.amazonaws.com/a.pem",
		"https://sns.amazonaws.com/a.pem", "https://sqs.us-east-1.amazonaws.com/a.pem",
		"https://sns.us-east-1.amazonaws.com.evil.example/a.pem", "https://evil.example/sns.us-east-1.amazonaws.com/a.pem",
		"https://sns.us-east-1.amazonaws.com:443/a.pem", "https://u:p@sns.us-east-1.amazonaws.com/a.pem",
		"https://sns.us-east-1.amazonaws.com/a.pem?x", "https://sns.us-east-1.amazonaws.com/a.pem#x",
		"https://sns.us-east-1.amazonaws.com/a.crt", "https://SNS.US-EAST-1.AMAZONAWS.COM/a.pem",
		"https://sns..amazonaws.com/a.pem", "https:sns.us-east-1.amazonaws.com/a.pem",
	} {
		if err := checkSNSURL(raw, true); err == nil {
			t.Errorf("checkSNSURL(%q) = nil; want an error", raw)
		}
	}
}
