package web_test

import (
	"context"
	"encoding/json"
	"html"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tidings/tidings/campaigns"
	"github.com/tidings/tidings/subscribers"
	"github.com/tidings/tidings/web"
)

// broadcastValues is the compose form of a good broadcast to "weekly".
func broadcastValues(subject string) url.Values {
	return url.Values{
		"list": {"weekly"}, "subject": {subject}, "preheader": {"Three questions to try"},
		"body": {"Hello {{or .FirstName \"there\"}},\n\nThis month: **listen first**."}, "tags_include": {""}, "tags_exclude": {"Staff"},
	}
}

// broadcastRow is a broadcast as stored, for the checks of these tests.
type broadcastRow struct {
	ID         int64      `db:"id"`
	Subject    string     `db:"subject"`
	Status     string     `db:"status"`
	SendAt     *time.Time `db:"send_at"`
	Recipients int        `db:"recipients"`
}

func (e *broadcastEnv) stored(id string) broadcastRow {
	e.t.Helper()
	var b broadcastRow
	if err := e.db.Get(&b, `SELECT id, subject, status, send_at, recipients FROM broadcasts WHERE id = $1`, id); err != nil {
		e.t.Fatal(err)
	}
	return b
}

// outboxOf counts the outbox rows of broadcast id by status, as "queued=2 sent=1".
func (e *broadcastEnv) outboxOf(id string) string {
	e.t.Helper()
	var s string
	err := e.db.Get(&s, `
		SELECT COALESCE(string_agg(status || '=' || n, ' ' ORDER BY status), '')
		FROM (SELECT status, count(*) AS n FROM outbox WHERE broadcast_id = $1 GROUP BY status) c`, id)
	if err != nil {
		e.t.Fatal(err)
	}
	return s
}

// broadcastIDFrom returns the id in a broadcast page's path.
func broadcastIDFrom(t *testing.T, resp *http.Response) string {
	t.Helper()
	id, ok := strings.CutPrefix(resp.Request.URL.Path, "/editor/broadcasts/")
	if !ok || id == "" || strings.Contains(id, "/") {
		t.Fatalf("not at a broadcast page: %s", resp.Request.URL)
	}
	return id
}

// alertText is the error or notice of a page, for failure messages.
func alertText(body string) string {
	for _, mark := range []string{`id="form-error"`, `class="notice"`, "<h1>"} {
		if i := strings.Index(body, mark); i >= 0 {
			return body[i:min(len(body), i+400)]
		}
	}
	return body
}

// progress is the JSON of a broadcast's progress endpoint.
type progress struct {
	Status      string `json:"status"`
	Recipients  int    `json:"recipients"`
	Done        int    `json:"done"`
	Sent        int    `json:"sent"`
	Failed      int    `json:"failed"`
	Skipped     int    `json:"skipped"`
	Percent     int    `json:"percent"`
	PercentText string `json:"percent_text"`
	Summary     string `json:"summary"`
	Retryable   int    `json:"retryable"`
	Unsubs      int    `json:"unsubscribes"`
}

func getProgress(t *testing.T, c *http.Client, u string) progress {
	t.Helper()
	resp, body := get(t, c, u)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("progress: got %d %s\n%.300s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	var p progress
	if err := json.Unmarshal([]byte(body), &p); err != nil {
		t.Fatalf("progress: %v in %s", err, body)
	}
	return p
}

func TestEditorBroadcasts(t *testing.T) {
	t.Parallel()
	e := MustStartBroadcasts(t)
	c := e.MustEditor("ed@example.com")
	e.confirmed("ada@example.com", "bo@example.com", "cy@example.com")
	e.db.MustExec(`UPDATE subscribers SET tags = '{staff}' WHERE email = 'cy@example.com'`)
	base := e.srv.URL + "/editor/broadcasts"

	_, body := get(t, c, base)
	if !strings.Contains(body, "No broadcasts yet") || !strings.Contains(body, `href="/editor/broadcasts"`) {
		t.Fatalf("empty index:\n%s", alertText(body))
	}
	_, body = get(t, c, base+"/new")
	for _, s := range []string{`<option value="weekly" selected>Weekly Leader</option>`, `name="tags_include"`, `name="tags_exclude"`,
		`name="preheader"`, `id="preview-frame"`, `id="width-phone"`, "/static/broadcasts.js", `data-preview="/editor/broadcasts/preview"`} {
		if !strings.Contains(body, s) {
			t.Fatalf("new broadcast page lacks %q", s)
		}
	}

	// Preview without JavaScript: the form comes back with the rendered email; nothing is stored.
	v := broadcastValues("News for {{or .FirstName \"you\"}}")
	v.Set("action", "preview")
	before := e.state()
	resp, body := post(t, c, base, v)
	if resp.StatusCode != 200 || !strings.Contains(body, html.EscapeString("<strong>listen first</strong>")) ||
		!strings.Contains(body, `<dd id="preview-subject">News for Alex</dd>`) || !strings.Contains(body, `value="Three questions to try"`) {
		t.Fatalf("preview: got %d\n%s", resp.StatusCode, alertText(body))
	}
	if e.state() != before {
		t.Fatal("the preview stored something")
	}

	// Create: a draft, and its page with the audience counted as the start would.
	resp, body = post(t, c, base, broadcastValues("News for {{or .FirstName \"you\"}}"))
	if resp.StatusCode != 200 || !strings.Contains(body, "saved as a draft") {
		t.Fatalf("create: got %d at %s\n%s", resp.StatusCode, resp.Request.URL, alertText(body))
	}
	id := broadcastIDFrom(t, resp)
	page := base + "/" + id
	if b := e.stored(id); b.Status != "draft" || b.Subject != "News for {{or .FirstName \"you\"}}" {
		t.Fatalf("stored %+v", b)
	}
	for _, s := range []string{`id="audience-count">2 subscribers`, `<span class="tag">staff</span>`, `type="date" value="2026-03-03"`,
		`type="time" value="09:00"`, `<option value="Europe/London" selected>Europe/London (the list's)</option>`,
		`id="emails" name="emails" type="text" value="ed@example.com"`, "Send now…", html.EscapeString("<strong>listen first</strong>")} {
		if !strings.Contains(body, s) {
			t.Errorf("draft page lacks %q", s)
		}
	}

	t.Run("LivePreview", func(t *testing.T) {
		u := base + "/preview"
		resp, body := post(t, c, u, broadcastValues("Hi {{.FirstName}}"))
		if resp.StatusCode != 200 || !strings.Contains(body, "<strong>listen first</strong>") || !strings.Contains(body, "Three questions to try") ||
			!strings.Contains(resp.Header.Get("Content-Security-Policy"), "sandbox") {
			t.Fatalf("preview: got %d\n%.300s", resp.StatusCode, body)
		}
		for _, tt := range []struct{ field, value, want string }{
			{"body", "One\n{{.Nope}}", "body line 2: unknown field .Nope"},
			{"subject", "Hi {{.FirstName", "subject line 1"},
			{"list", "nope", `There is no list "nope"`},
		} {
			v := broadcastValues("Hi")
			v.Set(tt.field, tt.value)
			if resp, body := post(t, c, u, v); resp.StatusCode != 422 || !strings.Contains(body, tt.want) {
				t.Errorf("preview with %s = %q: got %d %q, want 422 with %q", tt.field, tt.value, resp.StatusCode, body, tt.want)
			}
		}
	})

	t.Run("ErrBadInput", func(t *testing.T) {
		before := e.state()
		for _, tt := range []struct{ field, value, want string }{
			{"subject", "", "subject is required"},
			{"body", "", "body is required"},
			{"body", "Hi {{.Nme}}", "body line 1: unknown field"},
			{"body", "One\nTwo\n{{if .Name}}Three", "body line 3"},
			{"subject", "Hi {{.FirstName", "subject line 1"},
			{"list", "nope", `There is no list "nope"`},
			{"list", "", "Pick the list"},
			{"preheader", "two\nlines", "preheader must be one line"},
			{"tags_include", "staff", `The tag "staff" is both in tags_include and tags_exclude.`},
			{"tags_exclude", "bad tag!", "tags_exclude"},
		} {
			v := broadcastValues("Kept subject")
			v.Set(tt.field, tt.value)
			for _, u := range []string{base, page + "/edit"} {
				resp, body := post(t, c, u, v)
				if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, html.EscapeString(tt.want)) {
					t.Errorf("POST %s with %s = %q: got %d, want 422 with %q\n%s", u, tt.field, tt.value, resp.StatusCode, tt.want, alertText(body))
					continue
				}
				if tt.field != "subject" && !strings.Contains(body, `value="Kept subject"`) {
					t.Errorf("%s = %q: the form lost the input", tt.field, tt.value)
				}
			}
		}
		if after := e.state(); after != before {
			t.Fatalf("bad input changed something:\n%s\n%s", before, after)
		}
	})

	t.Run("Edit", func(t *testing.T) {
		_, body := get(t, c, page+"/edit")
		for _, s := range []string{"Edit broadcast", `value="News for {{or .FirstName &#34;you&#34;}}"`, `value="staff"`, "listen first", `srcdoc="`} {
			if !strings.Contains(body, s) {
				t.Fatalf("edit page lacks %q", s)
			}
		}
		v := broadcastValues("News for {{or .FirstName \"you\"}}, edited")
		v.Set("tags_exclude", "")
		resp, body := post(t, c, page+"/edit", v)
		if resp.StatusCode != 200 || resp.Request.URL.Path != "/editor/broadcasts/"+id || !strings.Contains(body, "The broadcast was saved.") ||
			!strings.Contains(body, `id="audience-count">3 subscribers`) {
			t.Fatalf("edit: got %d at %s\n%s", resp.StatusCode, resp.Request.URL, alertText(body))
		}
		// Back to the two without staff.
		if resp, body := post(t, c, page+"/edit", broadcastValues("News for {{or .FirstName \"you\"}}")); resp.StatusCode != 200 {
			t.Fatalf("edit: got %d\n%s", resp.StatusCode, alertText(body))
		}
	})

	t.Run("TestSend", func(t *testing.T) {
		before := e.catch.Caught()
		resp, body := post(t, c, page+"/test", url.Values{"emails": {"ed@example.com, Boss@Example.com"}})
		if resp.StatusCode != 200 || !strings.Contains(body, "A test copy was sent to ed@example.com, Boss@example.com") {
			t.Fatalf("test: got %d\n%s", resp.StatusCode, alertText(body))
		}
		// Post, redirect, get: the browser is on the broadcast's page, the
		// addresses are still in the form, and a reload says nothing again.
		if got := resp.Request.URL.Path; got != "/editor/broadcasts/"+id {
			t.Errorf("after the test the browser is at %s", got)
		}
		if !strings.Contains(body, `value="ed@example.com, Boss@Example.com"`) {
			t.Errorf("the test form forgot the addresses")
		}
		if _, again := get(t, c, page); strings.Contains(again, "A test copy was sent") {
			t.Errorf("a reload shows the notice again")
		}
		msgs := e.catch.Messages()[before:]
		if len(msgs) != 2 || msgs[0].Subject != "[Test] News for Ada" || msgs[0].To[0] != "ed@example.com" || msgs[1].To[0] != "Boss@example.com" {
			t.Fatalf("test messages %+v", msgs)
		}
		state := e.state()
		for _, tt := range []struct{ emails, want string }{
			{"", "Type the addresses"},
			{"not-an-address", "not-an-address"},
			{strings.Repeat("a@example.com,", 11), "at most 10"},
		} {
			if resp, body := post(t, c, page+"/test", url.Values{"emails": {tt.emails}}); resp.StatusCode != 422 || !strings.Contains(body, tt.want) {
				t.Errorf("test to %q: got %d, want 422 with %q\n%s", tt.emails, resp.StatusCode, tt.want, alertText(body))
			}
		}
		if e.state() != state {
			t.Fatal("a refused test sent or changed something")
		}
	})

	t.Run("Schedule", func(t *testing.T) {
		before := e.state()
		// It is Mon 2 Mar 2026 12:00 UTC.
		for _, tt := range []struct{ date, time, zone, want string }{
			{"2026-03-02", "11:59", "UTC", "Mon 2 Mar 2026 at 11:59 has passed"},
			{"2026-03-01", "09:00", "Europe/London", "has passed"},
			{"2026-03-10", "09:00", "Mars/Olympus_Mons", `timezone "Mars/Olympus_Mons" is not a known time zone`},
			{"2026-03-10", "09:00", "", "Pick the time zone"},
			{"tomorrow", "09:00", "UTC", `The date "tomorrow" is not a date`},
			{"", "09:00", "UTC", "Pick the day"},
			{"2026-03-10", "", "UTC", "Pick the time of day"},
			{"2026-03-10", "9 am", "UTC", `The time "9 am" is not a time of day`},
		} {
			resp, body := post(t, c, page+"/schedule", url.Values{"date": {tt.date}, "time": {tt.time}, "timezone": {tt.zone}})
			if resp.StatusCode != 422 || !strings.Contains(body, html.EscapeString(tt.want)) {
				t.Errorf("schedule %q %q %q: got %d, want 422 with %q\n%s", tt.date, tt.time, tt.zone, resp.StatusCode, tt.want, alertText(body))
				continue
			}
			if tt.date == "2026-03-01" && !strings.Contains(body, `type="date" value="2026-03-01"`) {
				t.Errorf("the schedule form lost the input")
			}
		}
		if after := e.state(); after != before {
			t.Fatalf("a bad schedule changed something:\n%s\n%s", before, after)
		}
		resp, body := post(t, c, page+"/schedule", url.Values{"date": {"2026-03-10"}, "time": {"09:00"}, "timezone": {"Europe/Berlin"}})
		if resp.StatusCode != 200 || !strings.Contains(body, "The broadcast was scheduled.") ||
			!strings.Contains(body, "Goes out on <strong>Tue 10 Mar 2026 at 08:00, Europe/London time</strong>") {
			t.Fatalf("schedule: got %d\n%s", resp.StatusCode, alertText(body))
		}
		if b := e.stored(id); b.Status != "scheduled" || !b.SendAt.Equal(time.Date(2026, 3, 10, 8, 0, 0, 0, time.UTC)) {
			t.Fatalf("scheduled %+v at %v", b, b.SendAt)
		}
		// Seconds, as some browsers send them, are fine too.
		if resp, body := post(t, c, page+"/schedule", url.Values{"date": {"2026-03-10"}, "time": {"09:00:30"}, "timezone": {"Europe/London"}}); resp.StatusCode != 200 {
			t.Fatalf("reschedule: got %d\n%s", resp.StatusCode, alertText(body))
		}
		if b := e.stored(id); !b.SendAt.Equal(time.Date(2026, 3, 10, 9, 0, 30, 0, time.UTC)) {
			t.Fatalf("rescheduled to %v", b.SendAt)
		}
	})

	t.Run("ErrIllegalTransition", func(t *testing.T) {
		before := e.state()
		for _, tt := range []struct{ action, want string }{
			{"pause", "Broadcast " + id + " is scheduled; only a broadcast that is sending can be paused."},
			{"resume", "Broadcast " + id + " is scheduled; only a broadcast that is paused can be resumed."},
			{"retry-failed", "Broadcast " + id + " is scheduled; only a broadcast that is sending or sent can be retried."},
		} {
			resp, body := post(t, c, page+"/"+tt.action, nil)
			if resp.StatusCode != http.StatusConflict || !strings.Contains(body, tt.want) {
				t.Errorf("%s: got %d, want 409 with %q\n%s", tt.action, resp.StatusCode, tt.want, alertText(body))
			}
		}
		if after := e.state(); after != before {
			t.Fatalf("a refused action changed something:\n%s\n%s", before, after)
		}
	})

	t.Run("SendNow", func(t *testing.T) {
		resp, body := get(t, c, page+"/send")
		if resp.StatusCode != 200 || !strings.Contains(body, "<h1>Send to 2 recipients now?</h1>") || !strings.Contains(body, "sending it now replaces the schedule") {
			t.Fatalf("confirm: got %d\n%s", resp.StatusCode, alertText(body))
		}
		if e.stored(id).Status != "scheduled" {
			t.Fatal("the confirmation page changed the broadcast")
		}
		resp, body = post(t, c, page+"/send", nil)
		if resp.StatusCode != 200 || !strings.Contains(body, "The broadcast is sending.") || !strings.Contains(body, `id="progress-percent" data-field="percent_text">0 %`) ||
			!strings.Contains(body, "0 of 2 messages done") || !strings.Contains(body, `<meta http-equiv="refresh"`) || !strings.Contains(body, `id="pause"`) {
			t.Fatalf("send: got %d\n%s", resp.StatusCode, alertText(body))
		}
		if b := e.stored(id); b.Status != "sending" || b.Recipients != 2 || e.outboxOf(id) != "queued=2" {
			t.Fatalf("sending %+v, outbox %s", b, e.outboxOf(id))
		}
		if p := getProgress(t, c, page+"/progress"); p.Status != "sending" || p.Recipients != 2 || p.Percent != 0 || p.PercentText != "0 %" {
			t.Fatalf("progress %+v", p)
		}
		// The dashboard shows it sending.
		_, body = get(t, c, e.srv.URL+"/editor/")
		if !strings.Contains(body, "Sending now") || !strings.Contains(body, `id="sending-`+id+`"`) || !strings.Contains(body, "0 of 2 messages done") {
			t.Fatalf("dashboard:\n%s", between(body, "Sending now", "</section>"))
		}
	})

	t.Run("ErrChangeWhileSending", func(t *testing.T) {
		before := e.state()
		want := "Broadcast " + id + " is sending; only a broadcast that is draft or scheduled can be"
		for _, tt := range []struct {
			method, path string
			v            url.Values
		}{
			{"GET", "/edit", nil},
			{"POST", "/edit", broadcastValues("Too late")},
			{"POST", "/schedule", url.Values{"date": {"2026-03-10"}, "time": {"09:00"}, "timezone": {"UTC"}}},
			{"GET", "/send", nil},
			{"POST", "/send", nil},
			{"POST", "/resume", nil},
		} {
			var resp *http.Response
			var body string
			if tt.method == "GET" {
				resp, body = get(t, c, page+tt.path)
			} else {
				resp, body = post(t, c, page+tt.path, tt.v)
			}
			w := want
			if tt.path == "/resume" {
				w = "only a broadcast that is paused can be resumed"
			}
			if resp.StatusCode != http.StatusConflict || !strings.Contains(body, w) {
				t.Errorf("%s %s: got %d, want 409 with %q\n%s", tt.method, tt.path, resp.StatusCode, w, alertText(body))
			}
		}
		if after := e.state(); after != before {
			t.Fatalf("a refused change changed something:\n%s\n%s", before, after)
		}
	})

	t.Run("PauseResume", func(t *testing.T) {
		resp, body := post(t, c, page+"/pause", nil)
		if resp.StatusCode != 200 || !strings.Contains(body, "The broadcast was paused") || !strings.Contains(body, `id="resume"`) || e.stored(id).Status != "paused" {
			t.Fatalf("pause: got %d\n%s", resp.StatusCode, alertText(body))
		}
		if _, body := get(t, c, e.srv.URL+"/editor/"); !strings.Contains(between(body, "Sending now", "</section>"), ">Paused<") {
			t.Fatal("the dashboard does not show the paused broadcast")
		}
		if resp, body := post(t, c, page+"/pause", nil); resp.StatusCode != 409 || !strings.Contains(body, "is paused; only a broadcast that is sending can be paused") {
			t.Fatalf("pause twice: got %d\n%s", resp.StatusCode, alertText(body))
		}
		resp, body = post(t, c, page+"/resume", nil)
		if resp.StatusCode != 200 || !strings.Contains(body, "The broadcast was resumed.") || e.stored(id).Status != "sending" {
			t.Fatalf("resume: got %d\n%s", resp.StatusCode, alertText(body))
		}
	})

	t.Run("ProgressAndRetry", func(t *testing.T) {
		// The dispatcher's work, done by hand: one sent, one failed for a temporary reason.
		now := e.clock.Now()
		e.db.MustExec(`UPDATE outbox SET status = 'sent', sent_at = $2, updated_at = $2
			WHERE broadcast_id = $1 AND subscriber_id = (SELECT id FROM subscribers WHERE email = 'ada@example.com')`, id, now)
		e.db.MustExec(`UPDATE outbox SET status = 'failed', temporary = true, updated_at = $2 WHERE broadcast_id = $1 AND status = 'queued'`, id, now)
		p := getProgress(t, c, page+"/progress")
		if p.Sent != 1 || p.Failed != 1 || p.Done != 2 || p.Percent != 100 || p.PercentText != "100 %" || p.Retryable != 1 {
			t.Fatalf("progress %+v", p)
		}
		_, body := get(t, c, page)
		if !strings.Contains(body, `id="retry">Retry 1 failed`) || !strings.Contains(body, "2 of 2 messages done") {
			t.Fatalf("page:\n%s", alertText(body))
		}
		resp, body := post(t, c, page+"/retry-failed", nil)
		if resp.StatusCode != 200 || !strings.Contains(body, "queued again") || e.outboxOf(id) != "queued=1 sent=1" {
			t.Fatalf("retry: got %d, outbox %s\n%s", resp.StatusCode, e.outboxOf(id), alertText(body))
		}
		if p := getProgress(t, c, page+"/progress"); p.Percent != 50 || p.Summary != "1 of 2 messages done" {
			t.Fatalf("progress after retry %+v", p)
		}
		// All sent: the scheduler marks it sent.
		e.clock.Add(time.Minute)
		e.db.MustExec(`UPDATE outbox SET status = 'sent', sent_at = $2, updated_at = $2 WHERE broadcast_id = $1 AND status = 'queued'`, id, e.clock.Now())
		if _, err := (&campaigns.Scheduler{DB: e.db, Now: e.clock.Now}).Tick(context.Background()); err != nil {
			t.Fatal(err)
		}
		// One recipient unsubscribes after it.
		e.clock.Add(time.Minute)
		tokens := &subscribers.Tokens{Secret: []byte("0123456789abcdef0123456789abcdef")}
		e.links = &subscribers.Links{BaseURL: e.srv.URL, Paths: subscribers.LinkPaths{Confirm: "/confirm/{token}", Unsubscribe: "/unsubscribe/{token}", Preferences: "/unsubscribe/{token}"}, Tokens: tokens, ConfirmTTL: time.Hour, Now: e.clock.Now}
		if code, _ := e.do("POST", e.unsubscribePath("bo@example.com"), form, "List-Unsubscribe=One-Click"); code != 200 {
			t.Fatalf("unsubscribe: %d", code)
		}
		_, body = get(t, c, page)
		for _, s := range []string{">Results<", `data-field="percent_text">100 %`, `id="figure-sent">2<`, `id="figure-failed">0<`,
			`id="figure-skipped">0<`, `id="figure-unsubscribes">1<`, ">Sent</span>", "Finished Mon 2 Mar 2026, 12:01 GMT"} {
			if !strings.Contains(body, s) {
				t.Errorf("finished page lacks %q", s)
			}
		}
		if strings.Contains(body, `http-equiv="refresh"`) || strings.Contains(body, `id="pause"`) || strings.Contains(body, "Cancel…") {
			t.Error("the finished page still refreshes or offers pause or cancel")
		}
		resp, body = post(t, c, page+"/retry-failed", nil)
		if resp.StatusCode != 200 || !strings.Contains(body, "nothing to retry") || e.stored(id).Status != "sent" {
			t.Fatalf("retry with nothing failed: got %d\n%s", resp.StatusCode, alertText(body))
		}
		before := e.state()
		for _, path := range []string{"/cancel", "/send"} {
			if resp, body := get(t, c, page+path); resp.StatusCode != 409 || !strings.Contains(body, "is sent; only a broadcast that is") {
				t.Errorf("GET %s when sent: got %d\n%s", path, resp.StatusCode, alertText(body))
			}
			if resp, body := post(t, c, page+path, nil); resp.StatusCode != 409 || !strings.Contains(body, "is sent; only a broadcast that is") {
				t.Errorf("POST %s when sent: got %d\n%s", path, resp.StatusCode, alertText(body))
			}
		}
		if e.state() != before {
			t.Fatal("a refused action changed the sent broadcast")
		}
		// The dashboard no longer lists it; the index has its figures.
		if _, body := get(t, c, e.srv.URL+"/editor/"); !strings.Contains(body, "No broadcast is sending right now.") {
			t.Errorf("dashboard:\n%s", between(body, "Sending now", "</section>"))
		}
		_, body = get(t, c, base)
		row := between(body, `id="broadcast-`+id+`"`, "</tr>")
		for _, s := range []string{"News for {{or .FirstName &#34;you&#34;}}", "Weekly Leader", "not staff", ">Sent<",
			`data-label="Recipients" class="num">2<`, `data-field="sent">2<`, `data-field="failed">0<`, `data-field="unsubscribes">1<`} {
			if !strings.Contains(row, s) {
				t.Errorf("index row lacks %q:\n%s", s, row)
			}
		}
	})

	t.Run("Cancel", func(t *testing.T) {
		// A draft.
		resp, _ := post(t, c, base, broadcastValues("Draft to cancel"))
		draft := broadcastIDFrom(t, resp)
		if _, page := get(t, c, base+"/"+draft); !strings.Contains(page, "Discard draft…") {
			t.Errorf("a draft's page does not offer to discard it")
		}
		resp, body := get(t, c, base+"/"+draft+"/cancel")
		if resp.StatusCode != 200 || !strings.Contains(body, "Discard this draft?") || !strings.Contains(body, "The draft is discarded") || e.stored(draft).Status != "draft" {
			t.Fatalf("confirm: got %d\n%s", resp.StatusCode, alertText(body))
		}
		resp, body = post(t, c, base+"/"+draft+"/cancel", nil)
		if resp.StatusCode != 200 || !strings.Contains(body, "The broadcast was cancelled.") || e.stored(draft).Status != "cancelled" {
			t.Fatalf("cancel: got %d\n%s", resp.StatusCode, alertText(body))
		}
		// A sending one: what is queued is skipped. Of the two without the
		// staff tag, bo unsubscribed above.
		resp, _ = post(t, c, base, broadcastValues("Sending to cancel"))
		sending := broadcastIDFrom(t, resp)
		if resp, body := post(t, c, base+"/"+sending+"/send", nil); resp.StatusCode != 200 {
			t.Fatalf("send: %d\n%s", resp.StatusCode, alertText(body))
		}
		if _, body := get(t, c, base+"/"+sending+"/cancel"); !strings.Contains(body, "The 1 message not sent yet will be skipped.") {
			t.Fatalf("confirm:\n%s", alertText(body))
		}
		if resp, body := post(t, c, base+"/"+sending+"/cancel", nil); resp.StatusCode != 200 || e.stored(sending).Status != "cancelled" || e.outboxOf(sending) != "skipped=1" {
			t.Fatalf("cancel: got %d, outbox %s\n%s", resp.StatusCode, e.outboxOf(sending), alertText(body))
		}
		if p := getProgress(t, c, base+"/"+sending+"/progress"); p.Status != "cancelled" || p.Skipped != 1 || p.Percent != 100 {
			t.Fatalf("progress %+v", p)
		}
		if resp, body := post(t, c, base+"/"+sending+"/cancel", nil); resp.StatusCode != 409 || !strings.Contains(body, "is cancelled; only a broadcast that is draft, scheduled, sending or paused can be cancelled.") {
			t.Fatalf("cancel twice: got %d\n%s", resp.StatusCode, alertText(body))
		}
	})

	t.Run("ErrNotFound", func(t *testing.T) {
		for _, path := range []string{"/999", "/999/edit", "/999/send", "/999/cancel"} {
			if resp, body := get(t, c, base+path); resp.StatusCode != 404 || !strings.Contains(body, "Broadcast 999 not found.") {
				t.Errorf("GET %s: got %d\n%s", path, resp.StatusCode, alertText(body))
			}
		}
		if resp, _ := post(t, c, base+"/999/pause", nil); resp.StatusCode != 404 {
			t.Errorf("POST pause: got %d", resp.StatusCode)
		}
		if resp, body := get(t, c, base+"/999/progress"); resp.StatusCode != 404 || !strings.Contains(body, `"error"`) {
			t.Errorf("progress: got %d %s", resp.StatusCode, body)
		}
	})
}

func TestEditorBroadcasts_NoRelay(t *testing.T) {
	t.Parallel()
	e := MustStart(t, web.DefaultLimits)
	c := e.MustEditor("ed@example.com")
	resp, _ := post(t, c, e.srv.URL+"/editor/broadcasts", broadcastValues("Hello"))
	id := broadcastIDFrom(t, resp)
	resp, body := post(t, c, e.srv.URL+"/editor/broadcasts/"+id+"/test", url.Values{"emails": {"ed@example.com"}})
	if resp.StatusCode != 409 || !strings.Contains(body, "Test emails need an SMTP relay") {
		t.Fatalf("test without a relay: got %d\n%s", resp.StatusCode, alertText(body))
	}
}

func TestEditorBroadcasts_NeedsSession(t *testing.T) {
	t.Parallel()
	e := MustStartBroadcasts(t)
	b := e.broadcast("POST", "/broadcasts", `{"list":"weekly","subject":"Hi","body":"News."}`, 201)
	id := itoa(b.ID)
	before := e.state()
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, tt := range []struct{ method, path string }{
		{"GET", "/editor/broadcasts"},
		{"GET", "/editor/broadcasts/new"},
		{"GET", "/editor/broadcasts/" + id},
		{"GET", "/editor/broadcasts/" + id + "/edit"},
		{"GET", "/editor/broadcasts/" + id + "/progress"},
		{"GET", "/editor/broadcasts/" + id + "/send"},
		{"GET", "/editor/broadcasts/" + id + "/cancel"},
		{"POST", "/editor/broadcasts"},
		{"POST", "/editor/broadcasts/preview"},
		{"POST", "/editor/broadcasts/" + id + "/edit"},
		{"POST", "/editor/broadcasts/" + id + "/test"},
		{"POST", "/editor/broadcasts/" + id + "/schedule"},
		{"POST", "/editor/broadcasts/" + id + "/send"},
		{"POST", "/editor/broadcasts/" + id + "/pause"},
		{"POST", "/editor/broadcasts/" + id + "/resume"},
		{"POST", "/editor/broadcasts/" + id + "/cancel"},
		{"POST", "/editor/broadcasts/" + id + "/retry-failed"},
	} {
		v := broadcastValues("Evil")
		v.Set("date", "2026-03-10")
		v.Set("time", "09:00")
		v.Set("timezone", "UTC")
		v.Set("emails", "evil@example.com")
		req, _ := http.NewRequest(tt.method, e.srv.URL+tt.path, strings.NewReader(v.Encode()))
		req.Header.Set("Content-Type", form)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		want := "/editor/login"
		if tt.method == "GET" {
			want += "?next=" + url.QueryEscape(tt.path)
		}
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != want {
			t.Errorf("%s %s: got %d to %q, want 303 to %q", tt.method, tt.path, resp.StatusCode, resp.Header.Get("Location"), want)
		}
	}
	if after := e.state(); after != before {
		t.Fatalf("requests without a session changed something:\n%s\n%s", before, after)
	}
}

func TestEditorBroadcasts_CrossOrigin(t *testing.T) {
	t.Parallel()
	e := MustStartBroadcasts(t)
	e.confirmed("ada@example.com")
	c := e.MustEditor("ed@example.com")
	b := e.broadcast("POST", "/broadcasts", `{"list":"weekly","subject":"Hi","body":"News."}`, 201)
	id := itoa(b.ID)
	before := e.state()
	for _, path := range []string{
		"/editor/broadcasts", "/editor/broadcasts/preview", "/editor/broadcasts/" + id + "/edit", "/editor/broadcasts/" + id + "/test",
		"/editor/broadcasts/" + id + "/schedule", "/editor/broadcasts/" + id + "/send", "/editor/broadcasts/" + id + "/pause",
		"/editor/broadcasts/" + id + "/resume", "/editor/broadcasts/" + id + "/cancel", "/editor/broadcasts/" + id + "/retry-failed",
	} {
		for _, h := range [][]string{{"Sec-Fetch-Site", "cross-site"}, {"Origin", "http://evil.example"}} {
			v := broadcastValues("Evil")
			v.Set("date", "2026-03-10")
			v.Set("time", "09:00")
			v.Set("timezone", "UTC")
			v.Set("emails", "evil@example.com")
			req, _ := http.NewRequest("POST", e.srv.URL+path, strings.NewReader(v.Encode()))
			req.Header.Set("Content-Type", form)
			req.Header.Set(h[0], h[1])
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusForbidden {
				t.Errorf("cross-site POST %s with %s: got %d, want 403", path, h[0], resp.StatusCode)
			}
		}
	}
	if after := e.state(); after != before {
		t.Fatalf("cross-site posts changed something:\n%s\n%s", before, after)
	}
}
