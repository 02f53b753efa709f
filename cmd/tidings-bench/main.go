// Command tidings-bench measures how fast Tidings sends a broadcast, against
// the raw speed of go-mail on the same machine.
//
// It creates a throwaway database, seeds N confirmed subscribers, starts an
// SMTP sink in another process and `tidings serve --role worker` in a third,
// sends a broadcast to all of them (-runs times, a new broadcast each time),
// and prints: N, the seconds from start to the last message accepted,
// messages per second, the peak memory (VmHWM) of the sending process, and
// the duplicates and missing recipients counted at the sink. Before each
// engine run and after the last, it sends N pre-rendered messages with
// go-mail over the same number of connections to the same sink, with no
// database (the raw limits: see sendRaw, sendRawBytes and
// sendRawPipelined), and prints the engine's mean rate as a fraction of
// each one's mean. Both are warmed up first with a short run of their
// own (2,000 messages; the engine's to a list of its own).
//
// With -dkim, it then makes an RSA and an Ed25519 key for the list's From
// domain, starts a new worker, which signs every message with both, and
// times -runs broadcasts again, printing their rate as a fraction of the
// raw limits and of the unsigned engine; and it times the signer alone: a
// typical message signed rsa-sha256 on GOMAXPROCS goroutines for a few
// seconds (see measureSigned and measureSignRate).
//
// Then (unless -unsubscribe=false) it times 100 one-click unsubscribes with
// nothing sending, and 100 of recipients whose messages are claimed while a
// broadcast sends through a relay that takes 200 ms over each message, and
// prints the p50 and p99 of each and their ratio (see measureUnsubscribe).
//
// Then (unless -signups=0) it times -signups sign-ups on the hosted form,
// from 4 and then 16 clients in parallel, each on a new connection from a
// source address of its own, with every confirmation email counted at a
// sink, and the same number of GETs of a static file before each as the
// baseline (see measureSignups). -broadcast=false times only the sign-ups.
//
// Then, with -faults (a list of fault modes, or all), it sends a broadcast
// to -fault-n recipients through a sink that breaks some transactions, for
// each mode, and prints how long the outbox took to settle and what became
// of each recipient: delivered, failed for good, lost, and duplicated (see
// measureFaults). -faults-only runs only those.
//
//	make bench                      # N = 10,000
//	make bench N=100000
//	make bench-faults               # every fault mode, nothing else
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jmoiron/sqlx"
	_ "github.com/lib/pq"

	"github.com/tidings/tidings/campaigns"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "sink" {
		if err := runSink(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "sink:", err)
			os.Exit(1)
		}
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "tidings-bench:", err)
		os.Exit(1)
	}
}

type result struct {
	n          int
	enqueue    float64
	seconds    float64
	rate       float64
	duplicates int
	missing    int
}

func run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("tidings-bench", flag.ContinueOnError)
	n := fs.Int("n", 10000, "recipients")
	conns := fs.Int("connections", 10, "SMTP connections, for the engine and the raw run alike")
	bin := fs.String("tidings", "bin/tidings", "the tidings binary to measure")
	admin := fs.String("database-url", adminURL(), "a Postgres URL whose role may create databases (TIDINGS_TEST_DATABASE_URL)")
	timeout := fs.Duration("timeout", 30*time.Minute, "give up after this long")
	runs := fs.Int("runs", 2, "engine runs, each between two runs of the raw limits")
	unsubscribe := fs.Bool("unsubscribe", true, "also time one-click unsubscribes while a broadcast sends")
	slow := fs.Duration("unsubscribe-delay", 200*time.Millisecond, "what the relay takes over each message while the unsubscribes are timed")
	signups := fs.Int("signups", 5000, "sign-ups timed at each of 4 and 16 in parallel (0: none)")
	broadcast := fs.Bool("broadcast", true, "time the broadcast (false: only the sign-ups and unsubscribes)")
	dkim := fs.Bool("dkim", false, "also time the broadcast DKIM-signed (rsa-sha256 and ed25519-sha256), and the signer alone on every core")
	ff := addFaultFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	faults, err := ff.config()
	if err != nil {
		return err
	}
	// Each fault run may wait -fault-timeout to settle, on top of the rest.
	ctx, cancel := context.WithTimeout(ctx, *timeout+time.Duration(len(faults.modes))*faults.timeout)
	defer cancel()
	if faults.only {
		return runFaultsOnly(ctx, *bin, *admin, faults, *conns)
	}
	if !*broadcast {
		return runWithoutBroadcast(ctx, *bin, *admin, *unsubscribe, *slow, *signups, *conns)
	}

	sinkSMTP, sinkHTTP, stopSink, err := startSink(ctx, sinkOptions{})
	if err != nil {
		return err
	}
	defer stopSink()

	dsn, db, dropDB, err := openDB(ctx, *admin)
	if err != nil {
		return err
	}
	defer dropDB()
	listID, err := seed(ctx, db, "bench", "reader", *n)
	if err != nil {
		return err
	}
	warmID, err := seed(ctx, db, "warm", "warm", min(*n, 2000))
	if err != nil {
		return err
	}
	// As a database that has been in use would be: otherwise autovacuum
	// takes the fresh tables in hand while the measurements run.
	if _, err := db.ExecContext(ctx, `VACUUM ANALYZE subscribers, subscriptions`); err != nil {
		return err
	}

	// The machine's speed drifts over a minute, so the raw limits and the
	// engine take turns: raw, engine, raw, ..., engine, raw, each raw limit
	// measured runs+1 times and the engine runs times, and the rates of
	// each are averaged. A short raw run first, so that no measurement pays
	// for the sink's first connections and allocations.
	if _, err := measureRaw(ctx, sendRaw, sinkSMTP, sinkHTTP, min(*n, 2000), *conns); err != nil {
		return err
	}
	var raws, bytess, pipeds []float64
	measureRaws := func() error {
		r, err := measureRaw(ctx, sendRaw, sinkSMTP, sinkHTTP, *n, *conns)
		if err != nil {
			return err
		}
		b, err := measureRaw(ctx, sendRawBytes, sinkSMTP, sinkHTTP, *n, *conns)
		if err != nil {
			return err
		}
		p, err := measureRaw(ctx, sendRawPipelined, sinkSMTP, sinkHTTP, *n, *conns)
		if err != nil {
			return err
		}
		raws, bytess, pipeds = append(raws, r), append(bytess, b), append(pipeds, p)
		return nil
	}

	worker, err := startWorker(ctx, *bin, dsn, sinkSMTP, *conns)
	if err != nil {
		return err
	}
	defer worker.stop()
	store := &campaigns.Store{DB: db, Now: time.Now}
	// The engine is warmed up too, with a broadcast to a small list of its
	// own: its connections, prepared statements and laid-out content.
	if err := resetSink(sinkHTTP); err != nil {
		return err
	}
	warmBroadcast, err := newBroadcast(ctx, db, warmID)
	if err != nil {
		return err
	}
	if _, err := store.SendNow(ctx, warmBroadcast); err != nil {
		return err
	}
	if _, err := waitFor(ctx, sinkHTTP, min(*n, 2000)); err != nil {
		return err
	}
	var engines []result
	for range *runs {
		if err := measureRaws(); err != nil {
			return err
		}
		e, err := engineRun(ctx, store, db, sinkHTTP, listID, *n)
		if err != nil {
			return err
		}
		engines = append(engines, e)
	}
	peak := worker.peakKB()
	worker.stop()
	if err := measureRaws(); err != nil {
		return err
	}

	var signed *signedRuns
	if *dkim {
		if signed, err = measureSigned(ctx, *bin, dsn, db, sinkSMTP, sinkHTTP, listID, warmID, *n, *conns, *runs); err != nil {
			return err
		}
	}

	var lat *unsubscribeLatency
	if *unsubscribe {
		if lat, err = measureUnsubscribe(ctx, *bin, dsn, db, *conns, *slow); err != nil {
			return err
		}
	}

	var signupRuns []signupRun
	if *signups > 0 {
		if signupRuns, err = measureSignups(ctx, *bin, dsn, db, *signups, *conns); err != nil {
			return err
		}
	}

	var sum result
	for _, e := range engines {
		sum.enqueue += e.enqueue
		sum.seconds += e.seconds
		sum.rate += e.rate
		sum.duplicates += e.duplicates
		sum.missing += e.missing
	}
	k := float64(len(engines))
	rawRate, bytesRate, pipedRate := mean(raws), mean(bytess), mean(pipeds)
	fmt.Printf("N                         %d\n", *n)
	fmt.Printf("connections               %d\n", *conns)
	for i, e := range engines {
		fmt.Printf("engine run %d              %.0f messages per second (enqueue %.2f s, start to last accepted %.2f s)\n", i+1, e.rate, e.enqueue, e.seconds)
	}
	fmt.Printf("enqueue (start broadcast) %.2f s (mean of %d)\n", sum.enqueue/k, len(engines))
	fmt.Printf("start to last accepted    %.2f s (mean of %d)\n", sum.seconds/k, len(engines))
	fmt.Printf("messages per second       %.0f (mean of %d)\n", sum.rate/k, len(engines))
	fmt.Printf("peak memory (VmHWM)       %.1f MB\n", float64(peak)/1024)
	fmt.Printf("duplicates at sink        %d\n", sum.duplicates)
	fmt.Printf("missing at sink           %d\n", sum.missing)
	fmt.Printf("raw go-mail, no database  %.0f messages per second (mean of %s)\n", rawRate, rates(raws))
	fmt.Printf("engine / raw              %.2f\n", sum.rate/k/rawRate)
	fmt.Printf("raw bytes, no database    %.0f messages per second (mean of %s)\n", bytesRate, rates(bytess))
	fmt.Printf("engine / raw bytes        %.2f\n", sum.rate/k/bytesRate)
	fmt.Printf("raw bytes pipelined       %.0f messages per second (mean of %s)\n", pipedRate, rates(pipeds))
	fmt.Printf("engine / raw pipelined    %.2f\n", sum.rate/k/pipedRate)
	if signed != nil {
		signed.print(sum.rate/k, rawRate, pipedRate)
		sum.duplicates += signed.duplicates
		sum.missing += signed.missing
	}
	if lat != nil {
		lat.print(*slow)
	}
	printSignups(signupRuns)
	if sum.duplicates != 0 || sum.missing != 0 {
		return errors.New("duplicates or missing recipients: the engine lost or repeated messages")
	}
	if len(faults.modes) == 0 {
		return nil
	}
	faultRuns, err := measureFaults(ctx, *bin, dsn, db, faults, *conns)
	if err != nil {
		return err
	}
	return faultsErr(faultRuns)
}

// runFaultsOnly sends a broadcast through a faulty sink for each fault mode,
// in a database of its own.
func runFaultsOnly(ctx context.Context, bin, admin string, c faultConfig, conns int) error {
	dsn, db, dropDB, err := openDB(ctx, admin)
	if err != nil {
		return err
	}
	defer dropDB()
	runs, err := measureFaults(ctx, bin, dsn, db, c, conns)
	if err != nil {
		return err
	}
	return faultsErr(runs)
}

// runWithoutBroadcast times the unsubscribes (if unsubscribe) and the
// sign-ups (if signups > 0) alone, in a database of their own.
func runWithoutBroadcast(ctx context.Context, bin, admin string, unsubscribe bool, slow time.Duration, signups, conns int) error {
	dsn, db, dropDB, err := openDB(ctx, admin)
	if err != nil {
		return err
	}
	defer dropDB()
	if unsubscribe {
		lat, err := measureUnsubscribe(ctx, bin, dsn, db, conns, slow)
		if err != nil {
			return err
		}
		lat.print(slow)
	}
	if signups > 0 {
		runs, err := measureSignups(ctx, bin, dsn, db, signups, conns)
		if err != nil {
			return err
		}
		printSignups(runs)
	}
	return nil
}

// engineRun sends one new broadcast to the list of n and times it at the
// sink, which it then resets.
func engineRun(ctx context.Context, store *campaigns.Store, db *sqlx.DB, sinkHTTP string, listID int64, n int) (result, error) {
	broadcastID, err := newBroadcast(ctx, db, listID)
	if err != nil {
		return result{}, err
	}
	start := time.Now()
	if _, err := store.SendNow(ctx, broadcastID); err != nil {
		return result{}, err
	}
	enqueued := time.Since(start)
	st, err := waitFor(ctx, sinkHTTP, n)
	if err != nil {
		return result{}, err
	}
	e := result{
		n:          n,
		enqueue:    enqueued.Seconds(),
		seconds:    time.Unix(0, st.LastNanos).Sub(start).Seconds(),
		duplicates: st.Duplicates,
		missing:    n - st.Unique,
	}
	e.rate = float64(st.Unique) / e.seconds
	return e, resetSink(sinkHTTP)
}

func mean(xs []float64) float64 {
	var s float64
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}

// rates lists rates for printing: "8,120, 9,007 and 8,650".
func rates(xs []float64) string {
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = strconv.FormatFloat(x, 'f', 0, 64)
	}
	if len(parts) < 2 {
		return strings.Join(parts, "")
	}
	return strings.Join(parts[:len(parts)-1], ", ") + " and " + parts[len(parts)-1]
}

// adminURL is the Postgres URL the benchmark creates its database with: the
// same default as the tests, without linking the test helper (and with it the
// testing package) into this binary.
func adminURL() string {
	if u := os.Getenv("TIDINGS_TEST_DATABASE_URL"); u != "" {
		return u
	}
	return "postgres://tidings:tidings@127.0.0.1:5432/postgres?sslmode=disable"
}
