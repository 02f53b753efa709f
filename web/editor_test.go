package web_test

import (
	"context"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"

	"github.com/tidings/tidings/web"
)

const editorPassword = "correct horse battery"

// MustEditor creates an editor and returns a client signed in as them.
func (e *env) MustEditor(email string) *http.Client {
	e.t.Helper()
	if _, err := e.eds.Create(context.Background(), email, editorPassword); err != nil {
		e.t.Fatal(err)
	}
	return e.MustSignIn(email)
}

// MustSignIn returns a client signed in as an editor without two-factor sign-in.
func (e *env) MustSignIn(email string) *http.Client {
	e.t.Helper()
	c := e.client()
	resp, err := c.PostForm(e.srv.URL+"/editor/login", url.Values{"email": {email}, "password": {editorPassword}})
	if err != nil {
		e.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Request.URL.Path != "/editor/" {
		e.t.Fatalf("sign-in ended at %s", resp.Request.URL)
	}
	return c
}

// client is a browser-like client: it keeps cookies and follows redirects.
func (e *env) client() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar}
}

func get(t *testing.T, c *http.Client, u string) (*http.Response, string) {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b strings.Builder
	buf := make([]byte, 32<<10)
	for {
		n, err := resp.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return resp, b.String()
}

func TestEditor_SignIn(t *testing.T) {
	t.Parallel()
	e := MustStart(t, web.DefaultLimits)

	t.Run("RedirectsWithoutSession", func(t *testing.T) {
		c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		resp, _ := get(t, c, e.srv.URL+"/editor/")
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/editor/login?next=%2Feditor%2F" {
			t.Fatalf("got %d to %q", resp.StatusCode, resp.Header.Get("Location"))
		}
	})

	t.Run("OK", func(t *testing.T) {
		if _, err := e.eds.Create(context.Background(), "ed@example.com", editorPassword); err != nil {
			t.Fatal(err)
		}
		c := e.client()
		resp, err := c.PostForm(e.srv.URL+"/editor/login", url.Values{"email": {"ed@example.com"}, "password": {editorPassword}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.Request.URL.Path != "/editor/" {
			t.Fatalf("got %d at %s", resp.StatusCode, resp.Request.URL)
		}
		var cookie *http.Cookie
		for _, h := range resp.Request.Response.Cookies() {
			if h.Name == "tidings_session" {
				cookie = h
			}
		}
		if cookie == nil || !cookie.HttpOnly || cookie.SameSite != http.SameSiteLaxMode || cookie.Secure {
			t.Fatalf("session cookie = %+v", cookie)
		}
		_, body := get(t, c, e.srv.URL+"/editor/")
		if !strings.Contains(body, "Dashboard") || !strings.Contains(body, "ed@example.com") || !strings.Contains(body, "<svg") {
			t.Fatalf("dashboard:\n%.600s", body)
		}
		// Sign out: the session is gone.
		resp, err = c.PostForm(e.srv.URL+"/editor/logout", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.Request.URL.Path != "/editor/login" {
			t.Fatalf("after sign-out at %s", resp.Request.URL)
		}
		if resp, _ := get(t, c, e.srv.URL+"/editor/"); resp.Request.URL.Path != "/editor/login" {
			t.Fatalf("still signed in after sign-out: %s", resp.Request.URL)
		}
		var n int
		e.db.Get(&n, `SELECT count(*) FROM editor_sessions`)
		if n != 0 {
			t.Fatalf("%d sessions left after sign-out", n)
		}
	})

	t.Run("SafeNext", func(t *testing.T) {
		for _, next := range []string{"//evil.example/", "https://evil.example/", "/editor/\\evil", "/other"} {
			code, _ := e.do("POST", "/editor/login", form, url.Values{"email": {"ed@example.com"}, "password": {editorPassword}, "next": {next}}.Encode())
			if code != 303 {
				t.Fatalf("next %q: got %d", next, code)
			}
			req, _ := http.NewRequest("POST", e.srv.URL+"/editor/login", strings.NewReader(url.Values{"email": {"ed@example.com"}, "password": {editorPassword}, "next": {next}}.Encode()))
			req.Header.Set("Content-Type", form)
			resp, err := http.DefaultTransport.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if loc := resp.Header.Get("Location"); loc != "/editor/" {
				t.Errorf("next %q: redirected to %q, want /editor/", next, loc)
			}
		}
	})
}

func TestEditor_CrossOrigin(t *testing.T) {
	t.Parallel()
	e := MustStart(t, lenient)
	for _, tt := range []struct {
		path, body string
		want       int
	}{
		{"/editor/login", "email=ed@example.com&password=x", 403},
		{"/editor/logout", "", 403},
		{"/subscribe/weekly", "email=ada@example.com", 202},
	} {
		for _, h := range [][]string{{"Sec-Fetch-Site", "cross-site"}, {"Origin", "http://evil.example"}} {
			code, body := e.do("POST", tt.path, form, tt.body, h...)
			if code != tt.want {
				t.Errorf("cross-site POST %s with %s: got %d, want %d\n%.200s", tt.path, h[0], code, tt.want, body)
			}
		}
	}
	// The one-click unsubscribe comes from mail clients: never refused as cross-site.
	e.do("POST", "/subscribe/weekly", jsonCT, `{"email":"bo@example.com"}`)
	u := strings.TrimPrefix(e.links.Unsubscribe(e.subscriptionID("bo@example.com")), e.srv.URL)
	if code, _ := e.do("POST", u, form, "List-Unsubscribe=One-Click", "Sec-Fetch-Site", "cross-site"); code != 200 {
		t.Fatalf("cross-site one-click unsubscribe: got %d, want 200", code)
	}
}
