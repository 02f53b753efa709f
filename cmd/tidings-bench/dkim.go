package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"fmt"
	"io"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-msgauth/dkim"
	"github.com/jmoiron/sqlx"

	"github.com/tidings/tidings/campaigns"
	"github.com/tidings/tidings/dkimkeys"
)

// benchDomain is the From domain of the benchmark's lists (see seed).
const benchDomain = "tidings.localhost"

// signedRuns is what measureSigned found.
type signedRuns struct {
	runs                []result
	duplicates, missing int
	signRate            float64 // rsa-sha256 signatures a second, on every core
	cores               int
}

// measureSigned makes an RSA and an Ed25519 key for the lists' From domain,
// starts a worker that signs with them (it loads the keys at start), warms it
// up with the list warmID, times runs broadcasts to the list of n, and then
// the signer alone. The keys are removed after, so what follows sends
// unsigned as before.
func measureSigned(ctx context.Context, bin, dsn string, db *sqlx.DB, sinkSMTP, sinkHTTP string, listID, warmID int64, n, conns, runs int) (*signedRuns, error) {
	keys := &dkimkeys.Store{DB: db, Secret: []byte(benchSecret)}
	for _, alg := range []string{dkimkeys.RSA, dkimkeys.Ed25519} {
		if _, err := keys.Generate(ctx, dkimkeys.GenerateRequest{Domain: benchDomain, Selector: "bench-" + alg, Algorithm: alg}); err != nil {
			return nil, err
		}
		defer keys.Remove(context.Background(), benchDomain, "bench-"+alg)
	}
	w, err := startWorker(ctx, bin, dsn, sinkSMTP, conns)
	if err != nil {
		return nil, err
	}
	defer w.stop()
	store := &campaigns.Store{DB: db, Now: time.Now}
	if _, err := engineRun(ctx, store, db, sinkHTTP, warmID, countSubscribers(ctx, db, warmID)); err != nil {
		return nil, err
	}
	out := &signedRuns{}
	for range runs {
		e, err := engineRun(ctx, store, db, sinkHTTP, listID, n)
		if err != nil {
			return nil, err
		}
		out.runs = append(out.runs, e)
		out.duplicates += e.duplicates
		out.missing += e.missing
	}
	w.stop()
	out.signRate, out.cores, err = measureSignRate(3 * time.Second)
	return out, err
}

// countSubscribers is the size of a list that seed made.
func countSubscribers(ctx context.Context, db *sqlx.DB, listID int64) int {
	var n int
	_ = db.GetContext(ctx, &n, `SELECT count(*) FROM subscriptions WHERE list_id = $1`, listID)
	return n
}

// measureSignRate signs the benchmark's message rsa-sha256 (RSA 2048,
// relaxed/relaxed, the header fields delivery signs) on GOMAXPROCS
// goroutines for d, and returns the signatures a second and the goroutines.
// It bounds how fast one instance can send signed mail on this machine,
// whatever the relay.
func measureSignRate(d time.Duration) (float64, int, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return 0, 0, err
	}
	html, text, err := benchParts()
	if err != nil {
		return 0, 0, err
	}
	var msg bytes.Buffer
	if _, err := benchMsg("reader1@bench.localhost", html, text).WriteTo(&msg); err != nil {
		return 0, 0, err
	}
	opts := &dkim.SignOptions{
		Domain: benchDomain, Selector: "bench", Signer: key,
		HeaderCanonicalization: dkim.CanonicalizationRelaxed, BodyCanonicalization: dkim.CanonicalizationRelaxed,
		HeaderKeys: []string{"From", "From", "To", "Subject", "Date", "Message-ID", "MIME-Version", "Content-Type", "List-Unsubscribe", "List-Unsubscribe-Post"},
	}
	cores := runtime.GOMAXPROCS(0)
	var count atomic.Int64
	var firstErr error
	var once sync.Once
	var wg sync.WaitGroup
	start := time.Now()
	deadline := start.Add(d)
	for range cores {
		wg.Go(func() {
			for time.Now().Before(deadline) {
				if err := dkim.Sign(io.Discard, bytes.NewReader(msg.Bytes()), opts); err != nil {
					once.Do(func() { firstErr = err })
					return
				}
				count.Add(1)
			}
		})
	}
	wg.Wait()
	return float64(count.Load()) / time.Since(start).Seconds(), cores, firstErr
}

// print prints the signed runs as the unsigned ones are printed, with their
// rate as a fraction of the raw limits and of the unsigned engine's rate.
func (s *signedRuns) print(engineRate, rawRate, pipedRate float64) {
	var rates []float64
	for i, e := range s.runs {
		fmt.Printf("signed run %d              %.0f messages per second (enqueue %.2f s, start to last accepted %.2f s)\n", i+1, e.rate, e.enqueue, e.seconds)
		rates = append(rates, e.rate)
	}
	r := mean(rates)
	fmt.Printf("signed messages per second %.0f (mean of %d; rsa-sha256 and ed25519-sha256 each)\n", r, len(s.runs))
	fmt.Printf("signed duplicates, missing %d, %d\n", s.duplicates, s.missing)
	fmt.Printf("signed / raw              %.2f\n", r/rawRate)
	fmt.Printf("signed / raw pipelined    %.2f\n", r/pipedRate)
	fmt.Printf("signed / engine unsigned  %.2f\n", r/engineRate)
	fmt.Printf("rsa-sha256 signer alone   %.0f signatures per second on %d cores (%.0f per core)\n", s.signRate, s.cores, s.signRate/float64(s.cores))
	fmt.Printf("signer / raw pipelined    %.2f\n", s.signRate/pipedRate)
}
