package web_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/tidings/tidings/subscribers"
	"github.com/tidings/tidings/web"
)

// mustAdd adds a subscriber through the store, confirmed on the given lists.
func (e *env) mustAdd(email, name string, tags []string, lists ...string) int64 {
	e.t.Helper()
	sub, err := e.subs.Add(context.Background(), subscribers.AddRequest{
		Email: email, Name: name, Tags: tags, Lists: lists, Status: subscribers.StatusConfirmed,
		Meta: subscribers.Meta{IP: "203.0.113.5", UserAgent: "TestAgent/2.0", Form: "api"},
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return sub.ID
}

// mustSecondList creates the list "monthly".
func (e *env) mustSecondList() {
	e.t.Helper()
	if err := e.subs.CreateList(context.Background(), &subscribers.List{
		Slug: "monthly", Name: "Monthly Digest", FromEmail: "digest@example.com", Timezone: "UTC",
	}); err != nil {
		e.t.Fatal(err)
	}
}

// rowEmails are the addresses in the subscribers table of an index page, in order.
func rowEmails(body string) []string {
	i := strings.Index(body, `id="subscribers"`)
	if i < 0 {
		return nil
	}
	j := strings.Index(body[i:], "</table>")
	re := regexp.MustCompile(`<td data-label="Email" class="sub-email"><a href="/editor/subscribers/\d+">([^<]+)</a>`)
	var out []string
	for _, m := range re.FindAllStringSubmatch(body[i:i+j], -1) {
		out = append(out, m[1])
	}
	return out
}

// nextLink is the href of the "Next page" link, unescaped, or "".
func nextLink(body string) string {
	m := regexp.MustCompile(`<a class="next" href="([^"]+)"`).FindStringSubmatch(body)
	if m == nil {
		return ""
	}
	return strings.ReplaceAll(m[1], "&amp;", "&")
}

func TestEditorSubscribers_Index(t *testing.T) {
	t.Parallel()
	e := MustStart(t, lenient)
	e.mustSecondList()
	c := e.MustEditor("ed@example.com")
	e.mustAdd("ada@example.com", "Ada Lovelace", []string{"vip"}, "weekly")
	e.mustAdd("grace@example.org", "Grace Hopper", nil, "weekly", "monthly")
	e.do("POST", "/subscribe/weekly", jsonCT, `{"email":"pending@example.com","name":"Pat Pending"}`)
	e.mustAdd("alan@example.net", "Alan", []string{"vip", "speaker"}, "monthly")

	for _, tt := range []struct {
		query string
		want  []string
	}{
		{"", []string{"ada@example.com", "grace@example.org", "pending@example.com", "alan@example.net"}},
		{"?q=ADA", []string{"ada@example.com"}},
		{"?q=hopper", []string{"grace@example.org"}},
		{"?q=example.org", []string{"grace@example.org"}},
		{"?list=monthly", []string{"grace@example.org", "alan@example.net"}},
		{"?status=pending", []string{"pending@example.com"}},
		{"?list=weekly&status=confirmed", []string{"ada@example.com", "grace@example.org"}},
		{"?tag=VIP", []string{"ada@example.com", "alan@example.net"}},
		{"?tag=vip&list=monthly&q=al", []string{"alan@example.net"}},
		{"?q=nobody", nil},
	} {
		resp, body := get(t, c, e.srv.URL+"/editor/subscribers"+tt.query)
		if resp.StatusCode != 200 {
			t.Fatalf("%s: got %d\n%s", tt.query, resp.StatusCode, errorText(body))
		}
		if got := rowEmails(body); strings.Join(got, " ") != strings.Join(tt.want, " ") {
			t.Errorf("%s: rows %v, want %v", tt.query, got, tt.want)
		}
	}

	// A row shows the name, each list with its status, the tags and the date.
	_, body := get(t, c, e.srv.URL+"/editor/subscribers?q=grace")
	for _, want := range []string{"Grace Hopper", `Weekly Leader <span class="badge confirmed">confirmed</span>`, `Monthly Digest <span class="badge confirmed">confirmed</span>`, "2 Mar 2026"} {
		if !strings.Contains(body, want) {
			t.Errorf("the row of grace lacks %q", want)
		}
	}
	_, body = get(t, c, e.srv.URL+"/editor/subscribers?q=alan")
	if !strings.Contains(body, `<span class="tag">speaker</span> <span class="tag">vip</span>`) {
		t.Errorf("the row of alan lacks its tags:\n%s", body)
	}

	t.Run("ErrBadFilter", func(t *testing.T) {
		for _, tt := range []struct {
			query string
			code  int
			msg   string
		}{
			{"?status=active", 422, "is not a status"},
			{"?list=nope", 404, "There is no list"},
			{"?tag=a%2Fb", 422, "may only use"},
			{"?after=x", 422, "page link is broken"},
			{"?q=" + strings.Repeat("x", 300), 422, "too long"},
		} {
			resp, body := get(t, c, e.srv.URL+"/editor/subscribers"+tt.query)
			if resp.StatusCode != tt.code || !strings.Contains(body, tt.msg) || rowEmails(body) != nil {
				t.Errorf("%.40s: got %d, want %d with %q\n%s", tt.query, resp.StatusCode, tt.code, tt.msg, errorText(body))
			}
		}
	})
}

func TestEditorSubscribers_Pages(t *testing.T) {
	t.Parallel()
	e := MustStart(t, lenient)
	c := e.MustEditor("ed@example.com")
	var b strings.Builder
	b.WriteString("email,name\n")
	for i := range 120 {
		fmt.Fprintf(&b, "reader%03d@example.com,Reader %d\n", i, i)
	}
	if _, err := e.subs.Import(context.Background(), subscribers.ImportRequest{List: "weekly"}, strings.NewReader(b.String())); err != nil {
		t.Fatal(err)
	}
	e.mustAdd("other@example.org", "", nil, "weekly")

	// Page through "example.com": 50, 50, 20, each "Next page" link keeping the search.
	var all []string
	u := e.srv.URL + "/editor/subscribers?q=example.com"
	for page := 1; ; page++ {
		resp, body := get(t, c, u)
		if resp.StatusCode != 200 {
			t.Fatalf("page %d: %d", page, resp.StatusCode)
		}
		rows := rowEmails(body)
		all = append(all, rows...)
		next := nextLink(body)
		if want := []int{50, 50, 20}[page-1]; len(rows) != want {
			t.Fatalf("page %d has %d rows, want %d", page, len(rows), want)
		}
		if page > 1 && !strings.Contains(body, "First page") {
			t.Errorf("page %d has no link to the first", page)
		}
		if page == 3 {
			if next != "" {
				t.Fatalf("the last page links to %q", next)
			}
			break
		}
		if !strings.Contains(next, "q=example.com") || !strings.Contains(next, "after=") {
			t.Fatalf("page %d: next link %q", page, next)
		}
		u = e.srv.URL + next
	}
	seen := map[string]bool{}
	for i, email := range all {
		if want := fmt.Sprintf("reader%03d@example.com", i); email != want || seen[email] {
			t.Fatalf("row %d is %s, want %s", i, email, want)
		}
		seen[email] = true
	}
}

func TestEditorSubscribers_Show(t *testing.T) {
	t.Parallel()
	e := MustStart(t, lenient)
	c := e.MustEditor("ed@example.com")
	e.do("POST", "/subscribe/weekly", form, "email=ada@example.com&name=Ada&timezone=Europe/Paris", "User-Agent", "Firefox/140.0")
	id := e.subscriberID("ada@example.com")

	resp, body := get(t, c, e.srv.URL+"/editor/subscribers/"+itoa(id))
	if resp.StatusCode != 200 {
		t.Fatalf("got %d", resp.StatusCode)
	}
	for _, want := range []string{
		"<h1 class=\"sub-title\">ada@example.com</h1>", "Europe/Paris",
		`<span class="badge pending">pending</span>`,
		// The consent proof: the sign-up with IP, browser, form and consent text.
		`<span class="event-kind" data-kind="subscribed">Signed up</span>`, `<span class="event-kind" data-kind="confirmation_requested">Confirmation requested</span>`,
		"127.0.0.1", "Firefox/140.0", "Send me the weekly series.",
		// The messages: the confirmation email, queued.
		"Confirm your subscription", `<span class="badge msg-queued">queued</span>`,
		"Resend confirmation", "Erase…",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the page lacks %q", want)
		}
	}

	for _, path := range []string{"/editor/subscribers/" + itoa(id+100), "/editor/subscribers/99999999999999999999", "/editor/subscribers/" + itoa(id+100) + "/delete"} {
		if resp, body := get(t, c, e.srv.URL+path); resp.StatusCode != 404 || !strings.Contains(body, "There is no subscriber") && !strings.Contains(body, "nothing at this address") {
			t.Errorf("GET %s: got %d\n%.300s", path, resp.StatusCode, body)
		}
	}
}

func TestEditorSubscribers_Actions(t *testing.T) {
	t.Parallel()
	e := MustStart(t, lenient)
	e.mustSecondList()
	c := e.MustEditor("ed@example.com")
	nc := noRedirect(c)
	e.do("POST", "/subscribe/weekly", jsonCT, `{"email":"ada@example.com"}`)
	id := e.subscriberID("ada@example.com")
	page := e.srv.URL + "/editor/subscribers/" + itoa(id)
	outbox := func() string {
		var s string
		e.db.Get(&s, `SELECT COALESCE(string_agg(kind || ':' || status, ',' ORDER BY id), '') FROM outbox WHERE subscriber_id = $1`, id)
		return s
	}
	lastEvent := func() (kind, reason, form string) {
		e.db.QueryRow(`SELECT kind, reason, form FROM events WHERE subscriber_id = $1 ORDER BY id DESC LIMIT 1`, id).Scan(&kind, &reason, &form)
		return
	}
	wantUnchanged := func(t *testing.T, what string, before [4]int) {
		t.Helper()
		if after := e.counts(); after != before {
			t.Errorf("%s changed something: %v -> %v", what, before, after)
		}
	}

	t.Run("Unsubscribe", func(t *testing.T) {
		if got := outbox(); got != "confirm:queued" {
			t.Fatalf("outbox before: %s", got)
		}
		resp, _ := post(t, nc, page+"/unsubscribe", url.Values{"list": {"weekly"}})
		if resp.StatusCode != 303 || resp.Header.Get("Location") != "/editor/subscribers/"+itoa(id)+"?done=unsubscribed" {
			t.Fatalf("got %d to %q", resp.StatusCode, resp.Header.Get("Location"))
		}
		if got := e.status("ada@example.com"); got != "unsubscribed" {
			t.Fatalf("status %q", got)
		}
		if kind, reason, form := lastEvent(); kind != "unsubscribed" || reason != "unsubscribed by editor ed@example.com" || form != "editor" {
			t.Fatalf("event %s %q %s", kind, reason, form)
		}
		// The queued confirmation is skipped, as with the subscriber's own link.
		if got := outbox(); got != "confirm:skipped" {
			t.Fatalf("outbox after: %s", got)
		}
		_, body := get(t, c, page+"?done=unsubscribed")
		if !strings.Contains(body, "The subscription was stopped") || !strings.Contains(body, "Ask to resubscribe") {
			t.Errorf("page after unsubscribing:\n%s", body)
		}
		// Again: nothing changes.
		before := e.counts()
		if resp, _ := post(t, nc, page+"/unsubscribe", url.Values{"list": {"weekly"}}); !strings.HasSuffix(resp.Header.Get("Location"), "?done=already") {
			t.Errorf("again: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
		}
		wantUnchanged(t, "a second unsubscribe", before)
	})

	t.Run("Resubscribe", func(t *testing.T) {
		resp, _ := post(t, nc, page+"/resubscribe", url.Values{"list": {"weekly"}})
		if resp.StatusCode != 303 || !strings.HasSuffix(resp.Header.Get("Location"), "?done=resubscribed") {
			t.Fatalf("got %d to %q", resp.StatusCode, resp.Header.Get("Location"))
		}
		// Pending, never confirmed: a new confirmation email is queued.
		if got := e.status("ada@example.com"); got != "pending" {
			t.Fatalf("status %q", got)
		}
		if kind, reason, _ := lastEvent(); kind != "confirmation_requested" || reason != "resubscribed by editor ed@example.com" {
			t.Fatalf("event %s %q", kind, reason)
		}
		if got := outbox(); got != "confirm:queued" {
			t.Fatalf("outbox: %s", got)
		}
		// Asking again at once is refused: the cool-down protects the inbox.
		before := e.counts()
		resp, body := post(t, c, page+"/resubscribe", url.Values{"list": {"weekly"}})
		if resp.StatusCode != 409 || !strings.Contains(body, "another can be sent from") {
			t.Fatalf("within the cool-down: %d\n%s", resp.StatusCode, errorText(body))
		}
		wantUnchanged(t, "a refused resubscribe", before)
	})

	t.Run("ErrBadInput", func(t *testing.T) {
		e.mustAdd("bo@example.com", "", nil, "weekly")
		bo := e.srv.URL + "/editor/subscribers/" + itoa(e.subscriberID("bo@example.com"))
		before := e.counts()
		for _, tt := range []struct {
			path string
			v    url.Values
			code int
			msg  string
		}{
			{page + "/unsubscribe", url.Values{"list": {"nope"}}, 404, "There is no list"},
			{page + "/unsubscribe", url.Values{}, 404, "There is no list"},
			{page + "/unsubscribe", url.Values{"list": {"monthly"}}, 404, "has no subscription"},
			{page + "/resubscribe", url.Values{"list": {"nope"}}, 404, "There is no list"},
			{bo + "/resubscribe", url.Values{"list": {"weekly"}}, 409, "confirmed already"},
			{page + "/tags", url.Values{"add": {"a/b"}}, 422, "may only use"},
			{page + "/tags", url.Values{"add": {"ok, bad!"}}, 422, "may only use"},
			{page + "/tags", url.Values{"add": {" , "}}, 422, "Type a tag"},
			{page + "/tags", url.Values{"add": {"x"}, "remove": {"x"}}, 422, "both added and removed"},
			{e.srv.URL + "/editor/subscribers/" + itoa(id+100) + "/unsubscribe", url.Values{"list": {"weekly"}}, 404, "There is no subscriber"},
			{e.srv.URL + "/editor/subscribers/" + itoa(id+100) + "/tags", url.Values{"add": {"vip"}}, 404, "There is no subscriber"},
			{e.srv.URL + "/editor/subscribers/" + itoa(id+100) + "/delete", nil, 404, "There is no subscriber"},
		} {
			resp, body := post(t, c, tt.path, tt.v)
			if resp.StatusCode != tt.code || !strings.Contains(body, tt.msg) {
				t.Errorf("POST %s %v: got %d, want %d with %q\n%s", strings.TrimPrefix(tt.path, e.srv.URL), tt.v, resp.StatusCode, tt.code, tt.msg, errorText(body))
			}
		}
		wantUnchanged(t, "bad input", before)
		if got := e.tags("ada@example.com"); got != "" {
			t.Errorf("tags %q after bad input", got)
		}
		// A refused tag is shown again for correcting.
		_, body := post(t, c, page+"/tags", url.Values{"add": {"ok, bad!"}})
		if !strings.Contains(body, `value="ok, bad!"`) {
			t.Errorf("the typed tags are not kept:\n%s", errorText(body))
		}
	})

	t.Run("Tags", func(t *testing.T) {
		resp, _ := post(t, nc, page+"/tags", url.Values{"add": {"VIP, early  bird"}})
		if resp.StatusCode != 303 || !strings.HasSuffix(resp.Header.Get("Location"), "?done=tags-saved") {
			t.Fatalf("add: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
		}
		if got := e.tags("ada@example.com"); got != "early bird,vip" {
			t.Fatalf("tags %q", got)
		}
		if _, body := get(t, c, page); !strings.Contains(body, `aria-label="Remove the tag vip"`) {
			t.Fatal("no remove button for vip")
		}
		post(t, c, page+"/tags", url.Values{"remove": {"vip"}})
		if got := e.tags("ada@example.com"); got != "early bird" {
			t.Fatalf("after removing vip: %q", got)
		}
	})

	t.Run("CrossOrigin", func(t *testing.T) {
		before := e.counts()
		tags := e.tags("ada@example.com")
		for _, path := range []string{"/unsubscribe", "/resubscribe", "/tags", "/delete"} {
			for _, h := range [][]string{{"Sec-Fetch-Site", "cross-site"}, {"Origin", "http://evil.example"}} {
				req, _ := http.NewRequest("POST", page+path, strings.NewReader("list=weekly&add=evil&remove=early+bird"))
				req.Header.Set("Content-Type", form)
				req.Header.Set(h[0], h[1])
				resp, err := nc.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusForbidden {
					t.Errorf("cross-site POST %s with %s: got %d, want 403", path, h[0], resp.StatusCode)
				}
			}
		}
		wantUnchanged(t, "cross-site posts", before)
		if got := e.tags("ada@example.com"); got != tags || e.status("ada@example.com") != "pending" {
			t.Errorf("cross-site posts changed ada: tags %q, status %s", got, e.status("ada@example.com"))
		}
	})

	t.Run("Erase", func(t *testing.T) {
		resp, body := get(t, c, page+"/delete")
		if resp.StatusCode != 200 || !strings.Contains(body, "This cannot be undone") || !strings.Contains(body, `<button type="submit" class="danger">Erase subscriber</button>`) {
			t.Fatalf("confirmation step: %d\n%s", resp.StatusCode, body)
		}
		var events int
		e.db.Get(&events, `SELECT count(*) FROM events WHERE subscriber_id = $1`, id)
		resp, _ = post(t, nc, page+"/delete", nil)
		if resp.StatusCode != 303 || resp.Header.Get("Location") != "/editor/subscribers?done=erased" {
			t.Fatalf("erase: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
		}
		var left struct {
			Subscribers, Outbox, Named, Anonymous, Personal int
			Suppression                                     string
		}
		e.db.QueryRow(`
			SELECT (SELECT count(*) FROM subscribers WHERE email = 'ada@example.com'),
			       (SELECT count(*) FROM outbox WHERE subscriber_id = $1),
			       (SELECT count(*) FROM events WHERE subscriber_id = $1),
			       (SELECT count(*) FROM events WHERE subscriber_id IS NULL),
			       (SELECT count(*) FROM events WHERE subscriber_id IS NULL AND (ip <> '' OR user_agent <> '')),
			       (SELECT reason FROM suppressions WHERE email = 'ada@example.com')`, id).
			Scan(&left.Subscribers, &left.Outbox, &left.Named, &left.Anonymous, &left.Personal, &left.Suppression)
		if left.Subscribers != 0 || left.Outbox != 0 || left.Named != 0 || left.Anonymous != events+1 || left.Personal != 0 || left.Suppression != "erased" {
			t.Fatalf("after erasing: %+v (had %d events)", left, events)
		}
		_, body = get(t, c, e.srv.URL+"/editor/subscribers?done=erased")
		if !strings.Contains(body, "The subscriber was erased") || strings.Contains(body, "ada@example.com") {
			t.Errorf("index after erasing:\n%s", body)
		}
		// The address stays suppressed: a new sign-up stores nothing.
		before := e.counts()
		e.do("POST", "/subscribe/weekly", jsonCT, `{"email":"ada@example.com"}`)
		wantUnchanged(t, "a sign-up of the erased address", before)
		if resp, _ := get(t, c, page); resp.StatusCode != 404 {
			t.Errorf("the erased subscriber's page: %d", resp.StatusCode)
		}
	})
}

func TestEditorSubscribers_NeedsSession(t *testing.T) {
	t.Parallel()
	e := MustStart(t, web.DefaultLimits)
	id := itoa(e.mustAdd("ada@example.com", "", nil, "weekly"))
	c := noRedirect(&http.Client{})
	for _, tt := range []struct{ method, path, want string }{
		{"GET", "/editor/subscribers", "/editor/login?next=%2Feditor%2Fsubscribers"},
		{"GET", "/editor/subscribers?q=ada", "/editor/login?next=%2Feditor%2Fsubscribers%3Fq%3Dada"},
		{"GET", "/editor/subscribers/" + id, "/editor/login?next=%2Feditor%2Fsubscribers%2F" + id},
		{"GET", "/editor/subscribers/export", "/editor/login?next=%2Feditor%2Fsubscribers%2Fexport"},
		{"GET", "/editor/subscribers/import", "/editor/login?next=%2Feditor%2Fsubscribers%2Fimport"},
		{"POST", "/editor/subscribers/import", "/editor/login"},
		{"POST", "/editor/subscribers/" + id + "/unsubscribe", "/editor/login"},
		{"POST", "/editor/subscribers/" + id + "/resubscribe", "/editor/login"},
		{"POST", "/editor/subscribers/" + id + "/tags", "/editor/login"},
		{"POST", "/editor/subscribers/" + id + "/delete", "/editor/login"},
	} {
		req, _ := http.NewRequest(tt.method, e.srv.URL+tt.path, strings.NewReader("list=weekly&add=x"))
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
	if e.status("ada@example.com") != "confirmed" || e.tags("ada@example.com") != "" {
		t.Fatal("a request without a session changed the subscriber")
	}
}

func TestEditorSubscribers_Export(t *testing.T) {
	t.Parallel()
	e := MustStart(t, lenient)
	e.mustSecondList()
	c := e.MustEditor("ed@example.com")
	// More rows than one batch of the export, to cross its keyset pages.
	var b strings.Builder
	b.WriteString("email,name,tags\n")
	for i := range 1234 {
		fmt.Fprintf(&b, "bulk%04d@example.com,Bulk %d,bulk\n", i, i)
	}
	if _, err := e.subs.Import(context.Background(), subscribers.ImportRequest{List: "weekly"}, strings.NewReader(b.String())); err != nil {
		t.Fatal(err)
	}
	// Cells a spreadsheet would run as formulas.
	e.mustAdd("formula@example.com", `=HYPERLINK("http://evil.example","click")`, []string{"vip", "early bird"}, "weekly", "monthly")
	e.mustAdd("plus@example.com", "+1 555 0100", nil, "monthly")
	e.mustAdd("minus@example.com", "-2+3", nil, "monthly")
	e.mustAdd("at@example.com", "@SUM(A1:A9)", nil, "monthly")
	e.mustAdd("=cmd@example.com", "Plain", nil, "monthly")

	read := func(t *testing.T, query string) (*http.Response, [][]string) {
		t.Helper()
		resp, body := get(t, c, e.srv.URL+"/editor/subscribers/export"+query)
		if resp.StatusCode != 200 {
			t.Fatalf("export%s: %d\n%.300s", query, resp.StatusCode, body)
		}
		rows, err := csv.NewReader(strings.NewReader(body)).ReadAll()
		if err != nil {
			t.Fatalf("export%s is not CSV: %v", query, err)
		}
		return resp, rows
	}

	resp, rows := read(t, "?list=monthly")
	if ct, cd := resp.Header.Get("Content-Type"), resp.Header.Get("Content-Disposition"); ct != "text/csv; charset=utf-8" || cd != `attachment; filename="subscribers-monthly-2026-03-02.csv"` {
		t.Errorf("headers %q, %q", ct, cd)
	}
	want := [][]string{
		{"email", "name", "timezone", "tags", "lists", "created_at"},
		{"formula@example.com", `'=HYPERLINK("http://evil.example","click")`, "", "early bird;vip", "monthly:confirmed;weekly:confirmed", "2026-03-02T12:00:00Z"},
		{"plus@example.com", "'+1 555 0100", "", "", "monthly:confirmed", "2026-03-02T12:00:00Z"},
		{"minus@example.com", "'-2+3", "", "", "monthly:confirmed", "2026-03-02T12:00:00Z"},
		{"at@example.com", "'@SUM(A1:A9)", "", "", "monthly:confirmed", "2026-03-02T12:00:00Z"},
		{"'=cmd@example.com", "Plain", "", "", "monthly:confirmed", "2026-03-02T12:00:00Z"},
	}
	if fmt.Sprint(rows) != fmt.Sprint(want) {
		t.Errorf("export of monthly:\n got %q\nwant %q", rows, want)
	}

	// Everyone, across several batches: each once, in order.
	_, rows = read(t, "")
	if len(rows) != 1+1234+5 {
		t.Fatalf("%d rows, want %d", len(rows), 1+1234+5)
	}
	for i := range 1234 {
		if got, want := rows[1+i][0], fmt.Sprintf("bulk%04d@example.com", i); got != want || rows[1+i][3] != "bulk" {
			t.Fatalf("row %d: %q, want %s", 1+i, rows[1+i], want)
		}
	}
	// The index's filters apply.
	if _, rows = read(t, "?q=bulk01&tag=bulk&status=confirmed"); len(rows) != 1+100 {
		t.Errorf("filtered export: %d rows, want 101", len(rows))
	}

	for _, tt := range []struct {
		query string
		code  int
	}{
		{"?list=nope", 404},
		{"?status=active", 422},
		{"?tag=a%2Fb", 422},
	} {
		resp, body := get(t, c, e.srv.URL+"/editor/subscribers/export"+tt.query)
		if resp.StatusCode != tt.code || resp.Header.Get("Content-Disposition") != "" {
			t.Errorf("export%s: got %d, want %d\n%.200s", tt.query, resp.StatusCode, tt.code, body)
		}
	}
}

// uploadCSV posts the import form with the parts in the given order
// ("list", "file", and "series=VALUE" for the series field) and returns the
// response and its body.
func uploadCSV(t *testing.T, c *http.Client, u, list, name, content string, order ...string) (*http.Response, string) {
	t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	if len(order) == 0 {
		order = []string{"list", "file"}
	}
	for _, part := range order {
		switch part {
		case "list":
			mw.WriteField("list", list)
		case "file":
			fw, err := mw.CreateFormFile("file", name)
			if err != nil {
				t.Fatal(err)
			}
			io.WriteString(fw, content)
		default:
			if v, ok := strings.CutPrefix(part, "series="); ok {
				mw.WriteField("series", v)
			}
		}
	}
	mw.Close()
	resp, err := c.Post(u, mw.FormDataContentType(), &body)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func TestEditorSubscribers_Import(t *testing.T) {
	t.Parallel()
	e := MustStart(t, lenient)
	c := e.MustEditor("ed@example.com")
	u := e.srv.URL + "/editor/subscribers/import"

	resp, body := get(t, c, u+"?list=weekly")
	if resp.StatusCode != 200 || !strings.Contains(body, `enctype="multipart/form-data"`) || !strings.Contains(body, `<option value="weekly" selected>`) ||
		!strings.Contains(body, `/static/subscribers.js`) {
		t.Fatalf("form: %d\n%s", resp.StatusCode, body)
	}

	e.mustAdd("left@example.com", "", nil, "weekly")
	if _, err := e.subs.UnsubscribeByEditor(context.Background(), subscribers.EditorChange{SubscriberID: e.subscriberID("left@example.com"), List: "weekly", Editor: "x@example.com"}); err != nil {
		t.Fatal(err)
	}
	csvText := "email,name,timezone,tags\n" +
		"ada@example.com,Ada Lovelace,Europe/London,vip;early\n" +
		"not an address,Bad Row,,\n" +
		"grace@example.org,Grace Hopper,,\n" +
		"left@example.com,Gone,,\n" +
		"tz@example.com,,Mars/Olympus,\n"
	resp, body = uploadCSV(t, c, u, "weekly", "people.csv", csvText)
	if resp.StatusCode != 200 {
		t.Fatalf("import: %d\n%s", resp.StatusCode, errorText(body))
	}
	for _, want := range []string{
		"Import report", `<span class="stat-n" id="added">2</span>`, `<span class="stat-n" id="updated">0</span>`,
		`<span class="stat-n" id="skipped">1</span>`, `<span class="stat-n" id="rejected">2</span>`,
		`<td data-label="Line" class="num">3</td><td data-label="Address" class="sub-email">not an address</td>`,
		`<td data-label="Line" class="num">6</td>`, "Mars/Olympus",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the report lacks %q", want)
		}
	}
	if e.status("ada@example.com") != "confirmed" || e.tags("ada@example.com") != "early,vip" || e.status("left@example.com") != "unsubscribed" {
		t.Errorf("after the import: ada %s %q, left %s", e.status("ada@example.com"), e.tags("ada@example.com"), e.status("left@example.com"))
	}
	var evForm string
	e.db.Get(&evForm, `SELECT form FROM events WHERE kind = 'imported' ORDER BY id DESC LIMIT 1`)
	if evForm != "import by ed@example.com" {
		t.Errorf("event form %q", evForm)
	}

	// The file must come after the list, as a browser sends the form: it
	// is read as it arrives, never held.
	before := e.counts()
	resp, body = uploadCSV(t, c, u, "weekly", "more.csv", "email\nbo@example.com\n", "file", "list")
	if resp.StatusCode != 422 || !strings.Contains(body, "before the file") {
		t.Fatalf("file first: %d\n%s", resp.StatusCode, errorText(body))
	}
	if after := e.counts(); after != before {
		t.Fatalf("file first stored something: %v -> %v", before, after)
	}

	t.Run("Series", func(t *testing.T) {
		// The form says what the default is and has it chosen; the choice
		// made is the one the import follows, and the report says so.
		_, body := get(t, c, u+"?list=weekly")
		for _, want := range []string{`name="series" value="join" checked`, `name="series" value="welcome">`, `name="series" value="none">`,
			"By default imported people join the series from step 1 without the welcome email and bonuses"} {
			if !strings.Contains(body, want) {
				t.Errorf("the form lacks %q", want)
			}
		}
		if strings.Index(body, `name="series"`) > strings.Index(body, `name="file"`) {
			t.Error("the series comes after the file in the form; it would be read after the import")
		}
		e.db.MustExec(`UPDATE lists SET welcome_subject = 'Welcome', welcome_body = 'Hello.' WHERE slug = 'weekly'`)
		for _, tt := range []struct {
			series, email string
			welcome       int
			report        string
		}{
			{"welcome", "w@example.com", 1, "were sent the welcome email"},
			{"join", "j@example.com", 0, "without the welcome email"},
			{"none", "n@example.com", 0, "did not join the series"},
		} {
			resp, body := uploadCSV(t, c, u, "weekly", "x.csv", "email\n"+tt.email+"\n", "list", "series="+tt.series, "file")
			if resp.StatusCode != 200 || !strings.Contains(body, tt.report) {
				t.Fatalf("series %s: %d\n%s", tt.series, resp.StatusCode, errorText(body))
			}
			var welcome, enrolled int
			e.db.Get(&welcome, `SELECT count(*) FROM outbox WHERE kind = 'welcome' AND subscription_id = $1`, e.subscriptionID(tt.email))
			e.db.Get(&enrolled, `SELECT count(*) FROM enrollments WHERE subscription_id = $1`, e.subscriptionID(tt.email))
			if welcome != tt.welcome || (enrolled == 1) != (tt.series != "none") {
				t.Errorf("series %s: %d welcome emails, %d enrollments", tt.series, welcome, enrolled)
			}
		}
		before := e.counts()
		resp, body := uploadCSV(t, c, u, "weekly", "x.csv", "email\nbad@example.com\n", "list", "series=all", "file")
		if resp.StatusCode != 422 || !strings.Contains(body, "series must be welcome, join or none") || !strings.Contains(body, `id="import-form"`) {
			t.Errorf("bad series: %d\n%s", resp.StatusCode, errorText(body))
		}
		if after := e.counts(); after != before {
			t.Errorf("bad series changed %v -> %v", before, after)
		}
	})

	t.Run("ErrBadUpload", func(t *testing.T) {
		before := e.counts()
		for _, tt := range []struct {
			name, list, file, content string
			code                      int
			msg                       string
		}{
			{"malformed", "weekly", "x.csv", "email,name\n\"broken,x\n", 422, "malformed at line 2"},
			{"unknown column", "weekly", "x.csv", "email,phone\na@b.com,1\n", 422, "unknown columns"},
			{"empty file", "weekly", "x.csv", "", 422, "The file is empty"},
			{"unknown list", "nope", "x.csv", "email\nzed@example.com\n", 404, "There is no list"},
			{"no list", "", "x.csv", "email\nzed@example.com\n", 422, "Choose the list"},
			{"no file", "weekly", "", "", 422, "Choose a CSV file"},
			{"too large", "weekly", "x.csv", "email,name\n" + strings.Repeat("x,"+strings.Repeat("n", 1000)+"\n", 66<<10), 413, "too large"},
			{"row too long", "weekly", "x.csv", "email\n" + strings.Repeat("a", 1<<20), 422, "longer than 64 KiB"},
		} {
			resp, body := uploadCSV(t, c, u, tt.list, tt.file, tt.content)
			if resp.StatusCode != tt.code || !strings.Contains(body, tt.msg) || !strings.Contains(body, `id="import-form"`) {
				t.Errorf("%s: got %d, want %d with %q\n%s", tt.name, resp.StatusCode, tt.code, tt.msg, errorText(body))
			}
		}
		// Not a multipart form at all.
		resp, body := post(t, c, u, url.Values{"list": {"weekly"}})
		if resp.StatusCode != 400 || !strings.Contains(body, "could not be read") {
			t.Errorf("urlencoded: %d\n%s", resp.StatusCode, errorText(body))
		}
		if after := e.counts(); after != before {
			t.Fatalf("refused imports stored something: %v -> %v", before, after)
		}
	})
}
