package main

import (
	"cmp"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"hash/fnv"
	"math"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/tidings/tidings/campaigns"
)

// faultMode is what the sink breaks in the transactions the fault hits. The
// replies follow RFC 5321 (4yz temporary, 5yz permanent, 421 closing) with
// the enhanced codes of RFC 3463.
type faultMode string

const (
	faultTempRcpt  faultMode = "temp-rcpt"  // 450 4.2.1 at RCPT TO
	faultPermRcpt  faultMode = "perm-rcpt"  // 550 5.1.1 at RCPT TO: a bad address
	faultTempData  faultMode = "temp-data"  // 451 4.3.0 after the data
	faultPermData  faultMode = "perm-data"  // 554 5.6.0 after the data
	fault421Hangup faultMode = "421-hangup" // 421 at RCPT TO, then the connection closed, before the data
	faultDrop      faultMode = "drop"       // the connection closed at RCPT TO, with no reply
	faultLostReply faultMode = "lost-reply" // the message stored, then the connection closed before the 250
)

// faultModes are all the modes, in the order -faults all runs them.
var faultModes = []faultMode{faultTempRcpt, faultPermRcpt, faultTempData, faultPermData, fault421Hangup, faultDrop, faultLostReply}

func faultModeNames() []string {
	names := make([]string, len(faultModes))
	for i, m := range faultModes {
		names[i] = string(m)
	}
	return names
}

// permanent reports whether the engine must give up on the messages m
// refuses rather than retry them.
func (m faultMode) permanent() bool { return m == faultPermRcpt || m == faultPermData }

// parseFaultMode is the mode named s.
func parseFaultMode(s string) (faultMode, error) {
	m := faultMode(s)
	if !slices.Contains(faultModes, m) {
		return "", fmt.Errorf("unknown fault mode %q: want one of %s", s, strings.Join(faultModeNames(), ", "))
	}
	return m, nil
}

// parseFaults is the modes of a -faults list: comma-separated names, or
// "all"; "" is none. A mode named twice is an error, so that no run is
// repeated by mistake.
func parseFaults(list string) ([]faultMode, error) {
	list = strings.TrimSpace(list)
	switch list {
	case "":
		return nil, nil
	case "all":
		return slices.Clone(faultModes), nil
	}
	var modes []faultMode
	for _, name := range strings.Split(list, ",") {
		name = strings.TrimSpace(name)
		if name == "" {
			return nil, fmt.Errorf("-faults %q: an empty mode between commas", list)
		}
		m, err := parseFaultMode(name)
		if err != nil {
			return nil, fmt.Errorf("-faults %q: %w", list, err)
		}
		if slices.Contains(modes, m) {
			return nil, fmt.Errorf("-faults %q: %s named twice", list, m)
		}
		modes = append(modes, m)
	}
	return modes, nil
}

// checkFaultRate says what is wrong with a -fault-rate, if anything.
func checkFaultRate(rate float64) error {
	if math.IsNaN(rate) || rate <= 0 || rate > 1 {
		return fmt.Errorf("-fault-rate must be above 0 and at most 1, not %v", rate)
	}
	return nil
}

// faultHits decides whether the fault hits the attempt-th RCPT TO of
// recipient to: a hash of the seed, the recipient and the attempt, read as a
// number from 0 to 1, below rate. The same run with the same seed hits the
// same attempts, and each attempt is a fresh draw, so a message refused once
// is most likely taken when it is sent again.
func faultHits(seed int64, to string, attempt int, rate float64) bool {
	h := fnv.New64a()
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(seed))
	h.Write(b[:])
	h.Write([]byte(to))
	binary.BigEndian.PutUint64(b[:], uint64(attempt))
	h.Write(b[:])
	// FNV barely stirs the high bits with the last bytes (the attempt), so
	// the sum goes through splitmix64's finaliser before its top 53 bits
	// are read.
	x := h.Sum64()
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	x ^= x >> 31
	return float64(x>>11)/(1<<53) < rate
}

// faultFlags are the benchmark's fault flags, as parsed.
type faultFlags struct {
	list          *string
	only          *bool
	n             *int
	rate          *float64
	seed          *int64
	timeout       *time.Duration
	retrySchedule *string
}

func addFaultFlags(fs *flag.FlagSet) *faultFlags {
	return &faultFlags{
		list:          fs.String("faults", "", "fault modes to run, comma-separated, or all: "+strings.Join(faultModeNames(), ", ")),
		only:          fs.Bool("faults-only", false, "run only the fault modes, not the broadcast, unsubscribe and sign-up measurements"),
		n:             fs.Int("fault-n", 1000, "recipients of each fault run"),
		rate:          fs.Float64("fault-rate", 0.1, "fraction of the attempts the fault hits, above 0 and at most 1"),
		seed:          fs.Int64("fault-seed", 1, "seed of the choice of the attempts the fault hits"),
		timeout:       fs.Duration("fault-timeout", 20*time.Minute, "give up waiting for a fault run to settle after this long"),
		retrySchedule: fs.String("retry-schedule", "", "TIDINGS_RETRY_SCHEDULE of the worker in the fault runs, e.g. 5s,15s,30s,1m (empty: its default)"),
	}
}

// faultConfig is what the fault runs do, checked.
type faultConfig struct {
	modes         []faultMode
	only          bool
	n             int
	rate          float64
	seed          int64
	timeout       time.Duration
	retrySchedule string
}

// config checks the flags and returns them as a faultConfig.
func (f *faultFlags) config() (faultConfig, error) {
	modes, err := parseFaults(*f.list)
	if err != nil {
		return faultConfig{}, err
	}
	c := faultConfig{modes: modes, only: *f.only, n: *f.n, rate: *f.rate, seed: *f.seed,
		timeout: *f.timeout, retrySchedule: strings.TrimSpace(*f.retrySchedule)}
	switch {
	case c.only && len(c.modes) == 0:
		return c, errors.New("-faults-only needs -faults (a list of modes, or all)")
	case c.n < 1:
		return c, fmt.Errorf("-fault-n must be at least 1, not %d", c.n)
	case c.timeout <= 0:
		return c, fmt.Errorf("-fault-timeout must be above 0, not %s", c.timeout)
	}
	if err := checkFaultRate(c.rate); err != nil {
		return c, err
	}
	return c, nil
}

// faultRun is what became of one broadcast sent through a faulty sink.
type faultRun struct {
	mode      faultMode
	settled   bool
	seconds   float64 // from the start to every outbox row final, or to the timeout
	hits      int     // attempts the fault hit
	delivered int     // recipients with the message at the sink
	failed    int     // failed for good, permanently refused
	gaveUp    int     // failed because the retries ran out
	pending   int     // still queued at the timeout
	lost      int     // settled, neither delivered nor refused for good: want 0
	resends   int     // duplicates that follow a lost reply: expected
	others    int     // duplicates that do not: want 0
}

// measureFaults sends a broadcast to n recipients of a list of its own
// through a sink with each fault in turn, waits until every one of its
// outbox rows is sent or failed, and prints a line for each as it ends: a
// run can take minutes.
func measureFaults(ctx context.Context, bin, dsn string, db *sqlx.DB, c faultConfig, conns int) ([]faultRun, error) {
	printFaultsHeader(c)
	defer printFaultsLegend()
	var runs []faultRun
	for _, m := range c.modes {
		r, err := measureFault(ctx, bin, dsn, db, c, m, conns)
		if err != nil {
			return runs, fmt.Errorf("fault %s: %w", m, err)
		}
		r.print()
		runs = append(runs, r)
	}
	return runs, nil
}

func measureFault(ctx context.Context, bin, dsn string, db *sqlx.DB, c faultConfig, m faultMode, conns int) (faultRun, error) {
	r := faultRun{mode: m}
	sinkSMTP, sinkHTTP, stopSink, err := startSink(ctx, sinkOptions{fault: m, rate: c.rate, seed: c.seed})
	if err != nil {
		return r, err
	}
	defer stopSink()
	listID, err := seed(ctx, db, "fault-"+string(m), string(m)+"-", c.n)
	if err != nil {
		return r, err
	}
	var env []string
	if c.retrySchedule != "" {
		env = append(env, "TIDINGS_RETRY_SCHEDULE="+c.retrySchedule)
	}
	w, err := startWorker(ctx, bin, dsn, sinkSMTP, conns, env...)
	if err != nil {
		return r, err
	}
	defer w.stop()
	broadcastID, err := newBroadcast(ctx, db, listID)
	if err != nil {
		return r, err
	}
	store := &campaigns.Store{DB: db, Now: time.Now}
	start := time.Now()
	if _, err := store.SendNow(ctx, broadcastID); err != nil {
		return r, err
	}
	if r.settled, err = waitSettled(ctx, db, broadcastID, c.timeout); err != nil {
		return r, err
	}
	r.seconds = time.Since(start).Seconds()
	w.stop()

	seen, err := sinkRecipients(ctx, sinkHTTP)
	if err != nil {
		return r, err
	}
	var st sinkStats
	if err := getJSON(ctx, sinkHTTP+"/stats", &st); err != nil {
		return r, err
	}
	r.hits = st.Faults
	var rows []struct {
		Email     string `db:"email"`
		Status    string `db:"status"`
		Temporary bool   `db:"temporary"`
	}
	const q = `
		SELECT s.email, o.status, o.temporary
		FROM outbox AS o
		JOIN subscribers AS s ON s.id = o.subscriber_id
		WHERE o.broadcast_id = $1`
	if err := db.SelectContext(ctx, &rows, q, broadcastID); err != nil {
		return r, err
	}
	for _, row := range rows {
		at := seen[row.Email]
		switch {
		case at.Delivered > 0:
			r.delivered++
			resends := min(at.Delivered-1, at.LostReplies)
			r.resends += resends
			r.others += at.Delivered - 1 - resends
		case row.Status == campaigns.StatusQueued:
			r.pending++
		case row.Status == campaigns.StatusFailed && !row.Temporary:
			r.failed++
		default:
			r.lost++
		}
		if row.Status == campaigns.StatusFailed && row.Temporary {
			r.gaveUp++
		}
	}
	return r, nil
}

// waitSettled waits until no outbox row of the broadcast is queued: each is
// sent, failed or skipped. It reports false if timeout passes first.
func waitSettled(ctx context.Context, db *sqlx.DB, broadcastID int64, timeout time.Duration) (bool, error) {
	deadline := time.Now().Add(timeout)
	for {
		var queued int
		const q = `
			SELECT count(*)
			FROM outbox
			WHERE broadcast_id = $1
			  AND status = 'queued'`
		if err := db.GetContext(ctx, &queued, q, broadcastID); err != nil {
			return false, err
		}
		if queued == 0 {
			return true, nil
		}
		if time.Now().After(deadline) {
			return false, nil
		}
		select {
		case <-ctx.Done():
			return false, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// sinkRecipients is what the sink saw of each recipient.
func sinkRecipients(ctx context.Context, sinkHTTP string) (map[string]sinkRecipient, error) {
	var seen map[string]sinkRecipient
	err := getJSON(ctx, sinkHTTP+"/recipients", &seen)
	return seen, err
}

func getJSON(ctx context.Context, url string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

const faultsColumns = "%-11s %-16s %6v %9v %6v %7v %5v %7v %7v %6v\n"

func printFaultsHeader(c faultConfig) {
	schedule := cmp.Or(c.retrySchedule, "the worker's default")
	fmt.Printf("faults: %d recipients a run, fault rate %v, seed %d, retry schedule %s\n", c.n, c.rate, c.seed, schedule)
	fmt.Printf(faultsColumns, "fault", "settled", "hits", "delivered", "failed", "gave up", "lost", "pending", "resends", "other")
}

func (r faultRun) print() {
	settled := fmt.Sprintf("in %.1f s", r.seconds)
	if !r.settled {
		settled = fmt.Sprintf("not in %.0f s", r.seconds)
	}
	fmt.Printf(faultsColumns, r.mode, settled, r.hits, r.delivered, r.failed, r.gaveUp, r.lost, r.pending, r.resends, r.others)
}

func printFaultsLegend() {
	fmt.Println("(failed: refused for good; gave up: retries ran out; lost: neither delivered nor refused for good;")
	fmt.Println(" resends: duplicates after a lost reply, expected; other: any other duplicate)")
}

// faultsErr says what went wrong in the runs, if anything: a message lost,
// an unexpected duplicate, a permanent refusal from a temporary fault, or a
// run that did not settle.
func faultsErr(runs []faultRun) error {
	var errs []error
	for _, r := range runs {
		if !r.settled {
			errs = append(errs, fmt.Errorf("fault %s: %d messages still queued after %.0f s", r.mode, r.pending, r.seconds))
		}
		if r.lost > 0 || r.others > 0 {
			errs = append(errs, fmt.Errorf("fault %s: %d lost, %d unexpected duplicates", r.mode, r.lost, r.others))
		}
		if !r.mode.permanent() && r.failed > 0 {
			errs = append(errs, fmt.Errorf("fault %s: %d messages failed for good after a temporary fault", r.mode, r.failed))
		}
	}
	return errors.Join(errs...)
}
