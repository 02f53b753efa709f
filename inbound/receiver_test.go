package inbound

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/textproto"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// receiverNow is the injected clock of every test Receiver.
var receiverNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// receiverMessage is a bounce as a remote server sends it: CRLF lines, a
// line that starts with a dot (dot-stuffed on the wire) and 8-bit text.
const receiverMessage = "From: Mail Delivery System <MAILER-DAEMON@mx.example.org>\r\n" +
	"Subject: Undelivered Mail Returned to Sender\r\n" +
	"Content-Type: text/plain; charset=utf-8\r\n" +
	"\r\n" +
	".a line that starts with a dot\r\n" +
	"Grüße, the message could not be delivered.\r\n"

// receiverCalls records the messages a test Receiver handed to Handle.
type receiverCalls struct {
	mu    sync.Mutex
	mails []Mail
}

func (c *receiverCalls) add(m Mail) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.mails = append(c.mails, m)
	return len(c.mails)
}

func (c *receiverCalls) all() []Mail {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.mails)
}

// startReceiver serves cfg on 127.0.0.1:0 until the test ends, and returns
// the receiver, its address and a wait for what Serve returns.
func startReceiver(tb testing.TB, cfg ReceiverConfig) (*Receiver, string, func() error) {
	tb.Helper()
	if cfg.Addresses == nil {
		cfg.Addresses = mustAddresses(tb, "bounces.example.com")
	}
	if cfg.Handle == nil {
		cfg.Handle = func(context.Context, Mail) error { return nil }
	}
	cfg.Hostname = "mx.bounces.example.com"
	cfg.Now = func() time.Time { return receiverNow }
	r, err := NewReceiver(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	var serveErr error
	done := make(chan struct{})
	go func() {
		serveErr = r.Serve(ln)
		close(done)
	}()
	served := func() error {
		<-done
		return serveErr
	}
	tb.Cleanup(func() {
		if err := r.Shutdown(receiverCtx(tb)); err != nil {
			tb.Errorf("Shutdown: %v", err)
		}
		if err := served(); !errors.Is(err, ErrReceiverClosed) {
			tb.Errorf("Serve returned %v, want ErrReceiverClosed", err)
		}
	})
	return r, ln.Addr().String(), served
}

func receiverCtx(tb testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	tb.Cleanup(cancel)
	return ctx
}

// receiverReplies are the replies a client got, each as "code" for success
// or "code x.y.z" for a refusal.
type receiverReplies struct {
	Mail string
	Rcpt []string
	Data string
}

func receiverReply(err error) string {
	if err == nil {
		return "250"
	}
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		return fmt.Sprintf("%d %d.%d.%d", se.Code, se.EnhancedCode[0], se.EnhancedCode[1], se.EnhancedCode[2])
	}
	return "error: " + err.Error()
}

// receiverSend sends one message through c with go-smtp's client, going on
// to DATA whatever the replies to RCPT were. It may run on a goroutine of
// its own.
func receiverSend(c *smtp.Client, from string, size int64, to []string, data string) receiverReplies {
	var got receiverReplies
	if got.Mail = receiverReply(c.Mail(from, &smtp.MailOptions{Size: size})); got.Mail != "250" {
		return got
	}
	for _, rcpt := range to {
		got.Rcpt = append(got.Rcpt, receiverReply(c.Rcpt(rcpt, nil)))
	}
	w, err := c.Data()
	if err != nil {
		got.Data = receiverReply(err)
		return got
	}
	if _, err := w.Write([]byte(data)); err != nil {
		got.Data = "write: " + err.Error()
		return got
	}
	got.Data = receiverReply(w.Close())
	return got
}

func receiverDial(tb testing.TB, addr string) *smtp.Client {
	tb.Helper()
	c, err := smtp.Dial(addr)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = c.Close() })
	if err := c.Hello("mx.example.org"); err != nil {
		tb.Fatalf("EHLO: %v", err)
	}
	return c
}

func TestReceiver_Serve(t *testing.T) {
	t.Parallel()
	a := mustAddresses(t, "bounces.example.com")
	other, err := NewAddresses([]byte(strings.Repeat("o", 32)), "bounces.example.com")
	if err != nil {
		t.Fatal(err)
	}
	// altered changes one character of the token of a valid address.
	altered := func(addr string) string {
		b := []byte(addr)
		if b[5] == 'a' {
			b[5] = 'b'
		} else {
			b[5] = 'a'
		}
		return string(b)
	}
	otherDomain := strings.Replace(a.Bounce(6), "@bounces.example.com", "@example.org", 1)
	oversize := receiverMessage + strings.Repeat(strings.Repeat("x", 70)+"\r\n", 30)
	longLine := receiverMessage + strings.Repeat("x", 3000) + "\r\n"
	var (
		ok      = []string{"250"}
		refused = []string{"550 5.1.1"}
	)

	for _, tc := range []struct {
		name   string
		cfg    ReceiverConfig
		handle func(n int, m Mail) error // n counts the calls from 1
		from   string
		size   int64 // for MAIL FROM's SIZE; 0 for none
		to     []string
		data   string
		want   receiverReplies
		// handled is the recipients Handle was given, once; nil when it
		// must not be called.
		handled []Address
		// next sends another message on a new connection, which must be
		// accepted.
		next bool
	}{
		{name: "BounceNullSender", to: []string{a.Bounce(1)},
			want: receiverReplies{"250", ok, "250"}, handled: []Address{{BounceAddress, 1}}},
		{name: "UpperCase", to: []string{strings.ToUpper(a.Bounce(2))},
			want: receiverReplies{"250", ok, "250"}, handled: []Address{{BounceAddress, 2}}},
		{name: "Unsubscribe", from: "ann@example.org", to: []string{a.Unsubscribe(3)},
			want: receiverReplies{"250", ok, "250"}, handled: []Address{{UnsubscribeAddress, 3}}},
		{name: "Reply", from: "ann@example.org", to: []string{a.Reply(4)},
			want: receiverReplies{"250", ok, "250"}, handled: []Address{{ReplyAddress, 4}}},
		{name: "ValidAndForged", to: []string{a.Bounce(5), altered(a.Bounce(5))},
			want: receiverReplies{"250", []string{"250", "550 5.1.1"}, "250"}, handled: []Address{{BounceAddress, 5}}},
		{name: "SameTwice", to: []string{a.Bounce(7), strings.ToUpper(a.Bounce(7))},
			want: receiverReplies{"250", []string{"250", "250"}, "250"}, handled: []Address{{BounceAddress, 7}}},
		{name: "TooManyRecipients", cfg: ReceiverConfig{MaxRecipients: 2}, to: []string{a.Bounce(1), a.Bounce(2), a.Bounce(3)},
			want:    receiverReplies{"250", []string{"250", "250", "452 4.5.3"}, "250"},
			handled: []Address{{BounceAddress, 1}, {BounceAddress, 2}}},
		{name: "OtherDomain", to: []string{otherDomain}, want: receiverReplies{"250", refused, "502 5.5.1"}},
		{name: "Relay", from: "spammer@example.net", to: []string{"victim@example.com"}, want: receiverReplies{"250", refused, "502 5.5.1"}},
		{name: "Postmaster", to: []string{"postmaster@bounces.example.com"}, want: receiverReplies{"250", refused, "502 5.5.1"}},
		{name: "AlteredToken", to: []string{altered(a.Bounce(8))}, want: receiverReplies{"250", refused, "502 5.5.1"}},
		{name: "OtherSecret", to: []string{other.Bounce(9)}, want: receiverReplies{"250", refused, "502 5.5.1"}},
		{name: "NoRcpt", want: receiverReplies{"250", nil, "502 5.5.1"}},
		{name: "TooLarge", cfg: ReceiverConfig{MaxSize: 1024}, to: []string{a.Bounce(10)}, data: oversize,
			want: receiverReplies{"250", ok, "552 5.3.4"}},
		{name: "LineTooLong", to: []string{a.Bounce(10)}, data: longLine,
			want: receiverReplies{"250", ok, "554 5.6.0"}},
		{name: "SizeOverMax", cfg: ReceiverConfig{MaxSize: 1024}, size: 1025, to: []string{a.Bounce(11)},
			want: receiverReplies{Mail: "552 5.3.4"}},
		{name: "SizeUnderMax", cfg: ReceiverConfig{MaxSize: 1024}, size: 500, to: []string{a.Bounce(12)},
			want: receiverReplies{"250", ok, "250"}, handled: []Address{{BounceAddress, 12}}},
		{name: "HandleError", to: []string{a.Bounce(13)},
			handle: func(int, Mail) error { return errors.New("database down") },
			want:   receiverReplies{"250", ok, "451 4.3.0"}, handled: []Address{{BounceAddress, 13}}},
		{name: "HandlePanic", to: []string{a.Bounce(14)},
			handle: func(n int, _ Mail) error {
				if n == 1 {
					panic("handler bug")
				}
				return nil
			},
			want: receiverReplies{"250", ok, "451 4.3.0"}, handled: []Address{{BounceAddress, 14}}, next: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			calls := &receiverCalls{}
			cfg := tc.cfg
			cfg.Addresses = a
			cfg.Handle = func(_ context.Context, m Mail) error {
				n := calls.add(m)
				if tc.handle != nil {
					return tc.handle(n, m)
				}
				return nil
			}
			_, addr, _ := startReceiver(t, cfg)
			data := tc.data
			if data == "" {
				data = receiverMessage
			}

			got := receiverSend(receiverDial(t, addr), tc.from, tc.size, tc.to, data)
			if !slices.Equal(got.Rcpt, tc.want.Rcpt) || got.Mail != tc.want.Mail || got.Data != tc.want.Data {
				t.Errorf("MAIL FROM:<%s> RCPT TO %q: replies %+v, want %+v", tc.from, tc.to, got, tc.want)
			}
			mails := calls.all()
			if tc.handled == nil {
				if len(mails) != 0 {
					t.Errorf("RCPT TO %q: Handle called with %+v, want no call", tc.to, mails[0].To)
				}
				return
			}
			if len(mails) != 1 {
				t.Fatalf("RCPT TO %q: Handle called %d times, want once", tc.to, len(mails))
			}
			m := mails[0]
			if m.From != tc.from || !slices.Equal(m.To, tc.handled) || string(m.Data) != data ||
				!m.Received.Equal(receiverNow) || !strings.HasPrefix(m.RemoteAddr, "127.0.0.1:") {
				t.Errorf("RCPT TO %q: Handle got From %q To %+v Received %v RemoteAddr %q Data %q;\nwant From %q To %+v Received %v Data %q",
					tc.to, m.From, m.To, m.Received, m.RemoteAddr, m.Data, tc.from, tc.handled, receiverNow, data)
			}

			if tc.next {
				got := receiverSend(receiverDial(t, addr), "", 0, []string{a.Bounce(99)}, data)
				if want := (receiverReplies{"250", ok, "250"}); !slices.Equal(got.Rcpt, want.Rcpt) || got.Data != want.Data {
					t.Errorf("the next connection got %+v, want %+v", got, want)
				}
			}
		})
	}
}

func TestReceiver_Extensions(t *testing.T) {
	t.Parallel()
	_, addr, _ := startReceiver(t, ReceiverConfig{MaxSize: 4096})
	c := receiverDial(t, addr)
	for _, tc := range []struct {
		ext   string
		ok    bool
		param string
	}{
		{"SIZE", true, "4096"},
		{"8BITMIME", true, ""},
		{"SMTPUTF8", true, ""},
		{"AUTH", false, ""},
		{"STARTTLS", false, ""}, // no TLS configured
	} {
		ok, param := c.Extension(tc.ext)
		if ok != tc.ok || param != tc.param {
			t.Errorf("Extension(%q) = %v, %q; want %v, %q", tc.ext, ok, param, tc.ok, tc.param)
		}
	}
}

// receiverCert returns a self-signed certificate and key for
// mx.bounces.example.com in PEM, and a pool that trusts it.
func receiverCert(tb testing.TB) (certPEM, keyPEM []byte, pool *x509.CertPool) {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "mx.bounces.example.com"},
		DNSNames:     []string{"mx.bounces.example.com"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		tb.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		tb.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		tb.Fatal(err)
	}
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), pool
}

func TestReceiver_StartTLS(t *testing.T) {
	t.Parallel()
	certPEM, keyPEM, pool := receiverCert(t)
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	tlsCfg, err := LoadTLS(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	a := mustAddresses(t, "bounces.example.com")
	calls := &receiverCalls{}
	_, addr, _ := startReceiver(t, ReceiverConfig{Addresses: a, TLS: tlsCfg, Handle: func(_ context.Context, m Mail) error {
		calls.add(m)
		return nil
	}})

	if ok, _ := receiverDial(t, addr).Extension("STARTTLS"); !ok {
		t.Fatal("STARTTLS not offered")
	}
	c, err := smtp.DialStartTLS(addr, &tls.Config{RootCAs: pool, ServerName: "mx.bounces.example.com"})
	if err != nil {
		t.Fatalf("STARTTLS: %v", err)
	}
	defer c.Close()
	got := receiverSend(c, "", 0, []string{a.Bounce(1)}, receiverMessage)
	if got.Data != "250" {
		t.Fatalf("replies %+v, want the message accepted", got)
	}
	state, ok := c.TLSConnectionState()
	if !ok || state.Version < tls.VersionTLS12 {
		t.Errorf("TLS state %v, %x; want TLS 1.2 or later", ok, state.Version)
	}
	if ok, _ := c.Extension("STARTTLS"); ok {
		t.Error("STARTTLS offered again inside TLS")
	}
	if mails := calls.all(); len(mails) != 1 || string(mails[0].Data) != receiverMessage {
		t.Errorf("Handle got %d messages, want the one sent", len(mails))
	}
}

func TestReceiver_MaxSessions(t *testing.T) {
	t.Parallel()
	r, addr, _ := startReceiver(t, ReceiverConfig{MaxSessions: 1})
	first := receiverDial(t, addr)

	second, err := smtp.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	if got := receiverReply(second.Hello("mx.example.org")); got != "421 4.3.2" {
		t.Errorf("a second connection got %s, want 421 4.3.2", got)
	}

	if err := first.Quit(); err != nil {
		t.Fatal(err)
	}
	if err := r.waitSessions(receiverCtx(t), 0); err != nil {
		t.Fatal(err)
	}
	receiverDial(t, addr) // a session is free again
}

func TestReceiver_ReadTimeout(t *testing.T) {
	t.Parallel()
	_, addr, _ := startReceiver(t, ReceiverConfig{ReadTimeout: 20 * time.Millisecond})
	c, err := textproto.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, _, err := c.ReadResponse(220); err != nil {
		t.Fatal(err)
	}
	// The client says nothing; the next reply is the receiver giving up.
	if code, msg, err := c.ReadResponse(421); err != nil {
		t.Errorf("an idle session got %d %s, %v; want 421", code, msg, err)
	}
}

func TestReceiver_Shutdown(t *testing.T) {
	t.Parallel()
	a := mustAddresses(t, "bounces.example.com")

	t.Run("WaitsForData", func(t *testing.T) {
		t.Parallel()
		entered, release := make(chan struct{}), make(chan struct{})
		r, addr, served := startReceiver(t, ReceiverConfig{Addresses: a, Handle: func(context.Context, Mail) error {
			close(entered)
			<-release
			return nil
		}})

		idle, err := textproto.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer idle.Close()
		if _, _, err := idle.ReadResponse(220); err != nil {
			t.Fatal(err)
		}

		sent := make(chan receiverReplies, 1)
		c := receiverDial(t, addr)
		go func() { sent <- receiverSend(c, "", 0, []string{a.Bounce(1)}, receiverMessage) }()
		<-entered

		shut := make(chan error, 1)
		go func() { shut <- r.Shutdown(receiverCtx(t)) }()

		if code, msg, err := idle.ReadResponse(421); err != nil {
			t.Errorf("the idle session got %d %s, %v; want 421", code, msg, err)
		}
		if err := served(); !errors.Is(err, ErrReceiverClosed) {
			t.Errorf("Serve returned %v, want ErrReceiverClosed", err)
		}
		if nc, err := net.Dial("tcp", addr); err == nil {
			nc.Close()
			t.Error("the port still takes connections after Shutdown")
		}
		select {
		case err := <-shut:
			t.Fatalf("Shutdown returned %v while a message was being handled", err)
		default:
		}

		close(release)
		if got := <-sent; got.Data != "250" {
			t.Errorf("the message being handled got %+v, want 250", got)
		}
		if err := <-shut; err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})

	t.Run("MidData", func(t *testing.T) {
		t.Parallel()
		calls := &receiverCalls{}
		r, addr, served := startReceiver(t, ReceiverConfig{Addresses: a, Handle: func(_ context.Context, m Mail) error {
			calls.add(m)
			return nil
		}})
		c, err := textproto.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, _, err := c.ReadResponse(220); err != nil {
			t.Fatal(err)
		}
		for _, s := range []struct {
			cmd  string
			want int
		}{{"EHLO mx.example.org", 250}, {"MAIL FROM:<>", 250}, {"RCPT TO:<" + a.Bounce(1) + ">", 250}, {"DATA", 354}} {
			if err := c.PrintfLine("%s", s.cmd); err != nil {
				t.Fatal(err)
			}
			if code, msg, err := c.ReadResponse(s.want); err != nil {
				t.Fatalf("%q: got %d %s, want %d", s.cmd, code, msg, s.want)
			}
		}
		half := len(receiverMessage) / 2
		w := c.DotWriter() // dot-stuffs, as the message has a line that starts with a dot
		if _, err := io.WriteString(w, receiverMessage[:half]); err != nil || c.W.Flush() != nil {
			t.Fatal(err)
		}

		shut := make(chan error, 1)
		go func() { shut <- r.Shutdown(receiverCtx(t)) }()
		// Serve returns once the listener is closed, which Shutdown does
		// after draining every session.
		if err := served(); !errors.Is(err, ErrReceiverClosed) {
			t.Errorf("Serve returned %v, want ErrReceiverClosed", err)
		}

		if _, err := io.WriteString(w, receiverMessage[half:]); err != nil || w.Close() != nil {
			t.Fatal(err)
		}
		if code, msg, err := c.ReadResponse(250); err != nil {
			t.Errorf("the message sent across Shutdown got %d %s, want 250", code, msg)
		}
		if code, _, err := c.ReadResponse(421); err != nil {
			t.Errorf("after the message, the drained session got %d, %v; want 421", code, err)
		}
		if err := <-shut; err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if mails := calls.all(); len(mails) != 1 || string(mails[0].Data) != receiverMessage {
			t.Errorf("Handle got %d messages, want the one sent", len(mails))
		}
	})

	t.Run("BeforeServe", func(t *testing.T) {
		t.Parallel()
		r, err := NewReceiver(ReceiverConfig{Addresses: a, Handle: func(context.Context, Mail) error { return nil }})
		if err != nil {
			t.Fatal(err)
		}
		if err := r.Shutdown(receiverCtx(t)); err != nil {
			t.Fatalf("Shutdown: %v", err)
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		if err := r.Serve(ln); !errors.Is(err, ErrReceiverClosed) {
			t.Errorf("Serve after Shutdown = %v, want ErrReceiverClosed", err)
		}
		if nc, err := net.Dial("tcp", ln.Addr().String()); err == nil {
			nc.Close()
			t.Error("Serve after Shutdown left the port open")
		}
	})

	t.Run("ContextEnds", func(t *testing.T) {
		t.Parallel()
		entered := make(chan struct{})
		handleCtx := make(chan error, 1)
		r, addr, _ := startReceiver(t, ReceiverConfig{Addresses: a, Handle: func(ctx context.Context, _ Mail) error {
			close(entered)
			<-ctx.Done()
			handleCtx <- ctx.Err()
			return ctx.Err()
		}})
		sent := make(chan receiverReplies, 1)
		c := receiverDial(t, addr)
		go func() { sent <- receiverSend(c, "", 0, []string{a.Bounce(1)}, receiverMessage) }()
		<-entered

		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := r.Shutdown(ctx); !errors.Is(err, context.Canceled) {
			t.Errorf("Shutdown with an ended ctx = %v, want context.Canceled", err)
		}
		if err := <-handleCtx; !errors.Is(err, context.Canceled) {
			t.Errorf("Handle's ctx ended with %v, want context.Canceled", err)
		}
		if got := <-sent; got.Data == "250" {
			t.Errorf("a message cut off by Shutdown got %+v, want no 250", got)
		}
	})
}

func TestNewReceiver_Bad(t *testing.T) {
	t.Parallel()
	a := mustAddresses(t, "bounces.example.com")
	handle := func(context.Context, Mail) error { return nil }
	for _, tc := range []struct {
		name string
		cfg  ReceiverConfig
		want string // in the error
	}{
		{"NoAddresses", ReceiverConfig{Handle: handle}, "Addresses"},
		{"NoHandle", ReceiverConfig{Addresses: a}, "Handle"},
		{"NegativeMaxSize", ReceiverConfig{Addresses: a, Handle: handle, MaxSize: -1}, "MaxSize"},
		{"NegativeMaxSessions", ReceiverConfig{Addresses: a, Handle: handle, MaxSessions: -1}, "MaxSessions"},
		{"NegativeReadTimeout", ReceiverConfig{Addresses: a, Handle: handle, ReadTimeout: -time.Second}, "ReadTimeout"},
		{"HostnameWithCRLF", ReceiverConfig{Addresses: a, Handle: handle, Hostname: "mx.example.com\r\n250 OK"}, "Hostname"},
	} {
		_, err := NewReceiver(tc.cfg)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: NewReceiver(%+v) = %v, want an error naming %s", tc.name, tc.cfg, err, tc.want)
		}
	}
}

func TestLoadTLS_Bad(t *testing.T) {
	t.Parallel()
	certPEM, keyPEM, _ := receiverCert(t)
	_, otherKey, _ := receiverCert(t)
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cert, key, other := write("cert.pem", certPEM), write("key.pem", keyPEM), write("other.pem", otherKey)
	for _, tc := range []struct{ cert, key string }{
		{filepath.Join(dir, "missing.pem"), key},
		{cert, filepath.Join(dir, "missing.pem")},
		{cert, other}, // a key of another certificate
		{key, cert},   // swapped
	} {
		if _, err := LoadTLS(tc.cert, tc.key); err == nil || !strings.Contains(err.Error(), tc.cert) {
			t.Errorf("LoadTLS(%q, %q) = %v, want an error naming the files", tc.cert, tc.key, err)
		}
	}
}

// TestReceiver_Commands speaks SMTP line by line, for what go-smtp's client
// does not send: commands out of order, extensions not offered, and BDAT
// (RFC 3030), which go-smtp offers as CHUNKING.
func TestReceiver_Commands(t *testing.T) {
	t.Parallel()
	a := mustAddresses(t, "bounces.example.com")
	rcpt := "RCPT TO:<" + a.Bounce(1) + ">"
	type step struct {
		cmd  string // written with CRLF after it
		want int
	}
	for _, tc := range []struct {
		name    string
		cfg     ReceiverConfig
		steps   []step
		handled int    // calls of Handle
		data    string // the data of its last call, when set
	}{
		{name: "NestedMail", steps: []step{{"MAIL FROM:<>", 250}, {"MAIL FROM:<ann@example.org>", 503}}},
		{name: "RcptBeforeMail", steps: []step{{rcpt, 502}}},
		{name: "RsetClears", steps: []step{{"MAIL FROM:<>", 250}, {rcpt, 250}, {"RSET", 250}, {"DATA", 502}}},
		{name: "MailAfterRset", steps: []step{{"MAIL FROM:<>", 250}, {"RSET", 250}, {"MAIL FROM:<>", 250}}},
		{name: "Auth", steps: []step{{"AUTH PLAIN AGFubgBzZWNyZXQ=", 523}}},
		{name: "DSNNotify", steps: []step{{"MAIL FROM:<>", 250}, {rcpt + " NOTIFY=NEVER", 504}}},
		{name: "SMTPUTF8", steps: []step{{"MAIL FROM:<grüße@example.org> SMTPUTF8", 250}, {rcpt, 250}}},
		{name: "Bdat", steps: []step{{"MAIL FROM:<>", 250}, {rcpt, 250}, {"BDAT 7 LAST\r\nhello", 250}}, handled: 1},
		{name: "BdatTwoChunks", steps: []step{{"MAIL FROM:<>", 250}, {rcpt, 250}, {"BDAT 7\r\nhello", 250}, {"BDAT 7 LAST\r\nworld", 250}}, handled: 1, data: "hello\r\nworld\r\n"},
		{name: "BdatNoRcpt", steps: []step{{"MAIL FROM:<>", 250}, {"RCPT TO:<postmaster@bounces.example.com>", 550}, {"BDAT 7 LAST\r\nhello", 502}}},
		{name: "BdatTooLarge", cfg: ReceiverConfig{MaxSize: 1024},
			steps: []step{{"MAIL FROM:<>", 250}, {rcpt, 250}, {"BDAT 2000 LAST\r\n" + strings.Repeat("x", 1998), 552}}},
		{name: "BdatRset", steps: []step{{"MAIL FROM:<>", 250}, {rcpt, 250}, {"BDAT 7\r\nhello", 250}, {"RSET", 250}, {"MAIL FROM:<>", 250}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			calls := &receiverCalls{}
			cfg := tc.cfg
			cfg.Addresses = a
			cfg.Handle = func(_ context.Context, m Mail) error {
				calls.add(m)
				return nil
			}
			_, addr, _ := startReceiver(t, cfg)
			c, err := textproto.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if _, _, err := c.ReadResponse(220); err != nil {
				t.Fatal(err)
			}
			steps := append([]step{{"EHLO mx.example.org", 250}}, tc.steps...)
			for _, s := range steps {
				if err := c.PrintfLine("%s", s.cmd); err != nil {
					t.Fatal(err)
				}
				if code, msg, _ := c.ReadResponse(0); code != s.want {
					t.Errorf("%q: got %d %s, want %d", s.cmd, code, msg, s.want)
				}
			}
			mails := calls.all()
			if len(mails) != tc.handled {
				t.Fatalf("%s: Handle called %d times, want %d", tc.name, len(mails), tc.handled)
			}
			if tc.data != "" && string(mails[len(mails)-1].Data) != tc.data {
				t.Errorf("%s: Handle got %q, want %q", tc.name, mails[len(mails)-1].Data, tc.data)
			}
		})
	}
}
