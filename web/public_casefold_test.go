package web_test

import (
	"testing"
	"time"

	"github.com/tidings/tidings/web"
)

// TestSubscribe_OneInbox: spellings of one address that differ in case are
// one subscriber and share the per-address rate limit, so they cannot be
// used to flood one inbox.
func TestSubscribe_OneInbox(t *testing.T) {
	t.Parallel()
	e := MustStart(t, web.Limits{SignupIPEvery: time.Hour, SignupIPBurst: 100, SignupAddressEvery: time.Hour, SignupAddressBurst: 2})
	for i, tt := range []struct {
		email string
		want  int
	}{
		{"CaseA@example.com", 202},
		{"CASEA@example.com", 202},
		{"casea@EXAMPLE.com", 429},
	} {
		code, body := e.do("POST", "/subscribe/weekly", jsonCT, `{"email":"`+tt.email+`"}`)
		if code != tt.want {
			t.Fatalf("sign-up %d (%s): got %d, want %d: %s", i+1, tt.email, code, tt.want, body)
		}
	}
	if got := e.counts()[0]; got != 1 {
		t.Fatalf("subscribers = %d, want 1", got)
	}
}
