package main

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/tidings/tidings/campaigns"
	"github.com/tidings/tidings/subscribers"
)

// unsubscribes is how many one-click unsubscribes each half of
// measureUnsubscribe times.
const unsubscribes = 100

// unsubscribeLatency is what measureUnsubscribe found: the times of the
// one-click POSTs with nothing sending (idle) and while a broadcast sends
// (busy), sorted, and what became of the busy recipients' claimed messages.
type unsubscribeLatency struct {
	idle, busy    []time.Duration
	sent, skipped int // of the busy recipients' broadcast messages
}

// measureUnsubscribe times 100 one-click unsubscribes (RFC 8058 POSTs to
// /unsubscribe/{token}, one after another) of recipients of a list with
// nothing being sent to them, then 100 more of recipients whose broadcast
// messages are claimed while it sends through a relay that takes delay over
// each message. It runs `tidings serve --role all` of its own against a
// sink of its own, and warms both up first: a few untimed unsubscribes, and
// a broadcast to a small list of its own.
func measureUnsubscribe(ctx context.Context, bin, dsn string, db *sqlx.DB, conns int, delay time.Duration) (*unsubscribeLatency, error) {
	sinkSMTP, sinkHTTP, stopSink, err := startSink(ctx, sinkOptions{delay: delay})
	if err != nil {
		return nil, err
	}
	defer stopSink()
	listID, err := seed(ctx, db, "leave", "leaver", 20*unsubscribes)
	if err != nil {
		return nil, err
	}
	warmID, err := seed(ctx, db, "leave-warm", "leave-warm", unsubscribes)
	if err != nil {
		return nil, err
	}
	// As a database in use would be, and not in the middle of autovacuuming
	// what a benchmark before this one left (make bench's broadcasts update
	// every row of the outbox they queue).
	if _, err := db.ExecContext(ctx, `VACUUM ANALYZE outbox, subscriptions, subscribers, events`); err != nil {
		return nil, err
	}
	var subs []int64
	if err := db.SelectContext(ctx, &subs, `SELECT id FROM subscriptions WHERE list_id = $1 ORDER BY id`, listID); err != nil {
		return nil, err
	}
	app, listen, err := startApp(ctx, bin, dsn, sinkSMTP, conns)
	if err != nil {
		return nil, err
	}
	defer app.stop()
	links := &subscribers.Links{BaseURL: listen, Paths: subscribers.LinkPaths{Unsubscribe: "/unsubscribe/{token}"},
		Tokens: &subscribers.Tokens{Secret: []byte(benchSecret)}}
	client := &http.Client{Timeout: time.Minute}

	lat := &unsubscribeLatency{}
	// Nothing is sent to the last ones of the list: they leave first, after
	// a few untimed, so that no timing pays for the first connections.
	warm := subs[len(subs)-unsubscribes-10 : len(subs)-unsubscribes]
	if _, err := timeUnsubscribes(ctx, client, links, warm); err != nil {
		return nil, err
	}
	if lat.idle, err = timeUnsubscribes(ctx, client, links, subs[len(subs)-unsubscribes:]); err != nil {
		return nil, err
	}

	// The sending side is warmed up as well, with a broadcast to a small
	// list of its own, so that the timed unsubscribes meet a broadcast in
	// its stride rather than the first claims of new connections, each
	// planning its statements.
	store := &campaigns.Store{DB: db, Now: time.Now}
	warmBroadcast, err := newBroadcast(ctx, db, warmID)
	if err != nil {
		return nil, err
	}
	if _, err := store.SendNow(ctx, warmBroadcast); err != nil {
		return nil, err
	}
	if _, err := waitFor(ctx, sinkHTTP, unsubscribes); err != nil {
		return nil, err
	}
	broadcastID, err := newBroadcast(ctx, db, listID)
	if err != nil {
		return nil, err
	}
	if _, err := store.SendNow(ctx, broadcastID); err != nil {
		return nil, err
	}
	// Those whose messages are claimed, the last claimed first: they will
	// wait longest for their turn at the relay.
	var busy []int64
	for len(busy) < unsubscribes {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		busy = busy[:0]
		const q = `
			SELECT subscription_id
			FROM outbox
			WHERE broadcast_id = $1
			  AND status = 'queued'
			  AND claimed_until IS NOT NULL
			ORDER BY id DESC
			LIMIT $2`
		if err := db.SelectContext(ctx, &busy, q, broadcastID, unsubscribes); err != nil {
			return nil, err
		}
		time.Sleep(50 * time.Millisecond)
	}
	if lat.busy, err = timeUnsubscribes(ctx, client, links, busy); err != nil {
		return nil, err
	}
	app.stop()
	var counts struct {
		Sent    int `db:"sent"`
		Skipped int `db:"skipped"`
	}
	const q = `
		SELECT count(*) FILTER (WHERE status = 'sent') AS sent,
		       count(*) FILTER (WHERE status = 'skipped') AS skipped
		FROM outbox
		WHERE broadcast_id = $1
		  AND subscription_id = ANY ($2)`
	if err := db.GetContext(ctx, &counts, q, broadcastID, int64s(busy)); err != nil {
		return nil, err
	}
	lat.sent, lat.skipped = counts.Sent, counts.Skipped
	return lat, nil
}

// timeUnsubscribes posts a one-click unsubscribe for each subscription, one
// after another, and returns how long each took, sorted.
func timeUnsubscribes(ctx context.Context, client *http.Client, links *subscribers.Links, subs []int64) ([]time.Duration, error) {
	took := make([]time.Duration, 0, len(subs))
	for _, id := range subs {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, links.Unsubscribe(id), strings.NewReader(url.Values{"List-Unsubscribe": {"One-Click"}}.Encode()))
		if err != nil {
			return nil, err
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		start := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			return nil, err
		}
		resp.Body.Close()
		took = append(took, time.Since(start))
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("unsubscribe of subscription %d: %s", id, resp.Status)
		}
	}
	slices.Sort(took)
	return took, nil
}

// percentile is the p-th percentile of sorted (nearest rank).
func percentile(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := (p*len(sorted) + 99) / 100
	return sorted[max(0, min(len(sorted), i)-1)]
}

// int64s is ids as a Postgres array.
func int64s(ids []int64) string {
	parts := make([]string, len(ids))
	for i, id := range ids {
		parts[i] = strconv.FormatInt(id, 10)
	}
	return "{" + strings.Join(parts, ",") + "}"
}

// print writes the latencies and their ratios.
func (l *unsubscribeLatency) print(delay time.Duration) {
	ms := func(d time.Duration) string {
		return strconv.FormatFloat(float64(d.Microseconds())/1000, 'f', 1, 64) + " ms"
	}
	idle50, idle99 := percentile(l.idle, 50), percentile(l.idle, 99)
	busy50, busy99 := percentile(l.busy, 50), percentile(l.busy, 99)
	fmt.Printf("unsubscribe, idle         p50 %s, p99 %s (%d one-click POSTs, nothing sending)\n", ms(idle50), ms(idle99), len(l.idle))
	fmt.Printf("unsubscribe, sending      p50 %s, p99 %s (%d with claimed messages, relay %s a message)\n", ms(busy50), ms(busy99), len(l.busy), delay)
	fmt.Printf("unsubscribe sending/idle  p50 %.2f, p99 %.2f (want under 3)\n", float64(busy50)/float64(idle50), float64(busy99)/float64(idle99))
	fmt.Printf("  their claimed messages  %d sent (in the relay already), %d skipped\n", l.sent, l.skipped)
}
