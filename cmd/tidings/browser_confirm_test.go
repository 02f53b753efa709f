package main

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/tidings/tidings/subscribers"
)

// TestBrowser_ConfirmNeedsAPerson opens confirmation links in a real browser,
// which runs every script of the page as the scanners that do so would: a
// link opened in a browser that did not sign up for it confirms nothing until
// its button is pressed; the browser that signed up confirms on opening it.
func TestBrowser_ConfirmNeedsAPerson(t *testing.T) {
	t.Parallel()
	p := startProgram(t)
	mustBrowserList(t, p)
	links := &subscribers.Links{
		BaseURL: p.base, Tokens: &subscribers.Tokens{Secret: []byte(strings.Repeat("b", 32))},
		Paths: subscribers.LinkPaths{Confirm: "/confirm/{token}", Unsubscribe: "/unsubscribe/{token}", Preferences: "/unsubscribe/{token}"},
	}
	status := func(email string) string {
		t.Helper()
		var st string
		if err := p.db.Get(&st, `
			SELECT s.status FROM subscriptions s JOIN subscribers r ON r.id = s.subscriber_id
			WHERE r.email = $1`, email); err != nil {
			t.Fatal(err)
		}
		return st
	}
	linkOf := func(email string) string {
		t.Helper()
		var id int64
		if err := p.db.Get(&id, `
			SELECT s.id FROM subscriptions s JOIN subscribers r ON r.id = s.subscriber_id
			WHERE r.email = $1`, email); err != nil {
			t.Fatal(err)
		}
		return links.Confirm(id)
	}

	// Ada signs up elsewhere (another device); Bo in this browser, on the hosted form.
	resp, err := http.PostForm(p.base+"/subscribe/weekly", url.Values{"email": {"ada@example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	ctx := newBrowser(t)
	var answer string
	err = chromedp.Run(ctx,
		chromedp.Navigate(p.base+"/subscribe/weekly"),
		chromedp.WaitVisible(`#email`, chromedp.ByQuery),
		chromedp.SendKeys(`#email`, "bo@example.com", chromedp.ByQuery),
		chromedp.Submit(`#email`, chromedp.ByQuery),
		waitUntil(`document.querySelector("h1") && document.querySelector("h1").textContent === "Check your inbox"`, 15*time.Second),
		chromedp.Text(`h1`, &answer, chromedp.ByQuery),
	)
	if err != nil {
		t.Fatal(err)
	}

	// Ada's link in Bo's browser: its page loads and runs its scripts, and
	// nothing is confirmed. The cookie this browser holds is bound to Bo's
	// subscription, not Ada's.
	var scripts, refreshes int
	var h1 string
	err = chromedp.Run(ctx,
		chromedp.Navigate(linkOf("ada@example.com")),
		waitUntil(`document.readyState === "complete"`, 15*time.Second),
		chromedp.WaitVisible(`form[method="post"] button[type="submit"]`, chromedp.ByQuery),
		chromedp.Evaluate(`document.scripts.length`, &scripts),
		chromedp.Evaluate(`document.querySelectorAll('meta[http-equiv="refresh" i]').length`, &refreshes),
		chromedp.Text(`h1`, &h1, chromedp.ByQuery),
	)
	if err != nil {
		t.Fatal(err)
	}
	if scripts != 0 || refreshes != 0 {
		t.Errorf("the confirm page has %d scripts and %d refreshes; it must not submit itself", scripts, refreshes)
	}
	if got := status("ada@example.com"); got != "pending" || !strings.HasPrefix(h1, "Confirm your subscription") {
		t.Fatalf("after opening the link in another browser: %s, the page says %q", got, h1)
	}

	// Bo's link in the browser that signed Bo up confirms at once.
	err = chromedp.Run(ctx,
		chromedp.Navigate(linkOf("bo@example.com")),
		chromedp.WaitVisible(`h1`, chromedp.ByQuery),
		chromedp.Text(`h1`, &h1, chromedp.ByQuery),
	)
	if err != nil {
		t.Fatal(err)
	}
	if got := status("bo@example.com"); got != "confirmed" || h1 != "You are subscribed" {
		t.Fatalf("the sign-up browser's GET: %s, the page says %q", got, h1)
	}

	// Ada's button confirms Ada.
	err = chromedp.Run(ctx,
		chromedp.Navigate(linkOf("ada@example.com")),
		chromedp.WaitVisible(`form[method="post"] button[type="submit"]`, chromedp.ByQuery),
		chromedp.Click(`form[method="post"] button[type="submit"]`, chromedp.ByQuery),
		waitUntil(`document.querySelector("h1") && document.querySelector("h1").textContent === "You are subscribed"`, 15*time.Second),
	)
	if err != nil {
		t.Fatal(err)
	}
	if got := status("ada@example.com"); got != "confirmed" {
		t.Fatalf("after the button: %s", got)
	}
}
