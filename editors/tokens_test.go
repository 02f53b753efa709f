package editors_test

import (
	"strings"
	"testing"

	"github.com/tidings/tidings"
)

func TestStore_CreateToken(t *testing.T) {
	t.Parallel()
	s, _ := MustOpenStore(t)
	ctx := t.Context()

	t.Run("OK", func(t *testing.T) {
		tok, err := s.CreateToken(ctx, "zapier")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(tok, "tdg_") {
			t.Fatalf("token %q lacks its prefix", tok)
		}
		if err := s.AuthenticateToken(ctx, tok); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("ErrInvalidName", func(t *testing.T) {
		for _, name := range []string{"", "   ", strings.Repeat("n", 101)} {
			_, err := s.CreateToken(ctx, name)
			wantCode(t, "CreateToken("+name+")", err, tidings.EINVALID)
		}
	})
	t.Run("ErrUnknown", func(t *testing.T) {
		for _, tok := range []string{"", "tdg_nope", strings.Repeat("a", 101)} {
			wantCode(t, "AuthenticateToken("+tok+")", s.AuthenticateToken(ctx, tok), tidings.EUNAUTHORIZED)
		}
	})
}
