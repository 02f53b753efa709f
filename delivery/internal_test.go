package delivery

import (
	"math/rand/v2"
	netmail "net/mail"
	"strings"
	"testing"
)

func TestAddressFailure(t *testing.T) {
	t.Parallel()
	tests := []struct {
		reason   stage
		enhanced string
		want     bool
	}{
		{stageRcpt, "5.1.1", true},
		{stageRcpt, "5.1.10", true},
		{stageRcpt, "5.2.1", true},
		{stageEnd, "5.1.1", true},
		{stageRcpt, "5.1.7", false}, // the sender's address
		{stageRcpt, "5.1.8", false},
		{stageRcpt, "5.2.2", false}, // mailbox full
		{stageRcpt, "5.7.1", false},
		{stageRcpt, "", false},
		{stageMail, "5.1.1", false}, // a reply to MAIL FROM is about us
		{stageMail, "5.1.8", false},
	}
	for _, tt := range tests {
		if got := addressFailure(tt.reason, tt.enhanced); got != tt.want {
			t.Errorf("addressFailure(%v, %q) = %v, want %v", tt.reason, tt.enhanced, got, tt.want)
		}
	}
}

func TestRedact(t *testing.T) {
	t.Parallel()
	tests := []struct{ raw, want string }{
		{"smtp://user:secret@host:25", "smtp://user:xxxxx@host:25"},
		{"smtp://user@host", "smtp://user@host"},
		{"smtp://host:25?tls=none", "smtp://host:25?tls=none"},
		{"smtp://user:se/cr#et@host", "smtp://user:xxxxx@host"},
		{"user:secret@host", "user:xxxxx@host"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := redact(tt.raw); got != tt.want {
			t.Errorf("redact(%q) = %q, want %q", tt.raw, got, tt.want)
		}
	}
}

func TestEncodePhrase(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"Weekly <weekly.example.com>", "Weekly <weekly.example.com>"},
		{"Grüße <weekly.example.com>", "=?UTF-8?q?Gr=C3=BC=C3=9Fe?= <weekly.example.com>"},
		{"<https://example.com/u/ü>", "<https://example.com/u/ü>"},
		{"plain", "plain"},
	}
	for _, tt := range tests {
		if got := encodePhrase(tt.in); got != tt.want {
			t.Errorf("encodePhrase(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestIsPlainAddress: what isPlainAddress takes, net/mail parses to the same
// address with no name; and the common addresses are taken.
func TestIsPlainAddress(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"grace@example.com", "a.b+tag@mail.example.co.uk", "x_y-z@a-b.example", "o'brien@example.ie", "1@2.3"} {
		if !isPlainAddress(s) {
			t.Errorf("%q not taken", s)
		}
	}
	for _, s := range []string{"", "@", "a@", "@b", "a@b@c", ".a@b", "a.@b", "a..b@c", "a@b..c", "a@.b", "a b@c", "\"a\"@b", "<a@b>", "A <a@b>", "a@b_c", "é@b", "a@b.c.", "a@[127.0.0.1]"} {
		if isPlainAddress(s) {
			t.Errorf("%q taken", s)
		}
	}
	rng := rand.New(rand.NewPCG(5, 6))
	alphabet := []string{"a", "Z", "0", "a", "b", ".", "-", "_", "+", "'", "!", "@", " ", "\"", "<", ">", "(", ",", ";", ":", "\\", "[", "é", "\t"}
	part := func() string {
		var b strings.Builder
		for range 1 + rng.IntN(6) {
			b.WriteString(alphabet[rng.IntN(len(alphabet))])
		}
		return b.String()
	}
	taken := 0
	for range 200000 {
		s := part() + "@" + part()
		if !isPlainAddress(s) {
			continue
		}
		taken++
		a, err := netmail.ParseAddress(s)
		if err != nil || a.Name != "" || a.Address != s {
			t.Fatalf("%q taken, but net/mail gives %+v, %v", s, a, err)
		}
	}
	if taken < 1000 {
		t.Fatalf("only %d random addresses taken: the test tries too few", taken)
	}
}
