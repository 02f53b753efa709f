package web_test

import (
	"strings"
	"testing"

	"github.com/tidings/tidings/web"
)

// TestEditor_NavMarksCurrentPage: the navigation marks the section the page
// is in, and only that one; editor pages carry no "Sent with Tidings".
func TestEditor_NavMarksCurrentPage(t *testing.T) {
	t.Parallel()
	e := MustStart(t, web.DefaultLimits)
	c := e.MustEditor("ed@example.com")
	for path, current := range map[string]string{
		"/editor/":                     "/editor/",
		"/editor/lists":                "/editor/lists",
		"/editor/lists/weekly/steps":   "/editor/lists",
		"/editor/broadcasts/new":       "/editor/broadcasts",
		"/editor/subscribers?q=nobody": "/editor/subscribers",
	} {
		_, body := get(t, c, e.srv.URL+path)
		if n := strings.Count(body, `aria-current="page"`); n != 1 {
			t.Errorf("GET %s: %d links marked current, want 1", path, n)
		}
		if !strings.Contains(body, `href="`+current+`" aria-current="page"`) {
			t.Errorf("GET %s: %s is not marked current", path, current)
		}
		if strings.Contains(body, "Sent with Tidings") {
			t.Errorf("GET %s: an editor page says Sent with Tidings", path)
		}
	}
}

// TestEditor_NewStepTakesUsualSendTime: a new step's send time is the one
// most of the list's steps have.
func TestEditor_NewStepTakesUsualSendTime(t *testing.T) {
	t.Parallel()
	e := MustStart(t, web.DefaultLimits)
	c := e.MustEditor("ed@example.com")
	_, body := get(t, c, e.srv.URL+"/editor/lists/weekly/steps/new")
	if !strings.Contains(body, `name="send_time" type="time" value=""`) {
		t.Errorf("with no steps the send time is not empty")
	}
	for _, at := range []string{"09:30", "07:00", "09:30"} {
		if code, body := e.api("POST", "/lists/weekly/steps", `{"subject":"S","body":"B","delay_days":7,"send_time":"`+at+`"}`); code != 201 {
			t.Fatalf("add step: %d %s", code, body)
		}
	}
	_, body = get(t, c, e.srv.URL+"/editor/lists/weekly/steps/new")
	if !strings.Contains(body, `name="send_time" type="time" value="09:30"`) {
		t.Errorf("a new step's send time is not the usual 09:30")
	}
}
