package web_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tidings/tidings/subscribers"
	"github.com/tidings/tidings/web"
)

// importCSV posts a CSV body to the import route and returns the status and body.
func (e *env) importCSV(query, contentType, csv string) (int, string) {
	e.t.Helper()
	return e.do("POST", "/api/v1/subscribers/import"+query, contentType, csv, "Authorization", "Bearer "+e.token)
}

// tags returns the tags of the subscriber with email, comma-separated.
func (e *env) tags(email string) string {
	e.t.Helper()
	var s string
	if err := e.db.Get(&s, `SELECT array_to_string(tags, ',') FROM subscribers WHERE email = $1`, email); err != nil {
		e.t.Fatalf("tags of %s: %v", email, err)
	}
	return s
}

type importReport struct {
	Added, Updated, Skipped, Rejected int
	Rejections                        []struct {
		Line   int
		Email  string
		Reason string
	}
}

func TestAPI_Import(t *testing.T) {
	t.Parallel()

	t.Run("OK", func(t *testing.T) {
		t.Parallel()
		e := MustStart(t, web.DefaultLimits)
		e.do("POST", "/subscribe/weekly", jsonCT, `{"email":"pending@example.com"}`)
		csv := "Email,Name,Tags,Timezone\n" +
			"ada@example.com,Ada Lovelace,vip;founders,Europe/Paris\n" +
			"pending@example.com,,webinar,\n" +
			"not-an-address,,,\n" +
			"bo@example.com,Bo,\"a,b\",\n" +
			"ada@EXAMPLE.com,,,\n"
		for _, ct := range []string{"text/csv", "application/octet-stream", ""} {
			code, body := e.importCSV("?list=weekly", ct, csv)
			if code != http.StatusOK {
				t.Fatalf("Content-Type %q: got %d %s", ct, code, body)
			}
			var rep importReport
			if err := json.Unmarshal([]byte(body), &rep); err != nil {
				t.Fatal(err)
			}
			if ct == "text/csv" {
				if rep.Added != 1 || rep.Updated != 1 || rep.Skipped != 0 || rep.Rejected != 3 || len(rep.Rejections) != 3 {
					t.Fatalf("first import: %s", body)
				}
				for i, want := range []struct {
					line   int
					email  string
					reason string
				}{
					{4, "not-an-address", "not valid"},
					{5, "bo@example.com", "may only use"},
					{6, "ada@EXAMPLE.com", "already on line 2"},
				} {
					if r := rep.Rejections[i]; r.Line != want.line || r.Email != want.email || !strings.Contains(r.Reason, want.reason) {
						t.Errorf("rejection %d: %+v, want line %d %s %q", i, r, want.line, want.email, want.reason)
					}
				}
			} else if rep.Added != 0 || rep.Updated != 2 || rep.Rejected != 3 {
				// The same file again: everyone is confirmed now.
				t.Fatalf("import again with Content-Type %q: %s", ct, body)
			}
		}
		if got := e.status("ada@example.com"); got != "confirmed" {
			t.Errorf("ada is %s", got)
		}
		if got := e.status("pending@example.com"); got != "confirmed" {
			t.Errorf("pending is %s", got)
		}
		if got := e.tags("ada@example.com"); got != "founders,vip" {
			t.Errorf("ada's tags %q", got)
		}
		var n int
		e.db.Get(&n, `SELECT count(*) FROM events WHERE kind = 'imported' AND form = 'import' AND reason = 'imported from CSV'`)
		if n != 2 {
			t.Errorf("%d imported events, want 2 (none for the imports that changed nothing)", n)
		}
		// The imported tags filter the subscribers.
		code, body := e.api("GET", "/subscribers?tag=VIP", "")
		if code != 200 || !strings.Contains(body, "ada@example.com") || strings.Contains(body, "pending@example.com") || !strings.Contains(body, `"founders"`) {
			t.Errorf("?tag=VIP: %d %s", code, body)
		}
		code, body = e.api("GET", "/subscribers?tag=webinar&list=weekly&status=confirmed", "")
		if code != 200 || strings.Contains(body, "ada@example.com") || !strings.Contains(body, "pending@example.com") {
			t.Errorf("?tag=webinar: %d %s", code, body)
		}
	})

	t.Run("Skipped", func(t *testing.T) {
		t.Parallel()
		e := MustStart(t, web.DefaultLimits)
		e.importCSV("?list=weekly", "text/csv", "email\nleft@example.com\nbounced@example.com\n")
		ctx := t.Context()
		link := e.links.Unsubscribe(e.subscriptionID("left@example.com"))
		if _, err := e.subs.Unsubscribe(ctx, link[strings.LastIndexByte(link, '/')+1:], "", subscribers.Meta{}); err != nil {
			t.Fatal(err)
		}
		if err := e.subs.Bounce(ctx, "bounced@example.com", "550 5.1.1"); err != nil {
			t.Fatal(err)
		}
		if err := e.subs.Suppress(ctx, "blocked@example.com", "editor"); err != nil {
			t.Fatal(err)
		}
		before := e.counts()
		code, body := e.importCSV("?list=weekly", "text/csv", "email,name\nleft@example.com,Left\nbounced@example.com,\nblocked@example.com,\n")
		if code != 200 || !strings.Contains(body, `"skipped": 3`) || !strings.Contains(body, `"added": 0`) {
			t.Fatalf("got %d %s", code, body)
		}
		if after := e.counts(); after != before {
			t.Errorf("skipped rows changed %v -> %v", before, after)
		}
		if e.status("left@example.com") != "unsubscribed" || e.status("bounced@example.com") != "bounced" {
			t.Error("an import re-subscribed someone who left")
		}
	})

	t.Run("ErrBadInput", func(t *testing.T) {
		t.Parallel()
		e := MustStart(t, web.DefaultLimits)
		e.importCSV("?list=weekly", "text/csv", "email\nthere@example.com\n")
		var mp bytes.Buffer
		mw := multipart.NewWriter(&mp)
		fw, _ := mw.CreateFormFile("file", "people.csv")
		fw.Write([]byte("email\na@example.com\n"))
		mw.Close()
		for _, tt := range []struct {
			query, ct, body string
			want            int
			msg             string // in the error
		}{
			{"?list=weekly", "text/csv", "", 422, "empty"},
			{"?list=weekly", "text/csv", "a@example.com\nb@example.com\n", 422, `unknown columns: "a@example.com"`},
			{"?list=weekly", "text/csv", "name\nAda\n", 422, "no email column"},
			{"?list=weekly", "text/csv", "email,phone,name\na@example.com,1,A\n", 422, `unknown columns: "phone"`},
			{"?list=weekly", "text/csv", "email,name\na@example.com,\"Ada\nb@example.com,Bo\n", 422, "line 2"},
			{"?list=weekly", "text/csv", "email,name\na@example.com,Ada\nb@example.com,B\"o\n", 422, "line 3"},
			{"?list=weekly", "text/csv", "email,name\na@example.com,Ada\nb@example.com,Bo,x\n", 422, "line 3: the row has 3 fields, the header has 2"},
			{"?list=weekly", "text/csv", "email,name\na@example.com,Ada\n\nb@example.com\n", 422, "line 4"},
			{"?list=nope", "text/csv", "email\na@example.com\n", 404, "no list"},
			{"", "text/csv", "email\na@example.com\n", 422, "?list=SLUG"},
			{"?list=weekly", mw.FormDataContentType(), mp.String(), 422, "not as a form upload"},
			{"?list=weekly", "text/csv", "email,name\n" + strings.Repeat("x,"+strings.Repeat("n", 1000)+"\n", 66<<10), 413, "too large"},
			{"?list=weekly", "text/csv", "email\n" + strings.Repeat("a", 1<<20), 422, "The row that starts on line 2 is longer than 64 KiB"},
		} {
			before := e.counts()
			code, body := e.importCSV(tt.query, tt.ct, tt.body)
			var out struct{ Error string }
			json.Unmarshal([]byte(body), &out)
			if code != tt.want || !strings.Contains(out.Error, tt.msg) {
				t.Errorf("POST import%s %.80q: got %d %.300s, want %d with %q", tt.query, tt.body, code, body, tt.want, tt.msg)
			}
			if after := e.counts(); after != before {
				t.Errorf("POST import%s %.80q changed %v -> %v", tt.query, tt.body, before, after)
			}
		}
		if code, _ := e.do("POST", "/api/v1/subscribers/import?list=weekly", "text/csv", "email\na@example.com\n"); code != 401 {
			t.Errorf("import without a token: %d, want 401", code)
		}
	})
}

func TestAPI_SubscriberTags(t *testing.T) {
	t.Parallel()
	e := MustStart(t, web.DefaultLimits)
	code, body := e.api("POST", "/subscribers", `{"email":"ada@example.com","lists":["weekly"],"tags":["Early Bird","vip"],"status":"confirmed"}`)
	if code != 201 || !strings.Contains(body, `"tags": [`) || !strings.Contains(body, `"early bird"`) {
		t.Fatalf("create with tags: %d %s", code, body)
	}
	id := itoa(e.subscriberID("ada@example.com"))
	code, body = e.api("POST", "/subscribers/"+id+"/tags", `{"add":["  Webinar 2026 ","vip"],"remove":["early bird","never-had"]}`)
	if code != 200 {
		t.Fatalf("tag: %d %s", code, body)
	}
	var sub struct {
		Email string   `json:"email"`
		Tags  []string `json:"tags"`
	}
	json.Unmarshal([]byte(body), &sub)
	if sub.Email != "ada@example.com" || strings.Join(sub.Tags, ",") != "vip,webinar 2026" {
		t.Fatalf("tag: %s", body)
	}
	// No tags at all is an empty list, not null.
	e.api("POST", "/subscribers", `{"email":"bo@example.com","lists":["weekly"]}`)
	if code, body := e.api("GET", "/subscribers/"+itoa(e.subscriberID("bo@example.com")), ""); code != 200 || !strings.Contains(body, `"tags": []`) {
		t.Errorf("untagged subscriber: %d %s", code, body)
	}

	t.Run("ErrBadInput", func(t *testing.T) {
		many := make([]string, 51)
		for i := range many {
			many[i] = `"t` + itoa(int64(i)) + `"`
		}
		for _, tt := range []struct {
			method, path, body string
			want               int
		}{
			{"POST", "/subscribers/" + id + "/tags", `{"add":["a/b"]}`, 422},
			{"POST", "/subscribers/" + id + "/tags", `{"add":[""]}`, 422},
			{"POST", "/subscribers/" + id + "/tags", `{"add":["   "]}`, 422},
			{"POST", "/subscribers/" + id + "/tags", `{"add":["` + strings.Repeat("x", 51) + `"]}`, 422},
			{"POST", "/subscribers/" + id + "/tags", `{"add":["<b>"]}`, 422},
			{"POST", "/subscribers/" + id + "/tags", `{"add":["a,b"]}`, 422},
			{"POST", "/subscribers/" + id + "/tags", `{"add":["x\u0000"]}`, 422},
			{"POST", "/subscribers/" + id + "/tags", `{"add":[` + strings.Join(many, ",") + `]}`, 422},
			{"POST", "/subscribers/" + id + "/tags", `{"add":["vip"],"remove":["VIP"]}`, 422},
			{"POST", "/subscribers/" + id + "/tags", `{"remove":["no/such"]}`, 422},
			{"POST", "/subscribers/" + id + "/tags", `{"add":"vip"}`, 400},
			{"POST", "/subscribers/" + id + "/tags", `{"tags":["vip"]}`, 400},
			{"POST", "/subscribers/" + id + "/tags", `nope`, 400},
			{"POST", "/subscribers/999999/tags", `{"add":["vip"]}`, 404},
			{"GET", "/subscribers/" + id + "/tags", ``, 405},
			{"GET", "/subscribers?tag=a/b", ``, 422},
			{"POST", "/subscribers", `{"email":"x@example.com","lists":["weekly"],"tags":["bad/tag"]}`, 422},
		} {
			before := e.counts()
			tagsBefore := e.tags("ada@example.com")
			code, body := e.api(tt.method, tt.path, tt.body)
			if code != tt.want || !strings.Contains(body, `"error"`) {
				t.Errorf("%s %s %.100q: got %d %s, want %d with an error", tt.method, tt.path, tt.body, code, body, tt.want)
			}
			if after := e.counts(); after != before {
				t.Errorf("%s %s %.100q changed %v -> %v", tt.method, tt.path, tt.body, before, after)
			}
			if got := e.tags("ada@example.com"); got != tagsBefore {
				t.Errorf("%s %s %.100q changed the tags %q -> %q", tt.method, tt.path, tt.body, tagsBefore, got)
			}
		}
	})
}

func TestSubscribe_Tags(t *testing.T) {
	t.Parallel()

	t.Run("OK", func(t *testing.T) {
		t.Parallel()
		e := MustStart(t, lenient)
		for _, tt := range []struct {
			ct, body, email, want string
		}{
			{form, url.Values{"email": {"a@example.com"}, "tags": {"Webinar, spring-2026,,"}}.Encode(), "a@example.com", "spring-2026,webinar"},
			{form, url.Values{"email": {"b@example.com"}, "tags": {"one", "Two words", "one"}}.Encode(), "b@example.com", "one,two words"},
			{jsonCT, `{"email":"c@example.com","tags":["From Blog"," x.y_z "]}`, "c@example.com", "from blog,x.y_z"},
			{jsonCT, `{"email":"d@example.com"}`, "d@example.com", ""},
			// A second sign-up of a pending subscriber adds its tags.
			{jsonCT, `{"email":"a@example.com","tags":["again"]}`, "a@example.com", "again,spring-2026,webinar"},
		} {
			code, body := e.do("POST", "/subscribe/weekly", tt.ct, tt.body)
			if code != http.StatusAccepted {
				t.Fatalf("POST %q: got %d %s", tt.body, code, body)
			}
			if got := e.tags(tt.email); got != tt.want {
				t.Errorf("POST %q: tags %q, want %q", tt.body, got, tt.want)
			}
		}
	})

	t.Run("Confirmed", func(t *testing.T) {
		t.Parallel()
		// Someone who already receives mail cannot be relabelled by a
		// stranger signing them up again; the answer is the same.
		e := MustStart(t, lenient)
		in := `{"email":"ada@example.com","tags":["first"]}`
		c1, b1 := e.do("POST", "/subscribe/weekly", jsonCT, in)
		e.db.MustExec(`UPDATE subscriptions SET status = 'confirmed'`)
		c2, b2 := e.do("POST", "/subscribe/weekly", jsonCT, `{"email":"ada@example.com","tags":["stranger"]}`)
		if c1 != c2 || b1 != b2 {
			t.Fatalf("answers differ: %d %s vs %d %s", c1, b1, c2, b2)
		}
		if got := e.tags("ada@example.com"); got != "first" {
			t.Errorf("tags %q, want first only", got)
		}
	})

	t.Run("ErrBadInput", func(t *testing.T) {
		t.Parallel()
		e := MustStart(t, lenient)
		e.do("POST", "/subscribe/weekly", jsonCT, `{"email":"known@example.com","tags":["kept"]}`)
		many := make([]string, 51)
		for i := range many {
			many[i] = "t" + itoa(int64(i))
		}
		for _, tt := range []struct {
			ct, body string
			want     int
		}{
			{form, url.Values{"email": {"a@example.com"}, "tags": {"ok,bad/tag"}}.Encode(), 422},
			{form, url.Values{"email": {"a@example.com"}, "tags": {"ok", "<script>"}}.Encode(), 422},
			{form, url.Values{"email": {"a@example.com"}, "tags": {strings.Join(many, ",")}}.Encode(), 422},
			{form, url.Values{"email": {"a@example.com"}, "tags": {strings.Repeat("x", 51)}}.Encode(), 422},
			{jsonCT, `{"email":"a@example.com","tags":[""]}`, 422},
			{jsonCT, `{"email":"a@example.com","tags":["a,b"]}`, 422},
			{jsonCT, `{"email":"a@example.com","tags":["tab\there"]}`, 422},
			{jsonCT, `{"email":"known@example.com","tags":["bad;tag"]}`, 422},
			{jsonCT, `{"email":"a@example.com","tags":"vip"}`, 400},
			{jsonCT, `{"email":"a@example.com","tags":[1]}`, 400},
		} {
			before := e.counts()
			code, body := e.do("POST", "/subscribe/weekly", tt.ct, tt.body)
			if code != tt.want {
				t.Errorf("POST %.120q: got %d, want %d\n%.300s", tt.body, code, tt.want, body)
			}
			if after := e.counts(); after != before {
				t.Errorf("POST %.120q stored something: %v -> %v", tt.body, before, after)
			}
		}
		if got := e.tags("known@example.com"); got != "kept" {
			t.Errorf("known's tags %q", got)
		}
	})
}

// csvRows is a CSV file made up as it is read, so a test can send a large
// one without holding it: a header, then row(i) for i = 0, 1, ... until
// size bytes (the last row may be cut short).
type csvRows struct {
	header string
	row    func(i int) string
	size   int
	i      int
	buf    []byte
}

func (c *csvRows) Read(p []byte) (int, error) {
	if c.size <= 0 {
		return 0, io.EOF
	}
	if c.buf == nil {
		c.buf = []byte(c.header)
	}
	for len(c.buf) < len(p) {
		c.buf = append(c.buf, c.row(c.i)...)
		c.i++
	}
	n := min(len(p), c.size)
	copy(p, c.buf[:n])
	c.buf = c.buf[:copy(c.buf, c.buf[n:])]
	c.size -= n
	return n, nil
}

// invalidRows is size bytes of rows an import rejects, each different:
// addresses that are not, and now and then a good address in a time zone
// that is not.
func invalidRows(size int) *csvRows {
	return &csvRows{header: "email,name,timezone,tags\n", size: size, row: func(i int) string {
		if i%50 == 1 {
			return fmt.Sprintf("reader%d@example.com,Reader %d,Mars/Crater%d,\n", i, i, i)
		}
		return fmt.Sprintf("not-an-address-%d,Someone %d,,\n", i, i)
	}}
}

// importStream posts the CSV read from body to the import route, as curl
// --data-binary does with a file, and returns the status and report.
func (e *env) importStream(query string, body io.Reader) (int, string) {
	e.t.Helper()
	return e.doReader("POST", "/api/v1/subscribers/import"+query, "text/csv", body, "Authorization", "Bearer "+e.token)
}

// TestAPI_ImportLarge: 50 MB of invalid rows through the API gives a report
// that lists the first rejections, counts the rest, and says where the
// import stopped and why; nothing is stored. BenchmarkAPI_ImportMemory
// measures its memory.
func TestAPI_ImportLarge(t *testing.T) {
	t.Parallel()
	e := MustStart(t, web.DefaultLimits)
	before := e.counts()
	code, body := e.importStream("?list=weekly", invalidRows(50<<20))
	var rep struct {
		importReport
		RejectionsTruncated bool `json:"rejections_truncated"`
		Stopped             *struct {
			Line   int
			Reason string
		}
	}
	if err := json.Unmarshal([]byte(body), &rep); code != http.StatusOK || err != nil {
		t.Fatalf("got %d %.500s (%v)", code, body, err)
	}
	if rep.Rejected != subscribers.MaxImportRows || len(rep.Rejections) != subscribers.MaxImportRejections || !rep.RejectionsTruncated {
		t.Errorf("rejected %d, %d listed, truncated %v; want %d, %d, true", rep.Rejected, len(rep.Rejections), rep.RejectionsTruncated, subscribers.MaxImportRows, subscribers.MaxImportRejections)
	}
	if r := rep.Rejections[1]; r.Line != 3 || r.Email != "reader1@example.com" || !strings.Contains(r.Reason, `"Mars/Crater1" is not a known time zone`) {
		t.Errorf("second rejection %+v", r)
	}
	// The header is line 1; the row after the last one read is the stop.
	want := subscribers.MaxImportRows + 2
	if rep.Stopped == nil || rep.Stopped.Line != want || !strings.Contains(rep.Stopped.Reason, fmt.Sprintf("at most %d rows, so it stopped at line %d", subscribers.MaxImportRows, want)) {
		t.Errorf("stopped %+v, want at line %d", rep.Stopped, want)
	}
	if after := e.counts(); after != before {
		t.Errorf("the import stored something: %v -> %v", before, after)
	}
}

// TestAPI_ImportSeries: ?series= says whether those an import confirms start
// the list's series from step 1 with the welcome email and bonuses
// (welcome), without them (join, the default) or not at all (none), through
// the same hook a confirmation goes through, in the import's transaction.
func TestAPI_ImportSeries(t *testing.T) {
	t.Parallel()
	e := MustStart(t, web.DefaultLimits)
	if code, body := e.api("PATCH", "/lists/weekly", `{"welcome_subject":"Welcome","welcome_body":"Hello."}`); code != 200 {
		t.Fatalf("welcome: %d %s", code, body)
	}
	if code, body := e.api("POST", "/lists/weekly/steps", `{"subject":"Week 1","body":"One.","delay_days":2}`); code != 201 {
		t.Fatalf("step: %d %s", code, body)
	}
	e.db.MustExec(`INSERT INTO bonuses (list_id, position, subject, body, created_at, updated_at)
		SELECT id, 1, 'Your bonus', 'Here.', now(), now() FROM lists WHERE slug = 'weekly'`)
	e.do("POST", "/subscribe/weekly", jsonCT, `{"email":"pending@example.com"}`)

	// enrolled reports whether email's subscription is at step 1, due two
	// days after the import; queued counts its welcome and bonus emails.
	enrolled := func(email string) bool {
		var n int
		e.db.Get(&n, `SELECT count(*) FROM enrollments n JOIN steps st ON st.id = n.next_step_id
			WHERE n.subscription_id = $1 AND n.last_position = 0 AND st.position = 1
			  AND n.next_due_at = $2 AND n.stopped_at IS NULL`, e.subscriptionID(email), e.clock.Now().Add(48*time.Hour))
		return n == 1
	}
	queued := func(email string) int {
		var n int
		e.db.Get(&n, `SELECT count(*) FROM outbox WHERE subscription_id = $1 AND kind IN ('welcome', 'bonus')`, e.subscriptionID(email))
		return n
	}
	for _, tt := range []struct {
		query, email, series string
		enrolled             bool
		queued               int
	}{
		{"?list=weekly", "default@example.com", "join", true, 0},
		{"?list=weekly&series=join", "join@example.com", "join", true, 0},
		{"?list=weekly&series=welcome", "welcome@example.com", "welcome", true, 2},
		{"?list=weekly&series=none", "none@example.com", "none", false, 0},
		// A pending sign-up confirmed by the import is treated alike.
		{"?list=weekly&series=welcome", "pending@example.com", "welcome", true, 2},
	} {
		code, body := e.importCSV(tt.query, "text/csv", "email\n"+tt.email+"\n")
		if code != 200 || !strings.Contains(body, `"series": "`+tt.series+`"`) {
			t.Fatalf("import%s: %d %s", tt.query, code, body)
		}
		if got := enrolled(tt.email); got != tt.enrolled {
			t.Errorf("import%s: %s enrolled at step 1: %v, want %v", tt.query, tt.email, got, tt.enrolled)
		}
		if got := queued(tt.email); got != tt.queued {
			t.Errorf("import%s: %s has %d welcome and bonus emails queued, want %d", tt.query, tt.email, got, tt.queued)
		}
	}
	// Imported again with welcome, a confirmed subscriber gets nothing more.
	before := e.counts()
	if code, body := e.importCSV("?list=weekly&series=welcome", "text/csv", "email\njoin@example.com\nnone@example.com\n"); code != 200 || !strings.Contains(body, `"updated": 2`) {
		t.Fatalf("import again: %d %s", code, body)
	}
	if after := e.counts(); after != before || queued("join@example.com") != 0 || enrolled("none@example.com") {
		t.Errorf("importing confirmed subscribers again changed %v -> %v", before, after)
	}

	t.Run("ErrBadInput", func(t *testing.T) {
		for _, q := range []string{"&series=WELCOME", "&series=yes", "&series=join%20", "&series=none%00", "&series=%FF", "&series=" + strings.Repeat("x", 300)} {
			before := e.counts()
			code, body := e.importCSV("?list=weekly"+q, "text/csv", "email\nbad@example.com\n")
			var out struct{ Error string }
			json.Unmarshal([]byte(body), &out)
			// Bad bytes are refused before the handler, naming the field too.
			if code != 422 || !strings.HasPrefix(out.Error, "series") {
				t.Errorf("import%s: got %d %s, want 422 naming series", q, code, body)
			}
			if after := e.counts(); after != before {
				t.Errorf("import%s changed %v -> %v", q, before, after)
			}
		}
	})
}
