package inbound

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
)

// snsMessage is the envelope Amazon SNS posts to an HTTPS subscription
// (https://docs.aws.amazon.com/sns/latest/dg/sns-message-and-json-formats.html).
type snsMessage struct {
	Type             string `json:"Type"`
	MessageID        string `json:"MessageId"`
	Token            string `json:"Token"`
	TopicARN         string `json:"TopicArn"`
	Subject          string `json:"Subject"`
	Message          string `json:"Message"`
	Timestamp        string `json:"Timestamp"`
	SignatureVersion string `json:"SignatureVersion"`
	Signature        string `json:"Signature"`
	SigningCertURL   string `json:"SigningCertURL"`
	SubscribeURL     string `json:"SubscribeURL"`
}

// The SNS message types.
const (
	snsNotification             = "Notification"
	snsSubscriptionConfirmation = "SubscriptionConfirmation"
	snsUnsubscribeConfirmation  = "UnsubscribeConfirmation"
)

// snsHost is the host of every SNS endpoint, in the commercial and the
// China partitions: only a certificate or confirmation URL on it is
// fetched, so a forged message cannot name a key of its own or make
// Tidings fetch from anywhere else.
var snsHost = regexp.MustCompile(`^sns\.[a-z0-9]+(-[a-z0-9]+)+\.amazonaws\.com(\.cn)?$`)

// maxSNSCert bounds the fetch of a signing certificate, a single PEM block.
const maxSNSCert = 64 << 10

// snsCertCacheSize bounds the certificate cache: SNS signs with few
// certificates at a time, and a message naming new ones cannot grow it.
const snsCertCacheSize = 32

// snsCert is a cached signing certificate.
type snsCert struct {
	cert *x509.Certificate
}

// parseSNS reads the SNS envelope and builds the string its signature
// covers (AWS's "Verifying the signatures of Amazon SNS messages"): the
// name and value of each signed field of the message's type, each on its
// own line, in byte order of the names.
func parseSNS(body []byte) (snsMessage, string, error) {
	var m snsMessage
	if err := json.Unmarshal(body, &m); err != nil {
		return m, "", unauthenticated(ProviderSES, "the body is not an SNS message")
	}
	var fields []string
	switch m.Type {
	case snsNotification:
		fields = []string{"Message", m.Message, "MessageId", m.MessageID}
		if m.Subject != "" {
			fields = append(fields, "Subject", m.Subject)
		}
		fields = append(fields, "Timestamp", m.Timestamp, "TopicArn", m.TopicARN, "Type", m.Type)
	case snsSubscriptionConfirmation, snsUnsubscribeConfirmation:
		fields = []string{"Message", m.Message, "MessageId", m.MessageID, "SubscribeURL", m.SubscribeURL,
			"Timestamp", m.Timestamp, "Token", m.Token, "TopicArn", m.TopicARN, "Type", m.Type}
	default:
		return m, "", unauthenticated(ProviderSES, "%q is not a type of SNS message", cleanText(m.Type, 64))
	}
	if m.MessageID == "" || m.TopicARN == "" || m.Signature == "" {
		return m, "", unauthenticated(ProviderSES, "the SNS message has no MessageId, TopicArn or Signature")
	}
	var b strings.Builder
	for _, f := range fields {
		b.WriteString(f)
		b.WriteByte('\n')
	}
	return m, b.String(), nil
}

// decodeSNS authenticates an SNS message and acts on its type: it confirms
// a subscription, and decodes a notification's SES message. A message
// without a signature (a subscription with raw message delivery) is
// refused. SNS's Timestamp is not held to a window: SNS retries a delivery
// with its first Timestamp and signature, so an old message is genuine,
// and a replayed one gives the same Event IDs.
func (w *Webhooks) decodeSNS(ctx context.Context, body []byte) ([]Event, error) {
	m, signed, err := parseSNS(body)
	if err != nil {
		return nil, err
	}
	// The topic is checked before anything is fetched, so a message for
	// another topic costs nothing.
	if w.snsTopics != nil && !w.snsTopics[m.TopicARN] {
		return nil, unauthenticated(ProviderSES, "topic %q is not allowed", cleanText(m.TopicARN, 256))
	}
	if err := w.verifySNS(ctx, m, signed); err != nil {
		return nil, err
	}
	switch m.Type {
	case snsSubscriptionConfirmation:
		return nil, w.confirmSNS(ctx, m.SubscribeURL)
	case snsUnsubscribeConfirmation:
		return nil, nil
	}
	return decodeSES(m.MessageID, m.Message)
}

// verifySNS checks m's signature over signed with the certificate its
// SigningCertURL names: SignatureVersion 1 is SHA1withRSA, 2 SHA256withRSA.
func (w *Webhooks) verifySNS(ctx context.Context, m snsMessage, signed string) error {
	var (
		hash   crypto.Hash
		digest []byte
	)
	switch m.SignatureVersion {
	case "1":
		sum := sha1.Sum([]byte(signed))
		hash, digest = crypto.SHA1, sum[:]
	case "2":
		sum := sha256.Sum256([]byte(signed))
		hash, digest = crypto.SHA256, sum[:]
	default:
		return unauthenticated(ProviderSES, "SignatureVersion %q is not 1 or 2", cleanText(m.SignatureVersion, 16))
	}
	sig, err := base64.StdEncoding.DecodeString(m.Signature)
	if err != nil {
		return unauthenticated(ProviderSES, "the signature is not base64")
	}
	if err := checkSNSURL(m.SigningCertURL, true); err != nil {
		return unauthenticated(ProviderSES, "SigningCertURL: %v", err)
	}
	cert, err := w.snsCert(ctx, m.SigningCertURL)
	if err != nil {
		return err
	}
	if now := w.now(); now.Before(cert.NotBefore) || now.After(cert.NotAfter) {
		return unauthenticated(ProviderSES, "the signing certificate is not valid now")
	}
	if err := rsa.VerifyPKCS1v15(cert.PublicKey.(*rsa.PublicKey), hash, digest, sig); err != nil {
		return unauthenticated(ProviderSES, "the signature does not verify")
	}
	return nil
}

// checkSNSURL says why raw is not an https URL on an SNS host, with no
// port or credentials; a certificate's URL must also be a path ending in
// .pem, with no query.
func checkSNSURL(raw string, cert bool) error {
	u, err := url.Parse(raw)
	switch {
	case err != nil || raw == "":
		return errors.New("not a URL")
	case u.Scheme != "https":
		return errors.New("not https")
	case u.User != nil || u.Port() != "" || u.Opaque != "" || !snsHost.MatchString(u.Host):
		return fmt.Errorf("host %q is not an SNS host", cleanText(u.Host, 256))
	case cert && (!strings.HasSuffix(u.Path, ".pem") || u.RawQuery != "" || u.Fragment != ""):
		return errors.New("not the path of a .pem file")
	}
	return nil
}

// snsCert returns the certificate at rawURL, from the cache or fetched.
// The lock is not held across the fetch: two messages that miss at once
// both fetch, which costs less than making every message wait on one.
func (w *Webhooks) snsCert(ctx context.Context, rawURL string) (*x509.Certificate, error) {
	w.mu.Lock()
	c := w.certs[rawURL]
	w.mu.Unlock()
	if c != nil && !w.now().After(c.cert.NotAfter) {
		return c.cert, nil
	}
	cert, err := w.fetchSNSCert(ctx, rawURL)
	if err != nil {
		return nil, err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.certs) >= snsCertCacheSize {
		for k := range w.certs { // any one: map order is random
			delete(w.certs, k)
			break
		}
	}
	w.certs[rawURL] = &snsCert{cert: cert}
	return cert, nil
}

// fetchSNSCert fetches and parses the PEM certificate at rawURL, which
// checkSNSURL has passed. Its error is EUNAVAILABLE when AWS does not
// answer, so SNS delivers again, and wraps ErrUnauthenticated when the
// answer is not an RSA certificate.
func (w *Webhooks) fetchSNSCert(ctx context.Context, rawURL string) (*x509.Certificate, error) {
	data, err := w.get(ctx, rawURL, maxSNSCert)
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, unauthenticated(ProviderSES, "the SigningCertURL holds no PEM certificate")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, unauthenticated(ProviderSES, "the signing certificate does not parse: %v", err)
	}
	if _, ok := cert.PublicKey.(*rsa.PublicKey); !ok {
		return nil, unauthenticated(ProviderSES, "the signing certificate's key is not RSA")
	}
	return cert, nil
}

// confirmSNS confirms a subscription by fetching its SubscribeURL, as SNS
// asks (https://docs.aws.amazon.com/sns/latest/dg/SendMessageToHttp.confirm.html).
func (w *Webhooks) confirmSNS(ctx context.Context, subscribeURL string) error {
	if err := checkSNSURL(subscribeURL, false); err != nil {
		return unauthenticated(ProviderSES, "SubscribeURL: %v", err)
	}
	_, err := w.get(ctx, subscribeURL, maxSNSCert)
	return err
}

// get fetches rawURL and returns at most limit bytes of a 200 answer. A
// transport error or a 5xx is EUNAVAILABLE; any other answer wraps
// ErrUnauthenticated, since AWS itself refused the URL the message named.
func (w *Webhooks) get(ctx context.Context, rawURL string, limit int64) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return nil, unauthenticated(ProviderSES, "%v", err)
	}
	resp, err := w.client.Do(req)
	if err != nil {
		return nil, unavailable(ProviderSES, err)
	}
	defer resp.Body.Close()
	// The query of a SubscribeURL holds its token: the log gets the rest.
	where := req.URL.Host + req.URL.Path
	data, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	switch {
	case resp.StatusCode >= 500:
		return nil, unavailable(ProviderSES, fmt.Errorf("GET %s: %s", where, resp.Status))
	case resp.StatusCode != http.StatusOK:
		return nil, unauthenticated(ProviderSES, "GET %s: %s", where, resp.Status)
	case err != nil:
		return nil, unavailable(ProviderSES, err)
	case int64(len(data)) > limit:
		return nil, unauthenticated(ProviderSES, "GET %s: the answer is too long", where)
	}
	return data, nil
}

// validTopicARN says whether arn is an SNS topic ARN,
// arn:PARTITION:sns:REGION:ACCOUNT:NAME.
func validTopicARN(arn string) bool {
	parts := strings.Split(arn, ":")
	return len(parts) == 6 && parts[0] == "arn" && strings.HasPrefix(parts[1], "aws") &&
		parts[2] == "sns" && parts[3] != "" && parts[4] != "" && parts[5] != ""
}
