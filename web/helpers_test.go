package web_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"golang.org/x/crypto/bcrypt"

	"github.com/tidings/tidings/campaigns"
	"github.com/tidings/tidings/dkimkeys"
	"github.com/tidings/tidings/editors"
	"github.com/tidings/tidings/internal/pgtest"
	"github.com/tidings/tidings/subscribers"
	"github.com/tidings/tidings/web"
)

// clock is a settable clock for tests.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// env is a running web server on its own database.
type env struct {
	t     testing.TB
	db    *sqlx.DB
	clock *clock
	subs  *subscribers.Store
	eds   *editors.Store
	dkim  *dkimkeys.Store
	links *subscribers.Links
	srv   *httptest.Server
	web   *web.Server
	token string
}

// MustStart starts the web server with a list "weekly" and an API token.
func MustStart(t testing.TB, limits web.Limits) *env {
	t.Helper()
	db := pgtest.MustOpenDB(t)
	clk := &clock{t: time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)}
	tokens := &subscribers.Tokens{Secret: []byte("0123456789abcdef0123456789abcdef")}
	queue := &campaigns.Queue{}
	subs := &subscribers.Store{DB: db, Now: clk.Now, Tokens: tokens, OnEvent: queue.OnEvent}
	eds := &editors.Store{DB: db, Now: clk.Now, PasswordCost: bcrypt.MinCost}
	dkim := &dkimkeys.Store{DB: db, Now: clk.Now, Secret: tokens.Secret}
	e := &env{t: t, db: db, clock: clk, subs: subs, eds: eds, dkim: dkim}
	s, err := web.NewServer(web.Config{
		Subscribers: subs, Campaigns: &campaigns.Store{DB: db, Now: clk.Now}, Editors: eds,
		Now: clk.Now, Limits: limits, Secret: tokens.Secret, DKIM: dkim,
	})
	if err != nil {
		t.Fatal(err)
	}
	// The server's own timeouts and header limit, as in production.
	e.web = s
	e.srv = httptest.NewUnstartedServer(s)
	e.srv.Config = s.HTTPServer()
	e.srv.Start()
	t.Cleanup(e.srv.Close)
	e.links = &subscribers.Links{BaseURL: e.srv.URL, Paths: s.LinkPaths(), Tokens: tokens, ConfirmTTL: 7 * 24 * time.Hour, Now: clk.Now}
	ctx := context.Background()
	if err := subs.CreateList(ctx, &subscribers.List{
		Slug: "weekly", Name: "Weekly Leader", FromEmail: "coach@example.com", Timezone: "Europe/London",
		PostalAddress: "1 Example Street", ConsentText: "Send me the weekly series.",
	}); err != nil {
		t.Fatal(err)
	}
	_, e.token, err = eds.CreateToken(ctx, editors.TokenRequest{Name: "test"})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// do sends a request and returns the status and body.
func (e *env) do(method, path, contentType, body string, header ...string) (int, string) {
	e.t.Helper()
	return e.doReader(method, path, contentType, strings.NewReader(body), header...)
}

// doReader is do with the body read from a reader, as it is read.
func (e *env) doReader(method, path, contentType string, body io.Reader, header ...string) (int, string) {
	e.t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, body)
	if err != nil {
		e.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// api sends an authenticated JSON API request.
func (e *env) api(method, path, body string) (int, string) {
	e.t.Helper()
	ct := ""
	if body != "" {
		ct = "application/json"
	}
	return e.do(method, "/api/v1"+path, ct, body, "Authorization", "Bearer "+e.token)
}

// counts returns the number of rows in the tables a sign-up writes to.
func (e *env) counts() [4]int {
	e.t.Helper()
	var c [4]int
	for i, table := range []string{"subscribers", "subscriptions", "events", "outbox"} {
		if err := e.db.Get(&c[i], `SELECT count(*) FROM `+table); err != nil {
			e.t.Fatal(err)
		}
	}
	return c
}

// subscriptionID returns the id of the subscription of email on the list "weekly".
func (e *env) subscriptionID(email string) int64 {
	e.t.Helper()
	var id int64
	err := e.db.Get(&id, `
		SELECT s.id FROM subscriptions s JOIN subscribers r ON r.id = s.subscriber_id
		WHERE r.email = $1`, email)
	if err != nil {
		e.t.Fatal(err)
	}
	return id
}

// status returns the subscription status of email.
func (e *env) status(email string) string {
	e.t.Helper()
	var st string
	err := e.db.Get(&st, `
		SELECT s.status FROM subscriptions s JOIN subscribers r ON r.id = s.subscriber_id
		WHERE r.email = $1`, email)
	if err != nil {
		e.t.Fatal(err)
	}
	return st
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// subscriberID returns the id of the subscriber with email.
func (e *env) subscriberID(email string) int64 {
	e.t.Helper()
	var id int64
	if err := e.db.Get(&id, `SELECT id FROM subscribers WHERE email = $1`, email); err != nil {
		e.t.Fatal(err)
	}
	return id
}
