package delivery_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"github.com/tidings/tidings/delivery"
	"github.com/tidings/tidings/internal/devmail"
)

// caughtTo lists the recipients of what srv caught, in order.
func caughtTo(srv *devmail.Server) []string {
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
	srv := refusingRelay(t)
	c := MustDial(t, MustSender(t, plainURL(srv)))
	refused := slices.Concat(refusals, []refusal{{to: "not an address", status: delivery.PermFailure, address: true}})
	// ok0, refused[0], ok1, ok2, refused[1], ok3, ok4, ...: a refusal
	// follows a good message and is followed by two.
	var expect []refusal
	var want []string // the good recipients, in order
	ok := func() {
		to := fmt.Sprintf("ok%d@example.org", len(want))
		want = append(want, to)
		expect = append(expect, refusal{to: to, status: delivery.Sent})
	}
	ok()
	for _, r := range refused {
		expect = append(expect, r)
		ok()
		ok()
	}
	msgs := make([]*delivery.Message, len(expect))
	for i, e := range expect {
		msgs[i] = newMessage(e.to)
	}
	rs := c.SendAll(context.Background(), nil, msgs)
	if len(rs) != len(msgs) {
		t.Fatalf("%d results for %d messages", len(rs), len(msgs))
	}
	for i, r := range rs {
		expect[i].check(t, r)
	}
	if got := caughtTo(srv); !slices.Equal(got, want) {
		t.Errorf("caught %q, want %q", got, want)
	}
	// A 421 means the relay hangs up: each made a new connection, and the
	// one at RCPT TO, before the data, one more for its second try.
	if got := srv.Connections(); got != 4 {
		t.Errorf("Connections() = %d, want 4", got)
	}
}

// TestConn_SendAll_Pipelined: the next message's MAIL FROM reaches the relay
// before the relay has replied to the end of the message before it, so the
// two go in one round trip. The relay holds each reply until it can see what
// follows.
func TestConn_SendAll_Pipelined(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var ahead []string // per message but the last: what followed its dot before the reply
	relay := startScripted(t, true, func(_ int, to string, nc net.Conn, r *bufio.Reader) (bool, bool) {
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
	relay.mustHaveTaken(t, "1:a@example.org", "1:b@example.org", "1:c@example.org", "1:last@example.org")
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
		relay := startScripted(t, true, func(conn int, to string, _ net.Conn, _ *bufio.Reader) (bool, bool) {
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
		relay.mustHaveTaken(t, "1:a@example.org", "2:b@example.org", "2:c@example.org")
	})

	// The relay hangs up at the end of b@, without a reply: b@ may or may
	// not have been taken, so it is a temporary failure, not sent again.
	t.Run("AtEnd", func(t *testing.T) {
		t.Parallel()
		relay := startScripted(t, true, func(conn int, to string, _ net.Conn, _ *bufio.Reader) (bool, bool) {
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
		relay.mustHaveTaken(t, "1:a@example.org", "2:c@example.org", "2:d@example.org")
	})

	t.Run("ErrUnreachable", func(t *testing.T) {
		t.Parallel()
		c := MustSender(t, closedPortURL(t)).NewConn()
		rs := c.SendAll(context.Background(), nil, []*delivery.Message{newMessage("a@example.org"), newMessage("not an address"), newMessage("c@example.org")})
		if rs[0].Status != delivery.TempFailure || rs[2].Status != delivery.TempFailure || rs[0].Err == nil {
			t.Errorf("SendAll to a closed port = %+v, want temporary failures", rs)
		}
		if !rs[1].AddressFailure {
			t.Errorf("a bad address = %+v, want an address failure", rs[1])
		}
	})
}

// TestConn_SendAll_Stop: once stop says true, the message under way
// finishes and no more start. The next message's DATA, already open, is abandoned by
// hanging up, so the relay takes nothing of it.
func TestConn_SendAll_Stop(t *testing.T) {
	t.Parallel()

	t.Run("During", func(t *testing.T) {
		t.Parallel()
		reached := make(chan struct{})
		release := make(chan struct{})
		srv := MustStart(t, devmail.Options{
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
		rs := c.SendAll(context.Background(), closedStop(stop), msgs)
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

	t.Run("AtIndex", func(t *testing.T) {
		t.Parallel()
		srv := MustStart(t, devmail.Options{})
		c := MustDial(t, MustSender(t, plainURL(srv)))
		var asked []int
		stop := func(next int) bool {
			asked = append(asked, next)
			return next == 2
		}
		msgs := []*delivery.Message{newMessage("a@example.org"), newMessage("b@example.org"), newMessage("c@example.org")}
		rs := c.SendAll(context.Background(), stop, msgs)
		if rs[0].Status != delivery.Sent || rs[1].Status != delivery.Sent || !errors.Is(rs[2].Err, delivery.ErrNotSent) {
			t.Errorf("results %+v, want a and b sent, c not", rs)
		}
		if got, want := caughtTo(srv), []string{"a@example.org", "b@example.org"}; !slices.Equal(got, want) {
			t.Errorf("caught %q, want %q", got, want)
		}
		for _, next := range asked {
			if next < 0 || next > 2 {
				t.Errorf("stop asked about message %d of 3", next)
			}
		}
		if !slices.Contains(asked, 1) || !slices.Contains(asked, 2) {
			t.Errorf("stop asked about %v, want 1 and 2 among them", asked)
		}
	})

	t.Run("Before", func(t *testing.T) {
		t.Parallel()
		srv := MustStart(t, devmail.Options{})
		c := MustDial(t, MustSender(t, plainURL(srv)))
		stop := make(chan struct{})
		close(stop)
		for _, r := range c.SendAll(context.Background(), closedStop(stop), []*delivery.Message{newMessage("a@example.org"), newMessage("b@example.org")}) {
			if !errors.Is(r.Err, delivery.ErrNotSent) {
				t.Errorf("SendAll after stop: %+v, want ErrNotSent", r)
			}
		}
		if got := srv.Caught(); got != 0 {
			t.Errorf("caught %d", got)
		}
	})
}

// closedStop is a stop for SendAll that says true once ch is closed.
func closedStop(ch <-chan struct{}) func(int) bool {
	return func(int) bool {
		select {
		case <-ch:
			return true
		default:
			return false
		}
	}
}

// TestConn_SendAll_Closing: a relay that says 421 (closing, RFC 5321 section
// 3.8) before a message's data has gone hung up, which says nothing against
// the message: it goes again at once on a new connection, once. A 421 at the
// end of the data may come after the relay took the message, so that one is
// left a temporary failure, and so is a message the relay closes on twice.
func TestConn_SendAll_Closing(t *testing.T) {
	t.Parallel()
	type at struct {
		conn, txn int
		stage     string
	}
	for _, tt := range []struct {
		name   string
		closes []at     // where the relay says 421 and hangs up
		want   []string // the relay takes, "conn:to"
		b      delivery.Status
	}{
		{"Mail", []at{{1, 2, "MAIL"}}, []string{"1:a@example.org", "2:b@example.org", "2:c@example.org"}, delivery.Sent},
		{"Rcpt", []at{{1, 2, "RCPT"}}, []string{"1:a@example.org", "2:b@example.org", "2:c@example.org"}, delivery.Sent},
		{"Data", []at{{1, 2, "DATA"}}, []string{"1:a@example.org", "2:b@example.org", "2:c@example.org"}, delivery.Sent},
		{"AfterDot", []at{{1, 2, "END"}}, []string{"1:a@example.org", "2:c@example.org"}, delivery.TempFailure},
		{"Twice", []at{{1, 2, "MAIL"}, {2, 1, "RCPT"}}, []string{"1:a@example.org", "3:c@example.org"}, delivery.TempFailure},
		{"TwiceAtData", []at{{1, 2, "DATA"}, {2, 1, "DATA"}}, []string{"1:a@example.org", "3:c@example.org"}, delivery.TempFailure},
	} {
		for _, pipelining := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/pipelining=%v", tt.name, pipelining), func(t *testing.T) {
				t.Parallel()
				relay := startClosing(t, pipelining, func(conn, txn int, stage string) bool {
					return slices.Contains(tt.closes, at{conn, txn, stage})
				})
				c := MustDial(t, MustSender(t, relay.url()))
				msgs := []*delivery.Message{newMessage("a@example.org"), newMessage("b@example.org"), newMessage("c@example.org")}
				rs := c.SendAll(context.Background(), nil, msgs)
				for i, r := range rs {
					want := delivery.Sent
					if i == 1 {
						want = tt.b
					}
					if r.Status != want {
						t.Errorf("message %d: %+v, want %v", i, r, want)
					}
				}
				if r := rs[1]; tt.b == delivery.TempFailure && r.Code != 421 {
					t.Errorf("b@ = %+v, want the relay's 421", r)
				}
				relay.mustHaveTaken(t, tt.want...)
			})
		}
	}

	// The first message on a new connection is sent again too: the relay's
	// 421 is what says it cannot have taken it.
	t.Run("First", func(t *testing.T) {
		t.Parallel()
		relay := startClosing(t, true, func(conn, txn int, stage string) bool { return conn == 1 && stage == "MAIL" })
		c := MustSender(t, relay.url()).NewConn()
		t.Cleanup(func() { _ = c.Close() })
		if r := c.Send(context.Background(), newMessage("a@example.org")); r.Status != delivery.Sent {
			t.Errorf("Send = %+v, want sent", r)
		}
		relay.mustHaveTaken(t, "2:a@example.org")
	})
}
