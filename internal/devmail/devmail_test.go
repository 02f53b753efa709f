package devmail_test

import (
	"context"
	"errors"
	"fmt"
	"net/smtp"
	"strings"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"github.com/tidings/tidings/internal/devmail"
)

func MustStart(tb testing.TB, opts devmail.Options) *devmail.Server {
	tb.Helper()
	s, err := devmail.StartWith("127.0.0.1:0", opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := s.Close(); err != nil {
			tb.Errorf("Close: %v", err)
		}
	})
	return s
}

// send sends raw with the standard library's client, so these tests do not
// depend on package delivery.
func send(addr string, auth smtp.Auth, from string, to []string, raw string) error {
	return smtp.SendMail(addr, auth, from, to, []byte(strings.ReplaceAll(raw, "\n", "\r\n")))
}

func waitCtx(tb testing.TB) context.Context {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	tb.Cleanup(cancel)
	return ctx
}

const alternative = `From: "Ann" <ann@example.com>
To: bob@example.org
Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=
Message-ID: <1.2@example.com>
List-Unsubscribe: <https://example.com/unsubscribe/TOKEN>
MIME-Version: 1.0
Content-Type: multipart/alternative; boundary="b1"

--b1
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: quoted-printable

Gr=C3=BC=C3=9Fe, a long line that is soft-=
broken.
--b1
Content-Type: text/html; charset=utf-8
Content-Transfer-Encoding: base64

PHA+R3LDvMOfZTwvcD4=
--b1--
`

const mixed = `From: ann@example.com
To: bob@example.org
Subject: plain subject
Content-Type: multipart/mixed; boundary="outer"

--outer
Content-Type: multipart/alternative; boundary="inner"

--inner
Content-Type: text/plain

text part
--inner
Content-Type: text/html

<b>html part</b>
--inner--
--outer
Content-Type: text/plain; name="notes.txt"
Content-Disposition: attachment; filename="notes.txt"

an attachment, not the body
--outer--
`

const single = `From: ann@example.com
To: bob@example.org
Subject: single

just text
`

const htmlOnly = `From: ann@example.com
To: bob@example.org
Subject: html only
Content-Type: text/html; charset=iso-8859-1
Content-Transfer-Encoding: quoted-printable

<p>caf=E9</p>
`

func TestServer_Parse(t *testing.T) {
	t.Parallel()
	s := MustStart(t, devmail.Options{})
	tests := []struct {
		name, raw, subject, text, html string
	}{
		{"Alternative", alternative, "Grüße", "Grüße, a long line that is soft-broken.", "<p>Grüße</p>"},
		{"NestedMixed", mixed, "plain subject", "text part", "<b>html part</b>"},
		{"Single", single, "single", "just text\r\n", ""},
		{"HTMLOnlyLatin1", htmlOnly, "html only", "", "<p>café</p>\r\n"},
	}
	for i, tt := range tests {
		if err := send(s.Addr(), nil, "ann@example.com", []string{"bob@example.org"}, tt.raw); err != nil {
			t.Fatalf("%s: send: %v", tt.name, err)
		}
		m, ok := s.Message(i + 1)
		if !ok {
			t.Fatalf("%s: Message(%d) not found", tt.name, i+1)
		}
		if m.ParseError != "" {
			t.Errorf("%s: ParseError = %q", tt.name, m.ParseError)
		}
		if m.Subject != tt.subject {
			t.Errorf("%s: Subject = %q, want %q", tt.name, m.Subject, tt.subject)
		}
		if m.Text != tt.text {
			t.Errorf("%s: Text = %q, want %q", tt.name, m.Text, tt.text)
		}
		if m.HTML != tt.html {
			t.Errorf("%s: HTML = %q, want %q", tt.name, m.HTML, tt.html)
		}
		if m.From != "ann@example.com" || len(m.To) != 1 || m.To[0] != "bob@example.org" {
			t.Errorf("%s: envelope = %q -> %q", tt.name, m.From, m.To)
		}
		if m.At.IsZero() {
			t.Errorf("%s: At is zero", tt.name)
		}
	}

	m, _ := s.Message(1)
	if got, want := m.Header.Get("Message-ID"), "<1.2@example.com>"; got != want {
		t.Errorf("Message-ID = %q, want %q", got, want)
	}
	if _, ok := m.Header["Message-Id"]; !ok {
		t.Errorf("Header keys are not canonical: %v", m.Header)
	}
	if got, want := m.Header.Get("List-Unsubscribe"), "<https://example.com/unsubscribe/TOKEN>"; got != want {
		t.Errorf("List-Unsubscribe = %q, want %q", got, want)
	}
	if !strings.Contains(string(m.Raw), "Content-Type: multipart/alternative") {
		t.Errorf("Raw does not hold the message:\n%s", m.Raw)
	}
}

func TestServer_MaxMessages(t *testing.T) {
	t.Parallel()
	s := MustStart(t, devmail.Options{MaxMessages: 3})
	for i := range 5 {
		if err := send(s.Addr(), nil, "a@example.com", []string{"b@example.com"}, fmt.Sprintf("Subject: %d\n\nbody\n", i+1)); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	for _, m := range s.Messages() {
		got = append(got, fmt.Sprintf("%d:%s", m.ID, m.Subject))
	}
	if want := "3:3 4:4 5:5"; strings.Join(got, " ") != want {
		t.Errorf("Messages() = %v, want %s", got, want)
	}
	if _, ok := s.Message(2); ok {
		t.Error("Message(2) found, want forgotten")
	}
	if m, ok := s.Message(4); !ok || m.Subject != "4" {
		t.Errorf("Message(4) = %v, %v", m.Subject, ok)
	}
	if got := s.Caught(); got != 5 {
		t.Errorf("Caught() = %d, want 5", got)
	}
	s.Clear()
	if got := len(s.Messages()); got != 0 {
		t.Errorf("after Clear, %d messages", got)
	}
}

func TestServer_WaitFor(t *testing.T) {
	t.Parallel()
	s := MustStart(t, devmail.Options{})

	t.Run("ErrTimeout", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := s.WaitFor(ctx, 1); !errors.Is(err, context.Canceled) {
			t.Errorf("WaitFor = %v, want context.Canceled", err)
		}
	})

	t.Run("OK", func(t *testing.T) {
		done := make(chan error, 1)
		go func() { done <- s.WaitFor(waitCtx(t), 2) }()
		for range 2 {
			if err := send(s.Addr(), nil, "a@example.com", []string{"b@example.com"}, "Subject: x\n\nbody\n"); err != nil {
				t.Fatal(err)
			}
		}
		if err := <-done; err != nil {
			t.Errorf("WaitFor = %v", err)
		}
	})
}

func TestServer_Reply(t *testing.T) {
	t.Parallel()
	s := MustStart(t, devmail.Options{
		Reply: func(from, to string) *gosmtp.SMTPError {
			switch to {
			case "nobody@example.com":
				return &gosmtp.SMTPError{Code: 550, EnhancedCode: gosmtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
			case "drop@example.com":
				return devmail.Drop
			}
			return nil
		},
		DataReply: func(from string, to []string) *gosmtp.SMTPError {
			if to[0] == "big@example.com" {
				return &gosmtp.SMTPError{Code: 552, EnhancedCode: gosmtp.EnhancedCode{5, 3, 4}, Message: "too big"}
			}
			return nil
		},
	})
	tests := []struct {
		to, code, text string
	}{
		{"nobody@example.com", "550", "5.1.1 no such user"},
		{"big@example.com", "552", "5.3.4 too big"},
		{"drop@example.com", "", "EOF"},
	}
	for _, tt := range tests {
		err := send(s.Addr(), nil, "a@example.com", []string{tt.to}, "Subject: x\n\nbody\n")
		if err == nil || !strings.HasPrefix(err.Error(), tt.code) || !strings.Contains(err.Error(), tt.text) {
			t.Errorf("send to %q: err = %v, want %s %s", tt.to, err, tt.code, tt.text)
		}
	}
	if got := s.Caught(); got != 0 {
		t.Errorf("Caught() = %d, want 0", got)
	}
}

func TestServer_Auth(t *testing.T) {
	t.Parallel()
	s := MustStart(t, devmail.Options{Username: "user", Password: "secret"})
	host := strings.Split(s.Addr(), ":")[0]
	msg := "Subject: x\n\nbody\n"

	if err := send(s.Addr(), smtp.PlainAuth("", "user", "secret", host), "a@example.com", []string{"b@example.com"}, msg); err != nil {
		t.Errorf("right password: %v", err)
	}
	if err := send(s.Addr(), smtp.PlainAuth("", "user", "wrong", host), "a@example.com", []string{"b@example.com"}, msg); err == nil || !strings.Contains(err.Error(), "535") {
		t.Errorf("wrong password: err = %v, want 535", err)
	}
	if err := send(s.Addr(), nil, "a@example.com", []string{"b@example.com"}, msg); err == nil || !strings.Contains(err.Error(), "authenticate") {
		t.Errorf("no AUTH: err = %v, want a refusal", err)
	}
	if got := s.Caught(); got != 1 {
		t.Errorf("Caught() = %d, want 1", got)
	}
}
