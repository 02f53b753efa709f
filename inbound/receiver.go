package inbound

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-smtp"
)

// Mail is one message accepted for addresses of the bounce domain.
type Mail struct {
	From       string    // the envelope sender; empty for the null sender <> of bounces (RFC 5321 4.5.5)
	To         []Address // the verified recipients, each once, in the order given
	Data       []byte    // the whole message as received (headers and body), dot-stuffing removed
	RemoteAddr string    // the sending server's host:port
	Received   time.Time // when the end of the data arrived
}

// The defaults of ReceiverConfig.
const (
	DefaultMaxSize       = 10 << 20
	DefaultMaxRecipients = 20
	DefaultMaxSessions   = 100
	// DefaultReadTimeout is the server timeout of RFC 5321 4.5.3.2.7. It
	// bounds the wait for each command and, from the DATA command on, for
	// the whole message.
	DefaultReadTimeout  = 5 * time.Minute
	DefaultWriteTimeout = time.Minute
)

// ReceiverConfig configures a Receiver. Addresses and Handle are required;
// a zero number or duration means its default.
type ReceiverConfig struct {
	// Addresses verifies every RCPT TO: only the addresses it made are
	// taken, so the receiver is never a relay.
	Addresses *Addresses
	// Hostname is the name in the greeting and the EHLO reply; empty means
	// the host's name.
	Hostname string
	// TLS, when set, offers STARTTLS (RFC 3207); nil offers no TLS.
	TLS *tls.Config

	// MaxSize bounds a message in bytes: advertised in the EHLO reply (SIZE,
	// RFC 1870), a larger SIZE at MAIL and larger data are refused with 552.
	MaxSize int64
	// MaxRecipients bounds the accepted recipients of one message; more are
	// refused with 452 (RFC 5321 4.5.3.1.10).
	MaxRecipients int
	// MaxSessions bounds the connections open at once; one more is answered
	// 421 at connect and closed.
	MaxSessions int
	// ReadTimeout and WriteTimeout bound the wait for each command and
	// reply; an idle session is closed with 421.
	ReadTimeout, WriteTimeout time.Duration

	// Handle takes each accepted message before the reply to its data, so
	// the sender is told 250 only once Handle has it. It returns nil also for
	// a message it drops on purpose (one it cannot make sense of); an error
	// (or a panic) is answered 451, which makes the sender try again later,
	// so it is for failures that pass, such as the database being down. It
	// is called from many sessions at once; its ctx ends when Shutdown gives
	// up waiting.
	Handle func(ctx context.Context, m Mail) error

	// Logger receives refused and failed messages; nil discards them.
	Logger *slog.Logger
	// Now stamps Mail.Received; nil means time.Now.
	Now func() time.Time
}

// ErrReceiverClosed is what Serve returns once Shutdown has been called.
var ErrReceiverClosed = errors.New("inbound: receiver closed")

// Receiver is the SMTP server (RFC 5321) of the bounce domain: it takes mail
// for the addresses Addresses made, and for nothing else, and hands each
// message to ReceiverConfig.Handle. It offers no AUTH and relays nothing. Its
// methods are safe for concurrent use.
type Receiver struct {
	cfg    ReceiverConfig
	log    *slog.Logger
	srv    *smtp.Server
	ctx    context.Context // Handle's; cancelled when Shutdown gives up
	cancel context.CancelFunc

	mu        sync.Mutex
	closing   bool // Shutdown has begun
	listeners map[net.Listener]struct{}
	conns     map[*receiverConn]struct{}
	changed   chan struct{} // closed and replaced whenever a connection closes
}

// NewReceiver checks cfg, fills in its defaults and returns the Receiver.
// Its error names the field that is missing or wrong.
func NewReceiver(cfg ReceiverConfig) (*Receiver, error) {
	switch {
	case cfg.Addresses == nil:
		return nil, errors.New("inbound: ReceiverConfig.Addresses is required")
	case cfg.Handle == nil:
		return nil, errors.New("inbound: ReceiverConfig.Handle is required")
	case cfg.MaxSize < 0, cfg.MaxRecipients < 0, cfg.MaxSessions < 0:
		return nil, errors.New("inbound: ReceiverConfig.MaxSize, MaxRecipients and MaxSessions must not be negative")
	case cfg.ReadTimeout < 0, cfg.WriteTimeout < 0:
		return nil, errors.New("inbound: ReceiverConfig.ReadTimeout and WriteTimeout must not be negative")
	case strings.ContainsAny(cfg.Hostname, " \t\r\n"):
		// The hostname goes into reply lines, which must not be split.
		return nil, fmt.Errorf("inbound: ReceiverConfig.Hostname %q is not a host name", cfg.Hostname)
	}
	if cfg.Hostname == "" {
		cfg.Hostname, _ = os.Hostname()
		if cfg.Hostname == "" {
			cfg.Hostname = "localhost"
		}
	}
	if cfg.MaxSize == 0 {
		cfg.MaxSize = DefaultMaxSize
	}
	if cfg.MaxRecipients == 0 {
		cfg.MaxRecipients = DefaultMaxRecipients
	}
	if cfg.MaxSessions == 0 {
		cfg.MaxSessions = DefaultMaxSessions
	}
	if cfg.ReadTimeout == 0 {
		cfg.ReadTimeout = DefaultReadTimeout
	}
	if cfg.WriteTimeout == 0 {
		cfg.WriteTimeout = DefaultWriteTimeout
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	r := &Receiver{
		cfg:       cfg,
		log:       cfg.Logger,
		listeners: map[net.Listener]struct{}{},
		conns:     map[*receiverConn]struct{}{},
		changed:   make(chan struct{}),
	}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	r.ctx, r.cancel = context.WithCancel(context.Background())

	srv := smtp.NewServer(smtp.BackendFunc(r.newSession))
	srv.Domain = cfg.Hostname
	srv.TLSConfig = cfg.TLS
	srv.MaxMessageBytes = cfg.MaxSize
	srv.MaxRecipients = cfg.MaxRecipients
	srv.ReadTimeout = cfg.ReadTimeout
	srv.WriteTimeout = cfg.WriteTimeout
	srv.EnableSMTPUTF8 = true // addresses are only compared, never interpreted
	srv.ErrorLog = smtpLog{r.log}
	r.srv = srv
	return r, nil
}

// Serve takes connections from ln until Shutdown, and then returns
// ErrReceiverClosed; any other error is the listener's.
func (r *Receiver) Serve(ln net.Listener) error {
	r.mu.Lock()
	if r.closing {
		r.mu.Unlock()
		_ = ln.Close()
		return ErrReceiverClosed
	}
	r.listeners[ln] = struct{}{}
	r.mu.Unlock()

	err := r.srv.Serve(&receiverListener{Listener: ln, r: r})

	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.listeners, ln)
	if r.closing {
		return ErrReceiverClosed
	}
	return err
}

// Shutdown stops taking connections, closes the idle sessions with 421 and
// waits for the messages being received or handled to get their reply. When
// ctx ends first, it closes every connection, cancels the ctx of Handle (a
// call may still be ending as Shutdown returns) and returns ctx.Err(). A
// message cut off so is not acknowledged, so its sender sends it again.
func (r *Receiver) Shutdown(ctx context.Context) error {
	r.mu.Lock()
	// Under r.mu with closing set, no connection is tracked after the
	// loop; one accepted meanwhile is refused with 421.
	r.closing = true
	for c := range r.conns {
		c.drain()
	}
	for ln := range r.listeners {
		_ = ln.Close()
	}
	r.mu.Unlock()

	err := r.waitSessions(ctx, 0)
	if err != nil {
		r.mu.Lock()
		for c := range r.conns {
			_ = c.Conn.Close() // go-smtp then ends the session and calls c.Close
		}
		r.mu.Unlock()
	}
	r.cancel()
	return err
}

// waitSessions waits until at most n connections are open, or ctx ends.
func (r *Receiver) waitSessions(ctx context.Context, n int) error {
	for {
		r.mu.Lock()
		open, changed := len(r.conns), r.changed
		r.mu.Unlock()
		if open <= n {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-changed:
		}
	}
}

// refuseTimeout bounds the write of the 421 to a connection refused at
// connect, which runs on the accepting goroutine.
const refuseTimeout = time.Second

// receiverListener counts and tracks the connections it accepts, and refuses
// those beyond MaxSessions or after Shutdown with 421 (RFC 5321 3.8) before
// go-smtp sees them.
type receiverListener struct {
	net.Listener
	r *Receiver
}

func (l *receiverListener) Accept() (net.Conn, error) {
	for {
		nc, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		c, refusal := l.r.track(nc)
		if c != nil {
			return c, nil
		}
		_ = nc.SetWriteDeadline(time.Now().Add(refuseTimeout))
		_, _ = fmt.Fprintf(nc, "421 4.3.2 %s %s\r\n", l.r.cfg.Hostname, refusal)
		_ = nc.Close()
	}
}

// track returns nc wrapped and counted, or nil and why it is refused.
func (r *Receiver) track(nc net.Conn) (*receiverConn, string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case r.closing:
		return nil, "Shutting down, try again later"
	case len(r.conns) >= r.cfg.MaxSessions:
		return nil, "Too many connections, try again later"
	}
	c := &receiverConn{Conn: nc, r: r}
	r.conns[c] = struct{}{}
	return c, ""
}

func (r *Receiver) untrack(c *receiverConn) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.conns[c]; !ok {
		return
	}
	delete(r.conns, c)
	// Wake every waitSessions: closing a channel is a broadcast.
	close(r.changed)
	r.changed = make(chan struct{})
}

// past is a deadline that has passed: reads with it fail at once.
var past = time.Unix(1, 0)

// receiverConn is one connection of the Receiver. Draining it for Shutdown
// makes its wait for the next command fail at once, which go-smtp answers
// with 421 and a close. A session receiving a message's data is left to
// finish: it is drained once the reply to the data is written, as go-smtp
// sets the read deadline anew before it reads the next command.
type receiverConn struct {
	net.Conn
	r *Receiver

	// mu orders drain against go-smtp setting a read deadline and against
	// Data beginning, so that neither undoes the other. It is held only to
	// set deadlines and flags, never across I/O.
	mu       sync.Mutex
	draining bool
	inData   bool
	poked    bool // drain has set the read deadline to past
	once     sync.Once
}

func (c *receiverConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.draining && !c.inData {
		t = past
	}
	return c.Conn.SetReadDeadline(t)
}

func (c *receiverConn) SetDeadline(t time.Time) error {
	if err := c.SetReadDeadline(t); err != nil {
		return err
	}
	return c.Conn.SetWriteDeadline(t)
}

func (c *receiverConn) drain() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.draining = true
	if !c.inData {
		c.poked = true
		_ = c.Conn.SetReadDeadline(past)
	}
}

// setInData marks the session as receiving data, or done with it. go-smtp
// replies 354 before it calls Data, so a drain may fall between the two:
// the deadline it set is then lifted before Data reads, and the message
// goes through.
func (c *receiverConn) setInData(v bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.inData = v
	if v && c.poked {
		c.poked = false
		_ = c.Conn.SetReadDeadline(time.Now().Add(c.r.cfg.ReadTimeout))
	}
}

func (c *receiverConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.r.untrack(c) })
	return err
}

// ownConn finds the receiverConn under nc, which go-smtp may have wrapped
// in TLS after STARTTLS.
func ownConn(nc net.Conn) *receiverConn {
	for {
		switch v := nc.(type) {
		case *receiverConn:
			return v
		case interface{ NetConn() net.Conn }:
			nc = v.NetConn()
		default:
			return nil
		}
	}
}

// smtpLog takes go-smtp's own log lines (broken connections, failed TLS
// handshakes), which strangers on the internet cause at will, at debug level.
type smtpLog struct{ l *slog.Logger }

func (s smtpLog) Printf(format string, v ...any) { s.l.Debug("inbound: " + fmt.Sprintf(format, v...)) }
func (s smtpLog) Println(v ...any) {
	s.l.Debug("inbound: " + strings.TrimSuffix(fmt.Sprintln(v...), "\n"))
}

// LoadTLS returns the STARTTLS configuration of the certificate chain and
// key in the PEM files certFile and keyFile (TIDINGS_INBOUND_TLS_CERT and
// TIDINGS_INBOUND_TLS_KEY), for TLS 1.2 and later.
func LoadTLS(certFile, keyFile string) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("inbound: TLS certificate %s and key %s: %w", certFile, keyFile, err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, nil
}
