package editors

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/base32"
	"encoding/binary"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// TOTP parameters, the defaults of RFC 6238 that every authenticator app
// reads from an otpauth:// URI: HMAC-SHA1, 30-second steps, 6 digits.
const (
	totpStep   = 30 * time.Second
	totpDigits = 6
	// totpSkew is how many steps either side of now a code may be from, for
	// clocks that drift and codes typed as they roll over.
	totpSkew = 1
	// totpSecretLen is 160 bits, the size RFC 4226 recommends for SHA-1.
	totpSecretLen = 20
)

// b32 is the unpadded base32 of RFC 4648 that authenticator apps expect.
var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// TOTP returns the RFC 6238 code of secret for the step that holds t.
func TOTP(secret []byte, t time.Time) string {
	return hotp(secret, uint64(t.Unix()/int64(totpStep/time.Second)))
}

// hotp is the HOTP value of RFC 4226 section 5.3 for counter, in 6 digits.
func hotp(secret []byte, counter uint64) string {
	var msg [8]byte
	binary.BigEndian.PutUint64(msg[:], counter)
	mac := hmac.New(sha1.New, secret)
	mac.Write(msg[:])
	sum := mac.Sum(nil)
	// Dynamic truncation: the low nibble of the last byte picks 4 bytes.
	off := sum[len(sum)-1] & 0x0f
	bin := binary.BigEndian.Uint32(sum[off:off+4]) & 0x7fffffff
	return fmt.Sprintf("%0*d", totpDigits, bin%1_000_000)
}

// matchTOTP returns the step of now±totpSkew whose code is code, and false
// when none is. Steps at or before after are skipped, so a code that was
// used once cannot be used again.
func matchTOTP(secret []byte, code string, now time.Time, after int64) (int64, bool) {
	if len(code) != totpDigits {
		return 0, false
	}
	step := now.Unix() / int64(totpStep/time.Second)
	found, ok := int64(0), false
	for s := step - totpSkew; s <= step+totpSkew; s++ {
		// Every candidate is compared, in constant time, so the time taken
		// does not tell which step matched.
		if subtle.ConstantTimeCompare([]byte(hotp(secret, uint64(s))), []byte(code)) == 1 && s > after && !ok {
			found, ok = s, true
		}
	}
	return found, ok
}

// newTOTPSecret makes a random secret.
func newTOTPSecret() ([]byte, error) {
	b := make([]byte, totpSecretLen)
	if _, err := rand.Read(b); err != nil {
		return nil, fmt.Errorf("editors: totp secret: %w", err)
	}
	return b, nil
}

// otpauthURI is the key URI an authenticator app reads from the QR code
// (the otpauth:// format of Google Authenticator's Key-Uri-Format).
func otpauthURI(issuer, account string, secret []byte) string {
	label := url.PathEscape(issuer) + ":" + url.PathEscape(account)
	q := url.Values{
		"secret": {b32.EncodeToString(secret)}, "issuer": {issuer},
		"algorithm": {"SHA1"}, "digits": {"6"}, "period": {"30"},
	}
	return "otpauth://totp/" + label + "?" + q.Encode()
}

// normalCode takes the spaces and dashes out of a typed code and lower-cases
// it, so "123 456" and "ABCD-EFGH" are read as printed.
func normalCode(s string) string {
	return strings.ToLower(strings.NewReplacer(" ", "", "-", "", "\t", "").Replace(strings.TrimSpace(s)))
}
