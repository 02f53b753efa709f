package web_test

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/tidings/tidings/web"
)

// TestSecurityHeaders: no page can be framed by another site but the hosted
// sign-up form, which is meant to be embedded, and the email previews, which
// only Tidings' own pages frame.
func TestSecurityHeaders(t *testing.T) {
	t.Parallel()
	e := MustStart(t, web.DefaultLimits)
	c := e.MustEditor("ed@example.com")
	denied := []string{"/", "/editor/login", "/editor/", "/editor/lists", "/unsubscribe/nope", "/confirm/nope", "/healthz", "/nope", "/static/style.css"}
	for _, path := range denied {
		resp, _ := get(t, c, e.srv.URL+path)
		if got := resp.Header.Get("X-Frame-Options"); got != "DENY" {
			t.Errorf("GET %s: X-Frame-Options %q, want DENY", path, got)
		}
		if got := resp.Header.Get("Content-Security-Policy"); !strings.Contains(got, "frame-ancestors 'none'") {
			t.Errorf("GET %s: Content-Security-Policy %q, want frame-ancestors 'none'", path, got)
		}
		if got := resp.Header.Get("X-Content-Type-Options"); got != "nosniff" {
			t.Errorf("GET %s: X-Content-Type-Options %q", path, got)
		}
	}

	framed := func(method, path string, resp *http.Response) {
		t.Helper()
		if got := resp.Header.Get("X-Frame-Options"); got != "" {
			t.Errorf("%s %s: X-Frame-Options %q, want none", method, path, got)
		}
		if got := resp.Header.Get("Content-Security-Policy"); got != "frame-ancestors *" {
			t.Errorf("%s %s: Content-Security-Policy %q, want frame-ancestors *", method, path, got)
		}
	}
	resp, _ := get(t, c, e.srv.URL+"/subscribe/weekly")
	framed("GET", "/subscribe/weekly", resp)
	resp, _ = post(t, e.client(), e.srv.URL+"/subscribe/weekly", url.Values{"email": {"framed@example.com"}})
	framed("POST", "/subscribe/weekly", resp)

	resp, _ = post(t, c, e.srv.URL+"/editor/lists/weekly/preview", url.Values{"subject": {"S"}, "body": {"B"}})
	if resp.StatusCode != 200 {
		t.Fatalf("preview: %d", resp.StatusCode)
	}
	if got := resp.Header.Get("Content-Security-Policy"); !strings.Contains(got, "sandbox") || !strings.Contains(got, "frame-ancestors 'self'") {
		t.Errorf("preview: Content-Security-Policy %q, want sandbox and frame-ancestors 'self'", got)
	}
	if got := resp.Header.Get("X-Frame-Options"); got != "SAMEORIGIN" {
		t.Errorf("preview: X-Frame-Options %q, want SAMEORIGIN", got)
	}
}

// TestStatic_NoListing: the static directory and its subdirectories are not
// listed; files are served.
func TestStatic_NoListing(t *testing.T) {
	t.Parallel()
	e := MustStart(t, web.DefaultLimits)
	for _, path := range []string{"/static/", "/static", "/static/.", "/static//", "/static/nope.css", "/static/../"} {
		// A listing links each file by its bare name; a 301 cleans the path
		// and lands on one of the others.
		code, body := e.do("GET", path, "", "")
		if listed := strings.Contains(body, `href="style.css"`); (code != 404 && code != 301) || listed {
			t.Errorf("GET %s: %d, listing shown: %v", path, code, listed)
		}
	}
	if code, _ := e.do("GET", "/static/style.css", "", ""); code != 200 {
		t.Errorf("GET /static/style.css: %d", code)
	}
}

// TestHTTPServer_Limits: a request whose headers are far over the limit is
// refused with 431 before any handler runs, and the server has the timeouts
// that cut off slow clients.
func TestHTTPServer_Limits(t *testing.T) {
	t.Parallel()
	e := MustStart(t, web.DefaultLimits)
	conn, err := net.Dial("tcp", strings.TrimPrefix(e.srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET / HTTP/1.1\r\nHost: x\r\nX-Big: %s\r\n\r\n", strings.Repeat("a", 200<<10))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("200 KB of headers: %d, want 431", resp.StatusCode)
	}

	srv := e.srv.Config
	if srv.MaxHeaderBytes <= 0 || srv.MaxHeaderBytes > 128<<10 {
		t.Errorf("MaxHeaderBytes %d, want at most 128 KB", srv.MaxHeaderBytes)
	}
	if srv.ReadHeaderTimeout <= 0 || srv.ReadTimeout <= 0 || srv.WriteTimeout <= 0 {
		t.Errorf("timeouts %v %v %v: each must be set", srv.ReadHeaderTimeout, srv.ReadTimeout, srv.WriteTimeout)
	}
	if srv.IdleTimeout <= 0 || srv.IdleTimeout > srv.WriteTimeout {
		t.Errorf("IdleTimeout %v: want set and no longer than WriteTimeout %v", srv.IdleTimeout, srv.WriteTimeout)
	}
}
