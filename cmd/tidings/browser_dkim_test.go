package main

import (
	"context"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/tidings/tidings/dkimkeys"
)

// TestBrowser_ListDKIM: the list settings page tells the editor that the
// list's mail goes unsigned and how to make a key, and once the From domain
// has keys, shows their records to publish, copyable, within a phone's
// width and without accessibility violations.
func TestBrowser_ListDKIM(t *testing.T) {
	t.Parallel()
	p := startProgram(t)
	mustBrowserList(t, p)
	ctx := newBrowser(t)
	src := axeSource(t)
	settings := p.base + "/editor/lists/weekly/settings"

	var unsigned string
	if err := chromedp.Run(ctx,
		signIn(p),
		chromedp.Navigate(settings),
		chromedp.WaitVisible(`#dkim`, chromedp.ByQuery),
		chromedp.Text(`#dkim`, &unsigned, chromedp.ByQuery),
	); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(unsigned, "sent unsigned") || !strings.Contains(unsigned, "tidings dkim keygen --domain example.com") {
		t.Errorf("without a key the section says:\n%s", unsigned)
	}

	// The keys as `tidings dkim keygen` makes them, under the program's secret.
	store := &dkimkeys.Store{DB: p.db, Secret: []byte(strings.Repeat("b", 32))}
	var records []dkimkeys.Record
	for _, alg := range []string{"rsa", "ed25519"} {
		k, err := store.Generate(context.Background(), dkimkeys.GenerateRequest{Domain: "example.com", Algorithm: alg})
		if err != nil {
			t.Fatal(err)
		}
		records = append(records, k.Record())
	}
	var signed, name0, value0, value1 string
	var overflow bool
	var violations []axeViolation
	if err := chromedp.Run(ctx,
		chromedp.EmulateViewport(1280, 900),
		chromedp.Navigate(settings),
		chromedp.WaitVisible(`#dkim-value-1`, chromedp.ByQuery),
		chromedp.Text(`#dkim`, &signed, chromedp.ByQuery),
		chromedp.Value(`#dkim-name-0`, &name0, chromedp.ByQuery),
		chromedp.Value(`#dkim-value-0`, &value0, chromedp.ByQuery),
		chromedp.Value(`#dkim-value-1`, &value1, chromedp.ByQuery),
		chromedp.WaitVisible(`button[data-copy="dkim-value-0"]`, chromedp.ByQuery),
		checkAxe(src, &violations),
		chromedp.EmulateViewport(390, 844),
		chromedp.Evaluate(`document.documentElement.scrollWidth > window.innerWidth`, &overflow),
		chromedp.EmulateViewport(1280, 900),
		chromedp.ScrollIntoView(`#dkim`, chromedp.ByQuery),
	); err != nil {
		t.Fatal(err)
	}
	saveScreenshot(t, ctx)
	if strings.Contains(signed, "unsigned") || !strings.Contains(signed, "signed for example.com") {
		t.Errorf("with keys the section says:\n%s", signed)
	}
	if name0 != records[0].Name || value0 != records[0].Value || value1 != records[1].Value {
		t.Errorf("records shown %q %q %q, want %q %q %q", name0, value0, value1, records[0].Name, records[0].Value, records[1].Value)
	}
	for _, v := range violations {
		t.Errorf("axe: %s", v)
	}
	if overflow {
		t.Error("the page is wider than a phone")
	}
}
