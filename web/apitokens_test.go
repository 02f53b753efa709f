package web_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/tidings/tidings/editors"
	"github.com/tidings/tidings/web"
)

// TestAPI_TokenScope checks that a read token reads and is refused, with a
// JSON 403 and nothing changed, on every state-changing method.
func TestAPI_TokenScope(t *testing.T) {
	t.Parallel()
	e := MustStart(t, web.DefaultLimits)
	_, read, err := e.eds.CreateToken(t.Context(), editors.TokenRequest{Name: "dashboards", Scope: editors.ScopeRead})
	if err != nil {
		t.Fatal(err)
	}
	auth := []string{"Authorization", "Bearer " + read}
	for _, path := range []string{"/api/v1/lists", "/api/v1/lists/weekly", "/api/v1/subscribers", "/api/v1/broadcasts"} {
		if code, body := e.do("GET", path, "", "", auth...); code != 200 {
			t.Errorf("read token GET %s: got %d %s", path, code, body)
		}
	}
	before := e.counts()
	var lists int
	e.db.Get(&lists, `SELECT count(*) FROM lists`)
	for _, tt := range []struct{ method, path, body string }{
		{"POST", "/api/v1/lists", `{"slug":"daily","name":"Daily","from_email":"d@example.com","timezone":"UTC","postal_address":"x"}`},
		{"PATCH", "/api/v1/lists/weekly", `{"name":"Renamed"}`},
		{"POST", "/api/v1/subscribers", `{"email":"ada@example.com","lists":["weekly"]}`},
		{"POST", "/api/v1/broadcasts", `{"list":"weekly","subject":"Hi","body":"Hello"}`},
		{"DELETE", "/api/v1/lists/weekly/steps/1", ""},
		{"PUT", "/api/v1/lists/weekly/policy", `{}`},
	} {
		code, body := e.do(tt.method, tt.path, jsonCT, tt.body, auth...)
		var got struct{ Error string }
		if code != 403 || json.Unmarshal([]byte(body), &got) != nil || !strings.Contains(got.Error, "read-only") {
			t.Errorf("read token %s %s: got %d %s, want 403 with a JSON error", tt.method, tt.path, code, body)
		}
	}
	var after int
	e.db.Get(&after, `SELECT count(*) FROM lists`)
	var name string
	e.db.Get(&name, `SELECT name FROM lists WHERE slug = 'weekly'`)
	if e.counts() != before || after != lists || name != "Weekly Leader" {
		t.Fatalf("a read token changed something: counts %v -> %v, lists %d -> %d, name %q", before, e.counts(), lists, after, name)
	}
	// The write token of MustStart may.
	if code, body := e.api("PATCH", "/lists/weekly", `{"name":"Renamed"}`); code != 200 {
		t.Fatalf("write token PATCH: %d %s", code, body)
	}
}

// TestAPI_TokenExpiredAndRevoked checks that an expired and a revoked token
// get 401 with a JSON error.
func TestAPI_TokenExpiredAndRevoked(t *testing.T) {
	t.Parallel()
	e := MustStart(t, web.DefaultLimits)
	ctx := t.Context()
	_, short, err := e.eds.CreateToken(ctx, editors.TokenRequest{Name: "short", Lifetime: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	gone, goneSecret, err := e.eds.CreateToken(ctx, editors.TokenRequest{Name: "gone"})
	if err != nil {
		t.Fatal(err)
	}
	if code, _ := e.do("GET", "/api/v1/lists", "", "", "Authorization", "Bearer "+short); code != 200 {
		t.Fatalf("before expiry: got %d", code)
	}
	e.clock.Add(time.Hour)
	defer e.clock.Add(-time.Hour)
	if code, body := e.do("GET", "/api/v1/lists", "", "", "Authorization", "Bearer "+short); code != 401 || !strings.Contains(body, "expired") {
		t.Fatalf("expired token: got %d %s", code, body)
	}
	if err := e.eds.RevokeToken(ctx, gone.ID); err != nil {
		t.Fatal(err)
	}
	if code, body := e.do("GET", "/api/v1/lists", "", "", "Authorization", "Bearer "+goneSecret); code != 401 || !strings.Contains(body, `"error"`) {
		t.Fatalf("revoked token: got %d %s", code, body)
	}
}
