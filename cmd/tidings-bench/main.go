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
//	make bench                      # N = 10,000
//	make bench N=100000
package main

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"net/textproto"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jmoiron/sqlx"
	_ "github.com/lib/pq"
	"github.com/wneessen/go-mail"
	"github.com/wneessen/go-mail/smtp"

	"github.com/tidings/tidings/campaigns"
	"github.com/tidings/tidings/migrations"
	"github.com/tidings/tidings/templates"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "sink" {
		if err := runSink(); err != nil {
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
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()

	sinkSMTP, sinkHTTP, stopSink, err := startSink(ctx)
	if err != nil {
		return err
	}
	defer stopSink()

	dsn, dropDB, err := createDB(ctx, *admin)
	if err != nil {
		return err
	}
	defer dropDB()
	db, err := sqlx.Open("postgres", dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := migrations.Up(ctx, db.DB); err != nil {
		return err
	}
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
		broadcastID, err := newBroadcast(ctx, db, listID)
		if err != nil {
			return err
		}
		start := time.Now()
		if _, err := store.SendNow(ctx, broadcastID); err != nil {
			return err
		}
		enqueued := time.Since(start)
		st, err := waitFor(ctx, sinkHTTP, *n)
		if err != nil {
			return err
		}
		e := result{
			n:          *n,
			enqueue:    enqueued.Seconds(),
			seconds:    time.Unix(0, st.LastNanos).Sub(start).Seconds(),
			duplicates: st.Duplicates,
			missing:    *n - st.Unique,
		}
		e.rate = float64(st.Unique) / e.seconds
		engines = append(engines, e)
		if err := resetSink(sinkHTTP); err != nil {
			return err
		}
	}
	peak := worker.peakKB()
	worker.stop()
	if err := measureRaws(); err != nil {
		return err
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
	if sum.duplicates != 0 || sum.missing != 0 {
		return errors.New("duplicates or missing recipients: the engine lost or repeated messages")
	}
	return nil
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

// startSink starts this binary again as the SMTP sink, in its own process.
func startSink(ctx context.Context) (smtpAddr, httpURL string, stop func(), err error) {
	self, err := os.Executable()
	if err != nil {
		return "", "", nil, err
	}
	cmd := exec.CommandContext(ctx, self, "sink")
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

// startWorker runs `tidings serve --role worker` against the sink and waits
// until it says it is running.
func startWorker(ctx context.Context, bin, dsn, sinkAddr string, conns int) (*worker, error) {
	abs, err := filepath.Abs(bin)
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, abs, "serve", "--role", "worker")
	cmd.Env = append(os.Environ(),
		"TIDINGS_DATABASE_URL="+dsn,
		"TIDINGS_SMTP_URL=smtp://"+sinkAddr+"?tls=none",
		"TIDINGS_SECRET="+strings.Repeat("b", 32),
		"TIDINGS_SMTP_CONNECTIONS="+strconv.Itoa(conns),
	)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s (run `make build` first): %w", bin, err)
	}
	w := &worker{cmd: cmd}
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "Tidings is running") {
			go func() {
				for sc.Scan() {
				}
			}()
			return w, nil
		}
	}
	w.stop()
	return nil, errors.New("the worker exited before it was running")
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

// waitFor polls the sink until n distinct recipients were accepted and the
// count has stopped moving (so late duplicates are counted too).
func waitFor(ctx context.Context, sinkHTTP string, n int) (sinkStats, error) {
	var st sinkStats
	for {
		resp, err := http.Get(sinkHTTP + "/stats")
		if err != nil {
			return st, err
		}
		err = json.NewDecoder(resp.Body).Decode(&st)
		resp.Body.Close()
		if err != nil {
			return st, err
		}
		if st.Unique >= n {
			time.Sleep(500 * time.Millisecond)
			resp, err := http.Get(sinkHTTP + "/stats")
			if err == nil {
				json.NewDecoder(resp.Body).Decode(&st)
				resp.Body.Close()
			}
			return st, nil
		}
		select {
		case <-ctx.Done():
			return st, fmt.Errorf("timed out with %d of %d recipients at the sink", st.Unique, n)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// resetSink clears the sink's counts.
func resetSink(sinkHTTP string) error {
	resp, err := http.Post(sinkHTTP+"/reset", "text/plain", nil)
	if err != nil {
		return err
	}
	return resp.Body.Close()
}

// rawSender is sendRaw, sendRawBytes or sendRawPipelined.
type rawSender func(ctx context.Context, sinkAddr string, n, conns int) error

// measureRaw sends n messages with send and returns the messages per
// second accepted at the sink, which it clears before and after.
func measureRaw(ctx context.Context, send rawSender, sinkSMTP, sinkHTTP string, n, conns int) (float64, error) {
	reset := func() error { return resetSink(sinkHTTP) }
	if err := reset(); err != nil {
		return 0, err
	}
	start := time.Now()
	if err := send(ctx, sinkSMTP, n, conns); err != nil {
		return 0, err
	}
	st, err := waitFor(ctx, sinkHTTP, n)
	if err != nil {
		return 0, err
	}
	return float64(st.Unique) / time.Unix(0, st.LastNanos).Sub(start).Seconds(), reset()
}

// sendRawBytes is the strictest raw limit: one message rendered to bytes
// once, and those bytes sent n times with go-mail's SMTP client (MAIL, RCPT,
// DATA) over conns persistent connections, so that nothing is built per
// message at all.
func sendRawBytes(ctx context.Context, sinkAddr string, n, conns int) error {
	html, text, err := benchParts()
	if err != nil {
		return err
	}
	m := benchMsg("reader1@bench.localhost", html, text)
	var buf bytes.Buffer
	if _, err := m.WriteTo(&buf); err != nil {
		return err
	}
	data := buf.Bytes()
	return onConns(ctx, sinkAddr, n, conns, eachMessage(func(_ *mail.Client, sc *smtp.Client, i int64) error {
		// As go-mail's own send does: the deadline set when connecting would
		// otherwise end a long run.
		if err := sc.UpdateDeadline(mail.DefaultTimeout); err != nil {
			return err
		}
		if err := sc.Mail("bench@tidings.localhost"); err != nil {
			return err
		}
		if err := sc.Rcpt(fmt.Sprintf("reader%d@bench.localhost", i)); err != nil {
			return err
		}
		w, err := sc.Data()
		if err != nil {
			return err
		}
		if _, err := w.Write(data); err != nil {
			return err
		}
		return w.Close()
	}))
}

// sendRawPipelined is sendRawBytes with the engine's use of SMTP: the
// message bytes (dot-stuffed once) go out in one write with their ending dot
// and the next message's MAIL, RCPT and DATA (RFC 2920), and the replies are
// read after, so a message costs one round trip. go-mail's client only
// connects; the commands are written raw.
func sendRawPipelined(ctx context.Context, sinkAddr string, n, conns int) error {
	html, text, err := benchParts()
	if err != nil {
		return err
	}
	var msg, stuffed bytes.Buffer
	if _, err := benchMsg("reader1@bench.localhost", html, text).WriteTo(&msg); err != nil {
		return err
	}
	dw := textproto.NewWriter(bufio.NewWriter(&stuffed)).DotWriter()
	if _, err := dw.Write(msg.Bytes()); err != nil {
		return err
	}
	if err := dw.Close(); err != nil { // writes the ending dot
		return err
	}
	data := stuffed.Bytes()
	envelope := func(dst []byte, i int64) []byte {
		return fmt.Appendf(dst, "MAIL FROM:<bench@tidings.localhost>\r\nRCPT TO:<reader%d@bench.localhost>\r\nDATA\r\n", i)
	}
	return onConns(ctx, sinkAddr, n, conns, func(_ *mail.Client, sc *smtp.Client, next func() (int64, bool)) error {
		t := sc.Text
		write := func(p []byte) error {
			if err := sc.UpdateDeadline(mail.DefaultTimeout); err != nil {
				return err
			}
			if _, err := t.W.Write(p); err != nil {
				return err
			}
			return t.W.Flush()
		}
		replies := func(codes ...int) error {
			for _, code := range codes {
				if _, _, err := t.ReadResponse(code); err != nil {
					return err
				}
			}
			return nil
		}
		i, ok := next()
		if !ok {
			return nil
		}
		if err := write(envelope(nil, i)); err != nil {
			return err
		}
		if err := replies(250, 250, 354); err != nil {
			return err
		}
		buf := make([]byte, 0, len(data)+200)
		for {
			j, more := next()
			buf = append(buf[:0], data...)
			if more {
				buf = envelope(buf, j)
			}
			if err := write(buf); err != nil {
				return err
			}
			if err := replies(250); err != nil {
				return err
			}
			if !more {
				return nil
			}
			if err := replies(250, 250, 354); err != nil {
				return err
			}
		}
	})
}

// sendRaw is the raw limit: n messages, rendered once, sent with go-mail over
// conns persistent connections with no database.
func sendRaw(ctx context.Context, sinkAddr string, n, conns int) error {
	html, text, err := benchParts()
	if err != nil {
		return err
	}
	return onConns(ctx, sinkAddr, n, conns, eachMessage(func(c *mail.Client, sc *smtp.Client, i int64) error {
		return c.SendWithSMTPClient(sc, benchMsg(fmt.Sprintf("reader%d@bench.localhost", i), html, text))
	}))
}

// eachMessage makes a sender for onConns that calls send for each message
// in turn.
func eachMessage(send func(c *mail.Client, sc *smtp.Client, i int64) error) func(*mail.Client, *smtp.Client, func() (int64, bool)) error {
	return func(c *mail.Client, sc *smtp.Client, next func() (int64, bool)) error {
		for i, ok := next(); ok; i, ok = next() {
			if err := send(c, sc, i); err != nil {
				return err
			}
		}
		return nil
	}
}

// benchParts is the email the engine sends, rendered once.
func benchParts() (html, text string, err error) {
	r, err := templates.NewRenderer()
	if err != nil {
		return "", "", err
	}
	msg, err := r.Render(templates.Content{Subject: "Notes for you", Preheader: "Three ideas for this week", Body: benchBody},
		templates.List{Name: "Bench", FromName: "Bench", PostalAddress: "1 Bench Road"},
		templates.Recipient{Email: "reader1@bench.localhost", Name: "Reader 1", UnsubscribeURL: "http://127.0.0.1:8080/unsubscribe/token"})
	if err != nil {
		return "", "", err
	}
	return msg.HTML, msg.Text, nil
}

// benchMsg is a go-mail message of html and text to one recipient.
func benchMsg(to, html, text string) *mail.Msg {
	m := mail.NewMsg()
	m.From("Bench <bench@tidings.localhost>")
	m.To(to)
	m.Subject("Notes for you: the week in leadership")
	m.SetMessageID()
	m.SetGenHeader("List-Unsubscribe", "<http://127.0.0.1:8080/unsubscribe/token>")
	m.SetGenHeader("List-Unsubscribe-Post", "List-Unsubscribe=One-Click")
	m.SetBodyString(mail.TypeTextPlain, text)
	m.AddAlternativeString(mail.TypeTextHTML, html)
	return m
}

// onConns opens conns persistent connections to sinkAddr, each with a
// go-mail client of its own, and calls send on each; send takes the
// messages 1..n, spread over the connections, from next until it says there
// are no more. It returns the first error.
func onConns(ctx context.Context, sinkAddr string, n, conns int, send func(c *mail.Client, sc *smtp.Client, next func() (int64, bool)) error) error {
	host, portS, _ := strings.Cut(sinkAddr, ":")
	port, err := strconv.Atoi(portS)
	if err != nil {
		return fmt.Errorf("sink address %q: %w", sinkAddr, err)
	}
	var counter atomic.Int64
	next := func() (int64, bool) {
		i := counter.Add(1)
		return i, i <= int64(n)
	}
	errc := make(chan error, conns)
	var wg sync.WaitGroup
	for range conns {
		wg.Go(func() {
			client, err := mail.NewClient(host, mail.WithPort(port), mail.WithTLSPolicy(mail.NoTLS), mail.WithoutNoop(), mail.WithoutRset(), mail.WithHELO("bench.localhost"))
			if err != nil {
				errc <- err
				return
			}
			sc, err := client.DialToSMTPClientWithContext(ctx)
			if err != nil {
				errc <- err
				return
			}
			defer client.CloseWithSMTPClient(sc)
			if err := send(client, sc, next); err != nil {
				errc <- err
			}
		})
	}
	wg.Wait()
	select {
	case err := <-errc:
		return err
	default:
		return nil
	}
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
