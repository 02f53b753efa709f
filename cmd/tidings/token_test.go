package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/tidings/tidings/internal/pgtest"
)

// envOf is a getenv holding the given pairs.
func envOf(kv ...string) func(string) string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) string { return m[k] }
}

// TestRun_Token drives `tidings token create|list|revoke` through run.
func TestRun_Token(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn := pgtest.MustCreateDB(t)
	env := envOf("TIDINGS_DATABASE_URL", dsn)
	tidings := func(args ...string) (string, error) {
		var out bytes.Buffer
		err := run(ctx, args, env, nil, &out, io.Discard)
		return out.String(), err
	}

	readSecret, err := tidings("token", "create", "--name", "dashboards", "--scope", "read", "--expires", "30d")
	if err != nil {
		t.Fatal(err)
	}
	writeSecret, err := tidings("token", "create", "--name", "ci")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{readSecret, writeSecret} {
		if !regexp.MustCompile(`^tdg_[A-Za-z0-9_-]{43}\n$`).MatchString(s) {
			t.Fatalf("token create printed %q, want one token on a line", s)
		}
	}

	list, err := tidings("token", "list")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(list), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "ID") || !strings.Contains(lines[0], "LAST USED") {
		t.Fatalf("token list:\n%s", list)
	}
	if f := strings.Fields(lines[1]); len(f) != 6 || f[1] != "ci" || f[2] != "write" || f[4] != "never" || f[5] != "never" {
		t.Fatalf("token list row %q", lines[1])
	}
	if f := strings.Fields(lines[2]); len(f) != 6 || f[1] != "dashboards" || f[2] != "read" || f[5] == "never" {
		t.Fatalf("token list row %q", lines[2])
	}
	if strings.Contains(list, "tdg_") {
		t.Fatalf("token list shows a secret:\n%s", list)
	}

	id := strings.Fields(lines[2])[0]
	if out, err := tidings("token", "revoke", id); err != nil || !strings.Contains(out, "revoked") {
		t.Fatalf("token revoke %s: %q, %v", id, out, err)
	}
	if list, _ = tidings("token", "list"); strings.Contains(list, "dashboards") {
		t.Fatalf("revoked token still listed:\n%s", list)
	}

	t.Run("ErrBadInput", func(t *testing.T) {
		for _, tt := range []struct {
			args []string
			want string
		}{
			{[]string{"token"}, "usage"},
			{[]string{"token", "mint"}, "unknown token command"},
			{[]string{"token", "create", "--name", "x", "--scope", "admin"}, "--scope"},
			{[]string{"token", "create", "--name", "x", "--expires", "soon"}, "--expires"},
			{[]string{"token", "create", "--name", "x", "--expires", "-1d"}, "--expires"},
			{[]string{"token", "create", "--name", strings.Repeat("n", 101)}, "1 to 100"},
			{[]string{"token", "create", "--name", "x", "extra"}, "no arguments"},
			{[]string{"token", "list", "extra"}, "no arguments"},
			{[]string{"token", "revoke"}, "usage"},
			{[]string{"token", "revoke", "abc"}, "not a token ID"},
			{[]string{"token", "revoke", "0"}, "not a token ID"},
			{[]string{"token", "revoke", id}, "no API token " + id},
			{[]string{"token", "revoke", "999999"}, "no API token 999999"},
		} {
			_, err := tidings(tt.args...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("%q: got %v, want an error saying %q", tt.args, err, tt.want)
			}
		}
		if list, _ := tidings("token", "list"); len(strings.Split(strings.TrimSpace(list), "\n")) != 2 {
			t.Fatalf("refused commands changed the tokens:\n%s", list)
		}
		if err := run(ctx, []string{"token", "list"}, envOf(), nil, io.Discard, io.Discard); err == nil || !strings.Contains(err.Error(), "TIDINGS_DATABASE_URL") {
			t.Errorf("token list without a database: got %v", err)
		}
	})
}

// TestRun_ServeDevTokenStable starts `serve --dev` twice on one database and
// checks that both print the same development token, and that it works.
func TestRun_ServeDevTokenStable(t *testing.T) {
	t.Parallel()
	dsn := pgtest.MustCreateDB(t)
	re := regexp.MustCompile(`Development API token: (tdg_\S+)`)
	var tokens []string
	for i := 0; i < 2; i++ {
		out, base, stop := startDev(t, dsn)
		m := re.FindStringSubmatch(out)
		if m == nil {
			stop()
			t.Fatalf("run %d printed no development token:\n%s", i+1, out)
		}
		tokens = append(tokens, m[1])
		req, _ := http.NewRequest("GET", base+"/api/v1/lists", nil)
		req.Header.Set("Authorization", "Bearer "+m[1])
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			stop()
			t.Fatal(err)
		}
		resp.Body.Close()
		stop()
		if resp.StatusCode != 200 {
			t.Fatalf("run %d: the development token got %d", i+1, resp.StatusCode)
		}
	}
	if tokens[0] != tokens[1] {
		t.Fatalf("the second start printed %s, want the first's %s", tokens[1], tokens[0])
	}
}

// startDev runs `serve --dev` until it has printed its welcome and returns
// what it printed, its base URL and a function that stops it.
func startDev(t *testing.T, dsn string) (out, base string, stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--dev", "--listen", "127.0.0.1:0"}, envOf("TIDINGS_DATABASE_URL", dsn), nil, pw, io.Discard)
		pw.Close()
	}()
	buf := make([]byte, 64<<10)
	for !strings.Contains(out, "/healthz") {
		n, err := pr.Read(buf)
		if err != nil {
			cancel()
			t.Fatalf("serve exited: %v; printed %q", <-done, out)
		}
		out += string(buf[:n])
	}
	go io.Copy(io.Discard, pr)
	stop = func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	}
	return out, regexp.MustCompile(`Listening on\s+(http://\S+)`).FindStringSubmatch(out)[1], stop
}
