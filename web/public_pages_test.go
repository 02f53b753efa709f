package web_test

import (
	"net/url"
	"strings"
	"testing"

	"github.com/tidings/tidings/web"
)

// TestSubscribeForm_ShowsBonuses: the hosted form says what the list
// promises: its bonus emails, by subject where the subject has no merge
// fields, and how many.
func TestSubscribeForm_ShowsBonuses(t *testing.T) {
	t.Parallel()
	e := MustStart(t, web.DefaultLimits)
	e.db.MustExec(`INSERT INTO bonuses (list_id, position, subject, body, created_at, updated_at)
		SELECT id, p, s, 'b', now(), now() FROM lists, (VALUES (1, 'The one-on-one checklist'), (2, '{{.FirstName}}, your workbook')) v(p, s)`)
	code, body := e.do("GET", "/subscribe/weekly", "", "")
	if code != 200 {
		t.Fatalf("form: %d", code)
	}
	for _, want := range []string{"2 bonus emails", "<li>The one-on-one checklist</li>"} {
		if !strings.Contains(body, want) {
			t.Errorf("the form lacks %q\n%s", want, body)
		}
	}
	if strings.Contains(body, "{{") {
		t.Errorf("the form shows a merge field")
	}
}

// TestUnsubscribed_WayBack: the page after an unsubscribe offers to subscribe
// again, which starts a new confirmation rather than undoing it at once.
func TestUnsubscribed_WayBack(t *testing.T) {
	t.Parallel()
	e := MustStart(t, web.DefaultLimits)
	if code, _ := e.do("POST", "/subscribe/weekly", "application/x-www-form-urlencoded", "email=ada%40example.com"); code != 202 {
		t.Fatalf("sign-up: %d", code)
	}
	unsub := strings.TrimPrefix(e.links.Unsubscribe(e.subscriptionID("ada@example.com")), e.srv.URL)
	code, page := e.do("POST", unsub, "application/x-www-form-urlencoded", "")
	if code != 200 || !strings.Contains(page, "You are unsubscribed") {
		t.Fatalf("unsubscribe: %d\n%s", code, page)
	}
	for _, want := range []string{`action="/subscribe/weekly"`, `name="email" value="ada@example.com"`, "Subscribe again"} {
		if !strings.Contains(page, want) {
			t.Fatalf("the unsubscribed page lacks %s\n%s", want, page)
		}
	}
	var confirms int
	e.db.Get(&confirms, `SELECT count(*) FROM events WHERE kind = 'confirmation_requested'`)
	code, _ = e.do("POST", "/subscribe/weekly", "application/x-www-form-urlencoded", url.Values{"email": {"ada@example.com"}, "form": {"resubscribe"}}.Encode())
	if code != 202 {
		t.Fatalf("subscribe again: %d", code)
	}
	var after int
	e.db.Get(&after, `SELECT count(*) FROM events WHERE kind = 'confirmation_requested'`)
	if st := e.status("ada@example.com"); st != "pending" || after != confirms+1 {
		t.Errorf("after subscribing again: %s, %d confirmations (was %d); want pending and a new one", st, after, confirms)
	}
}
