package delivery_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"github.com/tidings/tidings/delivery"
	"github.com/tidings/tidings/delivery/mailcatch"
)

// caughtTo lists the recipients of what srv caught, in order.
func caughtTo(srv *mailcatch.Server) []string {
	var to []string
	for _, m := range srv.Messages() {
		to = append(to, strings.Join(m.To, ","))
	}
	return to
}

// TestConn_SendAll_Refusals: in one SendAll, every kind of refusal, at RCPT
// TO or at the end of the data, happens to one message while its neighbours'
// envelopes are pipelined with it, and each message gets its own result.
// The relay catches each good message once, and nothing of the refused ones.
func TestConn_SendAll_Refusals(t *testing.T) {
	t.Parallel()
	reply := func(code int, enhanced ...int) *gosmtp.SMTPError {
		e := &gosmtp.SMTPError{Code: code, EnhancedCode: gosmtp.NoEnhancedCode, Message: "test reply"}
		if len(enhanced) == 3 {
			e.EnhancedCode = gosmtp.EnhancedCode{enhanced[0], enhanced[1], enhanced[2]}
		}
		return e
	}
	rcpt := map[string]*gosmtp.SMTPError{
		"r421@example.org":     reply(421, 4, 4, 5),
		"r450@example.org":     reply(450, 4, 2, 0),
		"r550-511@example.org": reply(550, 5, 1, 1),
		"r550-571@example.org": reply(550, 5, 7, 1),
	}
	data := map[string]*gosmtp.SMTPError{
		"d421@example.org":     reply(421, 4, 3, 2),
		"d451@example.org":     reply(451, 4, 3, 0),
		"d550-511@example.org": reply(550, 5, 1, 1),
		"d554-571@example.org": reply(554, 5, 7, 1),
	}
	srv := MustStart(t, mailcatch.Options{
		Reply:     func(_, to string) *gosmtp.SMTPError { return rcpt[to] },
		DataReply: func(_ string, to []string) *gosmtp.SMTPError { return data[to[0]] },
	})
	c := MustDial(t, MustSender(t, plainURL(srv)))

	refused := []struct {
		to       string
		status   delivery.Status
		code     int
		enhanced string
		address  bool
	}{
		{"r421@example.org", delivery.TempFailure, 421, "4.4.5", false},
		{"r450@example.org", delivery.TempFailure, 450, "4.2.0", false},
		{"r550-511@example.org", delivery.PermFailure, 550, "5.1.1", true},
		{"r550-571@example.org", delivery.PermFailure, 550, "5.7.1", false},
		{"d421@example.org", delivery.TempFailure, 421, "4.3.2", false},
		{"d451@example.org", delivery.TempFailure, 451, "4.3.0", false},
		{"d550-511@example.org", delivery.PermFailure, 550, "5.1.1", true},
		{"d554-571@example.org", delivery.PermFailure, 554, "5.7.1", false},
		{"not an address", delivery.PermFailure, 0, "", true},
	}
	// ok0, refused[0], ok1, ok2, refused[1], ok3, ok4, ...: a refusal
	// follows a good message and is followed by two.
	var msgs []*delivery.Message
	var want []string // the good recipients, in order
	ok := func() {
		to := fmt.Sprintf("ok%d@example.org", len(want))
		want = append(want, to)
		msgs = append(msgs, newMessage(to))
	}
	ok()
	for _, r := range refused {
		msgs = append(msgs, newMessage(r.to))
		ok()
		ok()
	}
	rs := c.SendAll(context.Background(), nil, msgs)
	if len(rs) != len(msgs) {
		t.Fatalf("%d results for %d messages", len(rs), len(msgs))
	}
	next := 0
	for i, r := range rs {
		if m := msgs[i]; strings.HasPrefix(m.To, "ok") {
			if r.Status != delivery.Sent || r.Err != nil {
				t.Errorf("%s: %+v, want sent", m.To, r)
			}
			continue
		}
		w := refused[next]
		next++
		if r.Status != w.status || r.Code != w.code || r.Enhanced != w.enhanced || r.AddressFailure != w.address || r.Err == nil {
			t.Errorf("%s = {%v %d %q address=%v} (err %v), want {%v %d %q address=%v}",
				w.to, r.Status, r.Code, r.Enhanced, r.AddressFailure, r.Err, w.status, w.code, w.enhanced, w.address)
		}
	}
	if got := caughtTo(srv); !slices.Equal(got, want) {
		t.Errorf("caught %q, want %q", got, want)
	}
	// A 421 means the relay hangs up: each made a new connection.
	if got := srv.Connections(); got != 3 {
		t.Errorf("Connections() = %d, want 3", got)
	}
}

// scripted is a relay written by hand for what mailcatch cannot do. It offers
// PIPELINING and reads commands one line at a time, as a relay may. At the
// end of each message it calls atEnd, before replying, with the connection's
// number (from 1), the message's recipient, and the connection and its
// reader, which atEnd may look ahead in. atEnd says what to do: reply 250
// (and hang up after, if hangUp).
type scripted struct {
	t     *testing.T
	l     net.Listener
	atEnd func(conn int, to string, nc net.Conn, r *bufio.Reader) (reply, hangUp bool)

	mu    sync.Mutex
	conns int
	taken []string // "conn:to" of each message replied 250 to
}

func startScripted(t *testing.T, atEnd func(conn int, to string, nc net.Conn, r *bufio.Reader) (reply, hangUp bool)) *scripted {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &scripted{t: t, l: l, atEnd: atEnd}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			nc, err := l.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.conns++
			n := s.conns
			s.mu.Unlock()
			go s.serve(n, nc)
		}
	}()
	return s
}

func (s *scripted) url() string { return "smtp://" + s.l.Addr().String() + "?tls=none" }

func (s *scripted) serve(n int, nc net.Conn) {
	defer nc.Close()
	tp := textproto.NewConn(nc)
	reply := func(line string) { _ = tp.PrintfLine("%s", line) }
	reply("220 scripted")
	var to string
	for {
		line, err := tp.ReadLine()
		if err != nil {
			return
		}
		cmd := strings.ToUpper(line)
		switch {
		case strings.HasPrefix(cmd, "EHLO"):
			reply("250-scripted")
			reply("250 PIPELINING")
		case strings.HasPrefix(cmd, "MAIL FROM:"):
			to = ""
			reply("250 ok")
		case strings.HasPrefix(cmd, "RCPT TO:"):
			to = strings.Trim(line[len("RCPT TO:"):], "<>")
			reply("250 ok")
		case cmd == "DATA":
			reply("354 go on")
			if _, err := tp.ReadDotLines(); err != nil {
				return
			}
			ok, hangUp := s.atEnd(n, to, nc, tp.R)
			if ok {
				s.mu.Lock()
				s.taken = append(s.taken, fmt.Sprintf("%d:%s", n, to))
				s.mu.Unlock()
				reply("250 taken")
			}
			if hangUp {
				s.hangUp(nc)
				return
			}
		case cmd == "RSET":
			reply("250 ok")
		case cmd == "QUIT":
			reply("221 bye")
			return
		default:
			reply("502 not here")
		}
	}
}

// hangUp closes nc as a relay that quits would, without a reset: it says it
// will send nothing more, and waits for the client to close its side. What
// the client sent meanwhile is read and thrown away.
func (s *scripted) hangUp(nc net.Conn) {
	_ = nc.(*net.TCPConn).CloseWrite()
	_ = nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, _ = io.Copy(io.Discard, nc)
}

func (s *scripted) took() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.taken)
}

// TestConn_SendAll_Pipelined: the next message's MAIL FROM reaches the relay
// before the relay has replied to the end of the message before it, so the
// two go in one round trip. The relay holds each reply until it can see what
// follows.
func TestConn_SendAll_Pipelined(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var ahead []string // per message but the last: what followed its dot before the reply
	relay := startScripted(t, func(_ int, to string, nc net.Conn, r *bufio.Reader) (bool, bool) {
		if to == "last@example.org" {
			return true, false
		}
		_ = nc.SetReadDeadline(time.Now().Add(10 * time.Second))
		next, err := r.Peek(len("MAIL FROM:"))
		_ = nc.SetReadDeadline(time.Time{})
		mu.Lock()
		ahead = append(ahead, fmt.Sprintf("%s %v", next, err))
		mu.Unlock()
		return true, false
	})
	c := MustDial(t, MustSender(t, relay.url()))
	msgs := []*delivery.Message{newMessage("a@example.org"), newMessage("b@example.org"), newMessage("c@example.org"), newMessage("last@example.org")}
	for i, r := range c.SendAll(context.Background(), nil, msgs) {
		if r.Status != delivery.Sent {
			t.Errorf("message %d: %+v", i, r)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if want := []string{"MAIL FROM: <nil>", "MAIL FROM: <nil>", "MAIL FROM: <nil>"}; !slices.Equal(ahead, want) {
		t.Errorf("after each end of data the relay read %q, want %q", ahead, want)
	}
	if got, want := relay.took(), []string{"1:a@example.org", "1:b@example.org", "1:c@example.org", "1:last@example.org"}; !slices.Equal(got, want) {
		t.Errorf("relay took %q, want %q", got, want)
	}
}

// TestConn_SendAll_Dropped: when the connection is lost in the middle of a
// SendAll, the message it was lost at is a temporary failure, and the next
// ones, whose envelope may have gone out on the lost connection already, go
// on a new connection, each once.
func TestConn_SendAll_Dropped(t *testing.T) {
	t.Parallel()

	// The relay takes a@ and hangs up before it reads b@'s envelope: b@
	// cannot have been taken, so it is sent again at once. a@ is the first
	// message on its connection; b@ is not.
	t.Run("AfterReply", func(t *testing.T) {
		t.Parallel()
		relay := startScripted(t, func(conn int, to string, _ net.Conn, _ *bufio.Reader) (bool, bool) {
			return true, conn == 1 && to == "a@example.org"
		})
		c := MustSender(t, relay.url()).NewConn()
		t.Cleanup(func() { _ = c.Close() })
		msgs := []*delivery.Message{newMessage("a@example.org"), newMessage("b@example.org"), newMessage("c@example.org")}
		for i, r := range c.SendAll(context.Background(), nil, msgs) {
			if r.Status != delivery.Sent {
				t.Errorf("message %d: %+v, want sent", i, r)
			}
		}
		if got, want := relay.took(), []string{"1:a@example.org", "2:b@example.org", "2:c@example.org"}; !slices.Equal(got, want) {
			t.Errorf("relay took %q, want %q", got, want)
		}
	})

	// The relay hangs up at the end of b@, without a reply: b@ may or may
	// not have been taken, so it is a temporary failure, not sent again.
	t.Run("AtEnd", func(t *testing.T) {
		t.Parallel()
		relay := startScripted(t, func(conn int, to string, _ net.Conn, _ *bufio.Reader) (bool, bool) {
			if to == "b@example.org" {
				return false, true
			}
			return true, false
		})
		c := MustDial(t, MustSender(t, relay.url()))
		msgs := []*delivery.Message{newMessage("a@example.org"), newMessage("b@example.org"), newMessage("c@example.org"), newMessage("d@example.org")}
		rs := c.SendAll(context.Background(), nil, msgs)
		for i, r := range rs {
			if want := delivery.Sent; i != 1 && r.Status != want {
				t.Errorf("message %d: %+v, want sent", i, r)
			}
		}
		if r := rs[1]; r.Status != delivery.TempFailure || r.Code != 0 || r.Err == nil {
			t.Errorf("b@ = %+v, want a temporary failure without a reply", r)
		}
		if got, want := relay.took(), []string{"1:a@example.org", "2:c@example.org", "2:d@example.org"}; !slices.Equal(got, want) {
			t.Errorf("relay took %q, want %q", got, want)
		}
	})

	t.Run("ErrUnreachable", func(t *testing.T) {
		t.Parallel()
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		c := MustSender(t, "smtp://"+addr+"?tls=none").NewConn()
		rs := c.SendAll(context.Background(), nil, []*delivery.Message{newMessage("a@example.org"), newMessage("not an address"), newMessage("c@example.org")})
		if rs[0].Status != delivery.TempFailure || rs[2].Status != delivery.TempFailure || rs[0].Err == nil {
			t.Errorf("SendAll to a closed port = %+v, want temporary failures", rs)
		}
		if !rs[1].AddressFailure {
			t.Errorf("a bad address = %+v, want an address failure", rs[1])
		}
	})
}

// TestConn_SendAll_Stop: closing stop lets the message under way finish and
// starts no more. The next message's DATA, already open, is abandoned by
// hanging up, so the relay takes nothing of it.
func TestConn_SendAll_Stop(t *testing.T) {
	t.Parallel()

	t.Run("During", func(t *testing.T) {
		t.Parallel()
		reached := make(chan struct{})
		release := make(chan struct{})
		srv := MustStart(t, mailcatch.Options{
			DataReply: func(_ string, to []string) *gosmtp.SMTPError {
				if to[0] == "a@example.org" {
					close(reached)
					<-release
				}
				return nil
			},
		})
		c := MustDial(t, MustSender(t, plainURL(srv)))
		stop := make(chan struct{})
		go func() {
			<-reached
			close(stop)
			close(release)
		}()
		msgs := []*delivery.Message{newMessage("a@example.org"), newMessage("b@example.org"), newMessage("c@example.org")}
		rs := c.SendAll(context.Background(), stop, msgs)
		if rs[0].Status != delivery.Sent {
			t.Errorf("the message under way: %+v, want sent", rs[0])
		}
		for _, r := range rs[1:] {
			if r.Status != delivery.TempFailure || !errors.Is(r.Err, delivery.ErrNotSent) {
				t.Errorf("a message after stop: %+v, want ErrNotSent", r)
			}
		}
		if got, want := caughtTo(srv), []string{"a@example.org"}; !slices.Equal(got, want) {
			t.Errorf("caught %q, want %q", got, want)
		}
		// Left inside b@'s DATA, QUIT would be taken as message text, and
		// Close would wait for a reply that never comes.
		if err := c.Close(); err != nil {
			t.Errorf("Close after stop: %v", err)
		}
	})

	t.Run("Before", func(t *testing.T) {
		t.Parallel()
		srv := MustStart(t, mailcatch.Options{})
		c := MustDial(t, MustSender(t, plainURL(srv)))
		stop := make(chan struct{})
		close(stop)
		for _, r := range c.SendAll(context.Background(), stop, []*delivery.Message{newMessage("a@example.org"), newMessage("b@example.org")}) {
			if !errors.Is(r.Err, delivery.ErrNotSent) {
				t.Errorf("SendAll after stop: %+v, want ErrNotSent", r)
			}
		}
		if got := srv.Caught(); got != 0 {
			t.Errorf("caught %d", got)
		}
	})
}
