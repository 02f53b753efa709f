package delivery

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/textproto"
	"sync"
	"time"

	"github.com/wneessen/go-mail"
	"github.com/wneessen/go-mail/smtp"
)

// Sender sends messages through one SMTP relay. It is safe for concurrent
// use; each goroutine sends through its own Conn.
type Sender struct {
	relay   Relay
	timeout time.Duration
	client  *mail.Client // shared by every Conn: go-mail keeps per-connection state in smtp.Client
	fixed   fixedCache   // the encoded Fixed pieces of Spliced bodies
}

// NewSender checks cfg and returns a Sender for its relay. It does not
// connect. Its error names what is wrong with the configuration.
func NewSender(cfg Config) (*Sender, error) {
	relay, err := ParseURL(cfg.URL)
	if err != nil {
		return nil, err
	}
	timeout := cfg.Timeout
	if timeout < 0 {
		return nil, fmt.Errorf("smtp timeout %s is negative", timeout)
	}
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	tlsConfig := &tls.Config{
		ServerName:         relay.Host,
		MinVersion:         tls.VersionTLS12,
		InsecureSkipVerify: cfg.InsecureSkipVerify, //nolint:gosec // tests only, documented on Config
	}
	s := &Sender{relay: relay, timeout: timeout}
	opts := []mail.Option{
		mail.WithPort(relay.Port),
		mail.WithTimeout(timeout),
		mail.WithTLSConfig(tlsConfig),
		mail.WithDialContextFunc(s.dialContext(tlsConfig)),
		// A Conn knows when its connection failed (see Conn.Send), so the NOOP
		// that go-mail sends before each message would only cost a round trip.
		mail.WithoutNoop(),
		// RFC 5321 section 4.1.1.4: the end of DATA already resets the
		// transaction, so RSET after each message is a wasted round trip.
		// Conn.Send sends RSET itself after a failure.
		mail.WithoutRset(),
	}
	switch relay.TLS {
	case TLSNone:
		opts = append(opts, mail.WithTLSPolicy(mail.NoTLS))
	case TLSStartTLS:
		opts = append(opts, mail.WithTLSPolicy(mail.TLSMandatory))
	case TLSImplicit:
		// dialContext speaks TLS itself; WithSSL keeps go-mail from also
		// trying STARTTLS inside it.
		opts = append(opts, mail.WithSSL(), mail.WithTLSPolicy(mail.NoTLS))
	}
	if cfg.HeloName != "" {
		opts = append(opts, mail.WithHELO(cfg.HeloName))
	}
	if relay.Username != "" {
		// Opportunistic: the first of these that the relay offers. PLAIN and
		// LOGIN refuse to run without TLS except to localhost (go-mail's
		// check, mirrored by ParseURL), so a password never crosses a network
		// in clear text. AutoDiscover is not used because, with our own dialer,
		// go-mail does not know an implicit-TLS connection is encrypted and
		// would rule PLAIN and LOGIN out.
		opts = append(opts,
			mail.WithUsername(relay.Username),
			mail.WithPassword(relay.Password),
			mail.WithOpportunisticSMTPAuth(mail.SMTPAuthPlain, mail.SMTPAuthLogin,
				mail.SMTPAuthSCRAMSHA256, mail.SMTPAuthSCRAMSHA1, mail.SMTPAuthCramMD5),
		)
	}
	client, err := mail.NewClient(relay.Host, opts...)
	if err != nil {
		return nil, fmt.Errorf("smtp relay %s: %w", relay, err)
	}
	s.client = client
	return s, nil
}

// Relay returns the relay the Sender sends through.
func (s *Sender) Relay() Relay {
	return s.relay
}

// connSlot receives the network connection dialContext opens, so that Conn
// can close it: to give up on a cancelled context, and to not leak it when
// go-mail fails after connecting (it returns without closing).
type connSlot struct {
	mu   sync.Mutex
	conn net.Conn
}

type connSlotKey struct{}

func (s *Sender) dialContext(tlsConfig *tls.Config) mail.DialContextFunc {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		var d net.Dialer
		var conn net.Conn
		var err error
		if s.relay.TLS == TLSImplicit {
			conn, err = (&tls.Dialer{NetDialer: &d, Config: tlsConfig}).DialContext(ctx, network, addr)
		} else {
			conn, err = d.DialContext(ctx, network, addr)
		}
		if err != nil {
			return nil, err
		}
		if slot, ok := ctx.Value(connSlotKey{}).(*connSlot); ok {
			slot.mu.Lock()
			slot.conn = conn
			slot.mu.Unlock()
		}
		return conn, nil
	}
}

// Dial connects, with STARTTLS and AUTH as the relay URL says, and returns
// the connection as a Conn. Its error wraps the network error or the relay's
// reply; the caller may retry later.
func (s *Sender) Dial(ctx context.Context) (*Conn, error) {
	c := s.NewConn()
	if err := c.dial(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

// NewConn returns a Conn that connects on its first Send, so that an
// unreachable relay shows up as a TempFailure of that Send.
func (s *Sender) NewConn() *Conn {
	return &Conn{s: s}
}

// ErrClosed is the error of a Send on a closed Conn.
var ErrClosed = errors.New("delivery: connection closed")

// Conn is one persistent SMTP connection that carries messages one after
// another. When the connection fails it is dropped, and the next Send dials
// again. Its methods may be called from several goroutines but run one at a
// time.
type Conn struct {
	s *Sender

	mu     sync.Mutex
	client *smtp.Client // nil: not connected
	raw    net.Conn     // the network connection under client
	closed bool
	buf    []byte // the last message's data, reused for the next one
}

// maxKeptBuf is the largest buffer a Conn keeps for its next message.
const maxKeptBuf = 1 << 20

func (c *Conn) dial(ctx context.Context) error {
	slot := &connSlot{}
	dialCtx := context.WithValue(ctx, connSlotKey{}, slot)
	// Hang up if ctx ends during the greeting, STARTTLS or AUTH: go-mail only
	// watches the context while connecting.
	stop := context.AfterFunc(ctx, func() { slot.close() })
	client, err := c.s.client.DialToSMTPClientWithContext(dialCtx)
	stopped := stop()
	if err == nil && !stopped {
		err = ctx.Err()
	}
	if err != nil {
		slot.close()
		return fmt.Errorf("delivery: connect to %s: %w", c.s.relay, err)
	}
	c.client, c.raw = client, slot.conn
	return nil
}

func (s *connSlot) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn != nil {
		_ = s.conn.Close()
	}
}

// drop forgets the connection after closing it without QUIT: it is broken or
// in an unknown state.
func (c *Conn) drop() {
	if c.raw != nil {
		_ = c.raw.Close()
	}
	c.client, c.raw = nil, nil
}

// Send sends m and reports what happened. It never panics on a failed
// connection: a connection that fails or that the relay closes (no reply,
// EOF, 421) makes a TempFailure and is dropped, and the next Send dials a new
// one. If the connection is found dead before anything was accepted (the reply
// to MAIL FROM is missing or 421, as when the relay timed out an idle
// connection), Send dials once more and retries at once, since the relay
// cannot have taken the message.
//
// When ctx ends during a send, the connection is closed and the result is a
// TempFailure wrapping ctx.Err(): the relay may or may not have taken the
// message, which is what a temporary failure means to the caller.
func (c *Conn) Send(ctx context.Context, m *Message) Result {
	c.mu.Lock()
	defer c.mu.Unlock()
	data, from, to, err := compose(c.buf[:0], m, time.Now(), &c.s.fixed)
	if err != nil {
		return Result{Status: PermFailure, AddressFailure: errors.Is(err, errRecipient), Err: fmt.Errorf("delivery: %w", err)}
	}
	if cap(data) <= maxKeptBuf {
		defer func() { c.buf = data[:0] }()
	}
	if c.closed {
		return Result{Status: TempFailure, Err: ErrClosed}
	}
	if err := ctx.Err(); err != nil {
		return Result{Status: TempFailure, Err: fmt.Errorf("delivery: %w", err)}
	}

	reused := c.client != nil
	if !reused {
		if err := c.dial(ctx); err != nil {
			return dialFailure(err)
		}
	}
	r, retry := c.send(ctx, data, from, to)
	if retry && reused && ctx.Err() == nil {
		if err := c.dial(ctx); err != nil {
			return dialFailure(err)
		}
		r, _ = c.send(ctx, data, from, to)
	}
	return r
}

// dialFailure is the Result of a Send that could not connect. It is always
// temporary, even for a 5xx reply such as a refused login (535): the message
// is not at fault, and the relay or the configuration may be fixed.
func dialFailure(err error) Result {
	r := Result{Status: TempFailure, Err: err}
	var reply *textproto.Error
	if errors.As(err, &reply) {
		r.Code = reply.Code
	}
	return r
}

// send sends the message data from from to to over the current connection
// and says whether a failure happened before the relay could have taken
// anything, so a retry on a new connection is safe.
func (c *Conn) send(ctx context.Context, data []byte, from, to string) (r Result, retry bool) {
	raw := c.raw
	stop := context.AfterFunc(ctx, func() { _ = raw.Close() })
	st, err := c.transact(data, from, to)
	if !stop() {
		// ctx ended and the connection is (being) closed under the send.
		c.drop()
		if err == nil {
			return Result{Status: Sent}, false
		}
		return Result{Status: TempFailure, Err: fmt.Errorf("delivery: %w (%s: %w)", ctx.Err(), st, err)}, false
	}
	if err == nil {
		return Result{Status: Sent}, false
	}
	esc, _ := c.client.Extension("ENHANCEDSTATUSCODES")
	r, reusable := classify(st, err, esc)
	retry = st == stageConn || (st == stageMail && (r.Code == 0 || r.Code == 421))
	if reusable {
		// Leave the connection ready for the next message whatever stage the
		// failure happened at. If even RSET fails, the connection is gone.
		if rerr := c.client.Reset(); rerr != nil {
			reusable = false
		}
	}
	if !reusable {
		c.drop()
	}
	return r, retry
}

// transact runs one mail transaction (RFC 5321 section 3.3) over the current
// connection: MAIL FROM, RCPT TO and DATA, then data (from compose), which
// needs no dot stuffing and is written as it is, and the terminating dot. It
// returns the stage that failed with its error.
//
// When the relay offers PIPELINING (RFC 2920), as relays commonly do, the
// three commands go out in one write and their replies are read after, so a
// message costs two round trips instead of four.
func (c *Conn) transact(data []byte, from, to string) (stage, error) {
	cl := c.client
	if !cl.HasConnection() {
		return stageConn, errors.New("no connection")
	}
	if err := cl.UpdateDeadline(c.s.timeout); err != nil {
		return stageConn, err
	}
	t := cl.Text
	if ok, _ := cl.Extension("PIPELINING"); ok {
		mailFrom := "MAIL FROM:<" + from + ">"
		if utf8, _ := cl.Extension("SMTPUTF8"); utf8 && (!isASCII(from) || !isASCII(to)) {
			mailFrom += " SMTPUTF8"
		}
		id := t.Next()
		t.StartRequest(id)
		_, err := t.W.WriteString(mailFrom + "\r\nRCPT TO:<" + to + ">\r\nDATA\r\n")
		if err == nil {
			err = t.W.Flush()
		}
		t.EndRequest(id)
		if err != nil {
			return stageMail, err
		}
		t.StartResponse(id)
		defer t.EndResponse(id)
		// A reply that is missing after a refusal (a relay that says 421 and
		// hangs up) is reported as that refusal.
		_, _, mailErr := t.ReadResponse(250)
		if mailErr != nil && !isReply(mailErr) {
			return stageMail, mailErr
		}
		_, _, rcptErr := t.ReadResponse(25)
		if rcptErr != nil && !isReply(rcptErr) {
			if mailErr != nil {
				return stageMail, mailErr
			}
			return stageRcpt, rcptErr
		}
		_, _, dataErr := t.ReadResponse(354)
		if dataErr != nil && !isReply(dataErr) {
			switch {
			case mailErr != nil:
				return stageMail, mailErr
			case rcptErr != nil:
				return stageRcpt, rcptErr
			}
			return stageData, dataErr
		}
		if dataErr == nil && (mailErr != nil || rcptErr != nil) {
			// DATA was taken although the envelope was not: end it at once
			// with an empty message (RFC 2920 section 3.1), which the relay
			// refuses or drops; the failure to report is the envelope's.
			if _, err := t.W.WriteString(".\r\n"); err != nil {
				return stageWrite, err
			}
			if err := t.W.Flush(); err != nil {
				return stageWrite, err
			}
			if _, _, err := t.ReadResponse(250); err != nil && !isReply(err) {
				return stageEnd, err
			}
		}
		switch {
		case mailErr != nil:
			return stageMail, mailErr
		case rcptErr != nil:
			return stageRcpt, rcptErr
		case dataErr != nil:
			return stageData, dataErr
		}
		return c.writeData(data)
	}

	// go-mail writes the paths as it is given them (RFC 5321 section 4.1.2).
	if err := cl.Mail("<" + from + ">"); err != nil {
		return stageMail, err
	}
	if err := cl.Rcpt("<" + to + ">"); err != nil {
		return stageRcpt, err
	}
	id, err := t.Cmd("DATA")
	if err != nil {
		return stageData, err
	}
	t.StartResponse(id)
	_, _, err = t.ReadResponse(354)
	t.EndResponse(id)
	if err != nil {
		return stageData, err
	}
	return c.writeData(data)
}

// writeData writes the message data after the relay's 354, then the
// terminating dot, and reads the relay's verdict. The two go in one write
// (compose leaves room for the dot), which saved a system call per message.
func (c *Conn) writeData(data []byte) (stage, error) {
	t := c.client.Text
	if _, err := t.W.Write(append(data, ".\r\n"...)); err != nil {
		return stageWrite, err
	}
	if err := t.W.Flush(); err != nil {
		return stageWrite, err
	}
	if _, _, err := t.ReadResponse(250); err != nil {
		return stageEnd, err
	}
	return stageEnd, nil
}

// isReply reports whether err is a reply of the relay, rather than a failure
// to read one.
func isReply(err error) bool {
	var reply *textproto.Error
	return errors.As(err, &reply)
}

// Close ends the connection politely with QUIT. The Conn cannot be used
// afterwards: Send returns a TempFailure wrapping ErrClosed.
func (c *Conn) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	c.closed = true
	if c.client == nil {
		return nil
	}
	// The deadline of the last send may have passed while the connection idled.
	err := c.client.UpdateDeadline(c.s.timeout)
	if err == nil {
		err = c.s.client.CloseWithSMTPClient(c.client)
	}
	c.drop() // closes the network connection if QUIT failed
	if err != nil {
		return fmt.Errorf("delivery: close connection to %s: %w", c.s.relay, err)
	}
	return nil
}
