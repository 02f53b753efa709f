package delivery

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"net/textproto"
	"sync"
	"time"

	"github.com/wneessen/go-mail/smtp"
)

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
	bufs   [][]byte   // the last messages' data, reused for the next ones
	out    []outgoing // reused by SendAll
	env    []byte     // reused for the first envelope of SendAll
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
// one. If the relay cannot have taken the message, because it said 421 at
// MAIL FROM, RCPT TO or DATA, or because a connection that had carried mail
// was found dead at MAIL FROM (as when the relay timed out an idle
// connection), Send dials once more and sends it again at once. A 421 or a
// lost reply after the data stays a TempFailure: the relay may have taken
// the message.
//
// When ctx ends during a send, the connection is closed and the result is a
// TempFailure wrapping ctx.Err(): the relay may or may not have taken the
// message, which is what a temporary failure means to the caller.
func (c *Conn) Send(ctx context.Context, m *Message) Result {
	return c.SendAll(ctx, nil, []*Message{m})[0]
}

// ErrNotSent is wrapped by the Err of a SendAll Result for a message that
// was not started because stop said so: the relay has not seen it.
var ErrNotSent = errors.New("delivery: not sent: stopped")

// SendAll sends msgs one after another and returns what happened to each, in
// order, as Send would report it. A failure of one message does not stop the
// others: a connection that is dropped is dialled again for the next one, and
// only a failure to connect fails all that are left.
//
// ctx is as for Send: when it ends, the send under way is cut off. stop (nil
// for never) ends SendAll gracefully: it is asked, with the index in msgs of
// the next message, before that message is started and again just before its
// data would go, and once it says true the message under way is finished and
// the rest are not started and get a TempFailure wrapping ErrNotSent. Once it
// has said true it must go on saying so. It runs on SendAll's goroutine, so
// it may take its time (a caller's last check that the next message may
// still go), though the relay waits for it.
//
// When the relay offers PIPELINING, each message's envelope (MAIL FROM, RCPT
// TO, DATA) goes out in the same write as the message before it and its
// ending dot, and their replies are read together. RFC 2920 section 3.1
// allows it: the end of a message may be followed by the next commands. So a
// message costs the sender one write and the relay one read, where sending
// them one at a time costs two of each.
func (c *Conn) SendAll(ctx context.Context, stop func(next int) bool, msgs []*Message) []Result {
	c.mu.Lock()
	defer c.mu.Unlock()
	rs := make([]Result, len(msgs))
	now := time.Now()
	out := c.out[:0]
	for i, m := range msgs {
		var buf []byte
		if len(out) < len(c.bufs) {
			buf = c.bufs[len(out)][:0]
		}
		data, from, to, err := compose(buf, m, now, &c.s.fixed)
		if err != nil {
			rs[i] = Result{Status: PermFailure, AddressFailure: errors.Is(err, errRecipient), Err: fmt.Errorf("delivery: %w", err)}
			continue
		}
		out = append(out, outgoing{data: data, from: from, to: to, index: i})
	}
	out = c.s.signAll(msgs, out, rs)
	defer c.keep(out)

	fill := func(from int, r Result) {
		for _, o := range out[from:] {
			rs[o.index] = r
		}
	}
	retried := -1 // the message already sent again on a new connection
	for i := 0; i < len(out); {
		if c.closed {
			fill(i, Result{Status: TempFailure, Err: ErrClosed})
			break
		}
		if err := ctx.Err(); err != nil {
			fill(i, Result{Status: TempFailure, Err: fmt.Errorf("delivery: %w", err)})
			break
		}
		if stopped(stop, out[i]) {
			fill(i, Result{Status: TempFailure, Err: ErrNotSent})
			break
		}
		reused := c.client != nil
		if !reused {
			if err := c.dial(ctx); err != nil {
				// Dialling again for each message would only wait out the
				// same timeout again.
				fill(i, dialFailure(err))
				break
			}
		}
		n, retry := c.send(ctx, stop, out[i:], rs)
		i += n
		// The last message sent may go again, once, if the relay cannot have
		// taken it, and either it said it was closing (421) before the data,
		// or the connection had carried mail before it: a relay that timed
		// out an idle connection, or died after the message before. Once is
		// enough: a relay that is closing again is one to leave to the retry
		// schedule.
		if (retry == retryClosing || retry == retryStale && (reused || n > 1)) && i-1 != retried && ctx.Err() == nil {
			i--
			retried = i
		}
	}
	return rs
}

// outgoing is a message of SendAll, composed.
type outgoing struct {
	data     []byte // the message, ready for DATA, with room for the dot
	from, to string // the envelope
	index    int    // in SendAll's msgs
	buf      []byte // data's buffer once the dot and more were appended
}

// keep keeps the buffers of out for the next SendAll.
func (c *Conn) keep(out []outgoing) {
	for j, o := range out {
		buf := o.data
		if o.buf != nil {
			buf = o.buf
		}
		if cap(buf) > maxKeptBuf {
			continue
		}
		if j < len(c.bufs) {
			c.bufs[j] = buf[:0]
		} else {
			c.bufs = append(c.bufs, buf[:0])
		}
	}
	clear(out)
	c.out = out[:0]
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

// retry says whether the last message of a send may go again at once on a
// new connection, because the relay cannot have taken it.
type retry int

const (
	retryNo retry = iota
	// retryStale: the connection was found gone before MAIL FROM was
	// answered, as when the relay timed out an idle connection.
	retryStale
	// retryClosing: the relay said 421, closing (RFC 5321 section 3.8), at
	// MAIL FROM, RCPT TO or DATA, before any of the message's data went: it
	// hung up, which says nothing against the message.
	retryClosing
)

// send sends the first messages of out over the current connection, as far
// as it can carry them, and writes their Results into rs (by index). It
// returns how many it went through, and whether the last of them failed
// before the relay could have taken anything, so a retry on a new
// connection is safe. The connection is left ready for the next message, or
// dropped.
func (c *Conn) send(ctx context.Context, stop func(next int) bool, out []outgoing, rs []Result) (n int, again retry) {
	raw := c.raw
	hangUp := context.AfterFunc(ctx, func() { _ = raw.Close() })
	n, st, err := c.transact(stop, out, rs)
	last := &rs[out[n-1].index]
	if !hangUp() {
		// ctx ended and the connection is (being) closed under the send.
		c.drop()
		if err != nil || last.Status != Sent {
			*last = Result{Status: TempFailure, Err: fmt.Errorf("delivery: %w (%s: %w)", ctx.Err(), st, cmp.Or(err, last.Err))}
		}
		return n, retryNo
	}
	if err == nil {
		return n, retryNo
	}
	esc, _ := c.client.Extension("ENHANCEDSTATUSCODES")
	r, reusable := classify(st, err, esc)
	*last = r
	switch {
	case r.Code == 421 && (st == stageMail || st == stageRcpt || st == stageData):
		again = retryClosing
	case st == stageConn || (st == stageMail && r.Code == 0):
		again = retryStale
	}
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
	return n, again
}

// transact runs mail transactions (RFC 5321 section 3.3) for the first
// messages of out over the current connection: MAIL FROM, RCPT TO and DATA,
// then the message data (from compose), which needs no dot stuffing and is
// written as it is, and the terminating dot. It writes Sent into rs for each
// message the relay took, and returns how many messages it went through and,
// for a failure of the last of them, the stage and its error. It stops at
// the first failure, except a refusal of a message's end that leaves the
// next message's transaction under way, and it starts no more messages once
// stop says so.
//
// When the relay offers PIPELINING (RFC 2920), as relays commonly do, the
// three commands go out in one write and their replies are read after, and
// each message's commands go out with the data of the message before. So n
// messages cost n+1 round trips instead of 4n.
func (c *Conn) transact(stop func(next int) bool, out []outgoing, rs []Result) (n int, st stage, err error) {
	cl := c.client
	if !cl.HasConnection() {
		return 1, stageConn, errors.New("no connection")
	}
	t := cl.Text
	if ok, _ := cl.Extension("PIPELINING"); !ok {
		st, err := c.transactOne(out[0])
		if err == nil {
			rs[out[0].index] = Result{Status: Sent}
		}
		return 1, st, err
	}
	// One request of go-mail's textproto pipeline, which its own commands
	// (RSET, QUIT) also go through; it must end before they run.
	id := t.Next()
	t.StartRequest(id)
	t.StartResponse(id)
	defer t.EndResponse(id)
	defer t.EndRequest(id)

	utf8, _ := cl.Extension("SMTPUTF8")
	esc, _ := cl.Extension("ENHANCEDSTATUSCODES")
	if err := cl.UpdateDeadline(c.s.timeout); err != nil {
		return 1, stageConn, err
	}
	c.env = appendEnvelope(c.env[:0], out[0], utf8)
	if err := c.write(c.env); err != nil {
		return 1, stageMail, err
	}
	if st, err := c.envelopeReplies(); err != nil {
		return 1, st, err
	}
	for k := 0; ; k++ {
		// The message, its dot, and the next message's envelope.
		o := &out[k]
		w := append(o.data, ".\r\n"...)
		next := k+1 < len(out) && !stopped(stop, out[k+1])
		if next {
			w = appendEnvelope(w, out[k+1], utf8)
		}
		o.buf = w
		if err := cl.UpdateDeadline(c.s.timeout); err != nil {
			return k + 1, stageWrite, err
		}
		if err := c.write(w); err != nil {
			return k + 1, stageWrite, err
		}
		if _, _, err := t.ReadResponse(250); err != nil {
			if !next {
				return k + 1, stageEnd, err
			}
			// The relay ended the transaction either way (RFC 5321 section
			// 4.1.1.4), so the next one, already under way, can go on if the
			// connection is still good.
			r, reusable := classify(stageEnd, err, esc)
			if !reusable {
				return k + 1, stageEnd, err
			}
			rs[o.index] = r
		} else {
			rs[o.index] = Result{Status: Sent}
		}
		if !next {
			return k + 1, stageEnd, nil
		}
		if st, err := c.envelopeReplies(); err != nil {
			return k + 2, st, err
		}
		if stopped(stop, out[k+1]) {
			// The next message's DATA is open. Hang up rather than send it:
			// a relay that loses the connection cancels the transaction
			// under way (RFC 5321 section 3.8), so the message is not sent.
			c.drop()
			return k + 1, stageEnd, nil
		}
	}
}

// stopped reports whether stop says not to start o.
func stopped(stop func(next int) bool, o outgoing) bool {
	return stop != nil && stop(o.index)
}

// maxEnvelope is the most appendEnvelope appends: two paths of at most 256
// octets (RFC 5321 section 4.5.3.1.3) and the commands around them.
const maxEnvelope = 2*256 + len("MAIL FROM:<> SMTPUTF8\r\nRCPT TO:<>\r\nDATA\r\n")

// appendEnvelope appends the commands that start the transaction of o (MAIL
// FROM, RCPT TO, DATA) to dst.
func appendEnvelope(dst []byte, o outgoing, utf8 bool) []byte {
	dst = append(dst, "MAIL FROM:<"...)
	dst = append(dst, o.from...)
	dst = append(dst, '>')
	if utf8 && (!isASCII(o.from) || !isASCII(o.to)) {
		dst = append(dst, " SMTPUTF8"...)
	}
	dst = append(dst, "\r\nRCPT TO:<"...)
	dst = append(dst, o.to...)
	dst = append(dst, ">\r\nDATA\r\n"...)
	return dst
}

// write writes p to the connection.
func (c *Conn) write(p []byte) error {
	w := c.client.Text.W
	if _, err := w.Write(p); err != nil {
		return err
	}
	return w.Flush()
}

// envelopeReplies reads the replies to a pipelined MAIL FROM, RCPT TO and
// DATA, and returns the stage that failed with its error. If DATA was taken
// although the envelope was not, it ends the data at once.
func (c *Conn) envelopeReplies() (stage, error) {
	t := c.client.Text
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
		// DATA was taken although the envelope was not: end it at once with
		// an empty message (RFC 2920 section 3.1), which the relay refuses or
		// drops; the failure to report is the envelope's.
		if err := c.write([]byte(".\r\n")); err != nil {
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
	return stageData, nil
}

// transactOne runs the mail transaction of o with a relay that does not offer
// PIPELINING: each command waits for the reply to the one before.
func (c *Conn) transactOne(o outgoing) (stage, error) {
	cl := c.client
	if err := cl.UpdateDeadline(c.s.timeout); err != nil {
		return stageConn, err
	}
	// go-mail writes the paths as it is given them (RFC 5321 section 4.1.2).
	if err := cl.Mail("<" + o.from + ">"); err != nil {
		return stageMail, err
	}
	if err := cl.Rcpt("<" + o.to + ">"); err != nil {
		return stageRcpt, err
	}
	t := cl.Text
	id, err := t.Cmd("DATA")
	if err != nil {
		return stageData, err
	}
	t.StartResponse(id)
	defer t.EndResponse(id)
	if _, _, err = t.ReadResponse(354); err != nil {
		return stageData, err
	}
	// The data and the dot in one write (compose leaves room for the dot).
	if err := c.write(append(o.data, ".\r\n"...)); err != nil {
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

// isClosed reports whether Close was called.
func (c *Conn) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}
