package web_test

import (
	"encoding/base32"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tidings/tidings/editors"
	"github.com/tidings/tidings/web"
)

// TestEditor_SignInSameAnswer: a wrong password, an unknown address and an
// account that must wait get the same status and the same page.
func TestEditor_SignInSameAnswer(t *testing.T) {
	t.Parallel()
	e := MustStart(t, web.DefaultLimits)
	ctx := t.Context()
	for _, a := range []string{"ed@example.com", "slow@example.com"} {
		if _, err := e.eds.Create(ctx, a, editorPassword); err != nil {
			t.Fatal(err)
		}
	}
	// The account slow@ must wait: five failures from elsewhere.
	for i := 0; i < 5; i++ {
		e.eds.Authenticate(ctx, editors.SignInRequest{Email: "slow@example.com", Password: "wrong password", IP: "198.51.100.7"})
	}
	try := func(email, password string) (int, string) {
		code, body := e.do("POST", "/editor/login", form, url.Values{"email": {email}, "password": {password}}.Encode())
		return code, strings.ReplaceAll(body, email, "EMAIL")
	}
	wantCode, wantBody := try("ed@example.com", "wrong password")
	if wantCode != 401 || !strings.Contains(wantBody, `class="error"`) {
		t.Fatalf("wrong password: %d\n%.400s", wantCode, wantBody)
	}
	for _, tt := range []struct{ what, email, password string }{
		{"unknown account", "nobody@example.com", editorPassword},
		{"account that must wait", "slow@example.com", editorPassword},
		{"wrong password again", "ed@example.com", "another wrong one"},
	} {
		code, body := try(tt.email, tt.password)
		if code != wantCode || body != wantBody {
			t.Errorf("%s: got %d, want %d; the page differs: %v", tt.what, code, wantCode, body != wantBody)
		}
	}
}

// TestEditor_SignInSlowDown: repeated failures make the next attempt wait,
// the right password included, until the clock has moved on.
func TestEditor_SignInSlowDown(t *testing.T) {
	t.Parallel()
	e := MustStart(t, web.DefaultLimits)
	if _, err := e.eds.Create(t.Context(), "ed@example.com", editorPassword); err != nil {
		t.Fatal(err)
	}
	try := func(password string) int {
		code, _ := e.do("POST", "/editor/login", form, url.Values{"email": {"ed@example.com"}, "password": {password}}.Encode())
		return code
	}
	for i := 1; i <= 5; i++ {
		if code := try("wrong password"); code != 401 {
			t.Fatalf("failure %d: got %d", i, code)
		}
	}
	if code := try(editorPassword); code != 401 {
		t.Fatalf("the right password during the wait: got %d, want 401", code)
	}
	e.clock.Add(2 * time.Second)
	if code := try(editorPassword); code != 303 {
		t.Fatalf("the right password after the wait: got %d, want 303", code)
	}
}

// TestEditor_TwoFactor enrols an editor in two-factor sign-in on the account
// page and signs in with a code and with a recovery code, through the real
// HTTP server.
func TestEditor_TwoFactor(t *testing.T) {
	t.Parallel()
	e := MustStart(t, web.DefaultLimits)
	c := e.MustEditor("ed@example.com")

	_, body := get(t, c, e.srv.URL+"/editor/account")
	if !strings.Contains(body, "Set up two-factor sign-in") {
		t.Fatalf("account page:\n%.800s", body)
	}
	resp, err := c.PostForm(e.srv.URL+"/editor/account/totp", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	_, body = get(t, c, e.srv.URL+"/editor/account")
	m := regexp.MustCompile(`id="totp-secret" type="text" readonly value="([A-Z2-7 ]+)"`).FindStringSubmatch(body)
	if m == nil || !strings.Contains(body, "<svg class=\"qr\"") || !strings.Contains(body, "otpauth://totp/Tidings:ed@example.com?") {
		t.Fatalf("no QR code and secret on the set-up page:\n%s", body)
	}
	secret, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(strings.ReplaceAll(m[1], " ", ""))
	if err != nil {
		t.Fatal(err)
	}

	// A wrong code is refused on the page; the right one turns it on and
	// shows the recovery codes once.
	if code, body := e.doAs(c, "POST", "/editor/account/totp/confirm", url.Values{"code": {"000000"}}); code != 422 || !strings.Contains(body, "not right") {
		t.Fatalf("wrong confirmation code: %d\n%.600s", code, body)
	}
	resp, err = c.PostForm(e.srv.URL+"/editor/account/totp/confirm", url.Values{"code": {editors.TOTP(secret, e.clock.Now())}})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	body = string(b)
	if resp.Request.Method != "GET" || resp.Request.URL.Path != "/editor/account" {
		t.Fatalf("after confirming the browser is at %s %s", resp.Request.Method, resp.Request.URL)
	}
	codes := regexp.MustCompile(`<li><code>([a-z0-9]{5}-[a-z0-9]{5})</code></li>`).FindAllStringSubmatch(body, -1)
	if len(codes) != 10 || !strings.Contains(body, "Two-factor sign-in is on") {
		t.Fatalf("%d recovery codes shown:\n%s", len(codes), body)
	}
	if _, body := get(t, c, e.srv.URL+"/editor/account"); strings.Contains(body, codes[0][1]) {
		t.Fatal("the recovery codes are shown a second time")
	}
	e.clock.Add(30 * time.Second)

	// Sign in again: the password leads to the code page, no session yet.
	signIn := func() *http.Client {
		t.Helper()
		nc := e.client()
		resp, err := nc.PostForm(e.srv.URL+"/editor/login", url.Values{"email": {"ed@example.com"}, "password": {editorPassword}, "next": {"/editor/lists"}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.Request.URL.Path != "/editor/login/code" {
			t.Fatalf("after the password the browser is at %s", resp.Request.URL)
		}
		if resp, _ := get(t, nc, e.srv.URL+"/editor/"); resp.Request.URL.Path != "/editor/login" {
			t.Fatalf("signed in before the code: at %s", resp.Request.URL)
		}
		return nc
	}
	nc := signIn()
	if code, body := e.doAs(nc, "POST", "/editor/login/code", url.Values{"code": {"123456"}}); code != 401 || !strings.Contains(body, "not right") {
		t.Fatalf("wrong code: %d\n%.600s", code, body)
	}
	code := editors.TOTP(secret, e.clock.Now())
	resp, err = nc.PostForm(e.srv.URL+"/editor/login/code?next=%2Feditor%2Flists", url.Values{"code": {code}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Request.URL.Path != "/editor/lists" {
		t.Fatalf("after the code the browser is at %s, want /editor/lists", resp.Request.URL)
	}

	// The same code a second time is refused; a recovery code works once.
	nc = signIn()
	if status, _ := e.doAs(nc, "POST", "/editor/login/code", url.Values{"code": {code}}); status != 401 {
		t.Fatalf("replayed code: got %d, want 401", status)
	}
	if status, _ := e.doAs(nc, "POST", "/editor/login/code", url.Values{"code": {codes[0][1]}}); status != 303 {
		t.Fatalf("recovery code: got %d, want 303", status)
	}
	nc = signIn()
	if status, _ := e.doAs(nc, "POST", "/editor/login/code", url.Values{"code": {codes[0][1]}}); status != 401 {
		t.Fatalf("used recovery code: got %d, want 401", status)
	}

	// Without the pending sign-in's cookie, the code page sends to sign-in.
	if status, body := e.do("POST", "/editor/login/code", form, "code="+code); status != 410 || !strings.Contains(body, "sign in again") {
		t.Fatalf("code without a pending sign-in: %d\n%.400s", status, body)
	}

	// Turning it off needs a current code.
	e.clock.Add(30 * time.Second)
	if status, _ := e.doAs(c, "POST", "/editor/account/totp/disable", url.Values{"code": {codes[1][1]}}); status != 422 {
		t.Fatalf("disable with a recovery code: got %d, want 422", status)
	}
	resp, err = c.PostForm(e.srv.URL+"/editor/account/totp/disable", url.Values{"code": {editors.TOTP(secret, e.clock.Now())}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Request.URL.Query().Get("done") != "totp-off" {
		t.Fatalf("after disabling at %s", resp.Request.URL)
	}
	e.MustSignIn("ed@example.com")
}
