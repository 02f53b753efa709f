package inbound

import (
	"strings"
	"testing"
)

func mustAddresses(tb testing.TB, domain string) *Addresses {
	tb.Helper()
	a, err := NewAddresses([]byte(strings.Repeat("k", 32)), domain)
	if err != nil {
		tb.Fatal(err)
	}
	return a
}

func TestAddresses(t *testing.T) {
	a := mustAddresses(t, "Bounces.Example.com")
	for _, tc := range []struct {
		addr string
		want Address
	}{
		{a.Bounce(1), Address{BounceAddress, 1}},
		{a.Bounce(1 << 40), Address{BounceAddress, 1 << 40}},
		{a.Unsubscribe(42), Address{UnsubscribeAddress, 42}},
		{a.Reply(7), Address{ReplyAddress, 7}},
	} {
		local, domain, _ := strings.Cut(tc.addr, "@")
		if len(local) > 64 || local != strings.ToLower(local) || domain != "bounces.example.com" {
			t.Errorf("%s: want a lower-case local part of at most 64 characters at bounces.example.com", tc.addr)
		}
		for _, spelling := range []string{tc.addr, strings.ToUpper(tc.addr), " " + tc.addr + " "} {
			got, err := a.Parse(spelling)
			if err != nil || got != tc.want {
				t.Errorf("Parse(%q) = %+v, %v; want %+v", spelling, got, err, tc.want)
			}
		}
	}
	if a.Bounce(5) == a.Bounce(6) || a.Bounce(5) == a.Reply(5) {
		t.Error("addresses of different items or kinds are the same")
	}
}

func TestAddresses_ErrAddress(t *testing.T) {
	a := mustAddresses(t, "bounces.example.com")
	other, err := NewAddresses([]byte(strings.Repeat("x", 32)), "bounces.example.com")
	if err != nil {
		t.Fatal(err)
	}
	b := a.Bounce(9)
	local, _, _ := strings.Cut(b, "@")
	flipped := []byte(local)
	flipped[5] ^= 1
	for _, addr := range []string{
		"",
		"postmaster@bounces.example.com",
		local + "@example.com",                   // another domain
		local,                                    // no domain
		"u" + local[1:] + "@bounces.example.com", // a bounce token as an unsubscribe
		"x" + local[1:] + "@bounces.example.com", // no such kind
		string(flipped) + "@bounces.example.com",
		local[:len(local)-1] + "@bounces.example.com",
		local + "a@bounces.example.com",
		other.Bounce(9),                                // another secret
		local[:len(local)-1] + "7@bounces.example.com", // the spare bits set
		strings.Replace(b, "b-", "b_", 1),
	} {
		if got, err := a.Parse(addr); err != ErrAddress {
			t.Errorf("Parse(%q) = %+v, %v; want ErrAddress", addr, got, err)
		}
	}
}

func TestNewAddresses_Bad(t *testing.T) {
	for _, tc := range []struct {
		secret, domain string
	}{
		{strings.Repeat("k", 32), ""},
		{strings.Repeat("k", 32), "a@b.example"},
		{strings.Repeat("k", 31), "bounces.example.com"},
	} {
		if _, err := NewAddresses([]byte(tc.secret), tc.domain); err == nil {
			t.Errorf("NewAddresses(%d bytes, %q): no error", len(tc.secret), tc.domain)
		}
	}
}

func FuzzAddresses_Parse(f *testing.F) {
	a := mustAddresses(f, "bounces.example.com")
	f.Add(a.Bounce(1))
	f.Add(a.Unsubscribe(2))
	f.Add("b-aaaaaaaaaaaaaaaaaaaaaaaaaa@bounces.example.com")
	f.Add("postmaster@bounces.example.com")
	f.Fuzz(func(t *testing.T, addr string) {
		got, err := a.Parse(addr)
		if err != nil {
			return
		}
		if again := a.make(got.Kind, got.ID); again != strings.ToLower(strings.TrimSpace(addr)) {
			t.Fatalf("Parse(%q) = %+v, which makes %q", addr, got, again)
		}
	})
}
