package delivery

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Pool hands out the persistent connections of a Sender, one per goroutine
// that sends, and paces the sends of all of them to Rate. It is safe for
// concurrent use. The zero value is not usable: Sender must be set. When the
// relay says it is overloaded, the Pool slows down (see Report).
type Pool struct {
	Sender *Sender
	// Rate caps the messages per second sent through the Pool, across all
	// its connections (TIDINGS_SEND_RATE); 0 means no limit.
	Rate float64

	// Now and Sleep are the clock of the pacing; nil means the real one.
	// Sleep returns early with ctx's error when ctx ends.
	Now   func() time.Time
	Sleep func(ctx context.Context, d time.Duration) error

	// Logger notes when the relay is overloaded and the Pool slows down,
	// and when it is back to full pace (see Report); nil logs nothing.
	Logger *slog.Logger

	mu   sync.Mutex
	idle []*Conn // connections given back, newest last

	limOnce sync.Once
	limiter *rate.Limiter // see rateLimiter

	load overload // see Report
}

// Take returns an idle connection, or a new one that connects on its first
// send (so an unreachable relay is a temporary failure of that send, not an
// error here). A connection that failed is replaced by the Conn itself: it
// dials again on its next send.
func (p *Pool) Take() *Conn {
	p.mu.Lock()
	defer p.mu.Unlock()
	if n := len(p.idle); n > 0 {
		c := p.idle[n-1]
		p.idle = p.idle[:n-1]
		return c
	}
	return p.Sender.NewConn()
}

// Put gives c back for the next Take. A closed Conn is dropped.
func (p *Pool) Put(c *Conn) {
	if c == nil || c.isClosed() {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.idle = append(p.idle, c)
}

// Close closes the idle connections with QUIT. The Pool may still be used:
// Take makes new connections.
func (p *Pool) Close() error {
	p.mu.Lock()
	idle := p.idle
	p.idle = nil
	p.mu.Unlock()
	var errs []error
	for _, c := range idle {
		errs = append(errs, c.Close())
	}
	return errors.Join(errs...)
}

func (p *Pool) now() time.Time {
	if p.Now != nil {
		return p.Now()
	}
	return time.Now()
}

func (p *Pool) sleep(ctx context.Context, d time.Duration) error {
	if p.Sleep != nil {
		return p.Sleep(ctx, d)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// MaxSendTime bounds how long a SendAll of n messages through one of the
// Pool's connections may take: each message may need a connection dialled
// and its transaction run, each bounded by the Sender's timeout, and one of
// them may be sent again on a fresh connection (see SendAll).
func (p *Pool) MaxSendTime(n int) time.Duration {
	return time.Duration(2*(n+1)) * p.Sender.timeout
}
