package delivery_test

import (
	"strings"
	"testing"

	"github.com/tidings/tidings/delivery"
)

func TestParseURL(t *testing.T) {
	t.Parallel()

	t.Run("OK", func(t *testing.T) {
		t.Parallel()
		tests := []struct {
			raw  string
			want delivery.Relay
		}{
			{"smtp://127.0.0.1", delivery.Relay{Host: "127.0.0.1", Port: 25, TLS: delivery.TLSNone}},
			{"smtp://localhost:1025", delivery.Relay{Host: "localhost", Port: 1025, TLS: delivery.TLSNone}},
			{"smtp://[::1]:2525/", delivery.Relay{Host: "::1", Port: 2525, TLS: delivery.TLSNone}},
			{"smtp://mail.example.com", delivery.Relay{Host: "mail.example.com", Port: 587, TLS: delivery.TLSStartTLS}},
			{"SMTP://mail.example.com?tls=TLS", delivery.Relay{Host: "mail.example.com", Port: 465, TLS: delivery.TLSImplicit}},
			{"smtp://mail.example.com?tls=none", delivery.Relay{Host: "mail.example.com", Port: 25, TLS: delivery.TLSNone}},
			{"smtp://mail.example.com:2525?tls=starttls", delivery.Relay{Host: "mail.example.com", Port: 2525, TLS: delivery.TLSStartTLS}},
			{"smtps://mail.example.com", delivery.Relay{Host: "mail.example.com", Port: 465, TLS: delivery.TLSImplicit}},
			{"smtps://mail.example.com:4650?tls=tls", delivery.Relay{Host: "mail.example.com", Port: 4650, TLS: delivery.TLSImplicit}},
			{"smtp://apikey:s%40cr%2Ft@smtp.example.com:587", delivery.Relay{Host: "smtp.example.com", Port: 587, TLS: delivery.TLSStartTLS, Username: "apikey", Password: "s@cr/t"}},
			{"smtp://user:pass@127.0.0.1:1025?tls=none", delivery.Relay{Host: "127.0.0.1", Port: 1025, TLS: delivery.TLSNone, Username: "user", Password: "pass"}},
		}
		for _, tt := range tests {
			got, err := delivery.ParseURL(tt.raw)
			if err != nil {
				t.Errorf("ParseURL(%q): %v", tt.raw, err)
				continue
			}
			if got != tt.want {
				t.Errorf("ParseURL(%q) = %+v, want %+v", tt.raw, got, tt.want)
			}
		}
	})

	t.Run("ErrInvalid", func(t *testing.T) {
		t.Parallel()
		tests := []struct {
			raw  string
			want string // in the error message
		}{
			{"", "empty"},
			{"   ", "empty"},
			{"mail.example.com", "no scheme"},
			{"http://mail.example.com", `scheme "http"`},
			{"smtp:mail.example.com", "two slashes"},
			{"smtp://", "no host"},
			{"smtp://:25", "no host"},
			{"smtp://mail.example.com:abc", "port"},
			{"smtp://mail.example.com:0", `port "0"`},
			{"smtp://mail.example.com:65536", `port "65536"`},
			{"smtp://mail.example.com:", "empty port"},
			{"smtp://mail.example.com/path", "path"},
			{"smtp://mail.example.com#frag", "fragment"},
			{"smtp://mail.example.com?tls=ssl", `tls="ssl"`},
			{"smtp://mail.example.com?tls=", `tls=""`},
			{"smtp://mail.example.com?tls=none&tls=tls", "2 times"},
			{"smtp://mail.example.com?timeout=5", `unknown parameter "timeout"`},
			{"smtps://mail.example.com?tls=starttls", "smtps"},
			{"smtps://mail.example.com?tls=none", "smtps"},
			{"smtp://@mail.example.com", "empty user"},
			{"smtp://user@mail.example.com", "no password"},
			{"smtp://user:@mail.example.com", "no password"},
			{"smtp://user:secret@mail.example.com?tls=none", "clear text"},
			{"smtp://user:secret@10.0.0.1?tls=none", "clear text"},
			{"smtp://user:secret@mail.example.com:x", "port"},
			{"smtp://user:se/cret@mail.example.com", ""},
		}
		for _, tt := range tests {
			_, err := delivery.ParseURL(tt.raw)
			if err == nil {
				t.Errorf("ParseURL(%q) = nil error, want one about %q", tt.raw, tt.want)
				continue
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("ParseURL(%q) = %q, want it to mention %q", tt.raw, err, tt.want)
			}
			if strings.Contains(err.Error(), "secret") || strings.Contains(err.Error(), "cret@") {
				t.Errorf("ParseURL(%q) = %q, shows the password", tt.raw, err)
			}
		}
	})
}

func TestRelay_String(t *testing.T) {
	t.Parallel()
	r, err := delivery.ParseURL("smtp://user:secret@mail.example.com")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := r.String(), "smtp://user:xxxxx@mail.example.com:587?tls=starttls"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}

func TestNewSender(t *testing.T) {
	t.Parallel()
	tests := []struct {
		cfg  delivery.Config
		want string
	}{
		{delivery.Config{URL: "ftp://x"}, "scheme"},
		{delivery.Config{URL: "smtp://127.0.0.1", Timeout: -1}, "negative"},
	}
	for _, tt := range tests {
		if _, err := delivery.NewSender(tt.cfg); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("NewSender(%+v) = %v, want an error about %q", tt.cfg, err, tt.want)
		}
	}
}
