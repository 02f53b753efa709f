package main

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/tidings/tidings/internal/devmail"
	"github.com/tidings/tidings/internal/pgtest"
)

// buildOnce builds the real binary once for the tests that start it as a
// separate process.
var buildOnce = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "tidings-bin-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "tidings")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		return "", &buildError{string(out)}
	}
	return bin, nil
})

type buildError struct{ out string }

func (e *buildError) Error() string { return "go build: " + e.out }

// counter is an SMTP sink that counts deliveries per recipient.
type counter struct {
	*devmail.Server
}

func (c counter) perRecipient() map[string]int {
	m := map[string]int{}
	for _, msg := range c.Messages() {
		for _, to := range msg.To {
			m[to]++
		}
	}
	return m
}

// seedBroadcast makes n confirmed subscribers and a broadcast to them that is
// due now, so the worker's scheduler starts it.
func seedBroadcast(t *testing.T, db *sqlx.DB, n int) {
	t.Helper()
	now := time.Now()
	var listID int64
	db.MustExec(`INSERT INTO lists (slug, name, from_email, postal_address, created_at, updated_at) VALUES ('crash', 'Crash', 'c@example.com', '1 Road', $1, $1)`, now)
	if err := db.Get(&listID, `SELECT id FROM lists WHERE slug = 'crash'`); err != nil {
		t.Fatal(err)
	}
	db.MustExec(`INSERT INTO subscribers (email, name, created_at, updated_at) SELECT 'r' || i || '@example.com', 'R ' || i, $1, $1 FROM generate_series(1, $2) AS i`, now, n)
	db.MustExec(`INSERT INTO subscriptions (subscriber_id, list_id, status, confirmed_at, created_at, updated_at) SELECT id, $1, 'confirmed', $2, $2, $2 FROM subscribers`, listID, now)
	db.MustExec(`INSERT INTO broadcasts (list_id, subject, body, status, send_at, created_at, updated_at) VALUES ($1, 'News for {{or .FirstName "you"}}', 'Hello **there**.', 'scheduled', $2, $2, $2)`, listID, now)
}

// startWorker starts the real binary as a worker and waits until it runs.
func startWorker(t *testing.T, dsn, smtpAddr string) *exec.Cmd {
	t.Helper()
	bin, err := buildOnce()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "serve", "--role", "worker")
	cmd.Env = append(os.Environ(),
		"TIDINGS_DATABASE_URL="+dsn,
		"TIDINGS_SMTP_URL=smtp://"+smtpAddr+"?tls=none",
		"TIDINGS_SECRET="+strings.Repeat("c", 32),
		"TIDINGS_SMTP_CONNECTIONS=4",
		"TIDINGS_SEND_RATE=600",
		// Short, so that the claims of a killed worker lapse within the
		// test: what it had in flight is sent again after that.
		"TIDINGS_SMTP_TIMEOUT=3s",
		"TIDINGS_CLAIM_TIMEOUT=24s",
	)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "Tidings is running") {
			go func() {
				for sc.Scan() {
				}
			}()
			return cmd
		}
	}
	t.Fatal("the worker exited before it was running")
	return nil
}

// mustCrashSetup makes a database with a broadcast to n subscribers, and a
// sink that catches twice that many messages.
func mustCrashSetup(t *testing.T, n int) (*sqlx.DB, string, counter) {
	t.Helper()
	db, dsn := pgtest.MustOpenDBURL(t)
	srv, err := devmail.StartWith("127.0.0.1:0", devmail.Options{MaxMessages: 2 * n})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	seedBroadcast(t, db, n)
	return db, dsn, counter{srv}
}

// mustAllReached waits up to two minutes for all n recipients to reach the
// sink, and returns how many messages each got.
func mustAllReached(t *testing.T, sink counter, n int) map[string]int {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for len(sink.perRecipient()) < n && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	per := sink.perRecipient()
	if len(per) != n {
		t.Fatalf("%d of %d recipients got the broadcast after the restart", len(per), n)
	}
	return per
}

// sentUnrecorded returns the recipients the sink has caught whose message is
// still queued: sent, but not recorded as sent. Once the sending process has
// stopped, they are what it had in flight; they will go out again. It first
// waits for the sink to have read all the dead process wrote: a message
// written whole just before it died may still be in the socket, and on a
// busy machine for longer than any pause would allow. The connections close
// when the sink has read them to their end.
func sentUnrecorded(t *testing.T, db *sqlx.DB, sink counter) map[string]bool {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for sink.OpenConnections() > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the sink still has %d connections open a minute after the sender stopped", sink.OpenConnections())
		}
		time.Sleep(50 * time.Millisecond)
	}
	caught := sink.perRecipient()
	var queued []string
	const q = `
		SELECT r.email
		FROM outbox o
		JOIN subscribers r ON r.id = o.subscriber_id
		WHERE o.status = 'queued'`
	if err := db.Select(&queued, q); err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, to := range queued {
		if caught[to] > 0 {
			out[to] = true
		}
	}
	return out
}

// waitCaught waits until the sink has caught at least n messages.
func waitCaught(t *testing.T, sink counter, n int, within time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	if err := sink.WaitFor(ctx, n); err != nil {
		t.Fatalf("the sink caught %d of %d messages within %s", sink.Caught(), n, within)
	}
}

// TestCrash_Kill sends a broadcast of a few thousand recipients, kills the
// sending process with SIGKILL halfway, starts it again, and checks at the
// sink that everyone got it and that duplicates are at most the messages that
// were in flight when it died: only those the sink had accepted and whose
// outcome the process had not yet written go out twice.
func TestCrash_Kill(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the real binary")
	}
	t.Parallel()
	const n = 3000
	db, dsn, sink := mustCrashSetup(t, n)
	w := startWorker(t, dsn, sink.Addr())
	waitCaught(t, sink, n/2, time.Minute)
	w.Process.Signal(syscall.SIGKILL)
	w.Wait()
	inFlight := sentUnrecorded(t, db, sink)
	t.Logf("killed after %d messages with %d in flight", sink.Caught(), len(inFlight))

	startWorker(t, dsn, sink.Addr())
	per := mustAllReached(t, sink, n)
	dups := 0
	for to, c := range per {
		dups += c - 1
		if c > 1 && !inFlight[to] {
			t.Errorf("%s got the broadcast %d times, but it was not in flight at the kill", to, c)
		}
	}
	t.Logf("%d duplicates (in flight at the kill: %d)", dups, len(inFlight))
}

// TestCrash_Term stops the sending process with SIGTERM halfway: it finishes
// or releases what it holds, and a restart duplicates nothing.
func TestCrash_Term(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the real binary")
	}
	t.Parallel()
	const n = 2000
	db, dsn, sink := mustCrashSetup(t, n)
	w := startWorker(t, dsn, sink.Addr())
	waitCaught(t, sink, n/2, time.Minute)
	w.Process.Signal(syscall.SIGTERM)
	if err := w.Wait(); err != nil {
		t.Fatalf("SIGTERM: the worker exited with %v", err)
	}
	if held := sentUnrecorded(t, db, sink); len(held) != 0 {
		t.Fatalf("%d messages sent and not recorded after a clean stop", len(held))
	}

	startWorker(t, dsn, sink.Addr())
	per := mustAllReached(t, sink, n)
	for to, c := range per {
		if c != 1 {
			t.Fatalf("%s got the broadcast %d times after a clean stop", to, c)
		}
	}
}
