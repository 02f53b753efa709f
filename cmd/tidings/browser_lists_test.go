package main

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/tidings/tidings/campaigns"
	"github.com/tidings/tidings/internal/devmail"
	"github.com/tidings/tidings/subscribers"
)

// mustBrowserList creates the list "weekly" in the program's database and
// returns its id.
func mustBrowserList(t *testing.T, p *program) int64 {
	t.Helper()
	l := &subscribers.List{
		Slug: "weekly", Name: "Weekly Leader", FromName: "Sam Coach", FromEmail: "coach@example.com",
		Timezone: "Europe/London", PostalAddress: "1 Example Street\nLondon", ConsentText: "Send me the weekly series.",
	}
	if err := (&subscribers.Store{DB: p.db}).CreateList(context.Background(), l); err != nil {
		t.Fatal(err)
	}
	return l.ID
}

func TestBrowser_AddStepAndSeePreview(t *testing.T) {
	t.Parallel()
	p := startProgram(t)
	mustBrowserList(t, p)
	ctx := newBrowser(t)

	const body = "Hello {{or .FirstName \"there\"}},\n\nThis week, **ask one more question** before you answer.\n\n- Listen\n- Summarise\n- Then speak"
	var subject string
	err := chromedp.Run(ctx,
		signIn(p),
		chromedp.Click(`nav.top a[href="/editor/lists"]`, chromedp.ByQuery),
		chromedp.WaitVisible(`a[href="/editor/lists/weekly/steps"]`, chromedp.ByQuery),
		chromedp.Click(`a[href="/editor/lists/weekly/steps"]`, chromedp.ByQuery),
		chromedp.WaitVisible(`a[href="/editor/lists/weekly/steps/new"]`, chromedp.ByQuery),
		chromedp.Click(`a[href="/editor/lists/weekly/steps/new"]`, chromedp.ByQuery),
		chromedp.WaitVisible(`#body`, chromedp.ByQuery),
		chromedp.Evaluate(`window.atOpen = history.length`, nil),
		chromedp.SendKeys(`#subject`, "Week one: listen first", chromedp.ByQuery),
		chromedp.SendKeys(`#body`, body, chromedp.ByQuery),
		// The preview follows the typing, rendered by the server.
		chromedp.Poll(`document.getElementById("preview-frame").srcdoc.includes("<strong>ask one more question</strong>")`,
			nil, chromedp.WithPollingTimeout(15*time.Second)),
		chromedp.Text(`#preview-subject`, &subject, chromedp.ByQuery),
	)
	if err != nil {
		t.Fatal(err)
	}
	if subject != "Week one: listen first" {
		t.Fatalf("preview subject %q", subject)
	}

	// A template mistake shows its line, and the preview recovers when it is fixed.
	var problem string
	err = chromedp.Run(ctx,
		chromedp.SendKeys(`#body`, "\n{{.Nmae}}", chromedp.ByQuery),
		chromedp.WaitVisible(`#preview-error`, chromedp.ByQuery),
		chromedp.Text(`#preview-error`, &problem, chromedp.ByQuery),
	)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(problem, "body line 8: unknown field .Nmae") {
		t.Fatalf("template error shown as %q", problem)
	}
	var sentNotice string
	err = chromedp.Run(ctx,
		chromedp.SetValue(`#body`, body, chromedp.ByQuery),
		chromedp.SendKeys(`#body`, "\n\nSee you next week.", chromedp.ByQuery),
		chromedp.WaitNotVisible(`#preview-error`, chromedp.ByQuery),
		chromedp.Poll(`document.getElementById("preview-frame").srcdoc.includes("See you next week.")`,
			nil, chromedp.WithPollingTimeout(15*time.Second)),
		// A test goes to the editor's own address, and the page stays as it
		// was, with what was typed and no post to repeat on a reload.
		chromedp.Evaluate(`window.beforeTest = {href: location.href, history: history.length}`, nil),
		chromedp.Click(`#send-test`, chromedp.ByQuery),
		readWhen(`(function () {
			var n = document.getElementById("test-notice");
			return n && !n.hidden ? n.textContent : "";
		})()`, &sentNotice),
	)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(sentNotice, "sent to "+testEditor) {
		t.Fatalf("after the test send the page says %q", sentNotice)
	}
	var stayed struct {
		Before struct {
			Href    string `json:"href"`
			History int    `json:"history"`
		} `json:"before"`
		Href    string `json:"href"`
		History int    `json:"history"`
		AtOpen  int    `json:"atOpen"`
		Draft   bool   `json:"draft"`
	}
	if err := chromedp.Run(ctx, chromedp.Evaluate(`({before: window.beforeTest || {}, href: location.href, history: history.length,
		atOpen: window.atOpen, draft: document.getElementById("body").value.includes("See you next week.")})`, &stayed)); err != nil {
		t.Fatal(err)
	}
	// Each preview is a new frame, not a navigation of the old one, so Back
	// leaves the page rather than walking through the previews.
	if stayed.History != stayed.AtOpen {
		t.Errorf("the previews made %d steps of the page's history", stayed.History-stayed.AtOpen)
	}
	if stayed.Before.Href != stayed.Href || stayed.Before.History != stayed.History || !stayed.Draft {
		t.Errorf("the test send left the page or lost the draft: %+v", stayed)
	}
	var test *devmail.Message
	for _, m := range p.smtp.Messages() {
		if m.Subject == "[Test] Week one: listen first" {
			test = &m
		}
	}
	if test == nil || len(test.To) != 1 || test.To[0] != testEditor || !strings.Contains(test.HTML, "<strong>ask one more question</strong>") {
		t.Fatalf("test message: %+v", test)
	}

	var rows []string
	err = chromedp.Run(ctx,
		// Save: the step is in the series.
		chromedp.Click(`button[name="action"][value="save"]`, chromedp.ByQuery),
		chromedp.WaitVisible(`ol.steps`, chromedp.ByQuery),
		chromedp.Evaluate(`[...document.querySelectorAll("ol.steps .step-subject")].map(e => e.textContent)`, &rows),
	)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(rows, []string{"Week one: listen first"}) {
		t.Fatalf("series after saving: %q", rows)
	}

	// Its page shows the saved step with its preview, rendered server-side.
	var saved string
	err = chromedp.Run(ctx,
		chromedp.Click(`ol.steps a.step-subject`, chromedp.ByQuery),
		chromedp.WaitVisible(`#preview-frame`, chromedp.ByQuery),
		chromedp.Evaluate(`document.getElementById("preview-frame").srcdoc`, &saved),
	)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(saved, "<strong>ask one more question</strong>") || !strings.Contains(saved, "See you next week.") {
		t.Fatalf("the saved step's preview lacks its body")
	}
}

func TestBrowser_ReorderSteps(t *testing.T) {
	t.Parallel()
	p := startProgram(t)
	listID := mustBrowserList(t, p)
	store := &campaigns.Store{DB: p.db}
	for i, subject := range []string{"Week one: listen first", "Week two: ask better questions", "Week three: give feedback"} {
		st := &campaigns.Step{Subject: subject, Body: "Body of step " + subject, DelayDays: 7, SendTime: "08:00", Weekdays: []string{"tue"}}
		if i == 0 {
			st.DelayDays = 1
		}
		if err := store.CreateStep(context.Background(), listID, st); err != nil {
			t.Fatal(err)
		}
	}
	ctx := newBrowser(t)

	subjects := func(out *[]string) chromedp.Action {
		return chromedp.Evaluate(`[...document.querySelectorAll("ol.steps .step-subject")].map(e => e.textContent)`, out)
	}
	var before, after []string
	err := chromedp.Run(ctx,
		signIn(p),
		chromedp.Navigate(p.base+"/editor/lists/weekly/steps"),
		chromedp.WaitVisible(`ol.steps`, chromedp.ByQuery),
		subjects(&before),
		// Works without JavaScript: the buttons are plain POST forms.
		chromedp.Click(`ol.steps li:first-child button.move-down`, chromedp.ByQuery),
		chromedp.WaitVisible(`.notice`, chromedp.ByQuery),
		subjects(&after),
	)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"Week one: listen first", "Week two: ask better questions", "Week three: give feedback"}; !reflect.DeepEqual(before, want) {
		t.Fatalf("before: %q, want %q", before, want)
	}
	if want := []string{"Week two: ask better questions", "Week one: listen first", "Week three: give feedback"}; !reflect.DeepEqual(after, want) {
		t.Fatalf("after moving step 1 down: %q, want %q", after, want)
	}
	steps, err := store.Steps(context.Background(), listID)
	if err != nil {
		t.Fatal(err)
	}
	if steps[0].Subject != "Week two: ask better questions" || steps[0].Position != 1 || steps[1].Position != 2 {
		t.Fatalf("stored order: %+v, %+v", steps[0], steps[1])
	}

	// And back up again, from the other step.
	err = chromedp.Run(ctx,
		chromedp.Evaluate(`document.querySelector(".notice").remove()`, nil),
		chromedp.Click(`ol.steps li:nth-child(3) button.move-up`, chromedp.ByQuery),
		chromedp.WaitVisible(`.notice`, chromedp.ByQuery),
		subjects(&after),
	)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"Week two: ask better questions", "Week three: give feedback", "Week one: listen first"}; !reflect.DeepEqual(after, want) {
		t.Fatalf("after moving step 3 up: %q, want %q", after, want)
	}
}

func TestBrowser_CreateListOnPhone(t *testing.T) {
	t.Parallel()
	p := startProgram(t)
	ctx := newBrowser(t)

	var notice, snippet, doc string
	var overflow bool
	err := chromedp.Run(ctx,
		signIn(p),
		chromedp.EmulateViewport(390, 844),
		chromedp.Navigate(p.base+"/editor/lists"),
		chromedp.WaitVisible(`a[href="/editor/lists/new"]`, chromedp.ByQuery),
		chromedp.Click(`a[href="/editor/lists/new"]`, chromedp.ByQuery),
		chromedp.WaitVisible(`#name`, chromedp.ByQuery),
		chromedp.SendKeys(`#name`, "Monday Notes", chromedp.ByQuery),
		chromedp.SendKeys(`#slug`, "monday", chromedp.ByQuery),
		chromedp.SendKeys(`#from_name`, "Sam", chromedp.ByQuery),
		chromedp.SendKeys(`#from_email`, "sam@example.com", chromedp.ByQuery),
		chromedp.Evaluate(`document.getElementById("timezone").value = ""`, nil),
		chromedp.SendKeys(`#timezone`, "Europe/Berlin", chromedp.ByQuery),
		chromedp.SendKeys(`#postal_address`, "2 Example Road\nBerlin", chromedp.ByQuery),
		chromedp.SendKeys(`#consent_text`, "Send me Monday Notes, one short email a week.", chromedp.ByQuery),
		chromedp.Click(`form.settings button[type="submit"]`, chromedp.ByQuery),
		chromedp.WaitVisible(`.notice`, chromedp.ByQuery),
		chromedp.Text(`.notice`, &notice, chromedp.ByQuery),
		chromedp.Value(`#snippet`, &snippet, chromedp.ByQuery),
		chromedp.Evaluate(`document.querySelector("iframe.embed-preview").srcdoc`, &doc),
		// Nothing is wider than the phone.
		chromedp.Evaluate(`document.documentElement.scrollWidth > window.innerWidth`, &overflow),
		chromedp.ScrollIntoView(`#form`, chromedp.ByQuery),
	)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(notice, "The list was created") {
		t.Fatalf("notice %q", notice)
	}
	for _, s := range []string{`action="` + p.base + `/subscribe/monday"`, `name="form" value="embed"`, "Send me Monday Notes, one short email a week."} {
		if !strings.Contains(snippet, s) || !strings.Contains(doc, s) {
			t.Errorf("the snippet or its preview lacks %q", s)
		}
	}
	if overflow {
		t.Error("the page is wider than a phone")
	}
	l, err := (&subscribers.Store{DB: p.db}).ListBySlug(context.Background(), "monday")
	if err != nil {
		t.Fatal(err)
	}
	if l.Timezone != "Europe/Berlin" || l.PostalAddress != "2 Example Road\nBerlin" {
		t.Fatalf("stored %+v", l)
	}
}
