package web_test

import (
	"context"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/tidings/tidings"
	"github.com/tidings/tidings/campaigns"
	"github.com/tidings/tidings/subscribers"
	"github.com/tidings/tidings/templates"
	"github.com/tidings/tidings/web"
)

// stepValues is the form of a good step.
func stepValues(subject string) url.Values {
	return url.Values{
		"subject": {subject}, "body": {"Hello {{or .FirstName \"there\"}},\n\nThis week: **listen first**."},
		"delay_days": {"7"}, "send_time": {"08:00"}, "weekdays": {"tue", "thu"},
	}
}

// subjects returns the subjects of the list's steps in order.
func (e *env) subjects(listID int64) []string {
	e.t.Helper()
	steps, err := (&campaigns.Store{DB: e.db, Now: e.clock.Now}).Steps(context.Background(), listID)
	if err != nil {
		e.t.Fatal(err)
	}
	out := []string{}
	for _, st := range steps {
		out = append(out, st.Subject)
	}
	return out
}

func (e *env) stepID(subject string) string {
	e.t.Helper()
	var id int64
	if err := e.db.Get(&id, `SELECT id FROM steps WHERE subject = $1 AND deleted_at IS NULL`, subject); err != nil {
		e.t.Fatal(err)
	}
	return itoa(id)
}

func TestEditorSteps(t *testing.T) {
	t.Parallel()
	e := MustStart(t, lenient)
	c := e.MustEditor("ed@example.com")
	list := e.mustList("weekly")
	base := e.srv.URL + "/editor/lists/weekly/steps"

	_, body := get(t, c, base)
	if !strings.Contains(body, "no steps yet") {
		t.Fatalf("empty series:\n%.800s", body)
	}
	_, body = get(t, c, base+"/new")
	for _, s := range []string{`name="delay_days"`, `type="time"`, `name="weekdays" value="mon"`, `id="preview-frame"`, "/static/editor.js", "Send a test to ed@example.com"} {
		if !strings.Contains(body, s) {
			t.Fatalf("new step page lacks %q", s)
		}
	}

	t.Run("Add", func(t *testing.T) {
		for _, subject := range []string{"Week one", "Week two", "Week three"} {
			resp, body := post(t, c, base, stepValues(subject))
			if resp.StatusCode != 200 || resp.Request.URL.Path != "/editor/lists/weekly/steps" || !strings.Contains(body, "step was added") {
				t.Fatalf("add %q: got %d at %s\n%.300s", subject, resp.StatusCode, resp.Request.URL, errorText(body))
			}
		}
		if got, want := e.subjects(list.ID), []string{"Week one", "Week two", "Week three"}; !reflect.DeepEqual(got, want) {
			t.Fatalf("steps %q, want %q", got, want)
		}
		// At a chosen position.
		v := stepValues("Week zero")
		v.Set("position", "1")
		v.Del("weekdays")
		v.Set("send_time", "")
		if resp, body := post(t, c, base, v); resp.StatusCode != 200 {
			t.Fatalf("add at 1: got %d\n%.300s", resp.StatusCode, errorText(body))
		}
		if got, want := e.subjects(list.ID), []string{"Week zero", "Week one", "Week two", "Week three"}; !reflect.DeepEqual(got, want) {
			t.Fatalf("steps %q, want %q", got, want)
		}
		_, body := get(t, c, base)
		for _, s := range []string{"Week zero", "7 days after confirmation", "as soon as due", "any day", "at 08:00", "Tue, Thu", "7 days after the previous step"} {
			if !strings.Contains(body, s) {
				t.Errorf("series page lacks %q", s)
			}
		}
	})

	t.Run("ErrBadInput", func(t *testing.T) {
		before := e.subjects(list.ID)
		for _, tt := range []struct {
			field, value, want string
		}{
			{"subject", "", "subject is required"},
			{"body", "", "body is required"},
			{"body", "Hi {{.Nme}}", "body line 1: unknown field"},
			{"body", "One\nTwo\n{{if .Name}}Three", "body line 3"},
			{"subject", "Hi {{.FirstName", "subject line 1"},
			{"delay_days", "seven", "whole number of days"},
			{"delay_days", "-1", "delay_days must be between 0 and 3650"},
			{"delay_days", "99999", "delay_days must be between 0 and 3650"},
			{"send_time", "25:00", "send_time must be HH:MM"},
			{"weekdays", "someday", "is not one of mon"},
		} {
			v := stepValues("Bad step")
			v.Set(tt.field, tt.value)
			for _, path := range []string{base, base + "/" + e.stepID("Week one")} {
				resp, body := post(t, c, path, v)
				if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, html.EscapeString(tt.want)) {
					t.Errorf("POST %s with %s = %q: got %d, want 422 with %q\n%.300s", path, tt.field, tt.value, resp.StatusCode, tt.want, errorText(body))
					continue
				}
				if !strings.Contains(body, `value="Bad step"`) && tt.field != "subject" {
					t.Errorf("%s = %q: the form lost the input", tt.field, tt.value)
				}
			}
		}
		if got := e.subjects(list.ID); !reflect.DeepEqual(got, before) {
			t.Fatalf("bad input changed the steps: %q, want %q", got, before)
		}
	})

	t.Run("Edit", func(t *testing.T) {
		id := e.stepID("Week two")
		_, body := get(t, c, base+"/"+id)
		for _, s := range []string{"Step 3", `value="Week two"`, `value="08:00"`, `value="tue" checked`, "listen first", `srcdoc="`} {
			if !strings.Contains(body, s) {
				t.Fatalf("edit page lacks %q", s)
			}
		}
		v := stepValues("Week two, revised")
		v["weekdays"] = []string{"fri"}
		v.Set("delay_days", "3")
		v.Set("send_time", "09:30:00")
		resp, body := post(t, c, base+"/"+id, v)
		if resp.StatusCode != 200 || !strings.Contains(body, "step was saved") {
			t.Fatalf("edit: got %d\n%.300s", resp.StatusCode, errorText(body))
		}
		st, err := (&campaigns.Store{DB: e.db}).StepByID(context.Background(), list.ID, mustInt(t, id))
		if err != nil {
			t.Fatal(err)
		}
		if st.Subject != "Week two, revised" || st.DelayDays != 3 || st.SendTime != "09:30" || !reflect.DeepEqual(st.Weekdays, []string{"fri"}) || st.Position != 3 {
			t.Fatalf("edited step %+v", st)
		}
	})

	t.Run("PreviewButton", func(t *testing.T) {
		// Without JavaScript the Preview button renders the form, and saves nothing.
		id := e.stepID("Week one")
		v := stepValues("Preview <only>")
		v.Set("body", "Unsaved *draft* for {{.FirstName}}")
		v.Set("action", "preview")
		resp, body := post(t, c, base+"/"+id, v)
		if resp.StatusCode != 200 || !strings.Contains(body, html.EscapeString("<em>draft</em> for Alex")) {
			t.Fatalf("preview: got %d\n%s", resp.StatusCode, between(body, "<iframe", "</iframe>"))
		}
		if !strings.Contains(body, `<span id="preview-subject">Preview &lt;only&gt;</span>`) {
			t.Fatal("the preview subject is missing or not escaped")
		}
		v.Set("body", "Broken\n{{.Nope}}")
		resp, body = post(t, c, base+"/"+id, v)
		if resp.StatusCode != 200 || !strings.Contains(body, "body line 2: unknown field .Nope") {
			t.Fatalf("preview of a broken body: got %d\n%.300s", resp.StatusCode, errorText(body))
		}
		if got := e.subjects(list.ID); got[1] != "Week one" {
			t.Fatalf("the preview saved the step: %q", got)
		}
	})

	t.Run("Reorder", func(t *testing.T) {
		move := func(subject, dir string) {
			t.Helper()
			resp, body := post(t, c, base+"/"+e.stepID(subject)+"/move", url.Values{"dir": {dir}})
			if resp.StatusCode != 200 || !strings.Contains(body, "step was moved") {
				t.Fatalf("move %s %s: got %d\n%.300s", subject, dir, resp.StatusCode, errorText(body))
			}
		}
		move("Week zero", "down")
		if got, want := e.subjects(list.ID), []string{"Week one", "Week zero", "Week two, revised", "Week three"}; !reflect.DeepEqual(got, want) {
			t.Fatalf("after down: %q, want %q", got, want)
		}
		move("Week three", "up")
		move("Week one", "up")     // first already: stays
		move("Week three", "down") // back to last
		move("Week three", "down") // last already: stays
		if got, want := e.subjects(list.ID), []string{"Week one", "Week zero", "Week two, revised", "Week three"}; !reflect.DeepEqual(got, want) {
			t.Fatalf("after moves: %q, want %q", got, want)
		}
		if resp, _ := post(t, c, base+"/"+e.stepID("Week one")+"/move", url.Values{"dir": {"sideways"}}); resp.StatusCode != 422 {
			t.Fatalf("move sideways: got %d, want 422", resp.StatusCode)
		}
	})

	t.Run("Delete", func(t *testing.T) {
		id := e.stepID("Week zero")
		_, body := get(t, c, base+"/"+id+"/delete")
		if !strings.Contains(body, "Delete step 2?") || !strings.Contains(body, "Week zero") || !strings.Contains(body, `<form method="post" action="/editor/lists/weekly/steps/`+id+`/delete"`) {
			t.Fatalf("confirmation page:\n%.1000s", body)
		}
		if got := e.subjects(list.ID); len(got) != 4 {
			t.Fatal("the confirmation page deleted the step")
		}
		resp, body := post(t, c, base+"/"+id+"/delete", nil)
		if resp.StatusCode != 200 || !strings.Contains(body, "step was deleted") {
			t.Fatalf("delete: got %d", resp.StatusCode)
		}
		if got, want := e.subjects(list.ID), []string{"Week one", "Week two, revised", "Week three"}; !reflect.DeepEqual(got, want) {
			t.Fatalf("after delete: %q, want %q", got, want)
		}
		if resp, _ := get(t, c, base+"/"+id); resp.StatusCode != 404 {
			t.Fatalf("deleted step: got %d, want 404", resp.StatusCode)
		}
		if resp, _ := post(t, c, base+"/"+id+"/delete", nil); resp.StatusCode != 404 {
			t.Fatalf("deleting again: got %d, want 404", resp.StatusCode)
		}
	})
}

func mustInt(t *testing.T, s string) int64 {
	t.Helper()
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func subscribersListUpdate(name, postal string) subscribers.ListUpdate {
	return subscribers.ListUpdate{Name: &name, PostalAddress: &postal}
}

// unsubscribePath is the path of the unsubscribe link of email on "weekly".
func (e *env) unsubscribePath(email string) string {
	return strings.TrimPrefix(e.links.Unsubscribe(e.subscriptionID(email)), e.srv.URL)
}

func TestEditorSteps_Preview(t *testing.T) {
	t.Parallel()
	e := MustStart(t, web.DefaultLimits)
	c := e.MustEditor("ed@example.com")
	// Values that must be escaped: from the list and from the sample recipient.
	name, addr := "Tips <& Tricks>", "1 <Example> Street\nLondon"
	if _, err := e.subs.UpdateList(context.Background(), "weekly", subscribersListUpdate(name, addr)); err != nil {
		t.Fatal(err)
	}
	u := e.srv.URL + "/editor/lists/weekly/preview"

	t.Run("OK", func(t *testing.T) {
		resp, body := post(t, c, u, url.Values{"subject": {"Hi {{.FirstName}} & co"}, "body": {"# Week one\n\nHello **{{.Name}}** at {{.Email}}."}})
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
			t.Fatalf("got %d %s\n%.300s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
		}
		for _, s := range []string{
			"<title>Hi Alex &amp; co</title>", "Week one</h1>", "<strong>Alex Example</strong>", "alex@example.com",
			"1 &lt;Example&gt; Street", "Tips &lt;&amp; Tricks&gt;", "/unsubscribe/preview",
		} {
			if !strings.Contains(body, s) {
				t.Errorf("preview lacks %q", s)
			}
		}
		for _, s := range []string{"<Example>", "<& Tricks>"} {
			if strings.Contains(body, s) {
				t.Errorf("preview has %q unescaped", s)
			}
		}
		if csp := resp.Header.Get("Content-Security-Policy"); !strings.HasPrefix(csp, "sandbox") {
			t.Errorf("Content-Security-Policy = %q, want sandbox", csp)
		}
	})

	t.Run("Anonymous", func(t *testing.T) {
		_, body := post(t, c, u, url.Values{"subject": {"S"}, "body": {"Hello {{or .FirstName \"there\"}}."}, "as": {"anonymous"}})
		if !strings.Contains(body, "Hello there.") {
			t.Fatalf("preview as someone without a name:\n%.3000s", body)
		}
	})

	t.Run("ErrTemplate", func(t *testing.T) {
		for _, tt := range []struct{ subject, body, want string }{
			{"Hi", "Line one\nLine two\n{{.Nmae}}", "body line 3: unknown field .Nmae"},
			{"Hi", "One\n{{if .Name}}Two", "body line 2: unexpected end of template"},
			{"Hi {{", "Body", "subject line 1"},
		} {
			resp, body := post(t, c, u, url.Values{"subject": {tt.subject}, "body": {tt.body}})
			if resp.StatusCode != 422 || !strings.Contains(body, tt.want) {
				t.Errorf("subject %q body %q: got %d %q, want 422 with %q", tt.subject, tt.body, resp.StatusCode, body, tt.want)
			}
		}
	})

	t.Run("ErrNotFound", func(t *testing.T) {
		if resp, _ := post(t, c, e.srv.URL+"/editor/lists/nope/preview", url.Values{"subject": {"S"}, "body": {"B"}}); resp.StatusCode != 404 {
			t.Fatalf("unknown list: got %d", resp.StatusCode)
		}
	})
}

func TestEditorSteps_Reach(t *testing.T) {
	t.Parallel()
	e := MustStart(t, lenient)
	c := e.MustEditor("ed@example.com")
	base := e.srv.URL + "/editor/lists/weekly/steps"
	for _, subject := range []string{"Week one", "Week two"} {
		v := stepValues(subject)
		v.Set("delay_days", "1")
		v.Del("weekdays")
		if resp, body := post(t, c, base, v); resp.StatusCode != 200 {
			t.Fatalf("add: %d\n%s", resp.StatusCode, errorText(body))
		}
	}
	one, two := e.stepID("Week one"), e.stepID("Week two")

	_, body := get(t, c, base+"/"+one)
	if want := "No subscriber is waiting for step 1 now"; !strings.Contains(body, want) {
		t.Fatalf("before anyone confirmed, the page lacks %q", want)
	}

	// A subscriber in New York confirms on Monday 2 March at 12:00 UTC.
	for _, addr := range []string{"ada@example.com", "bo@example.com"} {
		if code, _ := e.do("POST", "/subscribe/weekly", jsonCT, `{"email":"`+addr+`","timezone":"America/New_York"}`); code != 202 {
			t.Fatalf("subscribe: %d", code)
		}
	}
	e.do("POST", strings.TrimPrefix(e.links.Confirm(e.subscriptionID("ada@example.com")), e.srv.URL), form, "")
	e.do("POST", strings.TrimPrefix(e.links.Confirm(e.subscriptionID("bo@example.com")), e.srv.URL), form, "")
	code, _ := e.do("POST", e.unsubscribePath("bo@example.com"), form, "List-Unsubscribe=One-Click")
	if code != 200 {
		t.Fatalf("unsubscribe: %d", code)
	}

	_, body = get(t, c, base+"/"+one)
	want := "Saving this changes step 1 for 1 subscriber who has not received it yet; the next of them gets it on Tue 3 Mar at 08:00 (their time, America/New_York)."
	if !strings.Contains(body, want) {
		t.Fatalf("step 1 page lacks %q:\n%s", want, between(body, `class="reach"`, "</p>"))
	}
	_, body = get(t, c, base+"/"+two)
	want = "Saving this changes step 2 for 1 subscriber who has not received it yet; they get it when they reach it in the series."
	if !strings.Contains(body, want) {
		t.Fatalf("step 2 page lacks %q:\n%s", want, between(body, `class="reach"`, "</p>"))
	}
	_, body = get(t, c, base)
	if !strings.Contains(body, "next for 1") || !strings.Contains(body, "1 subscriber is in the series now") {
		t.Fatalf("series page lacks the waiting figures")
	}
	_, body = get(t, c, base+"/"+one+"/delete")
	if !strings.Contains(body, "1 subscriber who has not received it yet will skip it.") {
		t.Fatalf("delete confirmation lacks the reach")
	}
}

func between(s, from, to string) string {
	i := strings.Index(s, from)
	if i < 0 {
		return ""
	}
	j := strings.Index(s[i:], to)
	if j < 0 {
		return s[i:]
	}
	return s[i : i+j]
}

func TestEditorSteps_TestSend(t *testing.T) {
	t.Parallel()
	e := MustStart(t, web.DefaultLimits)
	type sent struct {
		to   string
		msg  *templates.Message
		list string
	}
	var got []sent
	var fail error
	s, err := web.NewServer(web.Config{
		Subscribers: e.subs, Campaigns: &campaigns.Store{DB: e.db, Now: e.clock.Now}, Editors: e.eds, Now: e.clock.Now,
		SendTest: func(_ context.Context, to string, msg *templates.Message, l *subscribers.List) error {
			if fail != nil {
				return fail
			}
			got = append(got, sent{to, msg, l.Slug})
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	noRelay := e.srv
	e.srv = httptest.NewServer(s)
	t.Cleanup(e.srv.Close)
	c := e.MustEditor("ed@example.com")
	base := e.srv.URL + "/editor/lists/weekly/steps"

	v := stepValues("Week one for {{or .FirstName \"you\"}}")
	v.Set("action", "test")
	resp, body := post(t, c, base, v)
	if resp.StatusCode != 200 || !strings.Contains(body, "A test of this email was sent to ed@example.com. Nothing was saved.") {
		t.Fatalf("test send: got %d\n%s", resp.StatusCode, errorText(body))
	}
	if len(got) != 1 || got[0].to != "ed@example.com" || got[0].list != "weekly" || got[0].msg.Subject != "Week one for Alex" ||
		!strings.Contains(got[0].msg.HTML, "<strong>listen first</strong>") || !strings.Contains(got[0].msg.Text, "1 Example Street") {
		t.Fatalf("sent %+v", got)
	}
	if !strings.Contains(body, `value="Week one for {{or .FirstName &#34;you&#34;}}"`) {
		t.Fatal("the form lost its input")
	}

	// A step being edited is tested as typed, not as saved.
	if resp, _ := post(t, c, base, stepValues("Saved")); resp.StatusCode != 200 {
		t.Fatalf("add: %d", resp.StatusCode)
	}
	v = stepValues("Edited, not saved")
	v.Set("action", "test")
	if resp, body := post(t, c, base+"/"+e.stepID("Saved"), v); resp.StatusCode != 200 || len(got) != 2 || got[1].msg.Subject != "Edited, not saved" {
		t.Fatalf("test of an edit: got %d, sent %d\n%s", resp.StatusCode, len(got), errorText(body))
	}

	// Templates that do not render are not sent.
	v.Set("body", "Hi\n{{.Nope}}")
	if resp, body := post(t, c, base, v); resp.StatusCode != 422 || !strings.Contains(body, "The test was not sent: body line 2") || len(got) != 2 {
		t.Fatalf("broken template: got %d, sent %d\n%s", resp.StatusCode, len(got), errorText(body))
	}
	// The relay's refusal is shown.
	fail = tidings.Errorf(tidings.EINTERNAL, "The mail relay did not take the test (permanent failure): 550 no such user")
	v.Set("body", "Fine")
	if resp, body := post(t, c, base, v); resp.StatusCode != 500 || !strings.Contains(body, "550 no such user") {
		t.Fatalf("relay failure: got %d\n%s", resp.StatusCode, errorText(body))
	}
	fail = nil
	v.Set("body", "Fine")

	// The compose page's script sends its tests to editor-test, which
	// answers in plain text and saves nothing either.
	script := e.srv.URL + "/editor/lists/weekly/test"
	sv := url.Values{"subject": {"From the script"}, "body": {"Hi **there**"}}
	resp, body = post(t, c, script, sv)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") ||
		body != "A test of this email was sent to ed@example.com. Nothing was saved." {
		t.Fatalf("script test: got %d %q\n%s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	if n := len(got); got[n-1].msg.Subject != "From the script" || !strings.Contains(got[n-1].msg.HTML, "<strong>there</strong>") {
		t.Fatalf("script test sent %+v", got[n-1])
	}
	sentBefore := len(got)
	sv.Set("body", "Hi\n{{.Nope}}")
	if resp, body := post(t, c, script, sv); resp.StatusCode != 422 || !strings.HasPrefix(body, "The test was not sent: body line 2") || len(got) != sentBefore {
		t.Fatalf("script test of a broken template: got %d, sent %d\n%s", resp.StatusCode, len(got)-sentBefore, body)
	}
	if resp, body := post(t, c, e.srv.URL+"/editor/lists/nope/test", url.Values{"subject": {"x"}, "body": {"y"}}); resp.StatusCode != 404 || len(got) != sentBefore {
		t.Fatalf("script test for an unknown list: got %d\n%s", resp.StatusCode, errorText(body))
	}

	// Without a relay, the page says so.
	e.srv = noRelay
	c = e.MustEditor("ed2@example.com")
	if resp, body := post(t, c, noRelay.URL+"/editor/lists/weekly/steps", v); resp.StatusCode != 409 || !strings.Contains(body, "no mail relay") {
		t.Fatalf("no relay: got %d\n%s", resp.StatusCode, errorText(body))
	}
	if got := e.subjects(e.mustList("weekly").ID); !reflect.DeepEqual(got, []string{"Saved"}) {
		t.Fatalf("test sends stored steps: %q", got)
	}
}
