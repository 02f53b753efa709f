package delivery_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/tidings/tidings/delivery"
	"github.com/tidings/tidings/internal/devmail"
)

// fakeClock is a clock whose sleeps move it on at once, and that notes each
// sleep.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	slept  []time.Duration
	cancel bool // Sleep fails with context.Canceled, without moving on
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.slept = append(c.slept, d)
	if c.cancel {
		return context.Canceled
	}
	c.now = c.now.Add(d)
	return nil
}

func TestPool_Wait(t *testing.T) {
	t.Run("Paced", func(t *testing.T) {
		clock := &fakeClock{now: time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)}
		p := &delivery.Pool{Rate: 20, Now: clock.Now, Sleep: clock.Sleep}
		start := clock.Now()
		for range 11 {
			if err := p.Wait(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
		// The first goes at once, each of the other ten 50 ms after the one
		// before.
		if got, want := clock.Now().Sub(start), 500*time.Millisecond; got != want {
			t.Fatalf("11 sends at 20/s took %s, want %s", got, want)
		}
		if len(clock.slept) != 10 {
			t.Fatalf("slept %d times, want 10: %v", len(clock.slept), clock.slept)
		}
	})
	t.Run("Unlimited", func(t *testing.T) {
		clock := &fakeClock{now: time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)}
		p := &delivery.Pool{Now: clock.Now, Sleep: clock.Sleep}
		for range 100 {
			if err := p.Wait(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
		if len(clock.slept) != 0 {
			t.Fatalf("slept %v with no rate", clock.slept)
		}
	})
	t.Run("Idle", func(t *testing.T) {
		// A turn not taken is not saved up: after a pause, one goes at once
		// and the next waits again.
		clock := &fakeClock{now: time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)}
		p := &delivery.Pool{Rate: 10, Now: clock.Now, Sleep: clock.Sleep}
		_ = p.Wait(context.Background())
		clock.now = clock.now.Add(time.Minute)
		_ = p.Wait(context.Background())
		_ = p.Wait(context.Background())
		if len(clock.slept) != 1 || clock.slept[0] != 100*time.Millisecond {
			t.Fatalf("slept %v, want [100ms]", clock.slept)
		}
	})
	t.Run("ErrCanceled", func(t *testing.T) {
		clock := &fakeClock{now: time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)}
		p := &delivery.Pool{Rate: 1, Now: clock.Now, Sleep: clock.Sleep}
		_ = p.Wait(context.Background())
		clock.cancel = true
		if err := p.Wait(context.Background()); !errors.Is(err, context.Canceled) {
			t.Fatalf("err %v", err)
		}
		// The cancelled turn is given back: the next waits one interval, not two.
		clock.cancel = false
		_ = p.Wait(context.Background())
		if last := clock.slept[len(clock.slept)-1]; last != time.Second {
			t.Fatalf("waited %s after a cancelled turn, want 1s", last)
		}
	})
	t.Run("RealClock", func(t *testing.T) {
		p := &delivery.Pool{Rate: 1}
		_ = p.Wait(context.Background())
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := p.Wait(ctx); !errors.Is(err, context.Canceled) {
			t.Fatalf("err %v", err)
		}
	})
}

func TestPool_Take(t *testing.T) {
	ctx := context.Background()
	srv := MustStart(t, devmail.Options{})
	p := &delivery.Pool{Sender: MustSender(t, plainURL(srv))}
	t.Cleanup(func() { p.Close() })
	send := func(to string) {
		t.Helper()
		c := p.Take()
		defer p.Put(c)
		if r := c.Send(ctx, newMessage(to)); r.Status != delivery.Sent {
			t.Fatalf("send to %s: %+v", to, r)
		}
	}

	t.Run("Reuse", func(t *testing.T) {
		send("a@example.org")
		send("b@example.org")
		if got := srv.Connections(); got != 1 {
			t.Fatalf("two sends one after another took %d connections, want 1", got)
		}
	})
	t.Run("ReplacedAfterFailure", func(t *testing.T) {
		srv.DropConnections()
		send("c@example.org")
		if got := srv.Connections(); got != 2 {
			t.Fatalf("connections %d, want a second one after the first was lost", got)
		}
		send("d@example.org")
		if got := srv.Connections(); got != 2 {
			t.Fatalf("connections %d, want the new one kept", got)
		}
	})
	t.Run("Concurrent", func(t *testing.T) {
		// Two goroutines sending at once each hold a connection of their own.
		a, b := p.Take(), p.Take()
		if a == b {
			t.Fatal("one connection handed out twice")
		}
		p.Put(a)
		p.Put(b)
	})
	t.Run("Closed", func(t *testing.T) {
		if err := p.Close(); err != nil {
			t.Fatal(err)
		}
		c := p.Take()
		c.Close()
		p.Put(c) // dropped: a closed Conn cannot send
		if p.Take() == c {
			t.Fatal("a closed connection was handed out again")
		}
		if srv.Caught() != 4 {
			t.Fatalf("caught %d", srv.Caught())
		}
	})
}
