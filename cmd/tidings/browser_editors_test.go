package main

import (
	"encoding/base32"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/tidings/tidings/editors"
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

// TestBrowser_TwoFactor sets up two-factor sign-in on the account page with
// the secret shown there, and signs in again with a recovery code on the
// code page.
func TestBrowser_TwoFactor(t *testing.T) {
	t.Parallel()
	p := startProgram(t)
	ctx := newBrowser(t)
	var key string
	var qr int
	err := chromedp.Run(ctx,
		signIn(p),
		chromedp.Click(`nav.top a.who`, chromedp.ByQuery),
		chromedp.WaitVisible(`#totp`, chromedp.ByQuery),
		chromedp.Click(`#totp button[type=submit]`, chromedp.ByQuery),
		chromedp.WaitVisible(`#totp-secret`, chromedp.ByQuery),
		chromedp.Value(`#totp-secret`, &key, chromedp.ByQuery),
		chromedp.Evaluate(`document.querySelectorAll(".qr-box svg[role=img] path").length`, &qr),
	)
	if err != nil {
		t.Fatal(err)
	}
	secret, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(strings.ReplaceAll(key, " ", ""))
	if err != nil || qr != 1 {
		t.Fatalf("key %q (%v), %d QR codes", key, err, qr)
	}
	var codes []string
	err = chromedp.Run(ctx,
		chromedp.SendKeys(`#confirm-code`, editors.TOTP(secret, time.Now()), chromedp.ByQuery),
		chromedp.Submit(`#confirm-code`, chromedp.ByQuery),
		chromedp.WaitVisible(`.recovery-codes`, chromedp.ByQuery),
		chromedp.Evaluate(`Array.from(document.querySelectorAll(".recovery-codes code")).map(c => c.textContent)`, &codes),
	)
	if err != nil {
		t.Fatal(err)
	}
	if len(codes) != 10 {
		t.Fatalf("recovery codes %q", codes)
	}
	var h1 string
	err = chromedp.Run(ctx,
		chromedp.Click(`nav.top button.link`, chromedp.ByQuery),
		chromedp.WaitVisible(`#email`, chromedp.ByQuery),
		chromedp.SendKeys(`#email`, testEditor, chromedp.ByQuery),
		chromedp.SendKeys(`#password`, testPassword, chromedp.ByQuery),
		chromedp.Submit(`#password`, chromedp.ByQuery),
		chromedp.WaitVisible(`#code`, chromedp.ByQuery),
		chromedp.SendKeys(`#code`, codes[0], chromedp.ByQuery),
		chromedp.Submit(`#code`, chromedp.ByQuery),
		chromedp.WaitVisible(`svg.chart`, chromedp.ByQuery),
		chromedp.Text(`h1`, &h1, chromedp.ByQuery),
	)
	if err != nil {
		t.Fatal(err)
	}
	if h1 != "Dashboard" {
		t.Fatalf("after the recovery code the page says %q", h1)
	}
}
