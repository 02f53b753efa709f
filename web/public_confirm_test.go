package web_test

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tidings/tidings/subscribers"
	"github.com/tidings/tidings/web"
)

// browser is an HTTP client that keeps cookies, as the reader's browser does.
type browser struct {
	t *testing.T
	e *env
	c *http.Client
}

func (e *env) newBrowser(t *testing.T) *browser {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &browser{t: t, e: e, c: &http.Client{Jar: jar}}
}

func (b *browser) do(method, path, contentType, body string) (*http.Response, string) {
	b.t.Helper()
	req, err := http.NewRequest(method, b.e.srv.URL+path, strings.NewReader(body))
	if err != nil {
		b.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	got, _ := io.ReadAll(resp.Body)
	return resp, string(got)
}

// signUp signs email up on "weekly" from b and returns its confirm link's path.
func (b *browser) signUp(email string) string {
	b.t.Helper()
	resp, body := b.do("POST", "/subscribe/weekly", form, url.Values{"email": {email}}.Encode())
	if resp.StatusCode != http.StatusAccepted {
		b.t.Fatalf("sign-up of %s: %d\n%.300s", email, resp.StatusCode, body)
	}
	return strings.TrimPrefix(b.e.links.Confirm(b.e.subscriptionID(email)), b.e.srv.URL)
}

// TestConfirm_Scanner: a link scanner's HEAD or GET confirms nothing; the
// page's button does, and the browser that signed up confirms on opening the
// link.
func TestConfirm_Scanner(t *testing.T) {
	t.Parallel()

	t.Run("ScannerChangesNothing", func(t *testing.T) {
		t.Parallel()
		e := MustStart(t, lenient)
		path := e.newBrowser(t).signUp("ada@example.com")
		before := e.counts()
		for _, method := range []string{"HEAD", "GET", "GET"} {
			code, body := e.do(method, path, "", "")
			if code != http.StatusOK {
				t.Fatalf("%s %s: %d\n%.300s", method, path, code, body)
			}
			if method == "GET" {
				for _, want := range []string{`<form method="post" action="` + path + `"`, `<button type="submit">Confirm</button>`, "ada@example.com"} {
					if !strings.Contains(body, want) {
						t.Errorf("GET page lacks %q:\n%s", want, body)
					}
				}
				if strings.Contains(body, "<script") {
					t.Errorf("the confirm page has a script:\n%s", body)
				}
			}
		}
		if e.status("ada@example.com") != "pending" || e.counts() != before {
			t.Fatalf("a scanner's HEAD or GET changed things: %s, %v -> %v", e.status("ada@example.com"), before, e.counts())
		}

		// The button confirms; a second click says so.
		code, body := e.do("POST", path, form, "")
		if code != http.StatusOK || !strings.Contains(body, "You are subscribed") || e.status("ada@example.com") != "confirmed" {
			t.Fatalf("button: %d %s\n%.300s", code, e.status("ada@example.com"), body)
		}
		if code, body := e.do("POST", path, form, ""); code != http.StatusOK || !strings.Contains(body, "already subscribed") {
			t.Fatalf("second click: %d\n%.300s", code, body)
		}
		if code, body := e.do("GET", path, "", ""); code != http.StatusOK || !strings.Contains(body, "already subscribed") || strings.Contains(body, "<form method=\"post\" action=\"/confirm") {
			t.Fatalf("GET after confirming: %d\n%.300s", code, body)
		}
	})

	t.Run("SameBrowser", func(t *testing.T) {
		t.Parallel()
		e := MustStart(t, lenient)
		b := e.newBrowser(t)
		path := b.signUp("ada@example.com")
		// The browser's HEAD still changes nothing; its GET confirms at once.
		if resp, _ := b.do("HEAD", path, "", ""); resp.StatusCode != 200 || e.status("ada@example.com") != "pending" {
			t.Fatalf("HEAD from the sign-up browser: %d, %s", resp.StatusCode, e.status("ada@example.com"))
		}
		resp, body := b.do("GET", path, "", "")
		if resp.StatusCode != 200 || !strings.Contains(body, "You are subscribed") || e.status("ada@example.com") != "confirmed" {
			t.Fatalf("GET from the sign-up browser: %d, %s\n%.300s", resp.StatusCode, e.status("ada@example.com"), body)
		}
		var form string
		e.db.Get(&form, `SELECT form FROM events WHERE kind = 'confirmed'`)
		if form != "confirm-link" {
			t.Errorf("consent record form = %q, want confirm-link", form)
		}
	})

	t.Run("Cookie", func(t *testing.T) {
		t.Parallel()
		e := MustStart(t, lenient)
		resp, _ := e.newBrowser(t).do("POST", "/subscribe/weekly", form, "email=ada@example.com")
		var c *http.Cookie
		for _, k := range resp.Cookies() {
			if k.Name == "tidings_signup" {
				c = k
			}
		}
		if c == nil {
			t.Fatalf("no sign-up cookie in %q", resp.Header["Set-Cookie"])
		}
		if !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != "/confirm/" || c.MaxAge != int((7*24*time.Hour).Seconds()) {
			t.Errorf("cookie %s: want HttpOnly, SameSite=Lax, Path=/confirm/, Max-Age 7 days", resp.Header.Get("Set-Cookie"))
		}
		if id := strings.TrimSpace(itoa(e.subscriptionID("ada@example.com"))); strings.Contains(c.Value, "|"+id) {
			t.Errorf("the cookie shows the subscription id: %q", c.Value)
		}
		// New, known and honeypot sign-ups all set a cookie of the same shape,
		// so it does not tell a known address from a new one.
		shape := func(v string) string { return strings.Map(func(r rune) rune { return 'x' }, v) }
		for _, in := range []string{"email=ada@example.com", "email=bo@example.com", "email=cy@example.com&website=spam"} {
			resp, _ := e.newBrowser(t).do("POST", "/subscribe/weekly", form, in)
			var got *http.Cookie
			for _, k := range resp.Cookies() {
				if k.Name == "tidings_signup" {
					got = k
				}
			}
			if got == nil || shape(got.Value) != shape(c.Value) {
				t.Errorf("sign-up %q: cookie %v, want one shaped like %q", in, got, c.Value)
			}
		}
	})

	t.Run("ErrOtherBrowser", func(t *testing.T) {
		t.Parallel()
		e := MustStart(t, lenient)
		ada, mallory := e.newBrowser(t), e.newBrowser(t)
		path := ada.signUp("ada@example.com")
		mallory.signUp("mallory@example.com")

		// The tampered cookie: ada's mark with its last character changed.
		u, _ := url.Parse(e.srv.URL + "/confirm/")
		forged := e.newBrowser(t)
		for _, c := range ada.c.Jar.Cookies(u) {
			v := []byte(c.Value)
			v[len(v)-1] ^= 1
			forged.c.Jar.SetCookies(u, []*http.Cookie{{Name: c.Name, Value: string(v), Path: "/confirm/"}})
		}
		garbage := e.newBrowser(t)
		garbage.c.Jar.SetCookies(u, []*http.Cookie{{Name: "tidings_signup", Value: "9999999999.AAAA~x.y~", Path: "/confirm/"}})

		for name, b := range map[string]*browser{"cookie bound to another subscription": mallory, "tampered cookie": forged, "garbage cookie": garbage} {
			before := e.counts()
			resp, body := b.do("GET", path, "", "")
			if resp.StatusCode != 200 || !strings.Contains(body, `<button type="submit">Confirm</button>`) {
				t.Errorf("%s: got %d\n%.300s", name, resp.StatusCode, body)
			}
			if e.status("ada@example.com") != "pending" || e.counts() != before {
				t.Errorf("%s confirmed ada", name)
			}
		}
	})

	t.Run("ErrExpiredCookie", func(t *testing.T) {
		t.Parallel()
		e := MustStart(t, lenient)
		b := e.newBrowser(t)
		b.signUp("ada@example.com")
		// A link that outlives the cookie: the cookie alone has expired.
		long := &subscribers.Links{BaseURL: e.srv.URL, Paths: e.links.Paths, Tokens: e.subs.Tokens, ConfirmTTL: 30 * 24 * time.Hour, Now: e.clock.Now}
		path := strings.TrimPrefix(long.Confirm(e.subscriptionID("ada@example.com")), e.srv.URL)
		e.clock.Add(7*24*time.Hour + time.Second)
		resp, body := b.do("GET", path, "", "")
		if resp.StatusCode != 200 || e.status("ada@example.com") != "pending" {
			t.Fatalf("GET with an expired cookie: %d %s\n%.300s", resp.StatusCode, e.status("ada@example.com"), body)
		}
	})

	t.Run("ErrBadToken", func(t *testing.T) {
		t.Parallel()
		e := MustStart(t, lenient)
		b := e.newBrowser(t)
		path := b.signUp("ada@example.com")
		expired := strings.TrimPrefix((&subscribers.Links{BaseURL: e.srv.URL, Paths: e.links.Paths, Tokens: e.subs.Tokens, ConfirmTTL: time.Minute, Now: func() time.Time { return e.clock.Now().Add(-time.Hour) }}).Confirm(e.subscriptionID("ada@example.com")), e.srv.URL)
		for _, tt := range []struct {
			name, path string
			want       int
			says       string
		}{
			{"forged", path[:len(path)-3] + "abc", 400, "not valid"},
			{"foreign purpose", strings.Replace(strings.TrimPrefix(e.links.Unsubscribe(e.subscriptionID("ada@example.com")), e.srv.URL), "/unsubscribe/", "/confirm/", 1), 400, "not valid"},
			{"expired", expired, 410, "Sign up again"},
		} {
			for _, method := range []string{"GET", "HEAD", "POST"} {
				before := e.counts()
				resp, body := b.do(method, tt.path, form, "")
				if resp.StatusCode != tt.want || (method != "HEAD" && !strings.Contains(body, tt.says)) {
					t.Errorf("%s %s: got %d, want %d saying %q\n%.300s", method, tt.name, resp.StatusCode, tt.want, tt.says, body)
				}
				if e.counts() != before || e.status("ada@example.com") != "pending" {
					t.Errorf("%s %s changed things", method, tt.name)
				}
			}
		}
	})
}

var _ = web.DefaultLimits
