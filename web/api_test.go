package web_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/tidings/tidings/web"
)

func TestAPI_Auth(t *testing.T) {
	t.Parallel()
	e := MustStart(t, web.DefaultLimits)
	for _, h := range [][]string{
		nil,
		{"Authorization", "Bearer"},
		{"Authorization", "Bearer tdg_nope"},
		{"Authorization", "Basic " + e.token},
		{"Authorization", e.token},
	} {
		code, body := e.do("GET", "/api/v1/lists", "", "", h...)
		if code != 401 || !strings.Contains(body, `"error"`) {
			t.Errorf("headers %q: got %d %s, want 401 with an error", h, code, body)
		}
	}
	if code, _ := e.api("GET", "/lists", ""); code != 200 {
		t.Fatalf("valid token: got %d", code)
	}
}

func TestAPI_Lists(t *testing.T) {
	t.Parallel()
	e := MustStart(t, web.DefaultLimits)
	code, body := e.api("POST", "/lists", `{"slug":"daily","name":"Daily","from_email":"d@example.com","timezone":"Asia/Tokyo","postal_address":"2 Road","welcome_subject":"Hi {{or .FirstName \"there\"}}","welcome_body":"Welcome."}`)
	if code != 201 || !strings.Contains(body, `"slug": "daily"`) {
		t.Fatalf("create: %d %s", code, body)
	}
	code, body = e.api("PATCH", "/lists/daily", `{"name":"Daily Notes"}`)
	if code != 200 || !strings.Contains(body, `"Daily Notes"`) || !strings.Contains(body, `"Asia/Tokyo"`) {
		t.Fatalf("patch: %d %s", code, body)
	}
	code, body = e.api("GET", "/lists", "")
	if code != 200 || !strings.Contains(body, `"daily"`) || !strings.Contains(body, `"weekly"`) {
		t.Fatalf("index: %d %s", code, body)
	}

	t.Run("ErrBadInput", func(t *testing.T) {
		var before int
		e.db.Get(&before, `SELECT count(*) FROM lists`)
		for _, tt := range []struct {
			method, path, body string
			want               int
		}{
			{"POST", "/lists", `{"slug":"Bad Slug","name":"x","from_email":"x@example.com"}`, 422},
			{"POST", "/lists", `{"slug":"weekly","name":"x","from_email":"x@example.com"}`, 409},
			{"POST", "/lists", `{"slug":"x","name":"","from_email":"x@example.com"}`, 422},
			{"POST", "/lists", `{"slug":"x","name":"x","from_email":"nope"}`, 422},
			{"POST", "/lists", `{"slug":"x","name":"x","from_email":"x@example.com","timezone":"Nowhere/Town"}`, 422},
			{"POST", "/lists", `{"slug":"x","name":"x","from_email":"x@example.com","welcome_subject":"{{.Foo}}"}`, 422},
			{"POST", "/lists", `{"slug":"x","name":"x","from_email":"x@example.com","welcome_body":"{{if .Name}}"}`, 422},
			{"POST", "/lists", `{"slug":"x","name":"x","from_email":"x@example.com","extra":1}`, 400},
			{"POST", "/lists", `not json`, 400},
			{"POST", "/lists", ``, 400},
			{"PATCH", "/lists/weekly", `{"slug":"other"}`, 422},
			{"PATCH", "/lists/weekly", `{"timezone":"Bad/Zone"}`, 422},
			{"PATCH", "/lists/weekly", `{"welcome_body":"{{.Nope}}"}`, 422},
			{"PATCH", "/lists/nope", `{"name":"x"}`, 404},
			{"GET", "/lists/nope", ``, 404},
			{"DELETE", "/lists/weekly", ``, 405},
		} {
			code, body := e.api(tt.method, tt.path, tt.body)
			if code != tt.want || !strings.Contains(body, `"error"`) {
				t.Errorf("%s %s %q: got %d %s, want %d with an error", tt.method, tt.path, tt.body, code, body, tt.want)
			}
		}
		var after int
		e.db.Get(&after, `SELECT count(*) FROM lists`)
		var name, tz string
		e.db.QueryRow(`SELECT name, timezone FROM lists WHERE slug = 'weekly'`).Scan(&name, &tz)
		if after != before || name != "Weekly Leader" || tz != "Europe/London" {
			t.Fatalf("bad requests changed lists: %d -> %d, weekly = %q %q", before, after, name, tz)
		}
	})
}

func TestAPI_Steps(t *testing.T) {
	t.Parallel()
	e := MustStart(t, web.DefaultLimits)
	code, body := e.api("POST", "/lists/weekly/steps", `{"subject":"Week 1: {{or .FirstName \"there\"}}","body":"**Listen** first.","delay_days":1,"send_time":"08:00","weekdays":["mon","tue","wed","thu","fri"]}`)
	if code != 201 {
		t.Fatalf("create: %d %s", code, body)
	}
	var st struct {
		ID       int64    `json:"id"`
		Position int      `json:"position"`
		Weekdays []string `json:"weekdays"`
	}
	json.Unmarshal([]byte(body), &st)
	if st.Position != 1 || len(st.Weekdays) != 5 {
		t.Fatalf("created step = %+v from %s", st, body)
	}
	id := itoa(st.ID)
	if code, body := e.api("PATCH", "/lists/weekly/steps/"+id, `{"subject":"Week one"}`); code != 200 || !strings.Contains(body, "Week one") {
		t.Fatalf("patch: %d %s", code, body)
	}
	if code, body := e.api("GET", "/lists/weekly/steps", ""); code != 200 || !strings.Contains(body, "Week one") {
		t.Fatalf("index: %d %s", code, body)
	}

	t.Run("ErrBadInput", func(t *testing.T) {
		for _, tt := range []struct {
			method, path, body string
			want               int
		}{
			{"POST", "/lists/weekly/steps", `{"subject":"x","body":"y","send_time":"25:00"}`, 422},
			{"POST", "/lists/weekly/steps", `{"subject":"x","body":"y","send_time":"8am"}`, 422},
			{"POST", "/lists/weekly/steps", `{"subject":"x","body":"y","weekdays":["funday"]}`, 422},
			{"POST", "/lists/weekly/steps", `{"subject":"x","body":"y","delay_days":-1}`, 422},
			{"POST", "/lists/weekly/steps", `{"subject":"x","body":"{{.Unknown}}"}`, 422},
			{"POST", "/lists/weekly/steps", `{"subject":"{{","body":"y"}`, 422},
			{"POST", "/lists/weekly/steps", `{"subject":"","body":"y"}`, 422},
			{"POST", "/lists/weekly/steps", `{"subject":"x","body":"y","delay_days":"7"}`, 400},
			{"POST", "/lists/nope/steps", `{"subject":"x","body":"y"}`, 404},
			{"PATCH", "/lists/weekly/steps/999999", `{"subject":"x"}`, 404},
			{"PATCH", "/lists/weekly/steps/" + id, `{"send_time":"12:60"}`, 422},
			{"DELETE", "/lists/weekly/steps/999999", ``, 404},
			{"GET", "/lists/weekly/steps/999999", ``, 404},
		} {
			var before int
			e.db.Get(&before, `SELECT count(*) FROM steps WHERE deleted_at IS NULL`)
			code, body := e.api(tt.method, tt.path, tt.body)
			if code != tt.want || !strings.Contains(body, `"error"`) {
				t.Errorf("%s %s %q: got %d %s, want %d with an error", tt.method, tt.path, tt.body, code, body, tt.want)
			}
			var after int
			e.db.Get(&after, `SELECT count(*) FROM steps WHERE deleted_at IS NULL`)
			if after != before {
				t.Errorf("%s %s %q changed the steps: %d -> %d", tt.method, tt.path, tt.body, before, after)
			}
		}
		var subject, sendTime string
		e.db.QueryRow(`SELECT subject, to_char(send_time, 'HH24:MI') FROM steps WHERE id = $1`, st.ID).Scan(&subject, &sendTime)
		if subject != "Week one" || sendTime != "08:00" {
			t.Fatalf("bad requests changed the step: %q %q", subject, sendTime)
		}
	})

	if code, _ := e.api("DELETE", "/lists/weekly/steps/"+id, ""); code != 204 {
		t.Fatalf("delete: %d", code)
	}
	if code, _ := e.api("GET", "/lists/weekly/steps/"+id, ""); code != 404 {
		t.Fatalf("deleted step still there: %d", code)
	}
}

func TestAPI_Subscribers(t *testing.T) {
	t.Parallel()
	e := MustStart(t, web.DefaultLimits)
	code, body := e.api("POST", "/subscribers", `{"email":"ada@example.com","name":"Ada Lovelace","timezone":"Europe/London","lists":["weekly"],"status":"confirmed"}`)
	if code != 201 {
		t.Fatalf("create: %d %s", code, body)
	}
	e.do("POST", "/subscribe/weekly", jsonCT, `{"email":"bo@example.com","name":"Bo"}`)

	code, body = e.api("GET", "/subscribers?list=weekly&status=confirmed", "")
	if code != 200 || !strings.Contains(body, "ada@example.com") || strings.Contains(body, "bo@example.com") {
		t.Fatalf("filter: %d %s", code, body)
	}
	code, body = e.api("GET", "/subscribers?q=lovelace", "")
	if code != 200 || !strings.Contains(body, "ada@example.com") {
		t.Fatalf("search: %d %s", code, body)
	}
	code, body = e.api("GET", "/subscribers?limit=1", "")
	if code != 200 || !strings.Contains(body, `"next"`) {
		t.Fatalf("page: %d %s", code, body)
	}
	id := e.subscriberID("ada@example.com")
	code, body = e.api("GET", "/subscribers/"+itoa(id), "")
	if code != 200 || !strings.Contains(body, `"imported"`) || !strings.Contains(body, `"messages"`) {
		t.Fatalf("show: %d %s", code, body)
	}

	t.Run("ErrBadInput", func(t *testing.T) {
		for _, tt := range []struct {
			method, path, body string
			want               int
		}{
			{"GET", "/subscribers?status=happy", ``, 422},
			{"GET", "/subscribers?limit=0", ``, 422},
			{"GET", "/subscribers?limit=abc", ``, 422},
			{"GET", "/subscribers?after=-1", ``, 422},
			{"GET", "/subscribers/999999", ``, 404},
			{"POST", "/subscribers", `{"email":"bad","lists":["weekly"]}`, 422},
			{"POST", "/subscribers", `{"email":"x@example.com","lists":["nope"]}`, 404},
			{"POST", "/subscribers", `{"email":"x@example.com","lists":["weekly"],"status":"bounced"}`, 422},
			{"POST", "/subscribers", `{"email":"x@example.com","lists":["weekly"],"timezone":"No/Where"}`, 422},
			{"POST", "/subscribers", `{"email":"x@example.com","name":"a\nb","lists":["weekly"]}`, 422},
			{"POST", "/subscribers", `{"email":"x@example.com","lists":"weekly"}`, 400},
		} {
			before := e.counts()
			code, body := e.api(tt.method, tt.path, tt.body)
			if code != tt.want || !strings.Contains(body, `"error"`) {
				t.Errorf("%s %s %q: got %d %s, want %d with an error", tt.method, tt.path, tt.body, code, body, tt.want)
			}
			if after := e.counts(); after != before {
				t.Errorf("%s %s %q changed %v -> %v", tt.method, tt.path, tt.body, before, after)
			}
		}
	})
}
