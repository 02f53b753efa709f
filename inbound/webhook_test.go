package inbound

import (
	"context"
	"errors"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tidings/tidings"
)

// webhookNow is the clock of the webhook tests.
var webhookNow = time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)

// webhookCase is one request to Decode and what it must give: the Events,
// or an error of code (EUNAUTHORIZED always wrapping ErrUnauthenticated).
type webhookCase struct {
	name   string
	header http.Header
	body   string
	want   []Event
	code   string
}

// runWebhookCases decodes each case with w and compares.
func runWebhookCases(t *testing.T, w *Webhooks, provider string, cases []webhookCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := w.Decode(context.Background(), provider, tc.header, []byte(tc.body))
			checkWebhookError(t, err, tc.code, tc.body)
			if tc.code == "" && !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Decode(%s, %q)\n got %+v\nwant %+v", provider, tc.body, got, tc.want)
			}
			if tc.code != "" && got != nil {
				t.Errorf("Decode(%s, %q) = %+v with an error; want no events", provider, tc.body, got)
			}
		})
	}
}

// checkWebhookError fails unless err has code (none for "").
func checkWebhookError(t *testing.T, err error, code, input string) {
	t.Helper()
	if got := tidings.ErrorCode(err); got != code {
		t.Errorf("Decode(%q): error %v, code %q; want code %q", input, err, got, code)
	}
	if code == tidings.EUNAUTHORIZED && !errors.Is(err, ErrUnauthenticated) {
		t.Errorf("Decode(%q): error %v is not ErrUnauthenticated", input, err)
	}
}

// mustWebhooks returns the Webhooks of cfg on the test clock.
func mustWebhooks(tb testing.TB, cfg WebhookConfig) *Webhooks {
	tb.Helper()
	if cfg.Now == nil {
		cfg.Now = func() time.Time { return webhookNow }
	}
	w, err := NewWebhooks(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	return w
}

func TestNewWebhooks(t *testing.T) {
	w := mustWebhooks(t, WebhookConfig{})
	for _, provider := range []string{ProviderSES, ProviderPostmark, ProviderMailgun, ProviderSendGrid} {
		if provider == ProviderSES {
			continue // SES needs no setting: its messages are signed by AWS
		}
		_, err := w.Decode(context.Background(), provider, http.Header{}, []byte(`{}`))
		checkWebhookError(t, err, tidings.EUNAUTHORIZED, provider+" unconfigured")
	}

	for _, tc := range []struct {
		cfg     WebhookConfig
		setting string // named in the error
	}{
		{WebhookConfig{PostmarkToken: "short"}, "TIDINGS_POSTMARK_TOKEN"},
		{WebhookConfig{PostmarkToken: "long-enough-but:colon"}, "TIDINGS_POSTMARK_TOKEN"},
		{WebhookConfig{PostmarkToken: "long enough but spaced"}, "TIDINGS_POSTMARK_TOKEN"},
		{WebhookConfig{MailgunSigningKey: " key-with-space"}, "TIDINGS_MAILGUN_SIGNING_KEY"},
		{WebhookConfig{SendGridPublicKey: "not base64!"}, "TIDINGS_SENDGRID_PUBLIC_KEY"},
		{WebhookConfig{SendGridPublicKey: "aGVsbG8="}, "TIDINGS_SENDGRID_PUBLIC_KEY"},
		{WebhookConfig{SendGridPublicKey: rsaPublicKeyBase64(t)}, "TIDINGS_SENDGRID_PUBLIC_KEY"},
		{WebhookConfig{SNSTopics: []string{"bounces"}}, "bounces"},
		{WebhookConfig{SNSTopics: []string{"arn:aws:sqs:us-east-1:123456789012:bounces"}}, "arn:aws:sqs"},
	} {
		_, err := NewWebhooks(tc.cfg)
		if err == nil || !strings.Contains(err.Error(), tc.setting) {
			t.Errorf("NewWebhooks(%+v) = %v; want an error naming %s", tc.cfg, err, tc.setting)
		}
	}
}

func TestWebhooks_Decode(t *testing.T) {
	w := mustWebhooks(t, WebhookConfig{MailgunSigningKey: "key"})
	for _, provider := range []string{"", "SES", "mandrill", "ses/", "../mailgun"} {
		_, err := w.Decode(context.Background(), provider, http.Header{}, []byte(`{}`))
		if !errors.Is(err, ErrUnknownProvider) || tidings.ErrorCode(err) != tidings.ENOTFOUND {
			t.Errorf("Decode(%q) = %v; want ErrUnknownProvider", provider, err)
		}
	}
}
