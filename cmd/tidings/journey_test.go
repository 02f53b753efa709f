package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tidings/tidings/internal/devmail"
	"github.com/tidings/tidings/internal/pgtest"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Set(t time.Time)     { c.mu.Lock(); c.t = t; c.mu.Unlock() }
func (c *clock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// journey is the whole program wired on a test database, a real SMTP catcher
// and an injected clock, served over HTTP.
type journey struct {
	t     *testing.T
	app   *app
	clock *clock
	smtp  *devmail.Server
	http  *httptest.Server
	seen  int
}

func startJourney(t *testing.T, start time.Time) *journey {
	t.Helper()
	smtp, err := devmail.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { smtp.Close() })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := config{
		DatabaseURL: pgtest.MustCreateDB(t), SMTPURL: "smtp://" + smtp.Addr() + "?tls=none",
		Listen: ln.Addr().String(), Secret: strings.Repeat("s", 32), SMTPConnections: 2, Role: "all",
	}
	clk := &clock{t: start}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	a, err := newApp(context.Background(), cfg, clk.Now, logger, "http://"+ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.close)
	if err := a.seedDemo(context.Background(), io.Discard); err != nil {
		t.Fatal(err)
	}
	srv := &httptest.Server{Listener: ln, Config: &http.Server{Handler: a.web}}
	srv.Start()
	t.Cleanup(srv.Close)
	return &journey{t: t, app: a, clock: clk, smtp: smtp, http: srv}
}

// tick runs the scheduler and the dispatcher once at the clock's time and
// returns the messages that arrived.
func (j *journey) tick() []devmail.Message {
	j.t.Helper()
	ctx := context.Background()
	if _, err := j.app.scheduler.Tick(ctx); err != nil {
		j.t.Fatal(err)
	}
	for {
		n, err := j.app.dispatcher.RunOnce(ctx)
		if err != nil {
			j.t.Fatal(err)
		}
		if n == 0 {
			break
		}
	}
	all := j.smtp.Messages()
	got := all[j.seen:]
	j.seen = len(all)
	return got
}

func (j *journey) post(url, contentType, body string) (int, string) {
	j.t.Helper()
	resp, err := http.Post(url, contentType, strings.NewReader(body))
	if err != nil {
		j.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func subjects(msgs []devmail.Message) []string {
	var s []string
	for _, m := range msgs {
		s = append(s, m.Subject)
	}
	return s
}

var confirmLink = regexp.MustCompile(`http://[^\s)]+/confirm/[A-Za-z0-9_\-.]+`)

// TestJourney follows one reader from the form to the one-click unsubscribe:
// confirmation, welcome and bonuses, step 1 at 08:00 in their own zone the
// next morning, step 2 a week later across the daylight-saving change, then
// nothing after unsubscribing.
func TestJourney(t *testing.T) {
	t.Parallel()
	ny, _ := time.LoadLocation("America/New_York")
	// Monday 2 March 2026, 15:00 in New York. Clocks there go forward on 8 March.
	j := startJourney(t, time.Date(2026, 3, 2, 15, 0, 0, 0, ny))
	base := j.http.URL

	// The reader's browser keeps the sign-up's cookie, so the link opened
	// there confirms at once.
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar}
	resp, err := browser.Post(base+"/subscribe/effective-leadership", "application/json",
		strings.NewReader(`{"email":"ada@example.com","name":"Ada <b>Lovelace</b>","timezone":"America/New_York"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 202 {
		t.Fatalf("sign-up: %d", resp.StatusCode)
	}
	msgs := j.tick()
	if len(msgs) != 1 || !strings.Contains(msgs[0].Subject, "Confirm") {
		t.Fatalf("after sign-up got %q, want one confirmation", subjects(msgs))
	}
	link := confirmLink.FindString(msgs[0].Text)
	if link == "" {
		t.Fatalf("no confirmation link in:\n%s", msgs[0].Text)
	}
	if strings.Contains(msgs[0].HTML, "<b>Lovelace</b>") {
		t.Fatal("the subscriber's name reached the HTML unescaped")
	}

	resp, err = browser.Get(link)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(b), "You are subscribed") {
		t.Fatalf("confirm: %d\n%s", resp.StatusCode, b)
	}
	msgs = j.tick()
	if got := subjects(msgs); len(got) != 3 || !strings.Contains(strings.Join(got, "|"), "Welcome") ||
		strings.Count(strings.Join(got, "|"), "Bonus") != 2 {
		t.Fatalf("after confirming got %q, want the welcome and two bonuses", got)
	}
	for _, m := range msgs {
		if len(m.Header["Message-Id"]) != 1 || !strings.HasPrefix(m.Header.Get("List-Unsubscribe"), "<"+base+"/unsubscribe/") ||
			m.Header.Get("List-Unsubscribe-Post") != "List-Unsubscribe=One-Click" || m.HTML == "" || m.Text == "" {
			t.Fatalf("message %q lacks headers or parts: %v", m.Subject, m.Header)
		}
		if !strings.Contains(m.Text, "1 Example Street") {
			t.Fatalf("message %q has no postal address in its footer", m.Subject)
		}
	}

	// Step 1: the next morning at 08:00 New York time, not a minute before.
	j.clock.Set(time.Date(2026, 3, 3, 7, 59, 0, 0, ny))
	if msgs := j.tick(); len(msgs) != 0 {
		t.Fatalf("before 08:00 got %q", subjects(msgs))
	}
	j.clock.Set(time.Date(2026, 3, 3, 8, 0, 0, 0, ny))
	msgs = j.tick()
	if len(msgs) != 1 || !strings.HasPrefix(msgs[0].Subject, "Week 1") {
		t.Fatalf("at 08:00 got %q, want week 1", subjects(msgs))
	}

	// Step 2: a week later, 08:00 local although New York moved to summer time (UTC-4).
	j.clock.Set(time.Date(2026, 3, 10, 11, 59, 0, 0, time.UTC)) // 07:59 EDT
	if msgs := j.tick(); len(msgs) != 0 {
		t.Fatalf("at 07:59 EDT got %q", subjects(msgs))
	}
	j.clock.Set(time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)) // 08:00 EDT
	msgs = j.tick()
	if len(msgs) != 1 || !strings.HasPrefix(msgs[0].Subject, "Week 2") {
		t.Fatalf("at 08:00 EDT got %q, want week 2", subjects(msgs))
	}

	// One-click unsubscribe, as a mail client does it (RFC 8058): no cookies, the URL from the header.
	unsub := strings.Trim(msgs[0].Header.Get("List-Unsubscribe"), "<>")
	if code, body := j.post(unsub, "application/x-www-form-urlencoded", "List-Unsubscribe=One-Click"); code != 200 {
		t.Fatalf("one-click unsubscribe: %d %s", code, body)
	}
	for week := 0; week < 6; week++ {
		j.clock.Add(7 * 24 * time.Hour)
		if msgs := j.tick(); len(msgs) != 0 {
			t.Fatalf("after unsubscribing got %q", subjects(msgs))
		}
	}
	var events []string
	if err := j.app.db.Select(&events, `SELECT kind FROM events ORDER BY id`); err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(events, ","), "subscribed,confirmation_requested,confirmed,unsubscribed"; got != want {
		t.Fatalf("events = %s, want %s", got, want)
	}
}

func TestRun(t *testing.T) {
	t.Parallel()
	env := func(kv ...string) func(string) string {
		m := map[string]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return func(k string) string { return m[k] }
	}
	ctx := context.Background()

	t.Run("Help", func(t *testing.T) {
		for _, args := range [][]string{{"--help"}, {"serve", "--help"}, {"migrate", "--help"}, {"token", "create", "--help"}} {
			var out, errb bytes.Buffer
			err := run(ctx, args, env(), nil, &out, &errb)
			if err != nil && err.Error() != "flag: help requested" {
				t.Errorf("%q: %v", args, err)
			}
			if !strings.Contains(out.String()+errb.String(), "tidings") {
				t.Errorf("%q printed no usage: %q %q", args, out.String(), errb.String())
			}
		}
	})

	t.Run("ErrConfig", func(t *testing.T) {
		db := "postgres://tidings:tidings@127.0.0.1:5432/x?sslmode=disable"
		smtp := "smtp://127.0.0.1:2525?tls=none"
		secret := strings.Repeat("k", 32)
		for _, tt := range []struct {
			args []string
			env  func(string) string
			want string
		}{
			{[]string{"serve"}, env(), "TIDINGS_DATABASE_URL"},
			{[]string{"serve"}, env("TIDINGS_DATABASE_URL", "mysql://x"), "TIDINGS_DATABASE_URL"},
			{[]string{"serve"}, env("TIDINGS_DATABASE_URL", db, "TIDINGS_SECRET", secret), "TIDINGS_SMTP_URL"},
			{[]string{"serve"}, env("TIDINGS_DATABASE_URL", db, "TIDINGS_SMTP_URL", smtp), "TIDINGS_SECRET"},
			{[]string{"serve"}, env("TIDINGS_DATABASE_URL", db, "TIDINGS_SMTP_URL", smtp, "TIDINGS_SECRET", "short"), "TIDINGS_SECRET"},
			{[]string{"serve"}, env("TIDINGS_DATABASE_URL", db, "TIDINGS_SMTP_URL", smtp, "TIDINGS_SECRET", secret, "TIDINGS_LISTEN", "nope"), "TIDINGS_LISTEN"},
			{[]string{"serve"}, env("TIDINGS_DATABASE_URL", db, "TIDINGS_SMTP_URL", smtp, "TIDINGS_SECRET", secret, "TIDINGS_BASE_URL", "ftp://x"), "TIDINGS_BASE_URL"},
			{[]string{"serve"}, env("TIDINGS_DATABASE_URL", db, "TIDINGS_SMTP_URL", smtp, "TIDINGS_SECRET", secret, "TIDINGS_SMTP_CONNECTIONS", "zero"), "TIDINGS_SMTP_CONNECTIONS"},
			{[]string{"serve"}, env("TIDINGS_DATABASE_URL", db, "TIDINGS_SMTP_URL", smtp, "TIDINGS_SECRET", secret, "TIDINGS_SEND_RATE", "-1"), "TIDINGS_SEND_RATE"},
			{[]string{"serve", "--send-rate", "fast"}, env("TIDINGS_DATABASE_URL", db, "TIDINGS_SMTP_URL", smtp, "TIDINGS_SECRET", secret), "TIDINGS_SEND_RATE"},
			{[]string{"serve", "--smtp-timeout", "0s"}, env("TIDINGS_DATABASE_URL", db, "TIDINGS_SMTP_URL", smtp, "TIDINGS_SECRET", secret), "TIDINGS_SMTP_TIMEOUT"},
			{[]string{"serve"}, env("TIDINGS_DATABASE_URL", db, "TIDINGS_SMTP_URL", smtp, "TIDINGS_SECRET", secret, "TIDINGS_SMTP_TIMEOUT", "soon"), "TIDINGS_SMTP_TIMEOUT"},
			{[]string{"serve", "--claim-timeout", "1m"}, env("TIDINGS_DATABASE_URL", db, "TIDINGS_SMTP_URL", smtp, "TIDINGS_SECRET", secret), "TIDINGS_CLAIM_TIMEOUT"},
			{[]string{"serve"}, env("TIDINGS_DATABASE_URL", db, "TIDINGS_SMTP_URL", smtp, "TIDINGS_SECRET", secret, "TIDINGS_CLAIM_TIMEOUT", "-5m"), "TIDINGS_CLAIM_TIMEOUT"},
			{[]string{"serve", "--retry-schedule", "1m,30s"}, env("TIDINGS_DATABASE_URL", db, "TIDINGS_SMTP_URL", smtp, "TIDINGS_SECRET", secret), "TIDINGS_RETRY_SCHEDULE"},
			{[]string{"serve"}, env("TIDINGS_DATABASE_URL", db, "TIDINGS_SMTP_URL", smtp, "TIDINGS_SECRET", secret, "TIDINGS_RETRY_SCHEDULE", "5s,soon"), "TIDINGS_RETRY_SCHEDULE"},
			{[]string{"serve"}, env("TIDINGS_DATABASE_URL", db, "TIDINGS_SMTP_URL", smtp, "TIDINGS_SECRET", secret, "TIDINGS_RETRY_SCHEDULE", "0s"), "TIDINGS_RETRY_SCHEDULE"},
			{[]string{"serve", "--role", "boss"}, env("TIDINGS_DATABASE_URL", db, "TIDINGS_SMTP_URL", smtp, "TIDINGS_SECRET", secret), "--role"},
			{[]string{"serve"}, env("TIDINGS_DATABASE_URL", db, "TIDINGS_SMTP_URL", "smtp://", "TIDINGS_SECRET", secret, "TIDINGS_LISTEN", "127.0.0.1:0"), "TIDINGS_SMTP_URL"},
			{[]string{"token", "create"}, env("TIDINGS_DATABASE_URL", db), "--name"},
			{[]string{"bogus"}, env(), "unknown command"},
		} {
			var out, errb bytes.Buffer
			err := run(ctx, tt.args, tt.env, nil, &out, &errb)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("%q: got error %v, want one naming %s", tt.args, err, tt.want)
			}
		}
	})

	t.Run("MigrateAndToken", func(t *testing.T) {
		dsn := pgtest.MustCreateDB(t)
		var out bytes.Buffer
		if err := run(ctx, []string{"migrate", "--database-url", dsn}, env(), nil, &out, io.Discard); err != nil {
			t.Fatal(err)
		}
		out.Reset()
		if err := run(ctx, []string{"token", "create", "--name", "ci"}, env("TIDINGS_DATABASE_URL", dsn), nil, &out, io.Discard); err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(out.String(), "tdg_") {
			t.Fatalf("token create printed %q", out.String())
		}
	})

	t.Run("UserAdd", func(t *testing.T) {
		dsn := pgtest.MustCreateDB(t)
		pw := filepath.Join(t.TempDir(), "pw")
		os.WriteFile(pw, []byte("a long enough password\n"), 0o600)
		var out bytes.Buffer
		if err := run(ctx, []string{"user", "add", "--email", "ed@example.com", "--password-file", pw}, env("TIDINGS_DATABASE_URL", dsn), nil, &out, io.Discard); err != nil {
			t.Fatal(err)
		}
		if err := run(ctx, []string{"user", "add", "--email", "bo@example.com"}, env("TIDINGS_DATABASE_URL", dsn), strings.NewReader("another long password\n"), &out, io.Discard); err != nil {
			t.Fatal(err)
		}
		for _, tt := range []struct {
			args  []string
			stdin string
			want  string
		}{
			{[]string{"user", "add"}, "", "--email"},
			{[]string{"user", "add", "--email", "ed@example.com"}, "a long enough password\n", "exists already"},
			{[]string{"user", "add", "--email", "new@example.com"}, "short\n", "at least 10"},
			{[]string{"user", "add", "--email", "not an address"}, "a long enough password\n", "address"},
			{[]string{"user", "add", "--email", "new@example.com", "--password-file", "/nonexistent"}, "", "--password-file"},
		} {
			err := run(ctx, tt.args, env("TIDINGS_DATABASE_URL", dsn), strings.NewReader(tt.stdin), io.Discard, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("%q: got %v, want an error saying %q", tt.args, err, tt.want)
			}
		}
	})

	t.Run("ServeDev", func(t *testing.T) {
		dsn := pgtest.MustCreateDB(t)
		ctx, cancel := context.WithCancel(ctx)
		pr, pw := io.Pipe()
		done := make(chan error, 1)
		go func() {
			done <- run(ctx, []string{"serve", "--dev", "--listen", "127.0.0.1:0"}, env("TIDINGS_DATABASE_URL", dsn), nil, pw, io.Discard)
			pw.Close()
		}()
		buf := make([]byte, 64<<10)
		var got string
		re := regexp.MustCompile(`Listening on\s+(http://\S+)`)
		for !strings.Contains(got, "/healthz") {
			n, err := pr.Read(buf)
			if err != nil {
				t.Fatalf("serve exited: %v; printed %q", <-done, got)
			}
			got += string(buf[:n])
		}
		go io.Copy(io.Discard, pr)
		base := re.FindStringSubmatch(got)[1]
		for _, want := range []string{"/subscribe/effective-leadership", "/dev/inbox", "Development API token: tdg_"} {
			if !strings.Contains(got, want) {
				t.Errorf("serve --dev did not print %q:\n%s", want, got)
			}
		}
		resp, err := http.Post(base+"/subscribe/effective-leadership", "application/json", strings.NewReader(`{"email":"dev@example.com"}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		// The dispatcher runs in the background; the dev inbox shows the confirmation.
		deadline := time.Now().Add(10 * time.Second)
		for {
			resp, err := http.Get(base + "/dev/inbox")
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if strings.Contains(string(b), "dev@example.com") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the confirmation never reached the dev inbox:\n%s", b)
			}
			time.Sleep(50 * time.Millisecond)
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("serve: %v", err)
		}
	})
}
