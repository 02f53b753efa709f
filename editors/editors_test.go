package editors_test

import (
	"strings"
	"testing"
	"time"

	"github.com/tidings/tidings"
)

func TestStore_Create(t *testing.T) {
	t.Parallel()
	s, _ := MustOpenStore(t)
	ctx := t.Context()
	e := MustCreate(t, s, "Ed@Example.com")
	if e.ID == 0 || e.Email != "ed@example.com" {
		t.Fatalf("created %+v", e)
	}
	for _, tt := range []struct {
		email, password, code string
	}{
		{"ed@example.com", password, tidings.ECONFLICT},
		{"ED@EXAMPLE.COM", password, tidings.ECONFLICT},
		{"not-an-address", password, tidings.EINVALID},
		{"", password, tidings.EINVALID},
		{"new@example.com", "short", tidings.EINVALID},
		{"new@example.com", strings.Repeat("x", 73), tidings.EINVALID},
	} {
		_, err := s.Create(ctx, tt.email, tt.password)
		if got := tidings.ErrorCode(err); got != tt.code {
			t.Errorf("Create(%q, %q): code %q (%v), want %q", tt.email, tt.password, got, err, tt.code)
		}
	}
	var n int
	s.DB.Get(&n, `SELECT count(*) FROM editors`)
	if n != 1 {
		t.Fatalf("%d editors, want 1", n)
	}
}

func TestStore_Sessions(t *testing.T) {
	t.Parallel()
	s, clk := MustOpenStore(t)
	ctx := t.Context()
	ed := MustCreate(t, s, "ed@example.com")

	t.Run("OK", func(t *testing.T) {
		sess, err := s.StartSession(ctx, ed.ID, editorsMeta())
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.EditorBySession(ctx, sess.Token)
		if err != nil || got.ID != ed.ID || got.Email != "ed@example.com" {
			t.Fatalf("got %+v, %v", got, err)
		}
		if err := s.EndSession(ctx, sess.Token); err != nil {
			t.Fatal(err)
		}
		_, err = s.EditorBySession(ctx, sess.Token)
		wantCode(t, "EditorBySession after EndSession", err, tidings.EUNAUTHORIZED)
	})
	t.Run("ErrExpired", func(t *testing.T) {
		sess, err := s.StartSession(ctx, ed.ID, editorsMeta())
		if err != nil {
			t.Fatal(err)
		}
		clk.Add(15 * 24 * time.Hour)
		defer clk.Add(-15 * 24 * time.Hour)
		_, err = s.EditorBySession(ctx, sess.Token)
		wantCode(t, "EditorBySession of an expired session", err, tidings.EUNAUTHORIZED)
	})
	t.Run("ErrUnknown", func(t *testing.T) {
		for _, tok := range []string{"", "nope", strings.Repeat("a", 101)} {
			_, err := s.EditorBySession(ctx, tok)
			wantCode(t, "EditorBySession("+tok+")", err, tidings.EUNAUTHORIZED)
		}
	})
}
