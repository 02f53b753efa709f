package campaigns_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/tidings/tidings/campaigns"
	"github.com/tidings/tidings/delivery"
	"github.com/tidings/tidings/internal/pgtest"
	"github.com/tidings/tidings/templates"
)

// MustSeed adds n confirmed subscribers to the list, set-based, every
// tenth tagged "vip", and returns after an ANALYZE so plans are realistic.
func MustSeed(tb testing.TB, db *sqlx.DB, listID int64, n int) {
	tb.Helper()
	const subscribers = `
		INSERT INTO subscribers (email, name, tags, created_at, updated_at)
		SELECT 'reader' || i || '@example.com', 'Reader ' || i,
		       CASE WHEN i % 10 = 0 THEN ARRAY['vip'] ELSE '{}'::text[] END, now(), now()
		FROM generate_series(1, $1::int) AS i`
	if _, err := db.Exec(subscribers, n); err != nil {
		tb.Fatal(err)
	}
	const subscriptions = `
		INSERT INTO subscriptions (subscriber_id, list_id, status, confirmed_at, created_at, updated_at)
		SELECT r.id, $1, 'confirmed', now(), now(), now()
		FROM subscribers r
		WHERE r.email LIKE 'reader%@example.com'`
	if _, err := db.Exec(subscriptions, listID); err != nil {
		tb.Fatal(err)
	}
	if _, err := db.Exec(`ANALYZE`); err != nil {
		tb.Fatal(err)
	}
}

// BenchmarkStore_SendNow1M times the start of a broadcast to 1,000,000
// confirmed subscribers: the one INSERT ... SELECT that queues them all and
// the status change, in one transaction. Run it with
//
//	go test -run '^$' -bench SendNow1M -benchtime 1x ./campaigns/
func BenchmarkStore_SendNow1M(b *testing.B) {
	const n = 1_000_000
	db := pgtest.MustOpenDB(b)
	e := newEnv(b, db, "2026-03-02T10:00:00Z")
	list := MustList(b, db, listOpts{slug: "big"})
	seeded := time.Now()
	MustSeed(b, db, list, n)
	b.Logf("seeded %d subscribers in %s", n, time.Since(seeded).Round(time.Millisecond))
	ctx := context.Background()
	for b.Loop() {
		b.StopTimer()
		if _, err := db.Exec(`DELETE FROM outbox`); err != nil {
			b.Fatal(err)
		}
		if _, err := db.Exec(`VACUUM outbox`); err != nil {
			b.Fatal(err)
		}
		bc := &campaigns.Broadcast{List: "big", Subject: "Hello {{.FirstName}}", Body: "News."}
		if err := e.store.CreateBroadcast(ctx, bc); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		start := time.Now()
		got, err := e.store.SendNow(ctx, bc.ID)
		if err != nil {
			b.Fatal(err)
		}
		took := time.Since(start)
		if got.Recipients != n {
			b.Fatalf("queued %d, want %d", got.Recipients, n)
		}
		b.ReportMetric(took.Seconds(), "s/enqueue")
		b.Logf("enqueued %d recipients in %s", n, took.Round(time.Millisecond))
	}
}

// throughputN is how many messages the throughput benchmarks send.
const throughputN = 3000

// BenchmarkDispatcher_BroadcastThroughput sends a broadcast to throughputN
// subscribers with Dispatcher.Run and 10 workers, into devmail; compare
// BenchmarkRawSend, go-mail alone with as many connections and a message
// rendered beforehand. Run them with
//
//	go test -run '^$' -bench Throughput -benchtime 1x ./campaigns/
func BenchmarkDispatcher_BroadcastThroughput(b *testing.B) {
	e := newMailEnv(b, "2026-03-02T10:00:00Z")
	list := MustList(b, e.db, listOpts{slug: "big"})
	MustSeed(b, e.db, list, throughputN)
	ctx := context.Background()
	for b.Loop() {
		b.StopTimer()
		e.catch.Clear()
		e.db.MustExec(`DELETE FROM outbox`)
		bc := &campaigns.Broadcast{List: "big", Subject: "Hello {{.FirstName}}", Body: benchBody}
		if err := e.store.CreateBroadcast(ctx, bc); err != nil {
			b.Fatal(err)
		}
		if _, err := e.store.SendNow(ctx, bc.ID); err != nil {
			b.Fatal(err)
		}
		d := e.dispatcher(b)
		d.Workers, d.BatchSize, d.PollInterval = 10, campaigns.DefaultDispatchSize, 10*time.Millisecond
		b.StartTimer()
		start := time.Now()
		runCtx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- d.Run(runCtx) }()
		wait, stop := context.WithTimeout(ctx, 5*time.Minute)
		err := e.catch.WaitFor(wait, throughputN)
		stop()
		took := time.Since(start)
		cancel()
		<-done
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(throughputN)/took.Seconds(), "msgs/s")
	}
}

// BenchmarkRawSend sends throughputN copies of one rendered message over 10
// connections with delivery (go-mail) alone: the ceiling for the dispatcher.
func BenchmarkRawSend(b *testing.B) {
	e := newMailEnv(b, "2026-03-02T10:00:00Z")
	m, err := e.renderer.Render(templates.Content{Subject: "Hello {{.FirstName}}", Body: benchBody},
		templates.List{Name: "Big"}, templates.Recipient{Email: "reader1@example.com", Name: "Reader 1", UnsubscribeURL: "https://news.example.com/unsubscribe/x"})
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		b.StopTimer()
		e.catch.Clear()
		b.StartTimer()
		start := time.Now()
		jobs := make(chan int)
		var wg sync.WaitGroup
		for range 10 {
			wg.Go(func() {
				conn := e.sender.NewConn()
				defer conn.Close()
				for i := range jobs {
					res := conn.Send(context.Background(), &delivery.Message{
						FromEmail: "coach@example.com", To: fmt.Sprintf("reader%d@example.com", i),
						Subject: m.Subject, HTML: m.HTML, Text: m.Text,
						Headers: map[string]string{"List-Unsubscribe": "<https://news.example.com/unsubscribe/x>"},
					})
					if res.Status != delivery.Sent {
						b.Error(res.Err)
					}
				}
			})
		}
		for i := range throughputN {
			jobs <- i
		}
		close(jobs)
		wg.Wait()
		b.ReportMetric(float64(throughputN)/time.Since(start).Seconds(), "msgs/s")
	}
}

const benchBody = `Hi {{or .FirstName "there"}},

This week: **three small habits** that stick.

# One

Start so small you can't say no. Read one page; put on your shoes.

## Two

> The secret of getting ahead is getting started.

- Write it down
- Tell a friend
- Track it for a week

Read more at https://example.com/habits or [unsubscribe]({{.UnsubscribeURL}}).
`
