package editors_test

import (
	"encoding/base32"
	"strings"
	"testing"
	"time"

	"github.com/tidings/tidings/editors"
)

// TestTOTP_RFC6238 checks the SHA-1 test vectors of RFC 6238 appendix B,
// whose 8-digit codes end in the 6 digits Tidings uses.
func TestTOTP_RFC6238(t *testing.T) {
	t.Parallel()
	secret := []byte("12345678901234567890")
	for _, tt := range []struct {
		unix int64
		want string // the RFC's 8 digits
	}{
		{59, "94287082"},
		{1111111109, "07081804"},
		{1111111111, "14050471"},
		{1234567890, "89005924"},
		{2000000000, "69279037"},
		{20000000000, "65353130"},
	} {
		if got := editors.TOTP(secret, time.Unix(tt.unix, 0)); got != tt.want[2:] {
			t.Errorf("TOTP(T=%d) = %s, want %s", tt.unix, got, tt.want[2:])
		}
	}
}

// secretOf decodes an Enrolment's secret as an app would.
func secretOf(tb testing.TB, e *editors.Enrolment) []byte {
	tb.Helper()
	b, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(strings.ReplaceAll(e.Secret, " ", ""))
	if err != nil {
		tb.Fatal(err)
	}
	if !strings.Contains(e.URI, "secret="+strings.ReplaceAll(e.Secret, " ", "")) || !strings.HasPrefix(e.URI, "otpauth://totp/Tidings:") {
		tb.Fatalf("URI %q does not hold the secret %q", e.URI, e.Secret)
	}
	return b
}
