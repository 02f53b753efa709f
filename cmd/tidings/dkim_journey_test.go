package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	netmail "net/mail"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/dkim"

	"github.com/tidings/tidings/internal/devmail"
)

// demoDomain is the From domain of the demo list.
const demoDomain = "tidings.localhost"

// mustSignedForDemo fails unless m has a passing rsa-sha256 and a passing
// ed25519-sha256 signature with d= the demo list's From domain, checked
// against the records keygen printed.
func mustSignedForDemo(t *testing.T, m devmail.Message, records map[string]string) {
	t.Helper()
	vs, err := dkim.VerifyWithOptions(bytes.NewReader(m.Raw), &dkim.VerifyOptions{
		LookupTXT: func(name string) ([]string, error) {
			if r, ok := records[name]; ok {
				return []string{r}, nil
			}
			return nil, &netErr{name}
		},
	})
	if err != nil {
		t.Fatalf("%q: verify: %v", m.Subject, err)
	}
	parsed, err := netmail.ReadMessage(bytes.NewReader(m.Raw))
	if err != nil {
		t.Fatal(err)
	}
	fields := parsed.Header["Dkim-Signature"]
	passed := map[string]bool{}
	for i, v := range vs {
		a := ""
		for _, tag := range strings.Split(fields[i], ";") {
			if k, val, _ := strings.Cut(tag, "="); strings.TrimSpace(k) == "a" {
				a = strings.TrimSpace(val)
			}
		}
		if v.Err != nil || v.Domain != demoDomain {
			t.Errorf("%q: %s signature d=%s: %v", m.Subject, a, v.Domain, v.Err)
			continue
		}
		passed[a] = true
	}
	if !passed["rsa-sha256"] || !passed["ed25519-sha256"] {
		t.Errorf("%q: passing signatures %v, want rsa-sha256 and ed25519-sha256 for %s", m.Subject, passed, demoDomain)
	}
	if from := m.Header.Get("From"); !strings.HasSuffix(from, "@"+demoDomain+">") {
		t.Errorf("%q: From %q is not at %s", m.Subject, from, demoDomain)
	}
}

// netErr is a lookup that found nothing.
type netErr struct{ name string }

func (e *netErr) Error() string { return "no TXT record at " + e.name }

// TestJourney_DKIM: keys made with `tidings dkim keygen` while the program
// runs sign every kind of message once it reloads them (as it does every
// 30 s), without a restart: the confirmation, the welcome and the bonuses,
// a step, a broadcast and a broadcast's test copy each carry a passing
// rsa-sha256 and ed25519-sha256 signature for the demo list's From domain,
// checked against the records keygen printed. Mail sent before the keys
// existed went out unsigned.
func TestJourney_DKIM(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ny, _ := time.LoadLocation("America/New_York")
	j := startJourney(t, time.Date(2026, 3, 2, 15, 0, 0, 0, ny))
	base := j.http.URL
	env := envOf("TIDINGS_DATABASE_URL", j.app.cfg.DatabaseURL, "TIDINGS_SECRET", j.app.cfg.Secret)
	tidings := func(args ...string) string {
		t.Helper()
		var out bytes.Buffer
		if err := run(ctx, args, env, nil, &out, io.Discard); err != nil {
			t.Fatalf("tidings %s: %v", strings.Join(args, " "), err)
		}
		return out.String()
	}
	signUp := func(browser *http.Client, email string) {
		t.Helper()
		resp, err := browser.Post(base+"/subscribe/effective-leadership", "application/json", strings.NewReader(`{"email":"`+email+`","timezone":"America/New_York"}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 202 {
			t.Fatalf("sign-up of %s: %d", email, resp.StatusCode)
		}
	}

	// Before there is a key: unsigned.
	signUp(http.DefaultClient, "early@example.com")
	msgs := j.tick()
	if len(msgs) != 1 || msgs[0].Header.Get("DKIM-Signature") != "" {
		t.Fatalf("before keygen: %d messages, signature %q; want one unsigned", len(msgs), msgs[0].Header.Get("DKIM-Signature"))
	}

	records := map[string]string{}
	for _, alg := range []string{"rsa", "ed25519"} {
		name, value := keygenRecord(t, tidings("dkim", "keygen", "--domain", demoDomain, "--algorithm", alg))
		records[name] = value
	}
	if err := j.app.loadDKIM(ctx); err != nil { // what the running program does every dkimRefresh
		t.Fatal(err)
	}

	var all []devmail.Message
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar}
	signUp(browser, "ada@example.com")
	msgs = j.tick()
	if len(msgs) != 1 || !strings.Contains(msgs[0].Subject, "Confirm") {
		t.Fatalf("after sign-up got %q, want one confirmation", subjects(msgs))
	}
	all = append(all, msgs...)
	resp, err := browser.Get(confirmLink.FindString(msgs[0].Text))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	msgs = j.tick()
	if got := strings.Join(subjects(msgs), "|"); len(msgs) != 3 || !strings.Contains(got, "Welcome") || strings.Count(got, "Bonus") != 2 {
		t.Fatalf("after confirming got %q, want the welcome and two bonuses", subjects(msgs))
	}
	all = append(all, msgs...)

	j.clock.Set(time.Date(2026, 3, 3, 8, 0, 0, 0, ny))
	msgs = j.tick()
	if len(msgs) != 1 || !strings.HasPrefix(msgs[0].Subject, "Week 1") {
		t.Fatalf("at 08:00 got %q, want week 1", subjects(msgs))
	}
	all = append(all, msgs...)

	// A broadcast and its test copy, through the JSON API.
	token := strings.TrimSpace(tidings("token", "create", "--name", "dkim-test"))
	api := func(path, body string) map[string]any {
		t.Helper()
		req, _ := http.NewRequest("POST", base+"/api/v1"+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode >= 300 {
			t.Fatalf("POST %s: %d %s", path, resp.StatusCode, b)
		}
		_ = json.Unmarshal(b, &out)
		return out
	}
	b := api("/broadcasts", `{"list":"effective-leadership","subject":"Signed news for {{or .FirstName \"you\"}}","body":"Hello, **Grüße**."}`)
	id, _ := b["id"].(float64)
	if id == 0 {
		t.Fatalf("broadcast created without an id: %v", b)
	}
	path := fmt.Sprintf("/broadcasts/%d/", int64(id))
	api(path+"test", `{"emails":["editor@example.org"]}`)
	api(path+"send", `{}`)
	msgs = j.tick()
	if len(msgs) != 2 {
		t.Fatalf("test copy and broadcast: got %q, want two", subjects(msgs))
	}
	all = append(all, msgs...)

	for _, m := range all {
		mustSignedForDemo(t, m, records)
	}
}
