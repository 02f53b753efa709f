package inbound

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestCleanRecipient(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"Jane@Example.com", "jane@example.com"},
		{" jane.doe+news@mail.example.co.uk ", "jane.doe+news@mail.example.co.uk"},
		{"JÖRG@Bücher.example", "jörg@bücher.example"},
		{strings.Repeat("a", 64) + "@example.com", strings.Repeat("a", 64) + "@example.com"},
	} {
		if got, ok := cleanRecipient(tc.in); !ok || got != tc.want {
			t.Errorf("cleanRecipient(%q) = %q, %v; want %q", tc.in, got, ok, tc.want)
		}
	}
	for _, in := range []string{
		"", "jane", "@example.com", "jane@", "jane@@example.com", "a@b@example.com",
		"jane doe@example.com", "jane@exa mple.com", "Jane <jane@example.com>", "<jane@example.com>",
		`"jane"@example.com`, "jane@example.com\nbcc", "ja\x00ne@example.com", "jane,bob@example.com",
		".jane@example.com", "jane.@example.com", "ja..ne@example.com", "jane@.example.com",
		"jane@example.com.", "jane@example..com", "jane@-example.com", "jane@[127.0.0.1]",
		strings.Repeat("a", 65) + "@example.com", "a@" + strings.Repeat("b", 250) + ".com", "\xffjane@example.com",
	} {
		if got, ok := cleanRecipient(in); ok {
			t.Errorf("cleanRecipient(%q) = %q, true; want it refused", in, got)
		}
	}
}

func TestCleanMessageID(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"<m1@tidings.example>", "<m1@tidings.example>"},
		{"m1@tidings.example", "<m1@tidings.example>"},
		{" <m1@tidings.example> ", "<m1@tidings.example>"},
		{"", ""},
		{"<>", ""},
		{"<", ""},
		{"two words@example", ""},
		{"<a><b>", ""},
		{"<m1@x>\r\nBcc: x", ""},
		{"<" + strings.Repeat("x", 997) + ">", ""},
	} {
		if got := cleanMessageID(tc.in); got != tc.want {
			t.Errorf("cleanMessageID(%q) = %q; want %q", tc.in, got, tc.want)
		}
	}
}

func TestCleanStatus(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"5.1.1", "5.1.1"}, {" 4.2.2 ", "4.2.2"}, {"2.0.0", "2.0.0"}, {"5.123.456", "5.123.456"},
		{"3.1.1", ""}, {"5.1", ""}, {"5.1.1.1", ""}, {"5.1234.1", ""}, {"5.1.1a", ""}, {"550", ""}, {"", ""}, {"5..1", ""},
	} {
		if got := cleanStatus(tc.in); got != tc.want {
			t.Errorf("cleanStatus(%q) = %q; want %q", tc.in, got, tc.want)
		}
	}
}

func TestEnhancedStatus(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"smtp; 550 5.1.1 user unknown", "5.1.1"},
		{"452 4.2.2 mailbox full", "4.2.2"},
		{"5.7.1", "5.7.1"},
		{"refused by 15.1.1.2 at 25.4.3", ""},
		{"from 10.5.1.1", ""},
		{"550 user unknown", ""},
		{"version 5.1.12345", ""},
	} {
		if got := enhancedStatus(tc.in); got != tc.want {
			t.Errorf("enhancedStatus(%q) = %q; want %q", tc.in, got, tc.want)
		}
	}
}

func TestCleanText(t *testing.T) {
	for _, tc := range []struct {
		in   string
		max  int
		want string
	}{
		{"550 user\r\nunknown\t here ", 100, "550 user unknown here"},
		{"  lead", 100, "lead"},
		{"bad\xffbyte", 100, "bad byte"},
		{"abc déf", 6, "abc d"},
		{"abc déf", 5, "abc d"},
		{"abc déf", 4, "abc"},
		{"\x00\x01", 10, ""},
	} {
		if got := cleanText(tc.in, tc.max); got != tc.want || len(got) > tc.max || !utf8.ValidString(got) {
			t.Errorf("cleanText(%q, %d) = %q; want %q", tc.in, tc.max, got, tc.want)
		}
	}
}

func TestCleanEventID(t *testing.T) {
	long := strings.Repeat("x", maxEventID+1)
	if got := cleanEventID(long); got != cleanEventID(long) || len(got) > maxEventID || !strings.HasPrefix(got, "sha256:") {
		t.Errorf("cleanEventID(%q) = %q; want a stable hash", long, got)
	}
	if a, b := cleanEventID(long), cleanEventID(long+"y"); a == b {
		t.Errorf("cleanEventID of two long ids = %q twice; want them apart", a)
	}
	for _, in := range []string{"n-1:jane@example.com", "4323372036854775807"} {
		if got := cleanEventID(in); got != in {
			t.Errorf("cleanEventID(%q) = %q; want it as it is", in, got)
		}
	}
	if got := cleanEventID("a\nb"); !strings.HasPrefix(got, "sha256:") {
		t.Errorf("cleanEventID(%q) = %q; want a hash", "a\nb", got)
	}
}

func TestUnixTime(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Time
	}{
		{"1772445590.908181", time.Date(2026, 3, 2, 9, 59, 50, 908181000, time.UTC)},
		{"1772445590", time.Date(2026, 3, 2, 9, 59, 50, 0, time.UTC)},
		{"1772445590.5", time.Date(2026, 3, 2, 9, 59, 50, 5e8, time.UTC)},
		{"", time.Time{}}, {"0", time.Time{}}, {"-5", time.Time{}}, {"1e9", time.Time{}},
		{"1772445590.1234567891", time.Time{}}, {"99999999999999", time.Time{}}, {"1.-5", time.Time{}},
	} {
		if got := unixTime(json.Number(tc.in)); !got.Equal(tc.want) {
			t.Errorf("unixTime(%q) = %v; want %v", tc.in, got, tc.want)
		}
	}
}

func TestEvents_Add(t *testing.T) {
	es := eventList{provider: ProviderSendGrid}
	for range MaxWebhookEvents {
		if err := es.add(Event{Kind: Bounce, Recipient: "a@example.com"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := es.add(Event{Kind: Bounce, Recipient: "not an address"}); err != nil {
		t.Errorf("add of an event to drop past the limit = %v; want it dropped", err)
	}
	if err := es.add(Event{Kind: Bounce, Recipient: "a@example.com"}); err == nil {
		t.Errorf("add of event %d = nil; want the limit refused", MaxWebhookEvents+1)
	}
}
