package main

import (
	"bufio"
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/tidings/tidings/migrations"
)

// sinkOptions is how the sink behaves: the runSink flags.
type sinkOptions struct {
	delay time.Duration // taken over each message
	fault faultMode     // "" for none
	rate  float64       // of the attempts the fault hits
	seed  int64
}

// args are the runSink flags for o.
func (o sinkOptions) args() []string {
	args := []string{"-delay", o.delay.String()}
	if o.fault != "" {
		args = append(args, "-fault", string(o.fault),
			"-fault-rate", strconv.FormatFloat(o.rate, 'g', -1, 64),
			"-fault-seed", strconv.FormatInt(o.seed, 10))
	}
	return args
}

// startSink starts this binary again as the SMTP sink, in its own process.
func startSink(ctx context.Context, o sinkOptions) (smtpAddr, httpURL string, stop func(), err error) {
	self, err := os.Executable()
	if err != nil {
		return "", "", nil, err
	}
	cmd := exec.CommandContext(ctx, self, append([]string{"sink"}, o.args()...)...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return "", "", nil, err
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return "", "", nil, err
	}
	stop = func() { cmd.Process.Kill(); cmd.Wait() }
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		stop()
		return "", "", nil, fmt.Errorf("sink did not start: %w", err)
	}
	var h string
	if _, err := fmt.Sscanf(strings.TrimSpace(line), "sink smtp=%s http=%s", &smtpAddr, &h); err != nil {
		stop()
		return "", "", nil, fmt.Errorf("sink said %q: %w", line, err)
	}
	return smtpAddr, "http://" + h, stop, nil
}

// createDB makes a throwaway database for the run.
func createDB(ctx context.Context, admin string) (string, func(), error) {
	a, err := sql.Open("postgres", admin)
	if err != nil {
		return "", nil, err
	}
	name := fmt.Sprintf("tidings_bench_%d", time.Now().UnixNano())
	if _, err := a.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		a.Close()
		return "", nil, fmt.Errorf("create database (is Postgres running? `make postgres`): %w", err)
	}
	u, _ := url.Parse(admin)
	u.Path = "/" + name
	return u.String(), func() {
		a.ExecContext(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
		a.Close()
	}, nil
}

// openDB creates a throwaway database, migrated, and returns its URL, a
// handle on it, and what closes the handle and drops the database.
func openDB(ctx context.Context, admin string) (dsn string, db *sqlx.DB, drop func(), err error) {
	dsn, dropDB, err := createDB(ctx, admin)
	if err != nil {
		return "", nil, nil, err
	}
	if db, err = sqlx.Open("postgres", dsn); err != nil {
		dropDB()
		return "", nil, nil, err
	}
	drop = func() { db.Close(); dropDB() }
	if err := migrations.Up(ctx, db.DB); err != nil {
		drop()
		return "", nil, nil, err
	}
	return dsn, db, drop, nil
}

// seed creates a list of n confirmed subscribers, in SQL, their addresses
// prefix + a number + "@bench.localhost".
func seed(ctx context.Context, db *sqlx.DB, slug, prefix string, n int) (listID int64, err error) {
	now := time.Now()
	err = db.GetContext(ctx, &listID, `
		INSERT INTO lists (slug, name, from_name, from_email, timezone, postal_address, created_at, updated_at)
		VALUES ($1, 'Bench', 'Bench', 'bench@tidings.localhost', 'UTC', '1 Bench Road', $2, $2)
		RETURNING id`, slug, now)
	if err != nil {
		return 0, err
	}
	_, err = db.ExecContext(ctx, `
		WITH r AS (
			INSERT INTO subscribers (email, name, created_at, updated_at)
			SELECT $1 || i || '@bench.localhost', 'Reader ' || i, $2, $2
			FROM generate_series(1, $3) AS i
			RETURNING id
		)
		INSERT INTO subscriptions (subscriber_id, list_id, status, confirmed_at, created_at, updated_at)
		SELECT id, $4, 'confirmed', $2, $2, $2
		FROM r`, prefix, now, n, listID)
	return listID, err
}

// newBroadcast creates a draft broadcast to the list.
func newBroadcast(ctx context.Context, db *sqlx.DB, listID int64) (id int64, err error) {
	err = db.GetContext(ctx, &id, `
		INSERT INTO broadcasts (list_id, subject, body, preheader, created_at, updated_at)
		VALUES ($1, 'Notes for {{or .FirstName "you"}}: the week in leadership', $2, 'Three ideas for this week', now(), now())
		RETURNING id`, listID, benchBody)
	return id, err
}

const benchBody = `Hi {{or .FirstName "there"}},

This week is about **follow-through**: the small promises that build trust.

1. Write down every commitment you make in a meeting.
2. Close each one, or say out loud that you cannot.
3. Ask your team which loop you left open.

> Trust is built in small moments, and lost in them too.

[Read the full note](https://example.com/notes/follow-through) or reply with one question.

— The Effective Leadership team
`

type worker struct {
	cmd  *exec.Cmd
	once sync.Once
}

// startWorker runs `tidings serve --role worker` against the sink, with
// extra settings (NAME=value) added to tidingsEnv's, and waits until it says
// it is running.
func startWorker(ctx context.Context, bin, dsn, sinkAddr string, conns int, extra ...string) (*worker, error) {
	w, _, err := startTidings(ctx, bin, "worker", append(tidingsEnv(dsn, sinkAddr, conns), extra...)...)
	return w, err
}

// startApp runs `tidings serve --role all` against the sink, listening on a
// port of its own, and returns it and the address it listens on.
func startApp(ctx context.Context, bin, dsn, sinkAddr string, conns int) (*worker, string, error) {
	return startTidings(ctx, bin, "all", append(tidingsEnv(dsn, sinkAddr, conns), "TIDINGS_LISTEN=127.0.0.1:0")...)
}

// tidingsEnv is the environment every process the benchmark starts shares:
// the database, the sink as the relay, the secret the benchmark signs links
// with, and the number of SMTP connections.
func tidingsEnv(dsn, sinkAddr string, conns int) []string {
	return []string{
		"TIDINGS_DATABASE_URL=" + dsn,
		"TIDINGS_SMTP_URL=smtp://" + sinkAddr + "?tls=none",
		"TIDINGS_SECRET=" + benchSecret,
		"TIDINGS_SMTP_CONNECTIONS=" + strconv.Itoa(conns),
	}
}

// benchSecret is the TIDINGS_SECRET of the processes the benchmark starts,
// with which it signs the links it follows.
var benchSecret = strings.Repeat("b", 32)

// startTidings runs `tidings serve --role role` with env added to this
// process's, and waits until it says it is running. For a role that serves
// the web, it also returns the address it listens on.
func startTidings(ctx context.Context, bin, role string, env ...string) (*worker, string, error) {
	abs, err := filepath.Abs(bin)
	if err != nil {
		return nil, "", err
	}
	cmd := exec.CommandContext(ctx, abs, "serve", "--role", role)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, "", err
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, "", fmt.Errorf("start %s (run `make build` first): %w", bin, err)
	}
	w := &worker{cmd: cmd}
	sc := bufio.NewScanner(out)
	running, listen := false, ""
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "Tidings is running") {
			running = true
		}
		if addr, ok := strings.CutPrefix(strings.TrimSpace(line), "Listening on"); ok {
			listen = strings.TrimSpace(addr)
		}
		if running && (role == "worker" || listen != "") {
			go func() {
				for sc.Scan() {
				}
			}()
			return w, listen, nil
		}
	}
	w.stop()
	return nil, "", fmt.Errorf("tidings serve --role %s exited before it was running", role)
}

// peakKB is the sending process's peak resident memory, from /proc.
func (w *worker) peakKB() int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", w.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			return kb
		}
	}
	return 0
}

func (w *worker) stop() {
	w.once.Do(func() {
		w.cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { w.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			w.cmd.Process.Kill()
			<-done
		}
	})
}
