package main

import (
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestBrowser_DevInbox: the dev inbox of `serve --dev` lists what was sent,
// and a message's page shows its HTML part whole, in a frame as tall as the
// email at a desktop and at a phone width. Both pages pass axe.
func TestBrowser_DevInbox(t *testing.T) {
	t.Parallel()
	src := axeSource(t)
	p := startProgramWith(t, true)
	resp, err := http.PostForm(p.base+"/subscribe/"+demoSlug, url.Values{"email": {"reader@example.com"}, "name": {"Rea Der"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("sign-up: %s", resp.Status)
	}
	// The confirmation is in the inbox once the dispatcher has sent it.
	var id int64
	for deadline := time.Now().Add(30 * time.Second); ; {
		var sent int
		p.db.Get(&sent, `SELECT count(*) FROM outbox WHERE kind = 'confirm' AND status = 'sent'`)
		if sent == 1 {
			break
		}
		if time.Now().After(deadline) {
			var rows []string
			p.db.Select(&rows, `SELECT kind || ' ' || status || ' ' || coalesce(last_error, '') FROM outbox`)
			t.Fatalf("no confirmation sent after 30s: %q", rows)
		}
		time.Sleep(50 * time.Millisecond)
	}
	ctx := newBrowser(t)
	var href string
	if err := chromedp.Run(ctx,
		visit(p, "/dev/inbox", "table.inbox a"),
		chromedp.Evaluate(`document.querySelector("table.inbox a").getAttribute("href")`, &href),
	); err != nil {
		t.Fatal(err)
	}
	if _, err := fmt.Sscanf(href, "/dev/inbox/%d", &id); err != nil {
		t.Fatalf("the inbox links to %q", href)
	}
	for _, pg := range []axePage{
		{"index", visit(p, "/dev/inbox", "table.inbox")},
		{"message", visit(p, href, "#inbox-frame")},
	} {
		t.Run("axe "+pg.name, func(t *testing.T) { axeCheck(t, ctx, src, pg) })
	}

	// fits says how tall the frame is and how tall the email in it.
	const fits = `(function () {
		var f = document.getElementById("inbox-frame"), doc = f && f.contentDocument;
		if (document.readyState !== "complete" || !doc || doc.readyState !== "complete" || !doc.body || doc.location.pathname.indexOf("/html") < 0) return "";
		var inner = doc.documentElement.scrollHeight;
		return JSON.stringify({frame: Math.round(f.getBoundingClientRect().height), inner: inner, scrolls: inner > f.clientHeight + 1});
	})()`
	for _, width := range []int64{1280, 390} {
		t.Run(fmt.Sprintf("whole at %d px", width), func(t *testing.T) {
			var got string
			err := chromedp.Run(ctx,
				chromedp.EmulateViewport(width, 900),
				chromedp.Navigate(p.base+href),
				// The script sets the height on the frame's load: wait until
				// it has, or for the page's own deadline.
				readWhen(`(function () { var r = `+fits+`; return r && !JSON.parse(r).scrolls ? r : ""; })()`, &got),
			)
			if err != nil {
				var last string
				chromedp.Run(ctx, chromedp.Evaluate(fits, &last))
				t.Fatalf("the frame does not show the whole email: %s (%v)", last, err)
			}
			t.Logf("%d px: %s", width, got)
		})
	}
}
