// Package devmail is an in-process SMTP server (RFC 5321) that catches every
// message it is given instead of delivering it. It backs the dev inbox of
// `tidings serve --dev` and the SMTP tests of package delivery, which choose
// the replies it gives (421, 450, 550 5.1.1, 552...) and can make it drop the
// connection.
//
// Caught messages are parsed as MIME (RFC 2045-2047): multipart/alternative
// and nested multipart/mixed or multipart/related bodies, quoted-printable and
// base64 parts, encoded-word subjects. It advertises AUTH PLAIN (RFC 4954,
// RFC 4616) even without TLS, because it is meant for loopback use only.
package devmail

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/mail"
	"sync"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// DefaultMaxMessages is how many messages a Server keeps when
// Options.MaxMessages is zero.
const DefaultMaxMessages = 1000

// Drop is a reply that Options.Reply or Options.DataReply may return to make
// the server close the connection at once, without any reply, as a crashed or
// overloaded server would. Compare by identity: it is never sent as such.
var Drop = &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 4, 2}, Message: "devmail: connection dropped"}

// Options configures a Server. The zero value accepts every message from
// everyone and keeps the last DefaultMaxMessages.
type Options struct {
	// Reply, when set, is called for every RCPT TO with the envelope sender
	// and recipient. It returns nil to accept the recipient, an error to refuse
	// it with that reply, or Drop to close the connection.
	Reply func(from, to string) *smtp.SMTPError

	// DataReply, when set, is called once the message data has been read, with
	// the envelope. It returns nil to accept the message, an error to refuse it
	// with that reply (the message is then not caught), or Drop to close the
	// connection without answering.
	DataReply func(from string, to []string) *smtp.SMTPError

	// MaxMessages is how many messages are kept; older ones are forgotten
	// first. Zero means DefaultMaxMessages.
	MaxMessages int

	// Username and Password, when set, are required through AUTH PLAIN before
	// MAIL FROM. When empty, AUTH PLAIN is still offered and any credentials
	// are accepted.
	Username, Password string

	// TLSConfig, when set, enables STARTTLS (RFC 3207), or TLS from the first
	// byte when ImplicitTLS is true (RFC 8314).
	TLSConfig   *tls.Config
	ImplicitTLS bool

	// MaxMessageBytes caps the size of one message; zero means 25 MiB.
	MaxMessageBytes int64

	// Now is the clock that stamps Message.At; nil means time.Now.
	Now func() time.Time
}

// Message is one caught message.
type Message struct {
	ID      int         // 1 for the first message caught by the server, then 2, 3...
	From    string      // envelope sender (MAIL FROM)
	To      []string    // envelope recipients (RCPT TO)
	Subject string      // decoded Subject header
	HTML    string      // the first text/html part, decoded; "" if none
	Text    string      // the first text/plain part, decoded; "" if none
	Header  mail.Header // top-level header, keys in canonical form (textproto.CanonicalMIMEHeaderKey: "Message-Id")
	Raw     []byte      // the message as received
	At      time.Time   // when it was caught
	// ParseError says why the MIME structure could not be fully read; the
	// message is kept with whatever could be read.
	ParseError string
}

// Server is a running catching SMTP server. Its methods are safe for
// concurrent use.
type Server struct {
	opts     Options
	smtp     *smtp.Server
	listener net.Listener
	served   chan struct{} // closed when Serve has returned

	mu       sync.Mutex
	messages []Message // arrival order, at most opts.MaxMessages
	caught   int       // every message ever caught, also the last ID
	conns    int       // connections accepted
	open     map[net.Conn]struct{}
	changed  chan struct{} // closed and replaced whenever caught changes
}

// Start listens on addr ("127.0.0.1:0" picks a free port) and serves SMTP
// with the zero Options until Close.
func Start(addr string) (*Server, error) {
	return StartWith(addr, Options{})
}

// StartWith listens on addr and serves SMTP with opts until Close.
func StartWith(addr string, opts Options) (*Server, error) {
	if opts.MaxMessages <= 0 {
		opts.MaxMessages = DefaultMaxMessages
	}
	if opts.MaxMessageBytes <= 0 {
		opts.MaxMessageBytes = 25 << 20
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.ImplicitTLS && opts.TLSConfig == nil {
		return nil, errors.New("devmail: ImplicitTLS needs a TLSConfig")
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("devmail: listen on %s: %w", addr, err)
	}
	s := &Server{opts: opts, served: make(chan struct{}), changed: make(chan struct{}), open: map[net.Conn]struct{}{}}
	s.listener = &countingListener{Listener: l, s: s}
	if opts.ImplicitTLS {
		s.listener = tls.NewListener(s.listener, opts.TLSConfig)
	}

	srv := smtp.NewServer(smtp.BackendFunc(s.newSession))
	srv.Domain = "devmail.localhost"
	srv.MaxMessageBytes = opts.MaxMessageBytes
	srv.MaxRecipients = 100
	srv.AllowInsecureAuth = true // loopback only; lets tests exercise AUTH without TLS
	srv.ReadTimeout = 10 * time.Minute
	srv.WriteTimeout = time.Minute
	srv.ErrorLog = log.New(io.Discard, "", 0) // dropped connections are expected here
	if !opts.ImplicitTLS {
		srv.TLSConfig = opts.TLSConfig
	}
	s.smtp = srv

	go func() {
		defer close(s.served)
		_ = srv.Serve(s.listener) // returns when Close closes the listener
	}()
	return s, nil
}

// Addr returns the host:port the server listens on.
func (s *Server) Addr() string {
	return s.listener.Addr().String()
}

// Close stops the server and drops its connections. Caught messages stay
// readable.
func (s *Server) Close() error {
	err := s.smtp.Close()
	// go-smtp learns of the listener only once Serve runs; if Close comes
	// first, it would not close it, and Serve would accept forever.
	_ = s.listener.Close()
	<-s.served
	if errors.Is(err, smtp.ErrServerClosed) {
		return nil
	}
	return err
}

// Messages returns a copy of the kept messages in arrival order.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Message, len(s.messages))
	for i, m := range s.messages {
		out[i] = m.clone()
	}
	return out
}

// Message returns the kept message with the given ID, and false when there is
// none (never caught, or already forgotten).
func (s *Server) Message(id int) (Message, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.messages) == 0 {
		return Message{}, false
	}
	// IDs are consecutive, so the position follows from the first kept ID.
	i := id - s.messages[0].ID
	if i < 0 || i >= len(s.messages) {
		return Message{}, false
	}
	return s.messages[i].clone(), true
}

// Clear forgets every kept message. IDs keep counting up.
func (s *Server) Clear() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.messages = nil
}

// Caught returns how many messages the server has caught since it started,
// including those no longer kept.
func (s *Server) Caught() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.caught
}

// Connections returns how many connections the server has accepted since it
// started.
func (s *Server) Connections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conns
}

// OpenConnections returns how many connections are open now. Once a client
// has gone, its connections close when the server has read all it sent, so
// none open means every message the clients wrote whole has been caught.
func (s *Server) OpenConnections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.open)
}

// DropConnections closes every open connection at once, without a reply, as
// a relay does with idle connections or when it restarts. The server goes on
// accepting new ones.
func (s *Server) DropConnections() {
	s.mu.Lock()
	conns := make([]net.Conn, 0, len(s.open))
	for c := range s.open {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		_ = c.Close() // trackedConn.Close takes s.mu, so not under it
	}
}

// WaitFor blocks until the server has caught at least n messages since it
// started, or ctx is done, in which case it returns ctx.Err().
func (s *Server) WaitFor(ctx context.Context, n int) error {
	for {
		s.mu.Lock()
		caught, changed := s.caught, s.changed
		s.mu.Unlock()
		if caught >= n {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("devmail: waiting for %d messages, caught %d: %w", n, caught, ctx.Err())
		case <-changed:
		}
	}
}

func (s *Server) catch(m Message) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.caught++
	m.ID = s.caught
	if len(s.messages) >= s.opts.MaxMessages {
		n := copy(s.messages, s.messages[len(s.messages)-s.opts.MaxMessages+1:])
		clear(s.messages[n:])
		s.messages = s.messages[:n]
	}
	s.messages = append(s.messages, m)
	// Wake every WaitFor: closing a channel is a broadcast.
	close(s.changed)
	s.changed = make(chan struct{})
}

func (m Message) clone() Message {
	m.To = append([]string(nil), m.To...)
	h := make(mail.Header, len(m.Header))
	for k, v := range m.Header {
		h[k] = append([]string(nil), v...)
	}
	m.Header = h
	m.Raw = append([]byte(nil), m.Raw...)
	return m
}

// countingListener counts accepted connections, so tests can tell whether
// several messages shared one connection, and remembers the open ones for
// DropConnections.
type countingListener struct {
	net.Listener
	s *Server
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	tc := &trackedConn{Conn: c, s: l.s}
	l.s.mu.Lock()
	l.s.conns++
	l.s.open[tc] = struct{}{}
	l.s.mu.Unlock()
	return tc, nil
}

type trackedConn struct {
	net.Conn
	s *Server
}

func (c *trackedConn) Close() error {
	c.s.mu.Lock()
	delete(c.s.open, c)
	c.s.mu.Unlock()
	return c.Conn.Close()
}

func (s *Server) newSession(c *smtp.Conn) (smtp.Session, error) {
	return &session{s: s, conn: c}, nil
}

// session is one SMTP session; go-smtp calls its methods from the
// connection's goroutine only.
type session struct {
	s      *Server
	conn   *smtp.Conn
	authed bool
	from   string
	to     []string
}

var _ smtp.AuthSession = (*session)(nil)

func (ss *session) AuthMechanisms() []string {
	return []string{sasl.Plain}
}

func (ss *session) Auth(mech string) (sasl.Server, error) {
	if mech != sasl.Plain {
		return nil, smtp.ErrAuthUnknownMechanism
	}
	return sasl.NewPlainServer(func(identity, username, password string) error {
		if identity != "" && identity != username {
			return smtp.ErrAuthFailed
		}
		if ss.s.opts.Username != "" && (username != ss.s.opts.Username || password != ss.s.opts.Password) {
			return smtp.ErrAuthFailed
		}
		ss.authed = true
		return nil
	}), nil
}

func (ss *session) Mail(from string, _ *smtp.MailOptions) error {
	if ss.s.opts.Username != "" && !ss.authed {
		return smtp.ErrAuthRequired
	}
	ss.from = from
	ss.to = nil
	return nil
}

func (ss *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	if f := ss.s.opts.Reply; f != nil {
		if reply := f(ss.from, to); reply != nil {
			return ss.refuse(reply)
		}
	}
	ss.to = append(ss.to, to)
	return nil
}

func (ss *session) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err // too large, or the connection failed: go-smtp answers
	}
	if f := ss.s.opts.DataReply; f != nil {
		if reply := f(ss.from, append([]string(nil), ss.to...)); reply != nil {
			return ss.refuse(reply)
		}
	}
	m := parse(raw)
	m.From = ss.from
	m.To = append([]string(nil), ss.to...)
	m.At = ss.s.opts.Now()
	ss.s.catch(m)
	return nil
}

// refuse turns a reply from a hook into what go-smtp sends. For Drop it closes
// the network connection first, so the client reads EOF instead of a reply.
func (ss *session) refuse(reply *smtp.SMTPError) error {
	if reply == Drop {
		_ = ss.conn.Conn().Close()
	}
	return reply
}

func (ss *session) Reset() {
	ss.from = ""
	ss.to = nil
}

func (ss *session) Logout() error { return nil }
