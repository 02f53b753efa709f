package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jmoiron/sqlx"
)

// signupRun is one timed run of sign-ups (or of the static baseline) at one
// number of clients in parallel.
type signupRun struct {
	what     string
	parallel int
	n        int
	seconds  float64
	took     []time.Duration // sorted
	sent     int             // confirmations counted at the sink; -1 for the baseline
}

func (r signupRun) rate() float64 { return float64(r.n) / r.seconds }

// measureSignups times n sign-ups to the hosted form of a list of its own
// (POST /subscribe/{list}, a new address each), first from 4 clients in
// parallel, then from 16, each request on a new connection from a source
// address of its own in 127/8 (Linux routes all of it to loopback), so that
// neither keep-alive nor a single client address helps and the per-IP rate
// limit stays on. It runs `tidings serve --role all` of its own against a
// sink of its own, waits for every confirmation email to arrive there, and
// before each run times n GETs of a static file under the same conditions:
// the baseline that says what the machine and the client allow.
func measureSignups(ctx context.Context, bin, dsn string, db *sqlx.DB, n, conns int) ([]signupRun, error) {
	sinkSMTP, sinkHTTP, stopSink, err := startSink(ctx, sinkOptions{})
	if err != nil {
		return nil, err
	}
	defer stopSink()
	if _, err := seed(ctx, db, "signup", "signup", 0); err != nil {
		return nil, err
	}
	app, listen, err := startApp(ctx, bin, dsn, sinkSMTP, conns)
	if err != nil {
		return nil, err
	}
	defer app.stop()
	base := strings.TrimSuffix(listen, "/")

	var next atomic.Int64 // numbers the addresses
	signup := func(c *http.Client) error {
		i := next.Add(1)
		form := url.Values{"email": {fmt.Sprintf("new%d@bench.localhost", i)}, "name": {fmt.Sprintf("Reader %d", i)}}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/subscribe/signup", strings.NewReader(form.Encode()))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		return do(c, req, http.StatusAccepted)
	}
	static := func(c *http.Client) error {
		next.Add(1)
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/static/style.css", nil)
		if err != nil {
			return err
		}
		return do(c, req, http.StatusOK)
	}
	client := newSourceClient()

	// Untimed first, so that no run pays for the first connections.
	if _, err := timeParallel(ctx, client, static, min(n, 500), 4); err != nil {
		return nil, err
	}
	if _, err := timeParallel(ctx, client, signup, min(n, 500), 4); err != nil {
		return nil, err
	}
	if _, err := waitFor(ctx, sinkHTTP, min(n, 500)); err != nil {
		return nil, err
	}
	var runs []signupRun
	for _, parallel := range []int{4, 16} {
		r, err := timeParallel(ctx, client, static, n, parallel)
		if err != nil {
			return nil, err
		}
		r.what, r.sent = "static file", -1
		runs = append(runs, r)
		if err := resetSink(sinkHTTP); err != nil {
			return nil, err
		}
		if r, err = timeParallel(ctx, client, signup, n, parallel); err != nil {
			return nil, err
		}
		st, err := waitFor(ctx, sinkHTTP, n)
		if err != nil {
			return nil, err
		}
		r.what, r.sent = "sign-up", st.Unique
		runs = append(runs, r)
	}
	return runs, nil
}

// newSourceClient is an HTTP client that opens a new connection for every
// request, each from the next source address in 127.1.0.0–127.254.255.255.
func newSourceClient() *http.Client {
	var dials atomic.Int64
	tr := &http.Transport{
		DisableKeepAlives: true,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			i := dials.Add(1)
			src := net.IPv4(127, byte(1+(i>>16)%254), byte(i>>8), byte(i))
			d := net.Dialer{LocalAddr: &net.TCPAddr{IP: src}, Timeout: 10 * time.Second}
			return d.DialContext(ctx, network, addr)
		},
	}
	return &http.Client{Transport: tr, Timeout: time.Minute}
}

// do sends req and checks its status, reading the whole answer as a browser
// would.
func do(c *http.Client, req *http.Request, want int) error {
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return err
	}
	if resp.StatusCode != want {
		return fmt.Errorf("%s %s: %s", req.Method, req.URL.Path, resp.Status)
	}
	return nil
}

// timeParallel runs call n times from parallel goroutines and returns how
// long the whole took and each call.
func timeParallel(ctx context.Context, c *http.Client, call func(*http.Client) error, n, parallel int) (signupRun, error) {
	r := signupRun{parallel: parallel, n: n, took: make([]time.Duration, 0, n)}
	var (
		mu       sync.Mutex
		firstErr error
		left     atomic.Int64
		wg       sync.WaitGroup
	)
	left.Store(int64(n))
	start := time.Now()
	for range parallel {
		wg.Go(func() {
			took := make([]time.Duration, 0, n/parallel+1)
			for left.Add(-1) >= 0 && ctx.Err() == nil {
				t := time.Now()
				err := call(c)
				took = append(took, time.Since(t))
				if err != nil {
					mu.Lock()
					firstErr = cmpOr(firstErr, err)
					mu.Unlock()
					left.Store(0)
				}
			}
			mu.Lock()
			r.took = append(r.took, took...)
			mu.Unlock()
		})
	}
	wg.Wait()
	r.seconds = time.Since(start).Seconds()
	if firstErr == nil {
		firstErr = ctx.Err()
	}
	slices.Sort(r.took)
	return r, firstErr
}

func cmpOr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// printSignups writes the runs, each sign-up run with its ratio to the
// static baseline just before it.
func printSignups(runs []signupRun) {
	ms := func(d time.Duration) string {
		return strconv.FormatFloat(float64(d.Microseconds())/1000, 'f', 1, 64) + " ms"
	}
	var baseline signupRun
	for _, r := range runs {
		line := fmt.Sprintf("%-11s %2d parallel %6.0f per second, p50 %s, p99 %s (%d requests)",
			r.what, r.parallel, r.rate(), ms(percentile(r.took, 50)), ms(percentile(r.took, 99)), r.n)
		if r.sent < 0 {
			baseline = r
		} else {
			line += fmt.Sprintf(", %d confirmations at the sink, %.2f of the static rate", r.sent, r.rate()/baseline.rate())
		}
		fmt.Println(line)
	}
}
