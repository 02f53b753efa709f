package main

import (
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestBrowser_Tokens makes an API token in the editor UI, uses it, and
// revokes it.
func TestBrowser_Tokens(t *testing.T) {
	t.Parallel()
	p := startProgram(t)
	ctx := newBrowser(t)
	var secret, rows string
	err := chromedp.Run(ctx,
		signIn(p),
		chromedp.Click(`nav.top a[href="/editor/tokens"]`, chromedp.ByQuery),
		chromedp.WaitVisible(`#name`, chromedp.ByQuery),
		chromedp.SendKeys(`#name`, "reporting", chromedp.ByQuery),
		chromedp.SetValue(`#scope`, "read", chromedp.ByQuery),
		chromedp.SetValue(`#expires`, "30d", chromedp.ByQuery),
		chromedp.Submit(`#name`, chromedp.ByQuery),
		chromedp.WaitVisible(`#secret`, chromedp.ByQuery),
		chromedp.Value(`#secret`, &secret, chromedp.ByQuery),
		chromedp.Text(`table.data tbody`, &rows, chromedp.ByQuery),
	)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(secret, "tdg_") || !strings.Contains(rows, "reporting") || !strings.Contains(rows, "read") {
		t.Fatalf("secret %q, rows %q", secret, rows)
	}
	req, _ := http.NewRequest("GET", p.base+"/api/v1/lists", nil)
	req.Header.Set("Authorization", "Bearer "+secret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("the new token got %d", resp.StatusCode)
	}
	var notice string
	var secrets int
	err = chromedp.Run(ctx,
		chromedp.Click(`button[aria-label="Revoke reporting"]`, chromedp.ByQuery),
		chromedp.WaitVisible(`.notice`, chromedp.ByQuery),
		chromedp.Text(`.notice`, &notice, chromedp.ByQuery),
		chromedp.Evaluate(`document.querySelectorAll("#secret").length`, &secrets),
	)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(notice, "revoked") || secrets != 0 {
		t.Fatalf("after revoking: notice %q, %d secrets shown", notice, secrets)
	}
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Fatalf("the revoked token got %d, want 401", resp.StatusCode)
	}
}
