package main

import (
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

func TestBrowser_ImportCSVWithBadRow(t *testing.T) {
	t.Parallel()
	p := startProgram(t)
	mustBrowserList(t, p)
	ctx := newBrowser(t)

	dir := t.TempDir()
	file, wrong := filepath.Join(dir, "readers.csv"), filepath.Join(dir, "phones.csv")
	csv := "email,name,timezone,tags\n" +
		"ada@example.com,Ada Lovelace,Europe/London,vip;founders\n" +
		"grace@example.org,Grace Hopper,,\n" +
		"not an address,Broken Row,,\n" +
		"alan@example.net,Alan Turing,America/New_York,speaker\n"
	if err := os.WriteFile(file, []byte(csv), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(wrong, []byte("email,phone\nada@example.com,555\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// watch records what the progress line says.
	const watch = `window.importStatuses = window.importStatuses || [];
		new MutationObserver(() => window.importStatuses.push(document.getElementById("upload-status").textContent))
			.observe(document.getElementById("upload-status"), {childList: true, characterData: true, subtree: true});`

	// A file the import refuses shows the form again with the reason.
	var problem string
	err := chromedp.Run(ctx,
		signIn(p),
		chromedp.Click(`nav.top a[href="/editor/subscribers"]`, chromedp.ByQuery),
		chromedp.WaitVisible(`a[href="/editor/subscribers/import"]`, chromedp.ByQuery),
		chromedp.Click(`a[href="/editor/subscribers/import"]`, chromedp.ByQuery),
		// The form works without its script, as a plain post; wait for the
		// script to take it over, which on a busy machine is well after the
		// form shows.
		loaded(`#import-file`),
		// Mark this window: the script uploads in the background and swaps
		// in the answer, so the mark survives, where a plain form post would
		// load a new page.
		chromedp.Evaluate(`window.importMark = true;`+watch, nil),
		chromedp.SetValue(`#import-list`, "weekly", chromedp.ByQuery),
		chromedp.SetUploadFiles(`#import-file`, []string{wrong}, chromedp.ByQuery),
		chromedp.Click(`#import-submit`, chromedp.ByQuery),
		chromedp.WaitVisible(`#import-error`, chromedp.ByQuery),
		chromedp.Text(`#import-error`, &problem, chromedp.ByQuery),
	)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(problem, `unknown columns: "phone"`) {
		t.Fatalf("a file with an unknown column: %q", problem)
	}

	// The good file, with one bad row: the report.
	var added, rejected, rejections string
	var statuses []string
	var sameWindow bool
	err = chromedp.Run(ctx,
		chromedp.Evaluate(watch, nil),
		chromedp.SetUploadFiles(`#import-file`, []string{file}, chromedp.ByQuery),
		chromedp.Click(`#import-submit`, chromedp.ByQuery),
		chromedp.WaitVisible(`#import-report`, chromedp.ByQuery),
		chromedp.Text(`#added`, &added, chromedp.ByQuery),
		chromedp.Text(`#rejected`, &rejected, chromedp.ByQuery),
		chromedp.Text(`#rejections`, &rejections, chromedp.ByQuery),
		chromedp.Evaluate(`window.importMark === true`, &sameWindow),
		chromedp.Evaluate(`window.importStatuses`, &statuses),
	)
	if err != nil {
		t.Fatal(err)
	}
	if added != "3" || rejected != "1" {
		t.Fatalf("report: %s added, %s rejected", added, rejected)
	}
	if !strings.Contains(rejections, "4") || !strings.Contains(rejections, "not an address") || !strings.Contains(rejections, "is not valid") {
		t.Fatalf("rejected rows: %q", rejections)
	}
	if !sameWindow || !strings.Contains(strings.Join(statuses, "|"), "Processing") {
		t.Errorf("the import did not go through the progress bar: same window %v, statuses %q", sameWindow, statuses)
	}

	// The imported people are on the list, confirmed, and the report links to them.
	var n int
	p.db.Get(&n, `SELECT count(*) FROM subscriptions WHERE status = 'confirmed'`)
	if n != 3 {
		t.Fatalf("%d confirmed subscriptions, want 3", n)
	}
	var links int
	if err := chromedp.Run(ctx, chromedp.Evaluate(`document.querySelectorAll('#import-report a[href="/editor/subscribers?list=weekly"]').length`, &links)); err != nil {
		t.Fatal(err)
	}
	if links != 1 {
		t.Fatal("the report does not link to the list's subscribers")
	}
}

func TestBrowser_SearchSubscriberAndSeeEvents(t *testing.T) {
	t.Parallel()
	p := startProgram(t)
	mustBrowserList(t, p)
	// Readers sign up on the hosted form; each gets a confirmation email.
	for _, who := range []struct{ email, name string }{
		{"ada@example.com", "Ada Lovelace"}, {"grace@example.org", "Grace Hopper"}, {"alan@example.net", "Alan Turing"},
	} {
		req, _ := http.NewRequest("POST", p.base+"/subscribe/weekly", strings.NewReader(url.Values{"email": {who.email}, "name": {who.name}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("User-Agent", "Mozilla/5.0 (SignupTest)")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted {
			t.Fatalf("sign-up of %s: %d", who.email, resp.StatusCode)
		}
	}
	// The dispatcher sends the confirmation emails in the background; wait
	// until they are recorded as sent, so the page shows the outcome.
	deadline := time.Now().Add(30 * time.Second)
	for {
		var sent int
		p.db.Get(&sent, `SELECT count(*) FROM outbox WHERE kind = 'confirm' AND status = 'sent'`)
		if sent == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of 3 confirmation emails sent after 30s", sent)
		}
		time.Sleep(50 * time.Millisecond)
	}
	ctx := newBrowser(t)

	var found []string
	err := chromedp.Run(ctx,
		signIn(p),
		chromedp.Click(`nav.top a[href="/editor/subscribers"]`, chromedp.ByQuery),
		chromedp.WaitVisible(`#q`, chromedp.ByQuery),
		chromedp.SendKeys(`#q`, "hopper", chromedp.ByQuery),
		chromedp.Submit(`#q`, chromedp.ByQuery),
		// The list before the search has the same rows: wait for the page
		// of the search itself, then read it with one script.
		waitUntil(`location.search.includes("q=hopper") && !!document.querySelector("#subscribers td.sub-email a")`, 15*time.Second),
		chromedp.Evaluate(`[...document.querySelectorAll("#subscribers td.sub-email")].map(e => e.textContent)`, &found),
	)
	if err != nil {
		t.Fatal(err)
	}
	if len(found) != 1 || found[0] != "grace@example.org" {
		t.Fatalf("search for hopper found %q", found)
	}

	var kinds []string
	var events, messages, fullUA string
	err = chromedp.Run(ctx,
		chromedp.Click(`#subscribers td.sub-email a`, chromedp.ByQuery),
		chromedp.WaitVisible(`#events`, chromedp.ByQuery),
		chromedp.Evaluate(`[...document.querySelectorAll("#events .event-kind")].map(e => e.dataset.kind + ": " + e.textContent)`, &kinds),
		chromedp.Text(`#events`, &events, chromedp.ByQuery),
		chromedp.Text(`#messages`, &messages, chromedp.ByQuery),
		// Each row shows the browser in short; the whole user agent opens
		// on demand.
		chromedp.Click(`#events td.ua summary`, chromedp.ByQuery),
		chromedp.WaitVisible(`#events td.ua .ua-full`, chromedp.ByQuery),
		chromedp.Text(`#events td.ua .ua-full`, &fullUA, chromedp.ByQuery),
	)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(kinds, ",") != "confirmation_requested: Confirmation requested,subscribed: Signed up" {
		t.Errorf("events, newest first: %q", kinds)
	}
	for _, want := range []string{"127.0.0.1", "Mozilla/5.0", "hosted", "Send me the weekly series."} {
		if !strings.Contains(events, want) {
			t.Errorf("the events lack %q:\n%s", want, events)
		}
	}
	if strings.Contains(events, "(SignupTest)") {
		t.Errorf("the events print the whole user agent on every row:\n%s", events)
	}
	if fullUA != "Mozilla/5.0 (SignupTest)" {
		t.Errorf("the full user agent on demand: %q", fullUA)
	}
	if !strings.Contains(messages, "Confirm your subscription") || !strings.Contains(messages, "sent") {
		t.Errorf("messages:\n%s", messages)
	}
}
