package web_test

import (
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/tidings/tidings/web"
)

// TestEditor_Tokens makes, lists and revokes API tokens in the editor UI.
func TestEditor_Tokens(t *testing.T) {
	t.Parallel()
	e := MustStart(t, web.DefaultLimits)
	c := e.MustEditor("ed@example.com")
	secretRE := regexp.MustCompile(`value="(tdg_[A-Za-z0-9_-]+)"`)

	t.Run("CreateShownOnce", func(t *testing.T) {
		resp, err := c.PostForm(e.srv.URL+"/editor/tokens", url.Values{"name": {"zapier"}, "scope": {"read"}, "expires": {"30d"}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.Request.Method != "GET" || resp.Request.URL.Path != "/editor/tokens" {
			t.Fatalf("after the POST the browser is at %s %s", resp.Request.Method, resp.Request.URL)
		}
		_, body := get(t, c, e.srv.URL+"/editor/tokens")
		if strings.Contains(body, "tdg_") {
			t.Fatalf("the secret is shown a second time:\n%s", body)
		}
		if !strings.Contains(body, "zapier") || !strings.Contains(body, "read") {
			t.Fatalf("the list lacks the new token:\n%s", body)
		}
	})

	t.Run("SecretWorks", func(t *testing.T) {
		// The redirect's page view is the one that shows the secret.
		nc := &http.Client{Jar: c.Jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		resp, err := nc.PostForm(e.srv.URL+"/editor/tokens", url.Values{"name": {"ci"}, "scope": {"write"}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 303 {
			t.Fatalf("create: got %d, want 303", resp.StatusCode)
		}
		_, body := get(t, c, e.srv.URL+"/editor/tokens")
		m := secretRE.FindStringSubmatch(body)
		if m == nil {
			t.Fatalf("no secret on the page after creating:\n%s", body)
		}
		if code, _ := e.do("PATCH", "/api/v1/lists/weekly", jsonCT, `{"name":"Via UI token"}`, "Authorization", "Bearer "+m[1]); code != 200 {
			t.Fatalf("the new write token: got %d", code)
		}
	})

	t.Run("ErrInvalid", func(t *testing.T) {
		var before int
		e.db.Get(&before, `SELECT count(*) FROM api_tokens`)
		for _, f := range []url.Values{
			{"name": {""}, "scope": {"read"}},
			{"name": {"x"}, "scope": {"admin"}},
			{"name": {"x"}, "scope": {"read"}, "expires": {"soon"}},
			{"name": {"x"}, "scope": {"read"}, "expires": {"-1d"}},
			{"name": {strings.Repeat("n", 101)}, "scope": {"read"}},
		} {
			code, body := e.doAs(c, "POST", "/editor/tokens", f)
			if code != 422 || !strings.Contains(body, `class="error"`) {
				t.Errorf("create %v: got %d, want 422 with the error on the form", f, code)
			}
		}
		var after int
		e.db.Get(&after, `SELECT count(*) FROM api_tokens`)
		if after != before {
			t.Fatalf("%d tokens after refused forms, want %d", after, before)
		}
	})

	t.Run("Revoke", func(t *testing.T) {
		var id int64
		e.db.Get(&id, `SELECT id FROM api_tokens WHERE name = 'zapier'`)
		resp, err := c.PostForm(e.srv.URL+"/editor/tokens/"+itoa(id)+"/revoke", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.Request.URL.Path != "/editor/tokens" || resp.Request.URL.Query().Get("done") != "token-revoked" {
			t.Fatalf("after revoking at %s", resp.Request.URL)
		}
		var n int
		e.db.Get(&n, `SELECT count(*) FROM api_tokens WHERE id = $1`, id)
		if n != 0 {
			t.Fatal("the token is still there")
		}
		if code, _ := e.doAs(c, "POST", "/editor/tokens/"+itoa(id)+"/revoke", nil); code != 404 {
			t.Fatalf("revoking again: got %d, want 404", code)
		}
	})

	t.Run("ErrCrossOrigin", func(t *testing.T) {
		var before int
		e.db.Get(&before, `SELECT count(*) FROM api_tokens`)
		for _, path := range []string{"/editor/tokens", "/editor/tokens/1/revoke"} {
			code, _ := e.do("POST", path, form, "name=evil&scope=write", "Origin", "http://evil.example")
			if code != 403 {
				t.Errorf("cross-site POST %s: got %d, want 403", path, code)
			}
		}
		var after int
		e.db.Get(&after, `SELECT count(*) FROM api_tokens`)
		if after != before {
			t.Fatal("a cross-site POST changed the tokens")
		}
	})

	t.Run("ErrSignedOut", func(t *testing.T) {
		nc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		resp, _ := get(t, nc, e.srv.URL+"/editor/tokens")
		if resp.StatusCode != 303 || !strings.HasPrefix(resp.Header.Get("Location"), "/editor/login") {
			t.Fatalf("signed out: got %d to %q", resp.StatusCode, resp.Header.Get("Location"))
		}
	})
}

// doAs posts a form with c's cookies without following a redirect and
// returns the status and body.
func (e *env) doAs(c *http.Client, method, path string, f url.Values) (int, string) {
	e.t.Helper()
	nc := &http.Client{Jar: c.Jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, err := http.NewRequest(method, e.srv.URL+path, strings.NewReader(f.Encode()))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", form)
	resp, err := nc.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
