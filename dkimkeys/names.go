package dkimkeys

import (
	"strings"
	"time"

	"github.com/tidings/tidings"
)

// normalDomain checks a signing domain and returns it lower-cased without a
// final dot: dot-separated DNS labels of letters, digits and hyphens (RFC
// 1035 section 2.3.1, RFC 6376 section 3.5 d=), two at least, since a From
// domain is never a bare top-level domain. A name in other scripts must be
// given in its A-label (xn--) form, as DNS holds it. Returns EINVALID.
func normalDomain(domain string) (string, error) {
	d := strings.TrimSuffix(strings.ToLower(strings.TrimSpace(domain)), ".")
	if !isDNSName(d) || !strings.Contains(d, ".") {
		return "", tidings.Errorf(tidings.EINVALID, "The domain %q is not a domain name such as example.com (letters, digits and hyphens between dots; a name in other scripts in its xn-- form).", clip(domain))
	}
	return d, nil
}

// normalSelector checks a selector and returns it lower-cased: one or more
// dot-separated DNS labels (RFC 6376 section 3.1), so that
// selector._domainkey.domain is a name DNS can hold. Returns EINVALID.
func normalSelector(selector string) (string, error) {
	s := strings.ToLower(strings.TrimSpace(selector))
	if !isDNSName(s) {
		return "", tidings.Errorf(tidings.EINVALID, "The selector %q is not a DNS label such as tidings-202612-rsa (letters, digits and hyphens, at most 63).", clip(selector))
	}
	return s, nil
}

// DefaultSelector is the selector a key gets when none is given:
// "tidings-YYYYMM-ALGORITHM" with the month it is made in, so that a key
// made for a rotation next month, or one of the other algorithm, does not
// take the name of one already published.
func DefaultSelector(now time.Time, algorithm string) string {
	return "tidings-" + now.UTC().Format("200601") + "-" + algorithm
}

// isDNSName reports whether s is lower-case labels of at most 63 letters,
// digits and hyphens, not starting or ending with a hyphen, joined by dots,
// at most 253 long.
func isDNSName(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for _, label := range strings.Split(s, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			if c := label[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

// clip shortens what was typed for an error message.
func clip(s string) string {
	s = strings.ToValidUTF8(s, "?")
	if r := []rune(s); len(r) > 80 {
		return string(r[:80]) + "..."
	}
	return s
}
