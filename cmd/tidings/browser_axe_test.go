package main

import (
	"context"
	"encoding/base32"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/tidings/tidings/campaigns"
	"github.com/tidings/tidings/editors"
	"github.com/tidings/tidings/subscribers"
)

// axeSource reads axe.min.js, which scripts/axe.sh installs from the npm
// registry under the module root's .cache/axe.
func axeSource(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test's directory")
		}
		dir = parent
	}
	src, err := os.ReadFile(filepath.Join(dir, ".cache", "axe", "node_modules", "axe-core", "axe.min.js"))
	if err != nil {
		t.Fatalf("axe-core: %v; run `make test`, which installs it with scripts/axe.sh", err)
	}
	return string(src)
}

// axeViolation is one rule a page breaks, as axe.run reports it, with the
// selectors of the first few elements that break it.
type axeViolation struct {
	ID      string   `json:"id"`
	Impact  string   `json:"impact"`
	Help    string   `json:"help"`
	Targets []string `json:"targets"`
}

func (v axeViolation) String() string {
	return fmt.Sprintf("%s (%s) %s: %s", v.ID, v.Impact, v.Help, strings.Join(v.Targets, " "))
}

// axeRun is the check: the WCAG 2.1 A and AA rules and axe's best practices.
// The preview frames are left out: they show an email as a mail client will,
// and their content is the editor's, not the page's; the frames themselves
// are checked (title, focus).
const axeRun = `axe.run(document, {
	runOnly: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'],
	iframes: false,
}).then(r => r.violations.map(v => ({
	id: v.id, impact: v.impact || '', help: v.help,
	targets: v.nodes.slice(0, 3).map(n => JSON.stringify(n.target)),
})))`

// checkAxe injects axe-core into the current page and runs it, awaiting
// its promise.
func checkAxe(src string, out *[]axeViolation) chromedp.Action {
	return chromedp.ActionFunc(func(ctx context.Context) error {
		var loaded bool
		if err := chromedp.Evaluate(src+"\n;typeof axe === 'object'", &loaded).Do(ctx); err != nil {
			return fmt.Errorf("inject axe: %w", err)
		}
		if !loaded {
			return fmt.Errorf("inject axe: no axe object on the page")
		}
		var raw json.RawMessage
		err := chromedp.Evaluate(axeRun, &raw, func(p *runtime.EvaluateParams) *runtime.EvaluateParams {
			return p.WithAwaitPromise(true)
		}).Do(ctx)
		if err != nil {
			return fmt.Errorf("axe.run: %w", err)
		}
		return json.Unmarshal(raw, out)
	})
}

// pageIs waits until the page at path (and query) has loaded and shows sel.
func pageIs(path, sel string) chromedp.Action {
	return waitUntil(fmt.Sprintf(`document.readyState === "complete" && location.pathname + location.search === %q && !!document.querySelector(%q)`, path, sel), 30*time.Second)
}

// axeData is what the pages show: a list with a step, readers, a pending
// sign-up, and broadcasts in draft and sent.
type axeData struct {
	listID, stepID, bonusID, draftID, sentID, readerID int64
	confirm, unsubscribe                               string
}

func mustAxeData(t *testing.T, p *program) axeData {
	t.Helper()
	ctx := context.Background()
	var d axeData
	d.listID = mustBrowserList(t, p)
	mustReaders(t, p, d.listID, "ada@example.com", "bo@example.com|staff")
	if err := p.db.Get(&d.readerID, `SELECT id FROM subscribers WHERE email = 'ada@example.com'`); err != nil {
		t.Fatal(err)
	}
	cs := &campaigns.Store{DB: p.db}
	st := &campaigns.Step{Subject: "Welcome, {{or .FirstName \"friend\"}}", Body: "Hello,\n\nThe **first** lesson.", DelayDays: 0, SendTime: "09:00"}
	if err := cs.CreateStep(ctx, d.listID, st); err != nil {
		t.Fatal(err)
	}
	d.stepID = st.ID
	bonus := &campaigns.Bonus{Subject: "Your worksheet", Body: "Here it is."}
	if err := cs.CreateBonus(ctx, d.listID, bonus); err != nil {
		t.Fatal(err)
	}
	d.bonusID = bonus.ID
	draft := &campaigns.Broadcast{List: "weekly", Subject: "A draft", Body: "Hello,\n\nOne idea: **write it down**."}
	sent := &campaigns.Broadcast{List: "weekly", Subject: "Sent already", Body: "Hello,\n\nThis went out."}
	for _, b := range []*campaigns.Broadcast{draft, sent} {
		if err := cs.CreateBroadcast(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	d.draftID, d.sentID = draft.ID, sent.ID
	if _, err := cs.SendNow(ctx, sent.ID); err != nil {
		t.Fatal(err)
	}
	// Cy signs up from elsewhere: the confirmation link opens its button page.
	resp, err := http.PostForm(p.base+"/subscribe/weekly", url.Values{"email": {"cy@example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	links := &subscribers.Links{
		BaseURL: p.base, Tokens: &subscribers.Tokens{Secret: []byte(strings.Repeat("b", 32))},
		Paths: subscribers.LinkPaths{Confirm: "/confirm/{token}", Unsubscribe: "/unsubscribe/{token}", Preferences: "/unsubscribe/{token}"},
	}
	subOf := func(email string) int64 {
		var id int64
		if err := p.db.Get(&id, `
			SELECT s.id FROM subscriptions s JOIN subscribers r ON r.id = s.subscriber_id
			WHERE r.email = $1`, email); err != nil {
			t.Fatal(err)
		}
		return id
	}
	d.confirm = links.Confirm(subOf("cy@example.com"))
	d.unsubscribe = links.Unsubscribe(subOf("bo@example.com"))
	deadline := time.Now().Add(30 * time.Second)
	for {
		var status string
		p.db.Get(&status, `SELECT status FROM broadcasts WHERE id = $1`, sent.ID)
		if status == campaigns.BroadcastSent {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the broadcast is %s after 30s", status)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return d
}

// axePage is one page a user can reach: how to open it, and the element
// that shows it is there.
type axePage struct {
	name string
	open chromedp.Action
}

// visit opens path and waits for sel.
func visit(p *program, path, sel string) chromedp.Action {
	return chromedp.Tasks{chromedp.Navigate(p.base + path), pageIs(path, sel)}
}

// TestBrowser_Axe runs axe-core on every page a reader or an editor can
// reach, at a desktop and a phone width, in one browser: none may break a
// WCAG 2.1 AA rule or one of axe's best practices.
func TestBrowser_Axe(t *testing.T) {
	t.Parallel()
	src := axeSource(t)
	p := startProgram(t)
	d := mustAxeData(t, p)
	ctx := newBrowserFor(t, 15*time.Minute)
	u := func(path string) string { return strings.TrimPrefix(path, p.base) }
	bc := func(id int64, rest string) string { return fmt.Sprintf("/editor/broadcasts/%d%s", id, rest) }
	noValidate := `document.querySelectorAll("form").forEach(f => f.noValidate = true)`

	public := []axePage{
		{"home", visit(p, "/", "main")},
		{"subscribe", visit(p, "/subscribe/weekly", "#email")},
		{"subscribe error", chromedp.Tasks{
			visit(p, "/subscribe/weekly", "#email"),
			chromedp.Evaluate(noValidate, nil),
			chromedp.SendKeys(`#email`, "not an address", chromedp.ByQuery),
			chromedp.Submit(`#email`, chromedp.ByQuery),
			pageIs("/subscribe/weekly", ".error"),
		}},
		{"check your inbox", chromedp.Tasks{
			visit(p, "/subscribe/weekly", "#email"),
			chromedp.SendKeys(`#email`, "dee@example.com", chromedp.ByQuery),
			chromedp.Submit(`#email`, chromedp.ByQuery),
			waitUntil(`document.readyState === "complete" && document.querySelector("h1") && document.querySelector("h1").textContent === "Check your inbox"`, 30*time.Second),
		}},
		{"confirm button", visit(p, u(d.confirm), `form[method="post"] button`)},
		{"unsubscribe", visit(p, u(d.unsubscribe), "#reason")},
		{"unsubscribed", chromedp.Tasks{
			visit(p, u(d.unsubscribe), "#reason"),
			chromedp.Click(`form[method="post"] button[type="submit"]`, chromedp.ByQuery),
			waitUntil(`document.readyState === "complete" && !document.getElementById("reason")`, 30*time.Second),
		}},
		{"not found", visit(p, "/no-such-page", "main")},
		{"sign in", visit(p, "/editor/login", "#email")},
		{"sign in error", chromedp.Tasks{
			visit(p, "/editor/login", "#email"),
			chromedp.SendKeys(`#email`, testEditor, chromedp.ByQuery),
			chromedp.SendKeys(`#password`, "not the password", chromedp.ByQuery),
			chromedp.Submit(`#password`, chromedp.ByQuery),
			waitUntil(`document.readyState === "complete" && !!document.querySelector(".error")`, 30*time.Second),
		}},
	}
	editor := []axePage{
		{"dashboard", visit(p, "/editor/", "svg.chart")},
		{"lists", visit(p, "/editor/lists", "main")},
		{"new list", visit(p, "/editor/lists/new", "form")},
		{"new list error", chromedp.Tasks{
			visit(p, "/editor/lists/new", "form"),
			chromedp.Evaluate(noValidate, nil),
			chromedp.Submit(`main form button[type="submit"]`, chromedp.ByQuery),
			waitUntil(`document.readyState === "complete" && !!document.querySelector(".error")`, 30*time.Second),
		}},
		{"list settings", visit(p, "/editor/lists/weekly/settings", "form")},
		{"steps", visit(p, "/editor/lists/weekly/steps", "main")},
		{"new step", visit(p, "/editor/lists/weekly/steps/new", "form")},
		{"step", visit(p, fmt.Sprintf("/editor/lists/weekly/steps/%d", d.stepID), "form")},
		{"new bonus", visit(p, "/editor/lists/weekly/bonuses/new", "form")},
		{"bonus", visit(p, fmt.Sprintf("/editor/lists/weekly/bonuses/%d", d.bonusID), "form")},
		{"delete bonus", visit(p, fmt.Sprintf("/editor/lists/weekly/bonuses/%d/delete", d.bonusID), "form")},
		{"delete step", visit(p, fmt.Sprintf("/editor/lists/weekly/steps/%d/delete", d.stepID), "form")},
		{"broadcasts", visit(p, "/editor/broadcasts", "main")},
		{"new broadcast", visit(p, "/editor/broadcasts/new", "#body")},
		{"draft broadcast", visit(p, bc(d.draftID, ""), "#send-now")},
		{"edit broadcast", visit(p, bc(d.draftID, "/edit"), "#body")},
		{"send confirm", visit(p, bc(d.draftID, "/send"), "#confirm")},
		{"cancel confirm", visit(p, bc(d.draftID, "/cancel"), "form")},
		{"sent broadcast", visit(p, bc(d.sentID, ""), "#progress")},
		{"subscribers", visit(p, "/editor/subscribers", "main")},
		{"subscriber", visit(p, fmt.Sprintf("/editor/subscribers/%d", d.readerID), "main")},
		{"delete subscriber", visit(p, fmt.Sprintf("/editor/subscribers/%d/delete", d.readerID), "form")},
		{"import", visit(p, "/editor/subscribers/import", "form")},
		{"api tokens", visit(p, "/editor/tokens", "form")},
		{"editor not found", visit(p, "/editor/broadcasts/999999", "nav.top")},
		{"account", visit(p, "/editor/account", "#totp")},
	}
	// Two-factor sign-in, last: once it is on, signing in asks for a code.
	var secret []byte
	var recovery string
	twoFactor := []axePage{
		{"two-factor setup", chromedp.Tasks{
			visit(p, "/editor/account", "#totp"),
			chromedp.Click(`#totp button[type=submit]`, chromedp.ByQuery),
			waitUntil(`document.readyState === "complete" && !!document.getElementById("totp-secret")`, 30*time.Second),
			chromedp.ActionFunc(func(ctx context.Context) error {
				var key string
				if err := chromedp.Value(`#totp-secret`, &key, chromedp.ByQuery).Do(ctx); err != nil {
					return err
				}
				var err error
				secret, err = base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(strings.ReplaceAll(key, " ", ""))
				return err
			}),
		}},
		{"recovery codes", chromedp.Tasks{
			chromedp.ActionFunc(func(ctx context.Context) error {
				return chromedp.SendKeys(`#confirm-code`, editors.TOTP(secret, time.Now()), chromedp.ByQuery).Do(ctx)
			}),
			chromedp.Submit(`#confirm-code`, chromedp.ByQuery),
			readWhen(`(function () {
				var c = document.querySelector(".recovery-codes code");
				return document.readyState === "complete" && c ? c.textContent : "";
			})()`, &recovery),
		}},
		{"sign-in code", chromedp.Tasks{
			chromedp.Click(`nav.top button.link`, chromedp.ByQuery),
			pageIs("/editor/login", "#email"),
			chromedp.SendKeys(`#email`, testEditor, chromedp.ByQuery),
			chromedp.SendKeys(`#password`, testPassword, chromedp.ByQuery),
			chromedp.Submit(`#password`, chromedp.ByQuery),
			waitUntil(`document.readyState === "complete" && !!document.getElementById("code")`, 30*time.Second),
		}},
		{"sign-in code error", chromedp.Tasks{
			chromedp.SendKeys(`#code`, "000000", chromedp.ByQuery),
			chromedp.Submit(`#code`, chromedp.ByQuery),
			waitUntil(`document.readyState === "complete" && !!document.getElementById("code") && !!document.querySelector(".error")`, 30*time.Second),
		}},
	}
	check := func(t *testing.T, pg axePage) { axeCheck(t, ctx, src, pg) }
	for _, pg := range public {
		t.Run(pg.name, func(t *testing.T) { check(t, pg) })
	}
	if err := chromedp.Run(ctx, chromedp.EmulateViewport(1280, 900), signIn(p)); err != nil {
		t.Fatal(err)
	}
	for _, pg := range editor {
		t.Run(pg.name, func(t *testing.T) { check(t, pg) })
	}
	for _, pg := range twoFactor {
		t.Run(pg.name, func(t *testing.T) { check(t, pg) })
	}
}

// axeCheck opens pg and runs axe on it at a desktop and a phone width.
func axeCheck(t *testing.T, ctx context.Context, src string, pg axePage) {
	t.Helper()
	// Each page gets a minute: the machine running the suite may be loaded.
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := chromedp.Run(ctx, chromedp.EmulateViewport(1280, 900), pg.open); err != nil {
		t.Fatalf("open: %v", err)
	}
	for _, size := range [][2]int64{{1280, 900}, {390, 844}} {
		var got []axeViolation
		if err := chromedp.Run(ctx, chromedp.EmulateViewport(size[0], size[1]), checkAxe(src, &got)); err != nil {
			t.Fatalf("at %d px: %v", size[0], err)
		}
		for _, v := range got {
			t.Errorf("at %d px: %s", size[0], v)
		}
	}
}
