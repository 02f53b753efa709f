package inbound

import (
	"context"
	"crypto/ecdsa"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/tidings/tidings"
)

// The errors of Decode that call for an answer of their own. Each is a
// *tidings.Error, so the web package's one map of codes answers them (401,
// 404) with a message that says nothing of why a request failed to
// authenticate; Decode wraps them with the reason, for the log.
var (
	// ErrUnauthenticated: the request does not prove it comes from the
	// provider (no or a bad signature or credential, a stale timestamp, a
	// certificate from the wrong place, a topic not allowed), or the
	// provider is not configured. Nothing in it may be acted on.
	ErrUnauthenticated error = &tidings.Error{Code: tidings.EUNAUTHORIZED, Message: "The webhook request is not authenticated."}
	// ErrUnknownProvider: the provider is not one of the Provider constants.
	ErrUnknownProvider error = &tidings.Error{Code: tidings.ENOTFOUND, Message: "There is no such webhook provider."}
)

// The providers whose webhooks Decode reads, as they appear in
// POST /webhooks/{provider}.
const (
	ProviderSES      = "ses"      // Amazon SES notifications through SNS
	ProviderPostmark = "postmark" // Postmark bounce and spam complaint webhooks
	ProviderMailgun  = "mailgun"  // Mailgun webhooks
	ProviderSendGrid = "sendgrid" // SendGrid's signed event webhook
)

// MaxWebhookBody is the most the caller of Decode reads of a request body;
// it answers a longer one with 413 and does not call Decode. Every provider
// keeps its requests under it.
const MaxWebhookBody = 1 << 20

// MaxWebhookEvents bounds the Events of one request, so one request cannot
// ask for unbounded work. It is set above what a provider's batch of real
// bounces and complaints holds within MaxWebhookBody; a request that would
// give more is refused as malformed.
const MaxWebhookEvents = 5000

// webhookWindow is how far a signed timestamp may be from the clock: it
// bounds how long a captured request can be replayed, and allows for clock
// skew and the provider's queueing.
const webhookWindow = 10 * time.Minute

// WebhookConfig is what Webhooks needs: a credential per provider, each
// optional. A provider whose credential is empty is refused.
type WebhookConfig struct {
	// MailgunSigningKey is Mailgun's HTTP webhook signing key
	// (TIDINGS_MAILGUN_SIGNING_KEY).
	MailgunSigningKey string
	// PostmarkToken is the password of the HTTP Basic credentials put in
	// the webhook URL configured at Postmark, https://user:TOKEN@host/...
	// (TIDINGS_POSTMARK_TOKEN); at least 16 characters.
	PostmarkToken string
	// SendGridPublicKey is the verification key of SendGrid's signed event
	// webhook, an ECDSA P-256 public key in base64 DER, as SendGrid shows
	// it, or PEM (TIDINGS_SENDGRID_PUBLIC_KEY).
	SendGridPublicKey string
	// SNSTopics, when not empty, are the only SNS topic ARNs whose messages
	// are taken; empty takes any topic whose signature verifies.
	SNSTopics []string
	// Client fetches SNS signing certificates and confirms SNS
	// subscriptions; nil means a client with a timeout. Redirects are never
	// followed, whatever the client says, so the host rule of SNS URLs
	// holds for the address actually fetched.
	Client *http.Client
	// Now is the clock for timestamp windows and certificate validity; nil
	// means time.Now.
	Now func() time.Time
}

// Webhooks authenticates and decodes providers' webhook requests into
// Events. It speaks no HTTP as a server: the caller reads the request (at
// most MaxWebhookBody) and hands over the provider, header and body.
// Make one with NewWebhooks. Webhooks is safe for concurrent use.
type Webhooks struct {
	mailgunKey    []byte
	postmarkToken string
	sendGridKey   *ecdsa.PublicKey
	snsTopics     map[string]bool
	client        *http.Client
	now           func() time.Time

	// certs caches SNS signing certificates by URL, so a burst of
	// notifications costs one fetch. It is bounded (see snsCertCacheSize)
	// and its lock is never held across the fetch.
	mu    sync.Mutex
	certs map[string]*snsCert
}

// defaultWebhookTimeout bounds each fetch of the default client: SNS waits
// for our answer, and a slow AWS endpoint must not hold a request open.
const defaultWebhookTimeout = 10 * time.Second

// NewWebhooks checks cfg and returns its Webhooks. Its error names the
// setting that is malformed.
func NewWebhooks(cfg WebhookConfig) (*Webhooks, error) {
	w := &Webhooks{
		mailgunKey:    []byte(cfg.MailgunSigningKey),
		postmarkToken: cfg.PostmarkToken,
		now:           cfg.Now,
		certs:         make(map[string]*snsCert),
	}
	if w.now == nil {
		w.now = time.Now
	}
	if strings.TrimSpace(cfg.MailgunSigningKey) != cfg.MailgunSigningKey {
		return nil, errors.New("inbound: TIDINGS_MAILGUN_SIGNING_KEY has spaces around it")
	}
	if t := cfg.PostmarkToken; t != "" && (len(t) < 16 || strings.ContainsAny(t, " \t\r\n:@/")) {
		// The token is a password we choose, sent in a URL: it must be too
		// long to guess and hold nothing that breaks the URL's userinfo.
		return nil, errors.New("inbound: TIDINGS_POSTMARK_TOKEN must be at least 16 characters, without spaces, ':', '@' or '/'")
	}
	if cfg.SendGridPublicKey != "" {
		key, err := parseSendGridKey(cfg.SendGridPublicKey)
		if err != nil {
			return nil, fmt.Errorf("inbound: TIDINGS_SENDGRID_PUBLIC_KEY: %w", err)
		}
		w.sendGridKey = key
	}
	if len(cfg.SNSTopics) > 0 {
		w.snsTopics = make(map[string]bool, len(cfg.SNSTopics))
		for _, arn := range cfg.SNSTopics {
			if !validTopicARN(arn) {
				return nil, fmt.Errorf("inbound: SNS topic %q is not a topic ARN such as arn:aws:sns:us-east-1:123456789012:bounces", arn)
			}
			w.snsTopics[arn] = true
		}
	}
	client := http.Client{Timeout: defaultWebhookTimeout}
	if cfg.Client != nil {
		client = *cfg.Client
	}
	// A redirect could lead off the SNS hosts the URL was checked against;
	// none is followed, and its 3xx answer counts as a failure.
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	w.client = &client
	return w, nil
}

// Decode authenticates a webhook request of provider (one of the Provider
// constants) and returns the Events it reports, none for a report Tidings
// does not act on (a delivery, an open, an SNS subscription confirmation,
// which it confirms). The caller caps body at MaxWebhookBody.
//
// Its error is ErrUnknownProvider for an unknown provider, wraps
// ErrUnauthenticated for a request that does not authenticate, is a
// tidings.Error with code EUNAVAILABLE when AWS cannot be reached to check
// or confirm an SNS message (the provider retries), and EMALFORMED for an
// authenticated body that cannot be read.
func (w *Webhooks) Decode(ctx context.Context, provider string, header http.Header, body []byte) ([]Event, error) {
	switch provider {
	case ProviderSES:
		return w.decodeSNS(ctx, body)
	case ProviderPostmark:
		return w.decodePostmark(header, body)
	case ProviderMailgun:
		return w.decodeMailgun(body)
	case ProviderSendGrid:
		return w.decodeSendGrid(header, body)
	}
	return nil, ErrUnknownProvider
}

// unauthenticated wraps ErrUnauthenticated with the reason, for the log.
func unauthenticated(provider, format string, args ...any) error {
	return fmt.Errorf("inbound: %s webhook: %s: %w", provider, fmt.Sprintf(format, args...), ErrUnauthenticated)
}

// malformed is the error for an authenticated body that cannot be read.
func malformed(provider, format string, args ...any) error {
	return tidings.Errorf(tidings.EMALFORMED, "The %s webhook body cannot be read: %s.", provider, fmt.Sprintf(format, args...))
}

// unavailable is the error for an AWS endpoint that does not answer.
func unavailable(provider string, err error) error {
	return fmt.Errorf("inbound: %s webhook: %w: %w", provider,
		tidings.Errorf(tidings.EUNAVAILABLE, "Amazon SNS cannot be reached; try again later."), err)
}
