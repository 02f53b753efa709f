package web_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/tidings/tidings/web"
)

// textFields are the text fields that the routes of Tidings read, from forms,
// JSON bodies and queries, with more that no route reads, since a field
// nobody reads must be refused all the same.
var textFields = []string{
	"email", "name", "timezone", "tags", "lists", "status", "form", "website",
	"slug", "from_name", "from_email", "postal_address", "consent_text",
	"welcome_subject", "welcome_body", "reply_to",
	"subject", "body", "preheader", "tags_include", "tags_exclude", "list",
	"send_at", "emails", "send_time", "weekdays", "delay_days", "position",
	"q", "tag", "after", "password", "action", "done", "next", "unused_field",
}

// badTexts are what Postgres refuses in text, as a form value, a JSON string
// and a query value each.
var badTexts = []struct {
	name, form, json string
}{
	{"NUL", "a%00b", `"a\u0000b"`},
	{"bytes that are not UTF-8", "a%FF%FEb", "\"a\xff\xfeb\""},
	{"a lone surrogate's bytes", "a%ED%A0%80b", "\"a\xed\xa0\x80b\""},
}

// TestBadText: every route, with a NUL or bytes that are not UTF-8 in any text
// field of a form, a JSON body, the query or the path, gets a 422 that names
// the field (never a 500), and nothing is changed.
func TestBadText(t *testing.T) {
	t.Parallel()
	e := MustStart(t, web.DefaultLimits)
	editor := e.MustEditor("ed@example.com")
	before := e.counts()
	var bcasts, steps int
	e.db.Get(&bcasts, `SELECT count(*) FROM broadcasts`)
	e.db.Get(&steps, `SELECT count(*) FROM steps`)

	vars := regexp.MustCompile(`\{([a-z]+)(:[^}]*)?\}`)
	fill := func(path string) string {
		return vars.ReplaceAllStringFunc(path, func(v string) string {
			switch name := vars.FindStringSubmatch(v)[1]; name {
			case "list":
				return "weekly"
			case "action":
				return "send"
			case "token":
				return "abc.def"
			default:
				return "1"
			}
		})
	}
	send := func(method, path, contentType, body string) (int, string) {
		t.Helper()
		req, err := http.NewRequest(method, e.srv.URL+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		if strings.HasPrefix(path, "/api/") {
			req.Header.Set("Authorization", "Bearer "+e.token)
		}
		resp, err := http.DefaultTransport.RoundTrip(withCookies(editor, req))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b strings.Builder
		buf := make([]byte, 8<<10)
		for {
			n, err := resp.Body.Read(buf)
			b.Write(buf[:n])
			if err != nil {
				break
			}
		}
		return resp.StatusCode, b.String()
	}
	want := func(in string, code int, body, field string) {
		t.Helper()
		if code != http.StatusUnprocessableEntity {
			t.Errorf("%s: status %d, want 422\n%.300s", in, code, body)
			return
		}
		if strings.HasPrefix(strings.TrimSpace(body), "{") {
			var v struct{ Error string }
			if err := json.Unmarshal([]byte(body), &v); err != nil || !strings.Contains(v.Error, field) {
				t.Errorf("%s: error %q does not name %q (%v)", in, v.Error, field, err)
			}
			return
		}
		if !strings.Contains(body, field) {
			t.Errorf("%s: the page does not name %q\n%.500s", in, field, body)
		}
	}

	routes := e.web.Routes()
	if len(routes) < 40 {
		t.Fatalf("only %d routes found", len(routes))
	}
	for _, rt := range routes {
		path := fill(rt.Path)
		for _, method := range rt.Methods {
			if method == "HEAD" {
				continue
			}
			for _, bad := range badTexts {
				// The query, on every route and method.
				in := method + " " + path + "?q=" + bad.form + " (" + bad.name + ")"
				code, body := send(method, path+"?q="+bad.form, "", "")
				want(in, code, body, "q")
				if method == "GET" || method == "DELETE" {
					continue
				}
				for _, f := range textFields {
					in := method + " " + path + " form " + f + " (" + bad.name + ")"
					code, body := send(method, path, "application/x-www-form-urlencoded", "email=ok%40example.com&"+f+"="+bad.form)
					want(in, code, body, f)

					in = method + " " + path + " JSON " + f + " (" + bad.name + ")"
					code, body = send(method, path, "application/json", `{"`+f+`":`+bad.json+`}`)
					want(in, code, body, f)
				}
				in = method + " " + path + " JSON lists[1] (" + bad.name + ")"
				code, body = send(method, path, "application/json", `{"email":"ok@example.com","lists":["weekly",`+bad.json+`]}`)
				want(in, code, body, "lists[1]")
			}
		}
		// The path: each variable that takes any text.
		if strings.Contains(rt.Path, "{list}") || strings.Contains(rt.Path, "{token}") {
			for _, method := range rt.Methods {
				if method == "HEAD" {
					continue
				}
				for _, bad := range []string{"%00", "a%FFb"} {
					p := strings.NewReplacer("{list}", bad, "{token}", bad).Replace(rt.Path)
					p = fill(p)
					code, body := send(method, p, "", "")
					want(method+" "+p, code, body, "path")
				}
			}
		}
	}

	// A NUL in a JSON key names the key's place.
	code, body := send("POST", "/api/v1/broadcasts", "application/json", `{"subject":"ok","a\u0000b":"x"}`)
	want("JSON key with NUL", code, body, "a\\0b")

	if got := e.counts(); got != before {
		t.Errorf("rows changed: %v, want %v", got, before)
	}
	var b2, s2 int
	e.db.Get(&b2, `SELECT count(*) FROM broadcasts`)
	e.db.Get(&s2, `SELECT count(*) FROM steps`)
	if b2 != bcasts || s2 != steps {
		t.Errorf("broadcasts %d→%d, steps %d→%d", bcasts, b2, steps, s2)
	}
}

// withCookies adds c's cookies for req's URL to req, since RoundTrip alone
// does not.
func withCookies(c *http.Client, req *http.Request) *http.Request {
	u, _ := url.Parse(req.URL.String())
	for _, ck := range c.Jar.Cookies(u) {
		req.AddCookie(ck)
	}
	return req
}

// TestSubscribe_KeepsWhatWasTyped: a sign-up refused for a bad address shows
// the form again with the address and the name as they were typed.
func TestSubscribe_KeepsWhatWasTyped(t *testing.T) {
	t.Parallel()
	e := MustStart(t, web.DefaultLimits)
	code, body := e.do("POST", "/subscribe/weekly", "application/x-www-form-urlencoded", "email=ada%40example&name=Ada+%3CL%3E")
	if code != http.StatusUnprocessableEntity {
		t.Fatalf("status %d\n%.300s", code, body)
	}
	for _, want := range []string{`value="ada@example"`, `value="Ada &lt;L&gt;"`, `role="alert"`} {
		if !strings.Contains(body, want) {
			t.Errorf("the form again lacks %s\n%s", want, body)
		}
	}
}

// TestBadText_MultipartAndUserAgent: a multipart sign-up with a NUL in a
// field gets the same 422; a user agent that is not UTF-8 is stored cleaned,
// not refused by Postgres.
func TestBadText_MultipartAndUserAgent(t *testing.T) {
	t.Parallel()
	e := MustStart(t, web.DefaultLimits)
	before := e.counts()
	body := "--B\r\nContent-Disposition: form-data; name=\"email\"\r\n\r\nok@example.com\r\n" +
		"--B\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\nA\x00da\r\n--B--\r\n"
	code, page := e.do("POST", "/subscribe/weekly", "multipart/form-data; boundary=B", body)
	if code != http.StatusUnprocessableEntity || !strings.Contains(page, "name:") {
		t.Errorf("multipart NUL: %d\n%.400s", code, page)
	}
	if got := e.counts(); got != before {
		t.Errorf("rows changed: %v, want %v", got, before)
	}

	code, _ = e.do("POST", "/subscribe/weekly", "application/x-www-form-urlencoded", "email=ua%40example.com", "User-Agent", "Mozilla\xff\xfe/5.0")
	if code != http.StatusAccepted {
		t.Fatalf("sign-up with a user agent that is not UTF-8: %d", code)
	}
	var ua string
	if err := e.db.Get(&ua, `SELECT user_agent FROM events ORDER BY id DESC LIMIT 1`); err != nil {
		t.Fatal(err)
	}
	if ua != "Mozilla\uFFFD/5.0" {
		t.Errorf("stored user agent %q", ua)
	}
}
