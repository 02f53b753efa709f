package web_test

import (
	"bytes"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tidings/tidings/web"
)

const form = "application/x-www-form-urlencoded"

// lenient limits let a test send many requests from one address.
var lenient = web.Limits{SignupIPEvery: time.Second, SignupIPBurst: 1000, SignupAddressEvery: time.Second, SignupAddressBurst: 1000}

const jsonCT = "application/json"

func TestSubscribe(t *testing.T) {
	t.Parallel()

	t.Run("OK", func(t *testing.T) {
		t.Parallel()
		e := MustStart(t, web.DefaultLimits)
		code, body := e.do("POST", "/subscribe/weekly", jsonCT, `{"email":"ada@example.com","name":"Ada","timezone":"America/New_York"}`)
		if code != http.StatusAccepted || !strings.Contains(body, `"pending"`) {
			t.Fatalf("got %d %s, want 202 pending", code, body)
		}
		if got := e.status("ada@example.com"); got != "pending" {
			t.Fatalf("status = %q, want pending", got)
		}
		var n int
		e.db.Get(&n, `SELECT count(*) FROM outbox WHERE kind = 'confirm'`)
		if n != 1 {
			t.Fatalf("confirmation messages queued = %d, want 1", n)
		}
		var ev struct {
			IP, UserAgent, Form, ConsentText string
		}
		if err := e.db.QueryRow(`SELECT ip, user_agent, form, consent_text FROM events WHERE kind = 'subscribed'`).Scan(&ev.IP, &ev.UserAgent, &ev.Form, &ev.ConsentText); err != nil {
			t.Fatal(err)
		}
		if ev.IP != "127.0.0.1" || ev.UserAgent == "" || ev.Form != "api" || ev.ConsentText != "Send me the weekly series." {
			t.Fatalf("consent event = %+v", ev)
		}
	})

	t.Run("Form", func(t *testing.T) {
		t.Parallel()
		e := MustStart(t, web.DefaultLimits)
		code, body := e.do("GET", "/subscribe/weekly", "", "")
		if code != 200 || !strings.Contains(body, `name="email"`) || !strings.Contains(body, "Send me the weekly series.") {
			t.Fatalf("form page: %d\n%s", code, body)
		}
		code, body = e.do("POST", "/subscribe/weekly", form, url.Values{"email": {"bo@example.com"}, "name": {"Bo"}, "form": {"hosted"}}.Encode())
		if code != http.StatusAccepted || !strings.Contains(body, "Check your inbox") {
			t.Fatalf("got %d\n%s", code, body)
		}
		if got := e.status("bo@example.com"); got != "pending" {
			t.Fatalf("status = %q", got)
		}
	})

	t.Run("Duplicate", func(t *testing.T) {
		t.Parallel()
		e := MustStart(t, web.DefaultLimits)
		in := `{"email":"ada@example.com"}`
		c1, b1 := e.do("POST", "/subscribe/weekly", jsonCT, in)
		c2, b2 := e.do("POST", "/subscribe/weekly", jsonCT, in)
		if c1 != c2 || b1 != b2 {
			t.Fatalf("second sign-up answered differently: %d %s vs %d %s", c1, b1, c2, b2)
		}
		var n int
		e.db.Get(&n, `SELECT count(*) FROM events WHERE kind = 'confirmation_requested'`)
		if n != 1 {
			t.Fatalf("confirmations requested = %d, want 1 inside the cool-down", n)
		}
		// A confirmed address answers the same as a new one.
		e.db.MustExec(`UPDATE subscriptions SET status = 'confirmed'`)
		c3, b3 := e.do("POST", "/subscribe/weekly", jsonCT, in)
		if c3 != c1 || b3 != b1 {
			t.Fatalf("sign-up of a confirmed address answered differently: %d %s", c3, b3)
		}
	})

	t.Run("Honeypot", func(t *testing.T) {
		t.Parallel()
		e := MustStart(t, web.DefaultLimits)
		before := e.counts()
		code, _ := e.do("POST", "/subscribe/weekly", form, url.Values{"email": {"bot@example.com"}, "website": {"http://spam.example"}}.Encode())
		if code != http.StatusAccepted {
			t.Fatalf("honeypot: got %d, want 202 (bots must not learn they were caught)", code)
		}
		if after := e.counts(); after != before {
			t.Fatalf("honeypot stored something: %v -> %v", before, after)
		}
	})

	t.Run("ErrBadInput", func(t *testing.T) {
		t.Parallel()
		e := MustStart(t, lenient)
		for _, tt := range []struct {
			path, ct, body string
			want           int
		}{
			{"/subscribe/weekly", jsonCT, `{"email":"Ada <ada@example.com>"}`, 422},
			{"/subscribe/weekly", jsonCT, `{"email":"ada@localhost"}`, 422},
			{"/subscribe/weekly", jsonCT, `{"email":"a@@example.com"}`, 422},
			{"/subscribe/weekly", jsonCT, `{"email":"ada@example.com\r\nBcc: x@example.com"}`, 422},
			{"/subscribe/weekly", jsonCT, `{"email":"` + strings.Repeat("a", 250) + `@example.com"}`, 422},
			{"/subscribe/weekly", jsonCT, `{"email":""}`, 422},
			{"/subscribe/weekly", jsonCT, `{"email":"ada@example.com","name":"Ada\nBcc: x"}`, 422},
			{"/subscribe/weekly", jsonCT, `{"email":"ada@example.com","name":"Ada\u0000"}`, 422},
			{"/subscribe/weekly", jsonCT, `{"email":"ada@example.com","name":"` + strings.Repeat("n", 201) + `"}`, 422},
			{"/subscribe/weekly", jsonCT, `{"email":"ada@example.com","timezone":"Mars/Olympus"}`, 422},
			{"/subscribe/weekly", jsonCT, `{"email":"ada@example.com","form":"x\u0007"}`, 422},
			{"/subscribe/weekly", jsonCT, `{"email":"ada@example.com"`, 400},
			{"/subscribe/weekly", jsonCT, `{"email":"ada@example.com","admin":true}`, 400},
			{"/subscribe/weekly", jsonCT, `{"email":"ada@example.com"} {"email":"bo@example.com"}`, 400},
			{"/subscribe/weekly", jsonCT, `[]`, 400},
			{"/subscribe/weekly", jsonCT, `{"email":"` + strings.Repeat("a", 70<<10) + `"}`, 413},
			{"/subscribe/weekly", form, "email=" + strings.Repeat("a", 70<<10), 413},
			{"/subscribe/weekly", form, "email=not-an-address", 422},
			{"/subscribe/nope", jsonCT, `{"email":"ada@example.com"}`, 404},
			{"/subscribe/nope", form, "email=ada@example.com", 404},
		} {
			before := e.counts()
			code, body := e.do("POST", tt.path, tt.ct, tt.body)
			if code != tt.want {
				t.Errorf("POST %s %.80q: got %d, want %d\n%.300s", tt.path, tt.body, code, tt.want, body)
			}
			if tt.ct == jsonCT && !strings.Contains(body, `"error"`) {
				t.Errorf("POST %s %.80q: no error message in %.200s", tt.path, tt.body, body)
			}
			if after := e.counts(); after != before {
				t.Errorf("POST %s %.80q stored something: %v -> %v", tt.path, tt.body, before, after)
			}
		}
	})

	t.Run("ErrRateLimited", func(t *testing.T) {
		t.Parallel()
		e := MustStart(t, web.Limits{SignupIPEvery: time.Hour, SignupIPBurst: 2, SignupAddressEvery: time.Hour, SignupAddressBurst: 100})
		for i, want := range []int{202, 202, 429} {
			code, body := e.do("POST", "/subscribe/weekly", jsonCT, `{"email":"p`+string(rune('a'+i))+`@example.com"}`)
			if code != want {
				t.Fatalf("sign-up %d: got %d, want %d: %s", i+1, code, want, body)
			}
		}
		if got := e.counts()[0]; got != 2 {
			t.Fatalf("subscribers = %d, want 2: the limited request must store nothing", got)
		}
		e = MustStart(t, web.Limits{SignupIPEvery: time.Hour, SignupIPBurst: 100, SignupAddressEvery: time.Hour, SignupAddressBurst: 2})
		for i, want := range []int{202, 202, 429} {
			code, body := e.do("POST", "/subscribe/weekly", jsonCT, `{"email":"same@EXAMPLE.com"}`)
			if code != want {
				t.Fatalf("sign-up %d of one address: got %d, want %d: %s", i+1, code, want, body)
			}
		}
	})
}

func TestConfirm(t *testing.T) {
	t.Parallel()
	e := MustStart(t, web.DefaultLimits)
	e.do("POST", "/subscribe/weekly", jsonCT, `{"email":"ada@example.com"}`)
	e.do("POST", "/subscribe/weekly", jsonCT, `{"email":"bo@example.com"}`)
	ada, bo := e.subscriptionID("ada@example.com"), e.subscriptionID("bo@example.com")

	t.Run("ErrBadToken", func(t *testing.T) {
		confirm := strings.TrimPrefix(e.links.Confirm(ada), e.srv.URL)
		for _, tt := range []struct {
			name, path string
			want       int
		}{
			{"forged", confirm[:len(confirm)-3] + "abc", 400},
			{"garbage", "/confirm/hello", 400},
			{"unsubscribe token", strings.Replace(strings.TrimPrefix(e.links.Unsubscribe(ada), e.srv.URL), "/unsubscribe/", "/confirm/", 1), 400},
			{"too long", "/confirm/" + strings.Repeat("a", 1000), 400},
		} {
			before := e.counts()
			code, body := e.do("GET", tt.path, "", "")
			if code != tt.want || !strings.Contains(body, "not valid") {
				t.Errorf("%s %q: got %d, want %d\n%.300s", tt.name, tt.path, code, tt.want, body)
			}
			if after := e.counts(); after != before {
				t.Errorf("%s: changed %v -> %v", tt.name, before, after)
			}
		}
		if e.status("ada@example.com") != "pending" {
			t.Fatal("a bad token confirmed the subscription")
		}
	})

	t.Run("ErrExpired", func(t *testing.T) {
		old := strings.TrimPrefix(e.links.Confirm(bo), e.srv.URL)
		e.clock.Add(8 * 24 * time.Hour)
		defer e.clock.Add(-8 * 24 * time.Hour)
		code, body := e.do("GET", old, "", "")
		if code != http.StatusGone || !strings.Contains(body, "expired") {
			t.Fatalf("got %d\n%.300s", code, body)
		}
		if e.status("bo@example.com") != "pending" {
			t.Fatal("an expired token confirmed the subscription")
		}
	})

	t.Run("OK", func(t *testing.T) {
		path := strings.TrimPrefix(e.links.Confirm(ada), e.srv.URL)
		code, body := e.do("POST", path, form, "")
		if code != 200 || !strings.Contains(body, "You are subscribed") {
			t.Fatalf("got %d\n%.300s", code, body)
		}
		if e.status("ada@example.com") != "confirmed" || e.status("bo@example.com") != "pending" {
			t.Fatal("wrong subscription confirmed")
		}
		code, body = e.do("POST", path, form, "")
		if code != 200 || !strings.Contains(body, "already subscribed") {
			t.Fatalf("second click: got %d\n%.300s", code, body)
		}
		code, body = e.do("GET", path, "", "")
		if code != 200 || !strings.Contains(body, "already subscribed") {
			t.Fatalf("second click: got %d\n%.300s", code, body)
		}
		var n int
		e.db.Get(&n, `SELECT count(*) FROM events WHERE kind = 'confirmed'`)
		if n != 1 {
			t.Fatalf("confirmed events = %d, want 1", n)
		}
	})
}

func TestUnsubscribe(t *testing.T) {
	t.Parallel()
	e := MustStart(t, web.DefaultLimits)
	for _, addr := range []string{"ada@example.com", "bo@example.com", "cy@example.com"} {
		e.do("POST", "/subscribe/weekly", jsonCT, `{"email":"`+addr+`"}`)
		e.do("POST", strings.TrimPrefix(e.links.Confirm(e.subscriptionID(addr)), e.srv.URL), form, "")
	}
	path := func(addr string) string {
		return strings.TrimPrefix(e.links.Unsubscribe(e.subscriptionID(addr)), e.srv.URL)
	}

	t.Run("GETChangesNothing", func(t *testing.T) {
		before := e.counts()
		code, body := e.do("GET", path("ada@example.com"), "", "")
		if code != 200 || !strings.Contains(body, "<button") || !strings.Contains(body, "ada@example.com") {
			t.Fatalf("got %d\n%.500s", code, body)
		}
		if after := e.counts(); after != before || e.status("ada@example.com") != "confirmed" {
			t.Fatalf("a GET changed something: %v -> %v", before, after)
		}
	})

	t.Run("ErrBadToken", func(t *testing.T) {
		p := path("ada@example.com")
		for _, tt := range []struct{ name, path string }{
			{"forged", p[:len(p)-2] + "xy"},
			{"confirm token", strings.Replace(strings.TrimPrefix(e.links.Confirm(e.subscriptionID("ada@example.com")), e.srv.URL), "/confirm/", "/unsubscribe/", 1)},
			{"garbage", "/unsubscribe/%00"},
		} {
			before := e.counts()
			code, body := e.do("POST", tt.path, form, "List-Unsubscribe=One-Click")
			if code < 400 || code > 499 {
				t.Errorf("%s: got %d, want 4xx\n%.300s", tt.name, code, body)
			}
			if after := e.counts(); after != before {
				t.Errorf("%s: changed %v -> %v", tt.name, before, after)
			}
		}
		if e.status("ada@example.com") != "confirmed" {
			t.Fatal("a bad token unsubscribed")
		}
	})

	t.Run("OneClick", func(t *testing.T) {
		code, body := e.do("POST", path("ada@example.com"), form, "List-Unsubscribe=One-Click")
		if code != 200 {
			t.Fatalf("got %d\n%.300s", code, body)
		}
		if e.status("ada@example.com") != "unsubscribed" || e.status("bo@example.com") != "confirmed" {
			t.Fatal("wrong subscription unsubscribed")
		}
		before := e.counts()
		if code, _ := e.do("POST", path("ada@example.com"), form, "List-Unsubscribe=One-Click"); code != 200 {
			t.Fatalf("repeat: got %d, want 200", code)
		}
		if after := e.counts(); after != before {
			t.Fatalf("repeat changed %v -> %v", before, after)
		}
	})

	t.Run("Multipart", func(t *testing.T) {
		var buf bytes.Buffer
		mw := multipart.NewWriter(&buf)
		mw.WriteField("List-Unsubscribe", "One-Click")
		mw.Close()
		code, body := e.do("POST", path("bo@example.com"), mw.FormDataContentType(), buf.String())
		if code != 200 || e.status("bo@example.com") != "unsubscribed" {
			t.Fatalf("got %d\n%.300s", code, body)
		}
	})

	t.Run("Reason", func(t *testing.T) {
		code, _ := e.do("POST", path("cy@example.com"), form, url.Values{"reason": {"Too many emails"}}.Encode())
		if code != 200 {
			t.Fatalf("got %d", code)
		}
		var reason string
		e.db.Get(&reason, `SELECT reason FROM events WHERE kind = 'unsubscribed' ORDER BY id DESC LIMIT 1`)
		if reason != "Too many emails" {
			t.Fatalf("reason = %q", reason)
		}
	})
}

func TestHealth(t *testing.T) {
	t.Parallel()
	e := MustStart(t, web.DefaultLimits)
	if code, body := e.do("GET", "/healthz", "", ""); code != 200 || body != "ok\n" {
		t.Fatalf("got %d %q", code, body)
	}
	if code, _ := e.do("GET", "/no/such/page", "", ""); code != 404 {
		t.Fatalf("unknown page: %d", code)
	}
}
