package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/tidings/tidings/campaigns"
	"github.com/tidings/tidings/delivery"
	"github.com/tidings/tidings/editors"
	"github.com/tidings/tidings/internal/devmail"
	"github.com/tidings/tidings/internal/pgtest"
	"github.com/tidings/tidings/subscribers"
	"github.com/tidings/tidings/templates"
	"github.com/tidings/tidings/web"
)

// broadcastEnv is a running web server with a Tester that sends to a mail
// catcher, a list "weekly" and an API token.
type broadcastEnv struct {
	*env
	catch *devmail.Server
}

func MustStartBroadcasts(t *testing.T) *broadcastEnv {
	t.Helper()
	db := pgtest.MustOpenDB(t)
	clk := &clock{t: time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)}
	tokens := &subscribers.Tokens{Secret: []byte("0123456789abcdef0123456789abcdef")}
	queue := &campaigns.Queue{}
	subs := &subscribers.Store{DB: db, Now: clk.Now, Tokens: tokens, OnEvent: queue.OnEvent}
	catch, err := devmail.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { catch.Close() })
	sender, err := delivery.NewSender(delivery.Config{URL: "smtp://" + catch.Addr(), Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	renderer, err := templates.NewRenderer()
	if err != nil {
		t.Fatal(err)
	}
	eds := &editors.Store{DB: db, Now: clk.Now, PasswordCost: bcrypt.MinCost}
	s, err := web.NewServer(web.Config{
		Subscribers: subs, Campaigns: &campaigns.Store{DB: db, Now: clk.Now}, Editors: eds,
		Tester: &campaigns.Tester{DB: db, Sender: sender, Renderer: renderer, BaseURL: "https://news.example.com"},
		Now:    clk.Now, Limits: web.DefaultLimits,
	})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, db: db, clock: clk, subs: subs, eds: eds, srv: httptest.NewServer(s)}
	t.Cleanup(e.srv.Close)
	ctx := context.Background()
	if err := subs.CreateList(ctx, &subscribers.List{
		Slug: "weekly", Name: "Weekly Leader", FromEmail: "coach@example.com", Timezone: "Europe/London",
		PostalAddress: "1 Example Street",
	}); err != nil {
		t.Fatal(err)
	}
	if _, e.token, err = eds.CreateToken(ctx, editors.TokenRequest{Name: "test"}); err != nil {
		t.Fatal(err)
	}
	return &broadcastEnv{env: e, catch: catch}
}

// apiBroadcast is a broadcast as the API answers it.
type apiBroadcast struct {
	ID              int64    `json:"id"`
	List            string   `json:"list"`
	Subject         string   `json:"subject"`
	Status          string   `json:"status"`
	SendAt          *string  `json:"send_at"`
	TagsInclude     []string `json:"tags_include"`
	Recipients      int      `json:"recipients"`
	Queued          *int     `json:"queued"`
	Sent            *int     `json:"sent"`
	Failed          *int     `json:"failed"`
	Skipped         *int     `json:"skipped"`
	Rate            *float64 `json:"rate"`
	EstimatedFinish *string  `json:"estimated_finish"`
	Unsubscribes    *int     `json:"unsubscribes"`
}

// broadcast sends an API request that answers with a broadcast.
func (e *broadcastEnv) broadcast(method, path, body string, want int) apiBroadcast {
	e.t.Helper()
	code, resp := e.api(method, path, body)
	if code != want {
		e.t.Fatalf("%s %s %s: got %d %s, want %d", method, path, body, code, resp, want)
	}
	var b apiBroadcast
	if err := json.Unmarshal([]byte(resp), &b); err != nil {
		e.t.Fatalf("%s %s: %v in %s", method, path, err, resp)
	}
	return b
}

// confirmed adds confirmed subscribers to "weekly" through the API.
func (e *broadcastEnv) confirmed(emails ...string) {
	e.t.Helper()
	for _, m := range emails {
		if code, body := e.api("POST", "/subscribers", `{"email":"`+m+`","name":"Ada Reader","lists":["weekly"],"status":"confirmed"}`); code != 201 {
			e.t.Fatalf("add %s: %d %s", m, code, body)
		}
	}
}

// state is what a bad request must leave alone.
func (e *broadcastEnv) state() string {
	e.t.Helper()
	var s string
	err := e.db.Get(&s, `
		SELECT COALESCE((SELECT string_agg(row(b.*)::text, ';' ORDER BY b.id) FROM broadcasts b), '') || ' ' ||
		       (SELECT count(*) FROM outbox) || ' ' ||
		       (SELECT row(step_broadcast_policy, broadcast_gap_hours, updated_at)::text FROM lists WHERE slug = 'weekly')`)
	if err != nil {
		e.t.Fatal(err)
	}
	return s + fmt.Sprint(" caught ", e.catch.Caught())
}

func TestAPI_Broadcasts(t *testing.T) {
	t.Parallel()
	e := MustStartBroadcasts(t)
	e.confirmed("ada@example.com", "bo@example.com", "cy@example.com")
	e.db.MustExec(`UPDATE subscribers SET tags = '{vip}' WHERE email IN ('ada@example.com', 'bo@example.com')`)

	b := e.broadcast("POST", "/broadcasts", `{"list":"weekly","subject":"Hi {{.FirstName}}","body":"News for {{.Email}}.","preheader":"Spring","tags_include":["VIP"]}`, 201)
	if b.ID == 0 || b.Status != "draft" || b.List != "weekly" || b.SendAt != nil || fmt.Sprint(b.TagsInclude) != "[vip]" ||
		b.Queued == nil || *b.Queued != 0 || b.Rate == nil || b.Unsubscribes == nil {
		t.Fatalf("created %+v", b)
	}
	id := "/broadcasts/" + itoa(b.ID)
	if code, body := e.api("GET", "/broadcasts?list=weekly", ""); code != 200 || !strings.Contains(body, `"Hi {{.FirstName}}"`) {
		t.Fatalf("index: %d %s", code, body)
	}
	if code, body := e.api("GET", "/broadcasts", ""); code != 200 || !strings.Contains(body, `"broadcasts"`) {
		t.Fatalf("index: %d %s", code, body)
	}
	if b = e.broadcast("PATCH", id, `{"subject":"Hello {{.FirstName}}"}`, 200); b.Subject != "Hello {{.FirstName}}" || b.Status != "draft" {
		t.Fatalf("patched %+v", b)
	}

	// Scheduling: an offset, or a local time and a zone; stored in UTC.
	if b = e.broadcast("POST", id+"/schedule", `{"send_at":"2026-03-10T09:00:00+01:00"}`, 200); b.Status != "scheduled" || *b.SendAt != "2026-03-10T08:00:00Z" {
		t.Fatalf("scheduled %+v", b)
	}
	if b = e.broadcast("POST", id+"/schedule", `{"send_at":"2026-07-10T09:00","timezone":"Europe/Berlin"}`, 200); *b.SendAt != "2026-07-10T07:00:00Z" {
		t.Fatalf("scheduled %+v", *b.SendAt)
	}

	// A test goes out at once and counts for nothing.
	code, body := e.api("POST", id+"/test", `{"emails":["editor@example.com","boss@example.com"]}`)
	if code != 200 || strings.Count(body, `"status": "sent"`) != 2 {
		t.Fatalf("test: %d %s", code, body)
	}
	if msgs := e.catch.Messages(); len(msgs) != 2 || msgs[0].Subject != "[Test] Hello Ada" || !strings.Contains(msgs[0].Text, "News for editor@example.com.") {
		t.Fatalf("test messages %+v", msgs)
	}
	if b = e.broadcast("GET", id, "", 200); *b.Queued != 0 || *b.Sent != 0 || b.Status != "scheduled" {
		t.Fatalf("after the test %+v", b)
	}

	// Send, pause, resume, cancel.
	if b = e.broadcast("POST", id+"/send", "", 200); b.Status != "sending" || b.Recipients != 2 || *b.Queued != 2 {
		t.Fatalf("sent %+v", b)
	}
	if b = e.broadcast("POST", id+"/pause", "", 200); b.Status != "paused" {
		t.Fatalf("paused %+v", b)
	}
	if code, body := e.api("PATCH", id, `{"subject":"Too late"}`); code != 409 || !strings.Contains(body, "paused") {
		t.Fatalf("patch while paused: %d %s", code, body)
	}
	if b = e.broadcast("POST", id+"/resume", "", 200); b.Status != "sending" {
		t.Fatalf("resumed %+v", b)
	}
	if b = e.broadcast("POST", id+"/retry-failed", "", 200); b.Status != "sending" || *b.Queued != 2 {
		t.Fatalf("retried %+v", b)
	}
	if b = e.broadcast("POST", id+"/cancel", "", 200); b.Status != "cancelled" || *b.Skipped != 2 || *b.Queued != 0 {
		t.Fatalf("cancelled %+v", b)
	}
	if code, body := e.api("POST", id+"/send", ""); code != 409 || !strings.Contains(body, "cancelled") {
		t.Fatalf("send when cancelled: %d %s", code, body)
	}
}

func TestAPI_Broadcasts_ErrBadInput(t *testing.T) {
	t.Parallel()
	e := MustStartBroadcasts(t)
	e.confirmed("ada@example.com")
	b := e.broadcast("POST", "/broadcasts", `{"list":"weekly","subject":"Hi","body":"News."}`, 201)
	id := "/broadcasts/" + itoa(b.ID)
	eleven := `{"emails":["a@example.com"` + strings.Repeat(`,"a@example.com"`, 10) + `]}`
	for _, tt := range []struct {
		method, path, body string
		want               int
		msg                string
	}{
		{"POST", "/broadcasts", `not json`, 400, "not valid JSON"},
		{"POST", "/broadcasts", ``, 400, "JSON"},
		{"POST", "/broadcasts", `{"list":"weekly","subject":"s","body":"b","status":"sent"}`, 400, "status"},
		{"POST", "/broadcasts", `{"list":"weekly","subject":"s","body":"b","tags_include":"vip"}`, 400, "tags_include"},
		{"POST", "/broadcasts", `{"list":"nope","subject":"s","body":"b"}`, 404, "nope"},
		{"POST", "/broadcasts", `{"subject":"s","body":"b"}`, 422, "list is required"},
		{"POST", "/broadcasts", `{"list":"weekly","subject":"Hi {{.Nmae}}","body":"b"}`, 422, "subject line 1: unknown field .Nmae"},
		{"POST", "/broadcasts", `{"list":"weekly","subject":"s","body":"one\n{{if .Name}}"}`, 422, "body line 2"},
		{"POST", "/broadcasts", `{"list":"weekly","subject":"","body":"b"}`, 422, "subject is required"},
		{"POST", "/broadcasts", `{"list":"weekly","subject":"s","body":"b","tags_include":["a/b\u0000"]}`, 422, "tags_include"},
		{"PATCH", id, `{"body":"{{.Foo}}"}`, 422, "unknown field .Foo"},
		{"PATCH", id, `{"list":"nope"}`, 404, "nope"},
		{"PATCH", id, `{"id":5}`, 400, "id"},
		{"PATCH", "/broadcasts/999999", `{"subject":"x"}`, 404, "not found"},
		{"GET", "/broadcasts/999999", ``, 404, "not found"},
		{"GET", "/broadcasts?list=nope", ``, 404, "nope"},
		{"POST", id + "/schedule", `{"send_at":"2026-03-01T09:00:00Z"}`, 422, "in the past"},
		{"POST", id + "/schedule", `{"send_at":"2026-03-02T12:00:00Z"}`, 422, "in the past"},
		{"POST", id + "/schedule", `{"send_at":"2026-04-01T09:00","timezone":"Europe/Atlantis"}`, 422, "Europe/Atlantis"},
		{"POST", id + "/schedule", `{"send_at":"2026-04-01T09:00"}`, 422, "offset"},
		{"POST", id + "/schedule", `{"send_at":"next week"}`, 422, "next week"},
		{"POST", id + "/schedule", `{}`, 422, "send_at is required"},
		{"POST", id + "/schedule", `{"send_at":1}`, 400, "send_at"},
		{"POST", id + "/schedule", ``, 400, "JSON"},
		{"POST", id + "/test", eleven, 422, "at most 10"},
		{"POST", id + "/test", `{"emails":["ok@example.com","not-an-address"]}`, 422, "not-an-address"},
		{"POST", id + "/test", `{"emails":[]}`, 422, "emails is required"},
		{"POST", id + "/test", `{"emails":"ok@example.com"}`, 400, "emails"},
		{"POST", "/broadcasts/999999/test", `{"emails":["ok@example.com"]}`, 404, "not found"},
		{"POST", id + "/launch", ``, 404, "No such action"},
		{"POST", id + "/pause", ``, 409, "is draft"},
		{"POST", id + "/resume", ``, 409, "is draft"},
		{"POST", id + "/retry-failed", ``, 409, "is draft"},
		{"POST", "/broadcasts/999999/send", ``, 404, "not found"},
		{"DELETE", id, ``, 405, "DELETE"},
		{"GET", "/lists/nope/policy", ``, 404, "nope"},
		{"PUT", "/lists/weekly/policy", `{"step_broadcast_policy":"sometimes"}`, 422, "sometimes"},
		{"PUT", "/lists/weekly/policy", `{"broadcast_gap_hours":169}`, 422, "168"},
		{"PUT", "/lists/weekly/policy", `{"broadcast_gap_hours":"24"}`, 400, "broadcast_gap_hours"},
		{"PUT", "/lists/nope/policy", `{"step_broadcast_policy":"defer"}`, 404, "nope"},
	} {
		before := e.state()
		code, body := e.api(tt.method, tt.path, tt.body)
		var msg struct {
			Error string `json:"error"`
		}
		json.Unmarshal([]byte(body), &msg)
		if code != tt.want || !strings.Contains(msg.Error, tt.msg) {
			t.Errorf("%s %s %q: got %d %s, want %d with an error containing %q", tt.method, tt.path, tt.body, code, body, tt.want, tt.msg)
		}
		if after := e.state(); after != before {
			t.Errorf("%s %s %q changed something:\n%s\n%s", tt.method, tt.path, tt.body, before, after)
		}
	}
}

func TestAPI_ListPolicy(t *testing.T) {
	t.Parallel()
	e := MustStartBroadcasts(t)
	if code, body := e.api("GET", "/lists/weekly/policy", ""); code != 200 || !strings.Contains(body, `"step_broadcast_policy": "both"`) || !strings.Contains(body, `"broadcast_gap_hours": 0`) {
		t.Fatalf("get: %d %s", code, body)
	}
	if code, body := e.api("PUT", "/lists/weekly/policy", `{"step_broadcast_policy":"defer","broadcast_gap_hours":24}`); code != 200 || !strings.Contains(body, `"defer"`) {
		t.Fatalf("put: %d %s", code, body)
	}
	if code, body := e.api("PUT", "/lists/weekly/policy", `{"broadcast_gap_hours":12}`); code != 200 || !strings.Contains(body, `"defer"`) || !strings.Contains(body, `12`) {
		t.Fatalf("put the gap alone: %d %s", code, body)
	}
	if code, body := e.api("GET", "/lists/weekly/policy", ""); code != 200 || !strings.Contains(body, `"defer"`) || !strings.Contains(body, `"broadcast_gap_hours": 12`) {
		t.Fatalf("get after put: %d %s", code, body)
	}
}
