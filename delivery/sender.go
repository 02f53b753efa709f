package delivery

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wneessen/go-mail"
)

// Sender sends messages through one SMTP relay. It is safe for concurrent
// use; each goroutine sends through its own Conn.
type Sender struct {
	relay   Relay
	timeout time.Duration
	client  *mail.Client // shared by every Conn: go-mail keeps per-connection state in smtp.Client
	fixed   fixedCache   // the encoded Fixed pieces of Spliced bodies

	// dkim is the signing keys (see SetDKIMKeys): swapped whole, and read
	// without a lock by every SendAll.
	dkim atomic.Pointer[dkimSet]
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
