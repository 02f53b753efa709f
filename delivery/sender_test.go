package delivery_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"mime"
	"net"
	"net/textproto"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"github.com/tidings/tidings/delivery"
	"github.com/tidings/tidings/internal/devmail"
)

// MustStart starts a devmail server on a free loopback port for the test.
func MustStart(tb testing.TB, opts devmail.Options) *devmail.Server {
	tb.Helper()
	s, err := devmail.StartWith("127.0.0.1:0", opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = s.Close() })
	return s
}

// MustSender returns a Sender for url, with a short timeout so a hang fails
// the test quickly.
func MustSender(tb testing.TB, url string) *delivery.Sender {
	tb.Helper()
	s, err := delivery.NewSender(delivery.Config{URL: url, HeloName: "test.example", Timeout: 10 * time.Second, InsecureSkipVerify: true})
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// MustDial opens a Conn that the test closes.
func MustDial(tb testing.TB, s *delivery.Sender) *delivery.Conn {
	tb.Helper()
	c, err := s.Dial(context.Background())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = c.Close() })
	return c
}

// closedPortURL is the URL of a relay on a loopback port where nothing
// listens.
func closedPortURL(tb testing.TB) string {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now
	return "smtp://" + addr + "?tls=none"
}

func plainURL(srv *devmail.Server) string {
	return "smtp://" + srv.Addr() + "?tls=none"
}

func newMessage(to string) *delivery.Message {
	return &delivery.Message{
		FromName:  "Tidings Weekly",
		FromEmail: "news@example.com",
		ReplyTo:   "editor@example.com",
		To:        to,
		ToName:    `Ann "the" Reader`,
		Subject:   "Grüße from Tidings",
		Text:      "Hello in text. Unsubscribe: https://example.com/unsubscribe/TOKEN",
		HTML:      "<p>Hello in <b>HTML</b>. <a href=\"https://example.com/unsubscribe/TOKEN\">Unsubscribe</a></p>",
		MessageID: delivery.NewMessageID("example.com"),
		Headers: map[string]string{
			"List-Unsubscribe":      "<https://example.com/unsubscribe/TOKEN>",
			"List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
			"List-Id":               "Tidings Weekly <weekly.example.com>",
			"Feedback-ID":           "42:coach:step:news.example.com",
		},
	}
}

func TestConn_Send(t *testing.T) {
	t.Parallel()

	t.Run("OK", func(t *testing.T) {
		t.Parallel()
		srv := MustStart(t, devmail.Options{})
		c := MustDial(t, MustSender(t, plainURL(srv)))
		m := newMessage("ann@example.org")
		if r := c.Send(context.Background(), m); r.Status != delivery.Sent || r.Err != nil {
			t.Fatalf("Send = %+v", r)
		}

		msgs := srv.Messages()
		if len(msgs) != 1 {
			t.Fatalf("caught %d messages, want 1", len(msgs))
		}
		got := msgs[0]
		if got.From != "news@example.com" || len(got.To) != 1 || got.To[0] != "ann@example.org" {
			t.Errorf("envelope = %q -> %q", got.From, got.To)
		}
		headers := []struct{ key, want string }{
			{"Message-ID", m.MessageID},
			{"List-Unsubscribe", "<https://example.com/unsubscribe/TOKEN>"},
			{"List-Unsubscribe-Post", "List-Unsubscribe=One-Click"},
			{"List-Id", "Tidings Weekly <weekly.example.com>"},
			{"Feedback-ID", "42:coach:step:news.example.com"},
			{"From", `"Tidings Weekly" <news@example.com>`},
			{"Reply-To", "<editor@example.com>"},
		}
		for _, h := range headers {
			if got := got.Header.Get(h.key); got != h.want {
				t.Errorf("header %s = %q, want %q", h.key, got, h.want)
			}
		}
		to, err := got.Header.AddressList("To")
		if err != nil || len(to) != 1 || to[0].Name != m.ToName || to[0].Address != m.To {
			t.Errorf("To = %v (%v), want %q <%s>", to, err, m.ToName, m.To)
		}
		if got.Subject != m.Subject {
			t.Errorf("Subject = %q, want %q", got.Subject, m.Subject)
		}
		if ct := got.Header.Get("Content-Type"); !strings.HasPrefix(ct, "multipart/alternative") {
			t.Errorf("Content-Type = %q, want multipart/alternative", ct)
		}
		if strings.TrimSpace(got.Text) != m.Text {
			t.Errorf("Text = %q, want %q", got.Text, m.Text)
		}
		if strings.TrimSpace(got.HTML) != m.HTML {
			t.Errorf("HTML = %q, want %q", got.HTML, m.HTML)
		}
		if got.Header.Get("Date") == "" {
			t.Error("no Date header")
		}
	})

	t.Run("NonASCIIListID", func(t *testing.T) {
		t.Parallel()
		srv := MustStart(t, devmail.Options{})
		c := MustDial(t, MustSender(t, plainURL(srv)))
		m := newMessage("ann@example.org")
		m.Headers["List-Id"] = "Grüße Weekly <weekly.example.com>"
		if r := c.Send(context.Background(), m); r.Status != delivery.Sent {
			t.Fatalf("Send = %+v", r)
		}
		raw := srv.Messages()[0].Header.Get("List-Id")
		if !strings.HasSuffix(raw, " <weekly.example.com>") {
			t.Errorf("List-Id = %q, want the id outside the encoded words", raw)
		}
		if got, err := new(mime.WordDecoder).DecodeHeader(raw); err != nil || got != m.Headers["List-Id"] {
			t.Errorf("List-Id decodes to %q (%v), want %q", got, err, m.Headers["List-Id"])
		}
	})

	t.Run("TextOnlyAndDefaultMessageID", func(t *testing.T) {
		t.Parallel()
		srv := MustStart(t, devmail.Options{})
		c := MustDial(t, MustSender(t, plainURL(srv)))
		m := newMessage("ann@example.org")
		m.HTML, m.MessageID = "", ""
		if r := c.Send(context.Background(), m); r.Status != delivery.Sent {
			t.Fatalf("Send = %+v", r)
		}
		got := srv.Messages()[0]
		if ct := got.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
			t.Errorf("Content-Type = %q, want text/plain", ct)
		}
		if id := got.Header.Get("Message-ID"); !strings.HasSuffix(id, "@example.com>") {
			t.Errorf("Message-ID = %q, want one at the From domain", id)
		}
	})

	t.Run("ErrMessage", func(t *testing.T) {
		t.Parallel()
		srv := MustStart(t, devmail.Options{})
		c := MustSender(t, plainURL(srv)).NewConn()
		t.Cleanup(func() { _ = c.Close() })
		tests := []struct {
			name    string
			edit    func(*delivery.Message)
			address bool
		}{
			{"BadTo", func(m *delivery.Message) { m.To = "not an address" }, true},
			{"ToWithName", func(m *delivery.Message) { m.To = "Ann <ann@example.org>" }, true},
			{"EmptyTo", func(m *delivery.Message) { m.To = "" }, true},
			{"BadFrom", func(m *delivery.Message) { m.FromEmail = "news" }, false},
			{"BadReplyTo", func(m *delivery.Message) { m.ReplyTo = "editor" }, false},
			{"BadReturnPath", func(m *delivery.Message) { m.ReturnPath = "Bounces <b-x@bounces.example.com>" }, false},
			{"NoBody", func(m *delivery.Message) { m.Text, m.HTML = "", "" }, false},
			{"BadMessageID", func(m *delivery.Message) { m.MessageID = "no-brackets@example.com" }, false},
			{"ReservedHeader", func(m *delivery.Message) { m.Headers["subject"] = "again" }, false},
			{"HeaderNameColon", func(m *delivery.Message) { m.Headers["X-A:b"] = "v" }, false},
			{"HeaderValueNewline", func(m *delivery.Message) { m.Headers["X-Injected"] = "a\r\nBcc: evil@example.net" }, false},
		}
		for _, tt := range tests {
			m := newMessage("ann@example.org")
			tt.edit(m)
			r := c.Send(context.Background(), m)
			if r.Status != delivery.PermFailure || r.AddressFailure != tt.address || r.Err == nil {
				t.Errorf("%s: Send = %+v, want PermFailure with AddressFailure %v", tt.name, r, tt.address)
			}
		}
		if n := srv.Connections(); n != 0 {
			t.Errorf("%d connections for messages that cannot be sent, want 0", n)
		}
	})

	t.Run("ReturnPath", func(t *testing.T) {
		t.Parallel()
		srv := MustStart(t, devmail.Options{})
		c := MustDial(t, MustSender(t, plainURL(srv)))
		m := newMessage("ann@example.org")
		m.ReturnPath = "b-token@bounces.example.com"
		if r := c.Send(context.Background(), m); r.Status != delivery.Sent || r.Err != nil {
			t.Fatalf("Send = %+v", r)
		}
		msgs := srv.Messages()
		if len(msgs) != 1 {
			t.Fatalf("caught %d messages, want 1", len(msgs))
		}
		if got := msgs[0]; got.From != m.ReturnPath || got.Header.Get("From") != `"Tidings Weekly" <news@example.com>` {
			t.Errorf("envelope sender %q, From %q; want the return path and the list's From", got.From, got.Header.Get("From"))
		}
	})

	t.Run("ErrClosed", func(t *testing.T) {
		t.Parallel()
		srv := MustStart(t, devmail.Options{})
		c, err := MustSender(t, plainURL(srv)).Dial(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Close(); err != nil {
			t.Fatalf("Close = %v", err)
		}
		if r := c.Send(context.Background(), newMessage("ann@example.org")); r.Status != delivery.TempFailure || !errors.Is(r.Err, delivery.ErrClosed) {
			t.Errorf("Send after Close = %+v, want TempFailure ErrClosed", r)
		}
	})
}

// smtpReply is a relay's reply: code, and the enhanced code if given.
func smtpReply(code int, enhanced ...int) *gosmtp.SMTPError {
	e := &gosmtp.SMTPError{Code: code, EnhancedCode: gosmtp.NoEnhancedCode, Message: "test reply"}
	if len(enhanced) == 3 {
		e.EnhancedCode = gosmtp.EnhancedCode{enhanced[0], enhanced[1], enhanced[2]}
	}
	return e
}

// refusal is how the relay of refusingRelay refuses one recipient, at RCPT
// TO (rcpt) or at the end of the data (data), and the Result that must make.
type refusal struct {
	to         string
	rcpt, data *gosmtp.SMTPError
	status     delivery.Status
	code       int
	enhanced   string
	address    bool
}

var refusals = []refusal{
	{"r421@example.org", smtpReply(421, 4, 4, 5), nil, delivery.TempFailure, 421, "4.4.5", false},
	{"r450@example.org", smtpReply(450, 4, 2, 0), nil, delivery.TempFailure, 450, "4.2.0", false},
	{"r451@example.org", smtpReply(451, 4, 7, 1), nil, delivery.TempFailure, 451, "4.7.1", false},
	{"r550-511@example.org", smtpReply(550, 5, 1, 1), nil, delivery.PermFailure, 550, "5.1.1", true},
	{"r553-513@example.org", smtpReply(553, 5, 1, 3), nil, delivery.PermFailure, 553, "5.1.3", true},
	{"r550-521@example.org", smtpReply(550, 5, 2, 1), nil, delivery.PermFailure, 550, "5.2.1", true},
	{"r550-571@example.org", smtpReply(550, 5, 7, 1), nil, delivery.PermFailure, 550, "5.7.1", false},
	// Without an enhanced code, no guess from the text: see addressFailure.
	{"r550-plain@example.org", smtpReply(550), nil, delivery.PermFailure, 550, "", false},
	{"r553-plain@example.org", smtpReply(553), nil, delivery.PermFailure, 553, "", false},
	{"d421@example.org", nil, smtpReply(421, 4, 3, 2), delivery.TempFailure, 421, "4.3.2", false},
	{"d552-534@example.org", nil, smtpReply(552, 5, 3, 4), delivery.PermFailure, 552, "5.3.4", false},
	{"d554-571@example.org", nil, smtpReply(554, 5, 7, 1), delivery.PermFailure, 554, "5.7.1", false},
	{"d550-511@example.org", nil, smtpReply(550, 5, 1, 1), delivery.PermFailure, 550, "5.1.1", true},
	{"d451@example.org", nil, smtpReply(451, 4, 3, 0), delivery.TempFailure, 451, "4.3.0", false},
}

// refusingRelay is a relay that refuses the recipients of refusals as they
// say, and takes any other.
func refusingRelay(t *testing.T) *devmail.Server {
	rcpt := map[string]*gosmtp.SMTPError{}
	data := map[string]*gosmtp.SMTPError{}
	for _, r := range refusals {
		rcpt[r.to], data[r.to] = r.rcpt, r.data
	}
	return MustStart(t, devmail.Options{
		Reply:     func(_, to string) *gosmtp.SMTPError { return rcpt[to] },
		DataReply: func(_ string, to []string) *gosmtp.SMTPError { return data[to[0]] },
	})
}

// check reports r unless it is what tt says.
func (tt refusal) check(t *testing.T, r delivery.Result) {
	t.Helper()
	if r.Status != tt.status || r.Code != tt.code || r.Enhanced != tt.enhanced || r.AddressFailure != tt.address {
		t.Errorf("Send to %q = {%v %d %q address=%v}, want {%v %d %q address=%v} (err %v)",
			tt.to, r.Status, r.Code, r.Enhanced, r.AddressFailure, tt.status, tt.code, tt.enhanced, tt.address, r.Err)
	}
	if (r.Err == nil) != (tt.status == delivery.Sent) {
		t.Errorf("Send to %q: Err = %v", tt.to, r.Err)
	}
	var reply *textproto.Error
	if tt.code != 0 && (!errors.As(r.Err, &reply) || reply.Code != tt.code) {
		t.Errorf("Send to %q: Err %v does not hold the relay's reply", tt.to, r.Err)
	}
}

// TestConn_Send_Classify checks how replies become results. The server's
// answer is chosen by the recipient's address.
func TestConn_Send_Classify(t *testing.T) {
	t.Parallel()
	sender := MustSender(t, plainURL(refusingRelay(t)))
	tests := append([]refusal{{to: "ok@example.org", status: delivery.Sent}}, refusals...)
	for _, tt := range tests {
		t.Run(tt.to, func(t *testing.T) {
			t.Parallel()
			c := MustDial(t, sender)
			tt.check(t, c.Send(context.Background(), newMessage(tt.to)))
			// Whatever happened, the same Conn sends the next message.
			if r := c.Send(context.Background(), newMessage("ok@example.org")); r.Status != delivery.Sent {
				t.Errorf("Send after %q = %+v, want Sent", tt.to, r)
			}
		})
	}
}

func TestConn_Send_Dropped(t *testing.T) {
	t.Parallel()

	t.Run("AtData", func(t *testing.T) {
		t.Parallel()
		var drops atomic.Int32
		drops.Store(1)
		srv := MustStart(t, devmail.Options{
			DataReply: func(string, []string) *gosmtp.SMTPError {
				if drops.Add(-1) >= 0 {
					return devmail.Drop
				}
				return nil
			},
		})
		c := MustDial(t, MustSender(t, plainURL(srv)))
		r := c.Send(context.Background(), newMessage("ann@example.org"))
		if r.Status != delivery.TempFailure || r.Code != 0 || r.AddressFailure || r.Err == nil {
			t.Errorf("Send on a dropped connection = %+v, want TempFailure without a code", r)
		}
		if r := c.Send(context.Background(), newMessage("ann@example.org")); r.Status != delivery.Sent {
			t.Errorf("next Send = %+v, want Sent on a new connection", r)
		}
		if got := srv.Connections(); got != 2 {
			t.Errorf("Connections() = %d, want 2 (one redial)", got)
		}
		if got := srv.Caught(); got != 1 {
			t.Errorf("Caught() = %d, want 1", got)
		}
	})

	t.Run("AtRcpt", func(t *testing.T) {
		t.Parallel()
		srv := MustStart(t, devmail.Options{
			Reply: func(_, to string) *gosmtp.SMTPError {
				if to == "drop@example.org" {
					return devmail.Drop
				}
				return nil
			},
		})
		c := MustDial(t, MustSender(t, plainURL(srv)))
		if r := c.Send(context.Background(), newMessage("drop@example.org")); r.Status != delivery.TempFailure || r.Code != 0 {
			t.Errorf("Send = %+v, want TempFailure without a code", r)
		}
		if r := c.Send(context.Background(), newMessage("ann@example.org")); r.Status != delivery.Sent {
			t.Errorf("next Send = %+v, want Sent", r)
		}
	})

	// A relay that closed an idle connection cannot have taken anything, so
	// Send redials and sends at once instead of reporting a failure.
	t.Run("WhileIdle", func(t *testing.T) {
		t.Parallel()
		srv := MustStart(t, devmail.Options{})
		c := MustDial(t, MustSender(t, plainURL(srv)))
		if r := c.Send(context.Background(), newMessage("ann@example.org")); r.Status != delivery.Sent {
			t.Fatalf("Send = %+v", r)
		}
		srv.DropConnections()
		if r := c.Send(context.Background(), newMessage("bob@example.org")); r.Status != delivery.Sent {
			t.Errorf("Send after the relay hung up = %+v, want Sent", r)
		}
		if got := srv.Connections(); got != 2 {
			t.Errorf("Connections() = %d, want 2", got)
		}
	})

	t.Run("ErrUnreachable", func(t *testing.T) {
		t.Parallel()
		sender := MustSender(t, closedPortURL(t))
		if _, err := sender.Dial(context.Background()); err == nil {
			t.Error("Dial to a closed port succeeded")
		}
		if r := sender.NewConn().Send(context.Background(), newMessage("ann@example.org")); r.Status != delivery.TempFailure || r.Err == nil {
			t.Errorf("Send to a closed port = %+v, want TempFailure", r)
		}
	})
}

func TestConn_Send_Context(t *testing.T) {
	t.Parallel()

	t.Run("ErrCanceledBefore", func(t *testing.T) {
		t.Parallel()
		srv := MustStart(t, devmail.Options{})
		c := MustDial(t, MustSender(t, plainURL(srv)))
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if r := c.Send(ctx, newMessage("ann@example.org")); r.Status != delivery.TempFailure || !errors.Is(r.Err, context.Canceled) {
			t.Errorf("Send = %+v, want TempFailure context.Canceled", r)
		}
	})

	t.Run("ErrCanceledDuring", func(t *testing.T) {
		t.Parallel()
		reached := make(chan struct{})
		release := make(chan struct{})
		srv := MustStart(t, devmail.Options{
			DataReply: func(string, []string) *gosmtp.SMTPError {
				close(reached)
				<-release
				return nil
			},
		})
		t.Cleanup(func() { close(release) }) // runs before the server's Close
		c := MustDial(t, MustSender(t, plainURL(srv)))
		ctx, cancel := context.WithCancel(context.Background())
		go func() {
			<-reached
			cancel()
		}()
		if r := c.Send(ctx, newMessage("ann@example.org")); r.Status != delivery.TempFailure || !errors.Is(r.Err, context.Canceled) {
			t.Errorf("Send = %+v, want TempFailure context.Canceled", r)
		}
	})
}

func TestConn_Send_Reuse(t *testing.T) {
	t.Parallel()
	srv := MustStart(t, devmail.Options{})
	c := MustDial(t, MustSender(t, plainURL(srv)))
	const n = 25
	for i := range n {
		if r := c.Send(context.Background(), newMessage(fmt.Sprintf("reader%d@example.org", i))); r.Status != delivery.Sent {
			t.Fatalf("Send %d = %+v", i, r)
		}
	}
	if got := srv.Caught(); got != n {
		t.Errorf("Caught() = %d, want %d", got, n)
	}
	if got := srv.Connections(); got != 1 {
		t.Errorf("Connections() = %d, want 1", got)
	}
}

func TestConn_Send_Concurrent(t *testing.T) {
	t.Parallel()
	srv := MustStart(t, devmail.Options{})
	sender := MustSender(t, plainURL(srv))
	const workers, each = 8, 10
	var wg sync.WaitGroup
	errs := make(chan string, workers*each)
	for w := range workers {
		wg.Go(func() {
			c := sender.NewConn()
			defer c.Close()
			for i := range each {
				if r := c.Send(context.Background(), newMessage(fmt.Sprintf("w%d-%d@example.org", w, i))); r.Status != delivery.Sent {
					errs <- fmt.Sprintf("worker %d message %d: %+v", w, i, r)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.WaitFor(ctx, workers*each); err != nil {
		t.Fatal(err)
	}
	if got := srv.Connections(); got != workers {
		t.Errorf("Connections() = %d, want %d", got, workers)
	}
	seen := map[string]bool{}
	for _, m := range srv.Messages() {
		id := m.Header.Get("Message-ID")
		if seen[id] {
			t.Errorf("Message-ID %s seen twice", id)
		}
		seen[id] = true
	}
}

func TestSender_Auth(t *testing.T) {
	t.Parallel()
	srv := MustStart(t, devmail.Options{Username: "user", Password: "p@ss:word"})
	_, port, _ := net.SplitHostPort(srv.Addr())

	t.Run("OK", func(t *testing.T) {
		t.Parallel()
		for _, host := range []string{"127.0.0.1", "localhost"} {
			c := MustDial(t, MustSender(t, "smtp://user:p%40ss%3Aword@"+host+":"+port+"?tls=none"))
			if r := c.Send(context.Background(), newMessage("ann@example.org")); r.Status != delivery.Sent {
				t.Errorf("%s: Send = %+v", host, r)
			}
		}
	})

	t.Run("ErrWrongPassword", func(t *testing.T) {
		t.Parallel()
		sender := MustSender(t, "smtp://user:wrong@127.0.0.1:"+port+"?tls=none")
		_, err := sender.Dial(context.Background())
		if err == nil || !strings.Contains(err.Error(), "535") {
			t.Errorf("Dial = %v, want a 535 refusal", err)
		}
		if err != nil && strings.Contains(err.Error(), "wrong") {
			t.Errorf("Dial error shows the password: %v", err)
		}
		// A refused login is the relay's problem, not the message's.
		if r := sender.NewConn().Send(context.Background(), newMessage("ann@example.org")); r.Status != delivery.TempFailure || r.Code != 535 {
			t.Errorf("Send = %+v, want TempFailure 535", r)
		}
	})
}

func TestSender_TLS(t *testing.T) {
	t.Parallel()
	cert := mustCert(t)

	t.Run("StartTLS", func(t *testing.T) {
		t.Parallel()
		srv := MustStart(t, devmail.Options{TLSConfig: cert, Username: "user", Password: "secret"})
		c := MustDial(t, MustSender(t, "smtp://user:secret@"+srv.Addr()+"?tls=starttls"))
		if r := c.Send(context.Background(), newMessage("ann@example.org")); r.Status != delivery.Sent {
			t.Errorf("Send = %+v", r)
		}
	})

	t.Run("Implicit", func(t *testing.T) {
		t.Parallel()
		srv := MustStart(t, devmail.Options{TLSConfig: cert, ImplicitTLS: true, Username: "user", Password: "secret"})
		c := MustDial(t, MustSender(t, "smtps://user:secret@"+srv.Addr()))
		for range 3 {
			if r := c.Send(context.Background(), newMessage("ann@example.org")); r.Status != delivery.Sent {
				t.Errorf("Send = %+v", r)
			}
		}
		if got := srv.Connections(); got != 1 {
			t.Errorf("Connections() = %d, want 1", got)
		}
	})

	t.Run("ErrNoStartTLS", func(t *testing.T) {
		t.Parallel()
		srv := MustStart(t, devmail.Options{})
		_, err := MustSender(t, "smtp://"+srv.Addr()+"?tls=starttls").Dial(context.Background())
		if err == nil || !strings.Contains(err.Error(), "STARTTLS") {
			t.Errorf("Dial = %v, want a refusal to go on without STARTTLS", err)
		}
	})

	t.Run("ErrUntrustedCertificate", func(t *testing.T) {
		t.Parallel()
		srv := MustStart(t, devmail.Options{TLSConfig: cert, ImplicitTLS: true})
		sender, err := delivery.NewSender(delivery.Config{URL: "smtps://" + srv.Addr(), Timeout: 10 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := sender.Dial(context.Background()); err == nil || !strings.Contains(err.Error(), "certificate") {
			t.Errorf("Dial = %v, want a certificate error", err)
		}
	})
}

// mustCert makes a self-signed certificate for 127.0.0.1 and localhost.
func mustCert(tb testing.TB) *tls.Config {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "devmail test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		tb.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}, MinVersion: tls.VersionTLS12}
}

func TestNewMessageID(t *testing.T) {
	t.Parallel()
	re := regexp.MustCompile(`^<[0-9a-f]{16}\.[0-9a-f]{16}@example\.com>$`)
	seen := map[string]bool{}
	for range 1000 {
		id := delivery.NewMessageID("example.com")
		if !re.MatchString(id) {
			t.Fatalf("NewMessageID = %q, want %s", id, re)
		}
		if seen[id] {
			t.Fatalf("NewMessageID repeated %q", id)
		}
		seen[id] = true
	}
	for _, domain := range []string{"", "bad domain", "a>b", "x@y"} {
		if id := delivery.NewMessageID(domain); !strings.HasSuffix(id, "@localhost>") {
			t.Errorf("NewMessageID(%q) = %q, want @localhost", domain, id)
		}
	}
}

func TestStatus_String(t *testing.T) {
	t.Parallel()
	for s, want := range map[delivery.Status]string{delivery.Sent: "sent", delivery.TempFailure: "temporary failure", delivery.PermFailure: "permanent failure"} {
		if got := s.String(); got != want {
			t.Errorf("%d.String() = %q, want %q", int(s), got, want)
		}
	}
}

// TestConn_Send_NoPipelining: with a relay that does not offer PIPELINING,
// each command waits for the reply to the one before, and a refusal at RCPT
// is reported as such.
func TestConn_Send_NoPipelining(t *testing.T) {
	t.Parallel()
	relay := startScripted(t, false, nil)
	c := MustDial(t, MustSender(t, relay.url()))
	if r := c.Send(context.Background(), newMessage("ann@example.org")); r.Status != delivery.Sent {
		t.Fatalf("Send = %+v, want Sent", r)
	}
	if msg := relay.lastText(); !strings.Contains(msg, "Hello in text.") || !strings.Contains(msg, "To: ") {
		t.Fatalf("relay got %q", msg)
	}
	r := c.Send(context.Background(), newMessage("nobody@example.org"))
	if r.Status != delivery.PermFailure || r.Code != 550 {
		t.Fatalf("Send to a refused address = %+v, want a 550", r)
	}
	if r := c.Send(context.Background(), newMessage("bob@example.org")); r.Status != delivery.Sent {
		t.Fatalf("Send after a refusal = %+v, want Sent", r)
	}
	// SendAll too waits for each reply.
	rs := c.SendAll(context.Background(), nil, []*delivery.Message{
		newMessage("carl@example.org"), newMessage("nobody@example.org"), newMessage("dave@example.org"),
	})
	if rs[0].Status != delivery.Sent || rs[1].Code != 550 || rs[2].Status != delivery.Sent {
		t.Fatalf("SendAll = %+v, want sent, 550, sent", rs)
	}
	relay.mustHaveTaken(t, "1:ann@example.org", "1:bob@example.org", "1:carl@example.org", "1:dave@example.org")
}
