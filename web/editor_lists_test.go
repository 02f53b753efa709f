package web_test

import (
	"context"
	"html"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"github.com/tidings/tidings/campaigns"
	"github.com/tidings/tidings/subscribers"
	"github.com/tidings/tidings/web"
)

// post sends a form as the signed-in client c (following the redirect after
// a successful POST) and returns the final response and its body.
func post(t *testing.T, c *http.Client, u string, v url.Values) (*http.Response, string) {
	t.Helper()
	resp, err := c.PostForm(u, v)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

// noRedirect is c without following redirects, to see a 303 and its Location.
func noRedirect(c *http.Client) *http.Client {
	return &http.Client{Jar: c.Jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// mustList returns the list with slug as stored.
func (e *env) mustList(slug string) *subscribers.List {
	e.t.Helper()
	l, err := e.subs.ListBySlug(context.Background(), slug)
	if err != nil {
		e.t.Fatal(err)
	}
	return l
}

// listValues is the settings form of a good list.
func listValues(slug string) url.Values {
	return url.Values{
		"slug": {slug}, "name": {"Monday Notes"}, "from_name": {"Sam"}, "from_email": {"sam@example.com"},
		"reply_to": {"replies@example.com"}, "timezone": {"Europe/Berlin"}, "postal_address": {"2 Example Road\nBerlin"},
		"consent_text": {"Send me Monday Notes."}, "welcome_subject": {"Welcome, {{or .FirstName \"friend\"}}"},
		"welcome_body": {"Glad you are here.\n\n[Unsubscribe]({{.UnsubscribeURL}})"},
	}
}

func TestEditorLists_Create(t *testing.T) {
	t.Parallel()
	e := MustStart(t, web.DefaultLimits)
	c := e.MustEditor("ed@example.com")

	t.Run("OK", func(t *testing.T) {
		resp, body := post(t, c, e.srv.URL+"/editor/lists", listValues("monday"))
		if resp.StatusCode != 200 || resp.Request.URL.Path != "/editor/lists/monday/settings" {
			t.Fatalf("got %d at %s\n%.500s", resp.StatusCode, resp.Request.URL, body)
		}
		if !strings.Contains(body, "The list was created") {
			t.Fatalf("no notice:\n%.2000s", body)
		}
		l := e.mustList("monday")
		got := []string{l.Name, l.FromName, l.FromEmail, l.ReplyTo, l.Timezone, l.PostalAddress, l.ConsentText, l.WelcomeSubject}
		want := []string{"Monday Notes", "Sam", "sam@example.com", "replies@example.com", "Europe/Berlin", "2 Example Road\nBerlin", "Send me Monday Notes.", "Welcome, {{or .FirstName \"friend\"}}"}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("stored %q, want %q", got, want)
		}
		_, index := get(t, c, e.srv.URL+"/editor/lists")
		for _, s := range []string{"Monday Notes", "monday", "Weekly Leader", `href="/editor/lists/monday/steps"`} {
			if !strings.Contains(index, s) {
				t.Errorf("index lacks %q", s)
			}
		}
	})

	t.Run("ErrBadInput", func(t *testing.T) {
		var before int
		e.db.Get(&before, `SELECT count(*) FROM lists`)
		for _, tt := range []struct {
			field, value, want string
		}{
			{"slug", "Bad Slug!", "is not valid"},
			{"slug", "weekly", "already a list"},
			{"slug", "", "is not valid"},
			{"name", "", "needs a name"},
			{"from_email", "not-an-address", "from_email"},
			{"from_email", "", "sender address"},
			{"reply_to", "also bad", "reply_to"},
			{"timezone", "Mars/Olympus_Mons", "not a known time zone"},
			{"welcome_body", "Hi {{.Nmae}}", "body line 1"},
			{"welcome_body", "Line one\n{{if .Name}}Hi", "body line 2"},
			{"welcome_subject", "Hi {{", "subject line 1"},
			{"welcome_subject", "", "both a subject and a body"},
		} {
			v := listValues("new-one")
			v.Set(tt.field, tt.value)
			resp, body := post(t, c, e.srv.URL+"/editor/lists", v)
			want := http.StatusUnprocessableEntity
			if tt.want == "already a list" {
				want = http.StatusConflict
			}
			if resp.StatusCode != want || !strings.Contains(body, tt.want) {
				t.Errorf("%s = %q: got %d, want %d with %q\n%.300s", tt.field, tt.value, resp.StatusCode, want, tt.want, errorText(body))
				continue
			}
			// The form comes back as typed.
			if tt.value != "" && tt.field != "welcome_body" && !strings.Contains(body, `value="`+html.EscapeString(tt.value)+`"`) {
				t.Errorf("%s = %q: the form lost the input", tt.field, tt.value)
			}
			other := `value="Monday Notes"`
			if tt.field == "name" {
				other = `value="sam@example.com"`
			}
			if !strings.Contains(body, other) {
				t.Errorf("%s = %q: the form lost the other fields", tt.field, tt.value)
			}
		}
		var after int
		e.db.Get(&after, `SELECT count(*) FROM lists`)
		if after != before {
			t.Fatalf("lists: %d before, %d after bad input", before, after)
		}
	})
}

// errorText is the alert of a page, for failure messages.
func errorText(body string) string {
	if i := strings.Index(body, `class="error"`); i >= 0 {
		return body[i:min(len(body), i+300)]
	}
	return body
}

func TestEditorLists_Update(t *testing.T) {
	t.Parallel()
	e := MustStart(t, web.DefaultLimits)
	c := e.MustEditor("ed@example.com")
	u := e.srv.URL + "/editor/lists/weekly/settings"

	_, body := get(t, c, u)
	for _, s := range []string{`value="Weekly Leader"`, `value="Europe/London"`, "1 Example Street", `id="slug" type="text" value="weekly" readonly`} {
		if !strings.Contains(body, s) {
			t.Fatalf("settings page lacks %q", s)
		}
	}

	t.Run("OK", func(t *testing.T) {
		v := listValues("ignored")
		v.Set("name", "Weekly Leader & Co")
		resp, body := post(t, c, u, v)
		if resp.StatusCode != 200 || resp.Request.URL.Path != "/editor/lists/weekly/settings" || !strings.Contains(body, "settings were saved") {
			t.Fatalf("got %d at %s\n%.300s", resp.StatusCode, resp.Request.URL, errorText(body))
		}
		l := e.mustList("weekly")
		if l.Name != "Weekly Leader & Co" || l.Timezone != "Europe/Berlin" || l.Slug != "weekly" {
			t.Fatalf("stored %+v", l)
		}
		if strings.Contains(body, "Weekly Leader & Co") || !strings.Contains(body, "Weekly Leader &amp; Co") {
			t.Fatalf("the name is not escaped on the page")
		}
	})

	t.Run("ErrBadInput", func(t *testing.T) {
		before := e.mustList("weekly")
		for _, tt := range []struct {
			field, value, want string
		}{
			{"from_email", "nobody", "from_email"},
			{"timezone", "Europe/Atlantis", "not a known time zone"},
			{"timezone", "Local", "not a known time zone"},
			{"welcome_body", "Hello {{.Unknown}}", "body line 1: unknown field"},
			{"name", "", "needs a name"},
		} {
			v := listValues("weekly")
			v.Set(tt.field, tt.value)
			resp, body := post(t, c, u, v)
			if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, tt.want) {
				t.Errorf("%s = %q: got %d, want 422 with %q\n%.300s", tt.field, tt.value, resp.StatusCode, tt.want, errorText(body))
			}
			if tt.field == "welcome_body" && !strings.Contains(body, html.EscapeString(tt.value)+"</textarea>") {
				t.Errorf("%s = %q: the form lost the input", tt.field, tt.value)
			}
		}
		if after := e.mustList("weekly"); !reflect.DeepEqual(after, before) {
			t.Fatalf("bad input changed the list:\n%+v\n%+v", before, after)
		}
	})

	t.Run("ErrNotFound", func(t *testing.T) {
		resp, _ := get(t, c, e.srv.URL+"/editor/lists/nope/settings")
		if resp.StatusCode != 404 {
			t.Fatalf("unknown list: got %d", resp.StatusCode)
		}
	})
}

func TestEditorLists_Embed(t *testing.T) {
	t.Parallel()
	e := MustStart(t, web.DefaultLimits)
	c := e.MustEditor("ed@example.com")
	_, body := get(t, c, e.srv.URL+"/editor/lists/weekly/settings")
	i := strings.Index(body, `<textarea id="snippet"`)
	if i < 0 {
		t.Fatal("no snippet on the page")
	}
	j := strings.Index(body[i:], "</textarea>")
	snippet := html.UnescapeString(body[i+strings.Index(body[i:], ">")+1 : i+j])
	host := strings.TrimPrefix(e.srv.URL, "http://")
	for _, s := range []string{
		`<form method="post" action="http://` + host + `/subscribe/weekly"`,
		`name="email"`, `name="name"`, `<input type="hidden" name="timezone" value="">`,
		`<input type="hidden" name="form" value="embed">`, `style="position:absolute;left:-10000px`, `name="website"`,
		"Send me the weekly series.", "Intl.DateTimeFormat().resolvedOptions().timeZone",
	} {
		if !strings.Contains(snippet, s) {
			t.Errorf("snippet lacks %q:\n%s", s, snippet)
		}
	}
	// The preview shows the same snippet in a sandboxed frame.
	if !strings.Contains(body, `<iframe class="embed-preview" sandbox="" title="Preview of the sign-up form" srcdoc="`) ||
		!strings.Contains(body, html.EscapeString(`<input type="hidden" name="form" value="embed">`)) {
		t.Fatal("no preview of the form")
	}

	// The snippet works: a post from another site signs up, recorded as "embed".
	v := url.Values{"email": {"reader@example.com"}, "name": {"Rea"}, "timezone": {"Asia/Tokyo"}, "form": {"embed"}, "website": {""}}
	code, _ := e.do("POST", "/subscribe/weekly", form, v.Encode(), "Origin", "https://blog.example", "Sec-Fetch-Site", "cross-site")
	if code != http.StatusAccepted {
		t.Fatalf("sign-up through the snippet: got %d", code)
	}
	var got string
	e.db.Get(&got, `SELECT form FROM events WHERE kind = 'subscribed'`)
	if got != "embed" {
		t.Fatalf("event form = %q, want embed", got)
	}
}

func TestEditorLists_Bonuses(t *testing.T) {
	t.Parallel()
	e := MustStart(t, web.DefaultLimits)
	c := e.MustEditor("ed@example.com")
	ctx := context.Background()
	list := e.mustList("weekly")
	camps := &campaigns.Store{DB: e.db, Now: e.clock.Now}
	base := e.srv.URL + "/editor/lists/weekly/bonuses"

	_, body := get(t, c, base+"/new")
	if !strings.Contains(body, "New bonus email") || !strings.Contains(body, `id="preview-frame"`) {
		t.Fatalf("new bonus page:\n%.500s", body)
	}

	resp, body := post(t, c, base, url.Values{"subject": {"Your checklist"}, "body": {"Here it is, {{or .FirstName \"friend\"}}."}})
	if resp.StatusCode != 200 || resp.Request.URL.Path != "/editor/lists/weekly/settings" || !strings.Contains(body, "bonus email was added") {
		t.Fatalf("add: got %d at %s\n%.300s", resp.StatusCode, resp.Request.URL, errorText(body))
	}
	bs, err := camps.Bonuses(ctx, list.ID)
	if err != nil || len(bs) != 1 || bs[0].Subject != "Your checklist" {
		t.Fatalf("bonuses %+v, %v", bs, err)
	}
	if !strings.Contains(body, "Your checklist") {
		t.Fatal("the settings page does not list the bonus")
	}
	id := itoa(bs[0].ID)

	// A broken template is refused and changes nothing.
	resp, body = post(t, c, base+"/"+id, url.Values{"subject": {"Your checklist"}, "body": {"Hi\n{{.FirstNam}}"}})
	if resp.StatusCode != 422 || !strings.Contains(body, "body line 2") || !strings.Contains(body, "Hi\n{{.FirstNam}}</textarea>") {
		t.Fatalf("bad bonus: got %d\n%.300s", resp.StatusCode, errorText(body))
	}
	resp, body = post(t, c, base, url.Values{"subject": {""}, "body": {"x"}})
	if resp.StatusCode != 422 || !strings.Contains(body, "subject is required") {
		t.Fatalf("bonus without subject: got %d\n%.300s", resp.StatusCode, errorText(body))
	}

	resp, body = post(t, c, base+"/"+id, url.Values{"subject": {"The checklist"}, "body": {"Updated."}})
	if resp.StatusCode != 200 || !strings.Contains(body, "bonus email was saved") {
		t.Fatalf("edit: got %d\n%.300s", resp.StatusCode, errorText(body))
	}
	if b, _ := camps.BonusByID(ctx, list.ID, bs[0].ID); b.Subject != "The checklist" || b.Body != "Updated." {
		t.Fatalf("edited bonus %+v", b)
	}

	_, body = get(t, c, base+"/"+id+"/delete")
	if !strings.Contains(body, "Delete bonus email 1?") || !strings.Contains(body, `action="/editor/lists/weekly/bonuses/`+id+`/delete"`) {
		t.Fatalf("confirmation page:\n%.800s", body)
	}
	resp, body = post(t, c, base+"/"+id+"/delete", nil)
	if resp.StatusCode != 200 || !strings.Contains(body, "bonus email was deleted") {
		t.Fatalf("delete: got %d", resp.StatusCode)
	}
	if bs, _ := camps.Bonuses(ctx, list.ID); len(bs) != 0 {
		t.Fatalf("bonuses after delete: %+v", bs)
	}
	if resp, _ := get(t, c, base+"/"+id); resp.StatusCode != 404 {
		t.Fatalf("deleted bonus: got %d", resp.StatusCode)
	}
}

func TestEditorLists_NeedsSession(t *testing.T) {
	t.Parallel()
	e := MustStart(t, web.DefaultLimits)
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, tt := range []struct{ method, path, want string }{
		{"GET", "/editor/lists", "/editor/login?next=%2Feditor%2Flists"},
		{"GET", "/editor/lists/new", "/editor/login?next=%2Feditor%2Flists%2Fnew"},
		{"GET", "/editor/lists/weekly/settings", "/editor/login?next=%2Feditor%2Flists%2Fweekly%2Fsettings"},
		{"GET", "/editor/lists/weekly/steps", "/editor/login?next=%2Feditor%2Flists%2Fweekly%2Fsteps"},
		{"POST", "/editor/lists", "/editor/login"},
		{"POST", "/editor/lists/weekly/settings", "/editor/login"},
		{"POST", "/editor/lists/weekly/steps", "/editor/login"},
		{"POST", "/editor/lists/weekly/preview", "/editor/login"},
	} {
		req, _ := http.NewRequest(tt.method, e.srv.URL+tt.path, strings.NewReader("subject=x&body=y"))
		req.Header.Set("Content-Type", form)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != tt.want {
			t.Errorf("%s %s: got %d to %q, want 303 to %q", tt.method, tt.path, resp.StatusCode, resp.Header.Get("Location"), tt.want)
		}
	}
	var n int
	e.db.Get(&n, `SELECT count(*) FROM steps`)
	if n != 0 {
		t.Fatalf("%d steps stored without a session", n)
	}
}

func TestEditorLists_CrossOrigin(t *testing.T) {
	t.Parallel()
	e := MustStart(t, web.DefaultLimits)
	c := e.MustEditor("ed@example.com")
	before := e.mustList("weekly")
	for _, path := range []string{
		"/editor/lists", "/editor/lists/weekly/settings", "/editor/lists/weekly/steps",
		"/editor/lists/weekly/preview", "/editor/lists/weekly/bonuses",
	} {
		for _, h := range [][]string{{"Sec-Fetch-Site", "cross-site"}, {"Origin", "http://evil.example"}} {
			v := listValues("evil")
			v.Set("subject", "Evil")
			v.Set("body", "Evil")
			v.Set("delay_days", "1")
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
	var n int
	e.db.Get(&n, `SELECT (SELECT count(*) FROM lists) + (SELECT count(*) FROM steps) + (SELECT count(*) FROM bonuses)`)
	if n != 1 {
		t.Fatalf("cross-site posts stored something: %d rows", n)
	}
	if after := e.mustList("weekly"); !reflect.DeepEqual(after, before) {
		t.Fatal("cross-site post changed the list")
	}
}
