package main

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/tidings/tidings/campaigns"
	"github.com/tidings/tidings/internal/devmail"
)

// mustReaders adds confirmed subscribers to list listID, each with the tags
// given after a "|" ("cy@example.com|staff"), and returns their addresses.
func mustReaders(t *testing.T, p *program, listID int64, entries ...string) []string {
	t.Helper()
	now := time.Now().UTC()
	var emails []string
	for _, e := range entries {
		email, tags, _ := strings.Cut(e, "|")
		name := strings.ToUpper(email[:1]) + email[1:strings.Index(email, "@")] + " Reader"
		var id int64
		err := p.db.Get(&id, `
			INSERT INTO subscribers (email, name, tags, created_at, updated_at)
			VALUES ($1, $2, COALESCE(string_to_array(NULLIF($3, ''), ','), '{}'), $4, $4)
			RETURNING id`, email, name, tags, now)
		if err != nil {
			t.Fatal(err)
		}
		p.db.MustExec(`
			INSERT INTO subscriptions (subscriber_id, list_id, status, confirmed_at, created_at, updated_at)
			VALUES ($1, $2, 'confirmed', $3, $3, $3)`, id, listID, now)
		emails = append(emails, email)
	}
	return emails
}

// caughtBy returns, for each address, how many caught messages with subject went to it.
func caughtBy(smtp *devmail.Server, subject string) map[string]int {
	got := map[string]int{}
	for _, m := range smtp.Messages() {
		if m.Subject == subject {
			for _, to := range m.To {
				got[to]++
			}
		}
	}
	return got
}

// waitUntil evaluates the JavaScript expression cond until it is true, for
// up to timeout. Unlike chromedp.Poll it carries on across page loads: the
// broadcast page loads itself afresh when the broadcast's status changes.
func waitUntil(cond string, timeout time.Duration) chromedp.ActionFunc {
	var ok string
	return readUntil(`((`+cond+`) ? "yes" : "")`, &ok, timeout)
}

// readWhen evaluates the JavaScript expression expr, which gives a string,
// until it gives one that is not empty, for up to 30 s, and keeps that in
// out. Like waitUntil it carries on across page loads, and what one
// expression reads it reads from one document, where a read after a wait
// may find the page loaded afresh in between.
func readWhen(expr string, out *string) chromedp.ActionFunc {
	return readUntil(expr, out, 30*time.Second)
}

func readUntil(expr string, out *string, timeout time.Duration) chromedp.ActionFunc {
	return func(ctx context.Context) error {
		deadline := time.Now().Add(timeout)
		var last error
		for time.Now().Before(deadline) {
			var v string
			err := chromedp.Evaluate(expr, &v).Do(ctx)
			if err == nil && v != "" {
				*out = v
				return nil
			}
			if err != nil {
				last = err
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(200 * time.Millisecond):
			}
		}
		return fmt.Errorf("waited %s for %s (last error: %v)", timeout, expr, last)
	}
}

// loaded waits until the page shows sel and its deferred scripts have run.
func loaded(sel string) chromedp.Action {
	return waitUntil(`document.readyState === "complete" && !!document.querySelector(`+strconv.Quote(sel)+`)`, 30*time.Second)
}

// TestBrowser_ScheduleBroadcast writes a broadcast with its live preview,
// sends a test, schedules it a few seconds ahead in the list's time zone,
// and watches its page follow it: the progress bar appears when the
// scheduler starts it and reaches 100 %, and every recipient gets it once.
func TestBrowser_ScheduleBroadcast(t *testing.T) {
	t.Parallel()
	p := startProgram(t)
	listID := mustBrowserList(t, p)
	mustReaders(t, p, listID, "ada@example.com", "bo@example.com", "cy@example.com|staff", "di@example.com")
	p.db.MustExec(`UPDATE subscriptions SET status = 'unsubscribed' WHERE subscriber_id = (SELECT id FROM subscribers WHERE email = 'di@example.com')`)
	mustReaders(t, p, listID, "eve@example.com")
	ctx := newBrowser(t)

	const body = "Hello {{or .FirstName \"there\"}},\n\nThis month, **ask one more question** before you answer.\n\n- Listen\n- Summarise\n- Then speak"
	var subject string
	var desktop, phone float64
	var previewSteps int
	err := chromedp.Run(ctx,
		signIn(p),
		chromedp.Click(`nav.top a[href="/editor/broadcasts"]`, chromedp.ByQuery),
		chromedp.WaitVisible(`a[href="/editor/broadcasts/new"]`, chromedp.ByQuery),
		chromedp.Click(`a[href="/editor/broadcasts/new"]`, chromedp.ByQuery),
		chromedp.WaitVisible(`#body`, chromedp.ByQuery),
		chromedp.Evaluate(`window.atOpen = history.length`, nil),
		chromedp.SendKeys(`#tags_exclude`, "Staff", chromedp.ByQuery),
		chromedp.SendKeys(`#subject`, "Spring notes for {{or .FirstName \"you\"}}", chromedp.ByQuery),
		chromedp.SendKeys(`#preheader`, "Three things to try this month", chromedp.ByQuery),
		chromedp.SendKeys(`#body`, body, chromedp.ByQuery),
		// The preview follows the typing, rendered by the server.
		chromedp.Poll(`document.getElementById("preview-frame").srcdoc.includes("<strong>ask one more question</strong>")`,
			nil, chromedp.WithPollingTimeout(15*time.Second)),
		chromedp.Text(`#preview-subject`, &subject, chromedp.ByQuery),
		// Each preview is a new frame, not a step of the page's history.
		chromedp.Evaluate(`history.length - window.atOpen`, &previewSteps),
		// Desktop and phone widths.
		chromedp.Evaluate(`document.getElementById("preview-frame").getBoundingClientRect().width`, &desktop),
		chromedp.Click(`label[for="width-phone"]`, chromedp.ByQuery),
		chromedp.Evaluate(`document.getElementById("preview-frame").getBoundingClientRect().width`, &phone),
		chromedp.Click(`label[for="width-desktop"]`, chromedp.ByQuery),
	)
	if err != nil {
		t.Fatal(err)
	}
	if subject != "Spring notes for Alex" {
		t.Fatalf("preview subject %q", subject)
	}
	if previewSteps != 0 {
		t.Errorf("the previews made %d steps of the page's history", previewSteps)
	}
	if desktop < 600 || phone != 375 {
		t.Fatalf("preview widths: desktop %.0f, phone %.0f", desktop, phone)
	}

	// Save; its page counts the audience and sends a test to the editor.
	var audience, notice string
	err = chromedp.Run(ctx,
		chromedp.Click(`button[name="action"][value="save"]`, chromedp.ByQuery),
		// Each click loads a new page: read it with one script each, so a
		// node of the page before is never used.
		waitUntil(`!!document.querySelector("#audience-count") && !!document.querySelector("#send-test")`, 15*time.Second),
		chromedp.Evaluate(`document.querySelector("#audience-count").textContent.trim()`, &audience),
		chromedp.Evaluate(`document.querySelector("#send-test").click()`, nil),
		waitUntil(`(document.querySelector(".notice") || {textContent: ""}).textContent.startsWith("A test copy")`, 15*time.Second),
		chromedp.Evaluate(`document.querySelector(".notice").textContent`, &notice),
	)
	if err != nil {
		t.Fatal(err)
	}
	if audience != "3 subscribers" {
		t.Fatalf("audience %q, want ada, bo and eve", audience)
	}
	if !strings.Contains(notice, "A test copy was sent to "+testEditor) {
		t.Fatalf("after the test the page says %q", notice)
	}
	if got := caughtBy(p.smtp, "[Test] Spring notes for Ada"); got[testEditor] != 1 || len(got) != 1 {
		t.Fatalf("test copies: %v", got)
	}

	// Schedule it a few seconds ahead, in the list's time zone (the
	// picker's default). The picker takes minutes; a time with seconds is
	// set and the form submitted as such, so the test need not wait for the
	// next minute. A busy machine may take longer than those seconds to get
	// the form to the server, which then refuses a time in the past: the
	// test sets a later one and submits again.
	london, err := time.LoadLocation("Europe/London")
	if err != nil {
		t.Fatal(err)
	}
	var zone string
	if err := chromedp.Run(ctx, chromedp.Value(`#timezone`, &zone, chromedp.ByQuery)); err != nil {
		t.Fatal(err)
	}
	if zone != "Europe/London" {
		t.Fatalf("the time zone picker starts at %q, want the list's", zone)
	}
	var at time.Time
	var scheduled string
	for try := 1; ; try++ {
		at = time.Now().Add(4 * time.Second).In(london)
		var answer string
		err = chromedp.Run(ctx,
			chromedp.SetValue(`#date`, at.Format("2006-01-02"), chromedp.ByQuery),
			chromedp.SetValue(`#time`, at.Format("15:04:05"), chromedp.ByQuery),
			chromedp.Submit(`#time`, chromedp.ByQuery),
			// The scheduled page follows the broadcast and loads itself
			// afresh once it starts, maybe at once: read it in one script.
			readWhen(`(function () {
				var on = document.getElementById("scheduled-for"), e = document.getElementById("form-error");
				if (document.readyState !== "complete") return "";
				if (on) return "scheduled:" + on.textContent;
				if (document.getElementById("progress")) return "started";
				return e ? "error:" + e.textContent : "";
			})()`, &answer),
		)
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(answer, "error:") && strings.Contains(answer, "in the past") && try < 5 {
			continue
		}
		if answer != "started" && !strings.HasPrefix(answer, "scheduled:") {
			t.Fatalf("after scheduling the page says %q", answer)
		}
		scheduled = answer
		break
	}
	if scheduled != "started" && !strings.Contains(scheduled, at.Format("Mon 2 Jan 2006 at 15:04")) {
		t.Fatalf("scheduled: %q", scheduled)
	}

	// The page follows the broadcast: the scheduler starts it, the
	// dispatcher sends it, and the bar reaches 100 %. The finished page is
	// read in the script that finds it finished.
	var finished []string
	err = chromedp.Run(ctx,
		waitUntil(`(function () {
			var pct = document.getElementById("progress-percent");
			return document.readyState === "complete" && pct !== null && pct.textContent === "100 %" &&
				document.getElementById("progress-title").textContent === "Results";
		})()`, 45*time.Second),
		chromedp.Evaluate(`[
			document.getElementById("progress-percent").textContent,
			document.getElementById("progress-bar").getAttribute("aria-valuenow"),
			document.querySelector("#progress-bar .bar-sent").style.width,
			document.getElementById("figure-sent").textContent.trim(),
		]`, &finished),
	)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"100 %", "100", "100%", "3"}; !slices.Equal(finished, want) {
		t.Fatalf("finished: percent, aria-valuenow, bar width, sent = %q, want %q", finished, want)
	}
	got := caughtBy(p.smtp, "Spring notes for Ada")
	for _, name := range []string{"Bo", "Eve"} {
		for to, n := range caughtBy(p.smtp, "Spring notes for "+name) {
			got[to] += n
		}
	}
	want := map[string]int{"ada@example.com": 1, "bo@example.com": 1, "eve@example.com": 1}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("delivered %v, want %v (each once; not the staff, not the unsubscribed)", got, want)
	}
	for _, m := range p.smtp.Messages() {
		if slices.Contains(m.To, "cy@example.com") || slices.Contains(m.To, "di@example.com") {
			t.Fatalf("%s got %q", m.To, m.Subject)
		}
	}
}

// TestBrowser_SendBroadcastNowOnPhone sends a broadcast at once through the
// confirmation step, on a phone.
func TestBrowser_SendBroadcastNowOnPhone(t *testing.T) {
	t.Parallel()
	p := startProgram(t)
	listID := mustBrowserList(t, p)
	readers := mustReaders(t, p, listID, "ada@example.com", "bo@example.com")
	b := &campaigns.Broadcast{List: "weekly", Subject: "A short note", Preheader: "Two minutes to read",
		Body: "Hello {{or .FirstName \"there\"}},\n\nOne idea for this week: **write it down**."}
	if err := (&campaigns.Store{DB: p.db}).CreateBroadcast(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	page := fmt.Sprintf("/editor/broadcasts/%d", b.ID)
	ctx := newBrowser(t)

	var question, percent string
	var overflow []bool
	noOverflow := chromedp.ActionFunc(func(ctx context.Context) error {
		var o bool
		err := chromedp.Evaluate(`document.documentElement.scrollWidth > window.innerWidth`, &o).Do(ctx)
		overflow = append(overflow, o)
		return err
	})
	err := chromedp.Run(ctx,
		signIn(p),
		chromedp.EmulateViewport(390, 844),
		chromedp.Navigate(p.base+"/editor/broadcasts"),
		chromedp.WaitVisible(`a[href="`+page+`"]`, chromedp.ByQuery),
		noOverflow,
		chromedp.Click(`a[href="`+page+`"]`, chromedp.ByQuery),
		chromedp.WaitVisible(`#send-now`, chromedp.ByQuery),
		noOverflow,
		chromedp.Click(`#send-now`, chromedp.ByQuery),
		chromedp.WaitVisible(`#confirm`, chromedp.ByQuery),
		chromedp.Text(`h1`, &question, chromedp.ByQuery),
		noOverflow,
		chromedp.Click(`#confirm`, chromedp.ByQuery),
		chromedp.WaitVisible(`#progress`, chromedp.ByQuery),
		readWhen(`(function () {
			var title = document.getElementById("progress-title");
			if (document.readyState !== "complete" || !title || title.textContent !== "Results") return "";
			return document.getElementById("progress-percent").textContent;
		})()`, &percent),
		noOverflow,
		chromedp.ScrollIntoView(`#progress`, chromedp.ByQuery),
	)
	if err != nil {
		t.Fatal(err)
	}
	if question != "Send to 2 recipients now?" {
		t.Fatalf("the confirmation asks %q", question)
	}
	if percent != "100 %" {
		t.Fatalf("finished at %q", percent)
	}
	if slices.Contains(overflow, true) {
		t.Errorf("a page is wider than the phone: %v", overflow)
	}
	got := caughtBy(p.smtp, "A short note")
	for _, r := range readers {
		if got[r] != 1 {
			t.Errorf("%s got the broadcast %d times", r, got[r])
		}
	}
}

// TestBrowser_DashboardSendingNow shows a paused broadcast on the dashboard
// with its progress, and the bar following it live once it is resumed.
func TestBrowser_DashboardSendingNow(t *testing.T) {
	t.Parallel()
	p := startProgram(t)
	listID := mustBrowserList(t, p)
	var readers []string
	for i := range 10 {
		readers = append(readers, fmt.Sprintf("reader%02d@example.com", i))
	}
	mustReaders(t, p, listID, readers...)
	store := &campaigns.Store{DB: p.db}
	b := &campaigns.Broadcast{List: "weekly", Subject: "March notes", Body: "Hello {{or .FirstName \"there\"}}."}
	if err := store.CreateBroadcast(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	// Four of ten sent before it was paused: made in one transaction, so the
	// dispatcher never sees it sending.
	now := time.Now().UTC()
	tx := p.db.MustBegin()
	tx.MustExec(`UPDATE broadcasts SET status = 'paused', started_at = $2, recipients = 10, updated_at = $2 WHERE id = $1`, b.ID, now.Add(-time.Minute))
	tx.MustExec(`
		INSERT INTO outbox (kind, subscriber_id, subscription_id, list_id, broadcast_id, ref, priority, status, due_at, sent_at, created_at, updated_at)
		SELECT 'broadcast', s.subscriber_id, s.id, s.list_id, $1, 0, 2,
		       CASE WHEN r.email < 'reader04' THEN 'sent' ELSE 'queued' END, $2,
		       CASE WHEN r.email < 'reader04' THEN $3::timestamptz END, $2, $2
		FROM subscriptions s
		JOIN subscribers r ON r.id = s.subscriber_id
		WHERE s.list_id = $4`, b.ID, now.Add(-time.Minute), now.Add(-30*time.Second), listID)
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	ctx := newBrowser(t)

	item := fmt.Sprintf(`#sending-%d`, b.ID)
	var before, label, after string
	err := chromedp.Run(ctx,
		signIn(p),
		chromedp.WaitVisible(item, chromedp.ByQuery),
		chromedp.Text(item+` .sending-pct`, &before, chromedp.ByQuery),
		chromedp.Text(item+` .badge`, &label, chromedp.ByQuery),
	)
	if err != nil {
		t.Fatal(err)
	}
	if before != "40 %" || label != "Paused" {
		t.Fatalf("the dashboard shows %q %q, want 40 %% Paused", before, label)
	}
	// Resumed (as by another editor): the bar follows without a reload.
	if _, err := store.Resume(context.Background(), b.ID); err != nil {
		t.Fatal(err)
	}
	err = chromedp.Run(ctx,
		chromedp.Poll(`document.querySelector("`+item+` .sending-pct").textContent === "100 %"`, nil, chromedp.WithPollingTimeout(30*time.Second)),
		chromedp.Text(item+` .sending-pct`, &after, chromedp.ByQuery),
		// The bar has moved all the way (it eases into place).
		chromedp.Poll(`(function () {
			var bar = document.querySelector("`+item+` .bar");
			return bar.getAttribute("aria-valuenow") === "100" &&
				bar.querySelector(".bar-sent").getBoundingClientRect().width >= bar.getBoundingClientRect().width - 1;
		})()`, nil, chromedp.WithPollingTimeout(10*time.Second)),
	)
	if err != nil {
		t.Fatal(err)
	}
	if after != "100 %" {
		t.Fatalf("the dashboard shows %q after resuming", after)
	}
	got := caughtBy(p.smtp, "March notes")
	if len(got) != 6 {
		t.Fatalf("after resuming, %d of the 6 left got it: %v", len(got), got)
	}
}
