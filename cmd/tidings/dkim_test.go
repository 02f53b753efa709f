package main

import (
	"bytes"
	"context"
	"io"
	"regexp"
	"strings"
	"testing"

	"github.com/tidings/tidings/internal/pgtest"
)

// keygenRecord reads the record that `tidings dkim keygen` printed: its
// name, and the value on the line that holds v=DKIM1.
func keygenRecord(t *testing.T, out string) (name, value string) {
	t.Helper()
	n := regexp.MustCompile(`(?m)^\s*name:\s+(\S+)$`).FindStringSubmatch(out)
	v := regexp.MustCompile(`(?m)^\s*value:\s+(v=DKIM1; k=(?:rsa|ed25519); p=[A-Za-z0-9+/=]+)$`).FindStringSubmatch(out)
	if n == nil || v == nil {
		t.Fatalf("keygen printed no record name and value:\n%s", out)
	}
	return n[1], v[1]
}

// TestRun_DKIM drives `tidings dkim keygen|list|remove` through run.
func TestRun_DKIM(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn := pgtest.MustCreateDB(t)
	secret := strings.Repeat("k", 32)
	env := envOf("TIDINGS_DATABASE_URL", dsn, "TIDINGS_SECRET", secret)
	tidings := func(args ...string) (string, error) {
		var out bytes.Buffer
		err := run(ctx, args, env, nil, &out, io.Discard)
		return out.String(), err
	}

	out, err := tidings("dkim", "keygen", "--domain", "Example.com", "--selector", "r1")
	if err != nil {
		t.Fatal(err)
	}
	name, value := keygenRecord(t, out)
	if name != "r1._domainkey.example.com" || !strings.HasPrefix(value, "v=DKIM1; k=rsa; p=MII") {
		t.Errorf("rsa record %s %q", name, value)
	}
	// The zone file form: quoted strings of at most 255 that join to the value.
	zone := regexp.MustCompile(`(?m)^r1\._domainkey\.example\.com\. IN TXT \( (.+) \)$`).FindStringSubmatch(out)
	if zone == nil {
		t.Fatalf("no zone file line:\n%s", out)
	}
	var joined string
	for _, s := range regexp.MustCompile(`"([^"]*)"`).FindAllStringSubmatch(zone[1], -1) {
		if len(s[1]) > 255 {
			t.Errorf("zone string of %d characters", len(s[1]))
		}
		joined += s[1]
	}
	if joined != value {
		t.Errorf("zone strings join to %q, want %q", joined, value)
	}

	out, err = tidings("dkim", "keygen", "--domain", "example.com", "--algorithm", "ed25519")
	if err != nil {
		t.Fatal(err)
	}
	name, value = keygenRecord(t, out)
	if !regexp.MustCompile(`^tidings-\d{6}-ed25519\._domainkey\.example\.com$`).MatchString(name) || !strings.HasPrefix(value, "v=DKIM1; k=ed25519; p=") {
		t.Errorf("ed25519 record %s %q", name, value)
	}
	edSelector, _, _ := strings.Cut(name, ".")

	list, err := tidings("dkim", "list")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(list), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "DOMAIN") {
		t.Fatalf("dkim list:\n%s", list)
	}
	if f := strings.Fields(lines[1]); len(f) < 6 || f[0] != "example.com" || f[1] != "r1" || f[2] != "rsa" || f[4] != "yes" {
		t.Errorf("dkim list row %q", lines[1])
	}
	if strings.Contains(list, "PRIVATE") || strings.Contains(list, "p=") {
		t.Errorf("dkim list shows key material:\n%s", list)
	}

	// Under another secret the keys are there but do not sign.
	var other bytes.Buffer
	if err := run(ctx, []string{"dkim", "list"}, envOf("TIDINGS_DATABASE_URL", dsn, "TIDINGS_SECRET", strings.Repeat("x", 32)), nil, &other, io.Discard); err != nil {
		t.Fatal(err)
	}
	if strings.Count(other.String(), "another TIDINGS_SECRET") != 2 {
		t.Errorf("dkim list under another secret:\n%s", other.String())
	}

	if out, err := tidings("dkim", "remove", "--domain", "example.com", "--selector", edSelector); err != nil || !strings.Contains(out, "removed") {
		t.Fatalf("dkim remove: %q, %v", out, err)
	}
	if list, _ := tidings("dkim", "list"); strings.Contains(list, "ed25519") {
		t.Fatalf("removed key still listed:\n%s", list)
	}

	t.Run("ErrBadInput", func(t *testing.T) {
		for _, tt := range []struct {
			args []string
			want string
		}{
			{[]string{"dkim"}, "usage"},
			{[]string{"dkim", "rotate"}, "unknown dkim command"},
			{[]string{"dkim", "keygen"}, "--domain is required"},
			{[]string{"dkim", "keygen", "--domain", "example.com", "extra"}, "no arguments"},
			{[]string{"dkim", "keygen", "--domain", "example.com", "--algorithm", "dsa"}, `"dsa"`},
			{[]string{"dkim", "keygen", "--domain", "not a domain"}, `"not a domain"`},
			{[]string{"dkim", "keygen", "--domain", "example.com", "--selector", "a_b"}, `"a_b"`},
			{[]string{"dkim", "keygen", "--domain", "example.com", "--selector", "r1"}, "already has a key"},
			{[]string{"dkim", "list", "extra"}, "no arguments"},
			{[]string{"dkim", "remove", "--domain", "example.com"}, "--selector are required"},
			{[]string{"dkim", "remove", "--domain", "example.com", "--selector", "nope"}, "no key nope"},
		} {
			_, err := tidings(tt.args...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("%q: got %v, want an error saying %q", tt.args, err, tt.want)
			}
		}
		if list, _ := tidings("dkim", "list"); len(strings.Split(strings.TrimSpace(list), "\n")) != 2 {
			t.Fatalf("refused commands changed the keys:\n%s", list)
		}
		for _, tt := range []struct {
			env  func(string) string
			want string
		}{
			{envOf(), "TIDINGS_DATABASE_URL and TIDINGS_SECRET"},
			{envOf("TIDINGS_DATABASE_URL", dsn), "TIDINGS_SECRET"},
			{envOf("TIDINGS_DATABASE_URL", dsn, "TIDINGS_SECRET", "short"), "TIDINGS_SECRET"},
			{envOf("TIDINGS_SECRET", secret), "TIDINGS_DATABASE_URL"},
		} {
			err := run(ctx, []string{"dkim", "keygen", "--domain", "example.org"}, tt.env, nil, io.Discard, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("keygen with env %q: got %v, want an error naming %s", []string{tt.env("TIDINGS_DATABASE_URL"), tt.env("TIDINGS_SECRET")}, err, tt.want)
			}
		}
	})
}
