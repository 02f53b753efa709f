package delivery

import (
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
