package inbound

import (
	"errors"
	"io"
	"runtime/debug"
	"slices"
	"sync"

	"github.com/emersion/go-smtp"
)

// The replies of the Receiver that go-smtp does not make itself, with their
// enhanced codes (RFC 3463).
var (
	errNoSuchUser = &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "No such user here"}
	errNestedMail = &smtp.SMTPError{Code: 503, EnhancedCode: smtp.EnhancedCode{5, 5, 1}, Message: "Nested MAIL command"}
	errNoRcpt     = &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 5, 1}, Message: "No valid recipients"}
	errTooLarge   = &smtp.SMTPError{Code: 552, EnhancedCode: smtp.EnhancedCode{5, 3, 4}, Message: "Message too big for system"}
	errLongLine   = &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 6, 0}, Message: "Line too long"}
	errBroken     = &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 4, 2}, Message: "Message not received whole, try again later"}
	errTryLater   = &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Local error in processing, try again later"}
)

// newSession starts the session of one EHLO or HELO; go-smtp starts another
// after STARTTLS.
func (r *Receiver) newSession(c *smtp.Conn) (smtp.Session, error) {
	own := ownConn(c.Conn())
	if own == nil {
		return nil, errors.New("inbound: connection not accepted by the receiver")
	}
	return &receiverSession{r: r, conn: own, remote: c.Conn().RemoteAddr().String()}, nil
}

// receiverSession is one SMTP session.
//
// It implements no smtp.AuthSession, so go-smtp offers no AUTH: nobody signs
// in, and mail is taken only for the bounce domain's own addresses.
type receiverSession struct {
	r      *Receiver
	conn   *receiverConn
	remote string

	// mu guards the transaction: for BDAT (RFC 3030) go-smtp runs Data on
	// a goroutine of its own while the connection's goroutine goes on
	// reading commands, such as an RSET that calls Reset.
	mu     sync.Mutex
	mailed bool // MAIL has begun a transaction
	from   string
	to     []Address
}

func (s *receiverSession) Mail(from string, opts *smtp.MailOptions) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mailed {
		// RFC 5321 4.1.4: a transaction begun must be ended (RSET or
		// data) before the next MAIL, so its recipients are never taken for
		// another sender.
		return errNestedMail
	}
	if opts != nil && opts.Size > s.r.cfg.MaxSize {
		return errTooLarge // go-smtp refuses it first; kept so the bound is plain here
	}
	s.mailed, s.from, s.to = true, from, s.to[:0]
	return nil
}

// Rcpt takes only an address that Addresses verifies. Everything else, of
// whatever domain, is refused here with 550 5.1.1, which is what keeps the
// receiver from relaying.
func (s *receiverSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	a, err := s.r.cfg.Addresses.Parse(to)
	if err != nil {
		return errNoSuchUser
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !slices.Contains(s.to, a) {
		s.to = append(s.to, a)
	}
	return nil
}

// Data reads the message, never more than MaxSize bytes of it, and hands it
// to Handle before its reply.
func (s *receiverSession) Data(r io.Reader) error {
	s.mu.Lock()
	from, to := s.from, slices.Clone(s.to)
	s.mu.Unlock()
	if len(to) == 0 {
		// go-smtp refuses DATA before any accepted RCPT itself; this keeps
		// a message with no verified recipient out whatever it does.
		return errNoRcpt
	}
	s.conn.setInData(true)
	defer s.conn.setInData(false)

	max := s.r.cfg.MaxSize
	data, err := io.ReadAll(io.LimitReader(r, max+1))
	switch {
	case errors.Is(err, smtp.ErrDataTooLarge) || int64(len(data)) > max:
		return errTooLarge // go-smtp reads and drops the rest
	case errors.Is(err, smtp.ErrTooLongLine):
		// Far beyond the 1000 octets of RFC 5321 4.5.3.1.6: the message is
		// broken and sending it again mends nothing. go-smtp then closes the
		// connection.
		return errLongLine
	case err != nil:
		// A broken connection or a cut BDAT: temporary, so that the
		// sender tries again rather than bounce.
		return errBroken
	}
	return s.r.handle(Mail{
		From:       from,
		To:         to,
		Data:       data,
		RemoteAddr: s.remote,
		Received:   s.r.cfg.Now(),
	})
}

// handle runs Handle, turning an error or a panic into 451: the message is
// then not acknowledged, and the sender keeps it and tries again.
func (r *Receiver) handle(m Mail) (err error) {
	defer func() {
		if p := recover(); p != nil {
			r.log.Error("inbound: handling a message panicked", "remote_addr", m.RemoteAddr, "panic", p, "stack", string(debug.Stack()))
			err = errTryLater
		}
	}()
	if err := r.cfg.Handle(r.ctx, m); err != nil {
		r.log.Warn("inbound: message not handled, answered 451", "remote_addr", m.RemoteAddr, "size", len(m.Data), "error", err)
		return errTryLater
	}
	return nil
}

func (s *receiverSession) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mailed, s.from, s.to = false, "", s.to[:0]
}

func (s *receiverSession) Logout() error { return nil }
