package editors_test

import (
	"strings"
	"testing"
	"time"

	"github.com/tidings/tidings"
	"github.com/tidings/tidings/editors"
)

func TestStore_CreateToken(t *testing.T) {
	t.Parallel()
	s, clk := MustOpenStore(t)
	ctx := t.Context()

	t.Run("OK", func(t *testing.T) {
		tok, secret, err := s.CreateToken(ctx, editors.TokenRequest{Name: " zapier ", Scope: "read", Lifetime: 30 * 24 * time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(secret, "tdg_") {
			t.Fatalf("token %q lacks its prefix", secret)
		}
		if tok.Name != "zapier" || tok.Scope != "read" || tok.CanWrite() || !tok.CreatedAt.Equal(clk.Now()) ||
			tok.ExpiresAt == nil || !tok.ExpiresAt.Equal(clk.Now().Add(30*24*time.Hour)) || tok.LastUsedAt != nil {
			t.Fatalf("created %+v", tok)
		}
		got, err := s.AuthenticateToken(ctx, secret)
		if err != nil || got.ID != tok.ID || got.Scope != "read" {
			t.Fatalf("AuthenticateToken: %+v, %v", got, err)
		}
	})
	t.Run("DefaultsToWriteForever", func(t *testing.T) {
		tok, _, err := s.CreateToken(ctx, editors.TokenRequest{Name: "ci"})
		if err != nil {
			t.Fatal(err)
		}
		if tok.Scope != "write" || !tok.CanWrite() || tok.ExpiresAt != nil {
			t.Fatalf("created %+v", tok)
		}
	})
	t.Run("ErrInvalid", func(t *testing.T) {
		var before int
		s.DB.Get(&before, `SELECT count(*) FROM api_tokens`)
		for _, req := range []editors.TokenRequest{
			{Name: ""},
			{Name: "   "},
			{Name: strings.Repeat("n", 101)},
			{Name: "nul\x00byte"},
			{Name: "bad \xff utf-8"},
			{Name: "ok", Scope: "admin"},
			{Name: "ok", Scope: "READ"},
			{Name: "ok", Lifetime: -time.Hour},
			{Name: "ok", Lifetime: 11 * 366 * 24 * time.Hour},
		} {
			_, _, err := s.CreateToken(ctx, req)
			wantCode(t, "CreateToken("+strings.ToValidUTF8(req.Name, "?")+", "+req.Scope+", "+req.Lifetime.String()+")", err, tidings.EINVALID)
		}
		var after int
		s.DB.Get(&after, `SELECT count(*) FROM api_tokens`)
		if after != before {
			t.Fatalf("%d tokens after refused requests, want %d", after, before)
		}
	})
}

func TestStore_AuthenticateToken(t *testing.T) {
	t.Parallel()
	s, clk := MustOpenStore(t)
	ctx := t.Context()

	t.Run("ErrUnknown", func(t *testing.T) {
		for _, secret := range []string{"", "tdg_nope", strings.Repeat("a", 101)} {
			_, err := s.AuthenticateToken(ctx, secret)
			wantCode(t, "AuthenticateToken("+secret+")", err, tidings.EUNAUTHORIZED)
		}
	})
	t.Run("ErrExpired", func(t *testing.T) {
		_, secret, err := s.CreateToken(ctx, editors.TokenRequest{Name: "short", Lifetime: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		clk.Add(59 * time.Minute)
		if _, err := s.AuthenticateToken(ctx, secret); err != nil {
			t.Fatalf("a minute before expiry: %v", err)
		}
		clk.Add(time.Minute)
		_, err = s.AuthenticateToken(ctx, secret)
		wantCode(t, "AuthenticateToken at expiry", err, tidings.EUNAUTHORIZED)
		if !strings.Contains(tidings.ErrorMessage(err), "expired") {
			t.Fatalf("message %q does not say it expired", tidings.ErrorMessage(err))
		}
	})
	t.Run("LastUsedAtMostOncePerMinute", func(t *testing.T) {
		tok, secret, err := s.CreateToken(ctx, editors.TokenRequest{Name: "busy"})
		if err != nil {
			t.Fatal(err)
		}
		lastUsed := func() time.Time {
			t.Helper()
			var at *time.Time
			if err := s.DB.Get(&at, `SELECT last_used_at FROM api_tokens WHERE id = $1`, tok.ID); err != nil || at == nil {
				t.Fatalf("last_used_at = %v, %v", at, err)
			}
			return *at
		}
		first := clk.Now()
		if _, err := s.AuthenticateToken(ctx, secret); err != nil {
			t.Fatal(err)
		}
		if got := lastUsed(); !got.Equal(first) {
			t.Fatalf("first use: last_used_at %v, want %v", got, first)
		}
		clk.Add(59 * time.Second)
		if _, err := s.AuthenticateToken(ctx, secret); err != nil {
			t.Fatal(err)
		}
		if got := lastUsed(); !got.Equal(first) {
			t.Fatalf("59 s later: last_used_at %v, want it left at %v", got, first)
		}
		clk.Add(time.Second)
		if _, err := s.AuthenticateToken(ctx, secret); err != nil {
			t.Fatal(err)
		}
		if got := lastUsed(); !got.Equal(clk.Now()) {
			t.Fatalf("a minute later: last_used_at %v, want %v", got, clk.Now())
		}
	})
}

func TestStore_RevokeToken(t *testing.T) {
	t.Parallel()
	s, _ := MustOpenStore(t)
	ctx := t.Context()
	keep, keepSecret, err := s.CreateToken(ctx, editors.TokenRequest{Name: "keep"})
	if err != nil {
		t.Fatal(err)
	}
	gone, goneSecret, err := s.CreateToken(ctx, editors.TokenRequest{Name: "gone", Scope: "read"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.RevokeToken(ctx, gone.ID); err != nil {
		t.Fatal(err)
	}
	_, err = s.AuthenticateToken(ctx, goneSecret)
	wantCode(t, "AuthenticateToken of a revoked token", err, tidings.EUNAUTHORIZED)
	if _, err := s.AuthenticateToken(ctx, keepSecret); err != nil {
		t.Fatalf("the other token: %v", err)
	}
	for _, id := range []int64{gone.ID, 0, -1, 999999} {
		wantCode(t, "RevokeToken("+itoa(id)+")", s.RevokeToken(ctx, id), tidings.ENOTFOUND)
	}
	list, err := s.Tokens(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].ID != keep.ID || list[0].Name != "keep" || list[0].LastUsedAt == nil {
		t.Fatalf("Tokens() = %+v, want only %q, used", list, "keep")
	}
}

func TestStore_DevToken(t *testing.T) {
	t.Parallel()
	s, _ := MustOpenStore(t)
	ctx := t.Context()
	first, err := s.DevToken(ctx, "dev")
	if err != nil {
		t.Fatal(err)
	}
	again, err := s.DevToken(ctx, "dev")
	if err != nil {
		t.Fatal(err)
	}
	if again != first {
		t.Fatalf("second DevToken %q, want the first %q", again, first)
	}
	tok, err := s.AuthenticateToken(ctx, first)
	if err != nil || !tok.CanWrite() {
		t.Fatalf("dev token: %+v, %v", tok, err)
	}
	if err := s.RevokeToken(ctx, tok.ID); err != nil {
		t.Fatal(err)
	}
	fresh, err := s.DevToken(ctx, "dev")
	if err != nil {
		t.Fatal(err)
	}
	if fresh == first {
		t.Fatal("after revoking, DevToken gave the revoked token again")
	}
	if _, err := s.AuthenticateToken(ctx, fresh); err != nil {
		t.Fatal(err)
	}
}

func TestParseLifetime(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"30d", 30 * 24 * time.Hour},
		{" 720h ", 720 * time.Hour},
		{"90m", 90 * time.Minute},
		{"3650d", 3650 * 24 * time.Hour},
	} {
		got, err := editors.ParseLifetime(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("ParseLifetime(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
	for _, in := range []string{"0", "0d", "-5m", "-1d", "soon", "30 days", "1.5d", "d", "99999999999d", "100000h", "1y"} {
		_, err := editors.ParseLifetime(in)
		wantCode(t, "ParseLifetime("+in+")", err, tidings.EINVALID)
	}
}
