package subscribers

import (
	"net/mail"
	"regexp"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/idna"

	"github.com/tidings/tidings"
)

// Length limits of an address, from RFC 5321 section 4.5.3.1: 64 octets of
// local part, 255 of domain (253 once the trailing root dot and length octets
// of the wire form are taken off), 254 for the whole path without its brackets.
const (
	maxLocalLen  = 64
	maxDomainLen = 253
	maxEmailLen  = 254
	maxLabelLen  = 63
)

// maxRawEmailLen bounds the input looked at before any parsing, so a huge
// value is refused without work. An IDN domain is longer in UTF-8 than in
// its ASCII form only by a bounded factor; this leaves room for it.
const maxRawEmailLen = 1000

// MaxNameLen is the most runes a subscriber's name may have.
const MaxNameLen = 200

// MaxReasonLen is the most runes of a reason kept in an event or a suppression.
const MaxReasonLen = 500

// NormalizeEmail checks that raw is one bare email address and returns it in
// the form Tidings stores: surrounding white space removed, the domain in
// ASCII (IDNA 2008, the lookup profile of golang.org/x/net/idna) and lower
// case, the local part as typed. It refuses display names ("Name <a@b.com>"),
// angle brackets, comments, quoted or non-ASCII local parts, white space and
// control characters anywhere inside, a domain without a dot or with a bad
// label, and addresses over the RFC 5321 length limits. Errors are EINVALID,
// with a message that can be shown to the person who typed the address.
func NormalizeEmail(raw string) (string, error) {
	s := strings.TrimSpace(raw)
	if s == "" {
		return "", tidings.Errorf(tidings.EINVALID, "Please enter an email address.")
	}
	if len(s) > maxRawEmailLen || !utf8.ValidString(s) {
		return "", invalidEmail("it is too long")
	}
	if strings.IndexFunc(s, func(r rune) bool { return unicode.IsControl(r) || unicode.IsSpace(r) || isInvisible(r) }) >= 0 {
		// Also keeps CR and LF out, so an address can never add a header.
		return "", invalidEmail("it contains spaces or control characters")
	}
	a, err := mail.ParseAddress(s)
	if err != nil {
		return "", invalidEmail("it is not of the form name@example.com")
	}
	// ParseAddress accepts a whole RFC 5322 mailbox; only a bare addr-spec,
	// exactly as given, is an address here.
	if a.Name != "" || a.Address != s {
		return "", invalidEmail("give the address alone, without a name, brackets or comments")
	}
	at := strings.LastIndexByte(s, '@')
	local, domain := s[:at], s[at+1:]
	if local == "" || strings.ContainsAny(local, `"\@`) {
		return "", invalidEmail("the part before the @ is not valid")
	}
	for i := 0; i < len(local); i++ {
		if local[i] >= utf8.RuneSelf {
			// RFC 6531 allows these, but only relays that speak SMTPUTF8
			// deliver them; most do not, and the send would bounce.
			return "", invalidEmail("the part before the @ may only use letters a-z, digits and . _ + - and similar ASCII characters")
		}
	}
	if len(local) > maxLocalLen {
		return "", invalidEmail("the part before the @ is longer than 64 characters")
	}
	ascii, err := idna.Lookup.ToASCII(domain)
	if err != nil {
		return "", invalidEmail("the domain is not valid")
	}
	ascii = strings.ToLower(ascii)
	if len(ascii) > maxDomainLen {
		return "", invalidEmail("the domain is longer than 253 characters")
	}
	if err := checkDomain(ascii); err != nil {
		return "", err
	}
	addr := local + "@" + ascii
	if len(addr) > maxEmailLen {
		return "", invalidEmail("it is longer than 254 characters")
	}
	return addr, nil
}

// EmailKey is the form in which addresses are compared: lower case. Two
// addresses with one key are one inbox, one subscriber and one suppression,
// and count as one for rate limits; the address as typed is kept for display
// and sending. It expects an address from NormalizeEmail, whose local part is
// ASCII, so lower case here is the same as Postgres' lower() on the key.
func EmailKey(email string) string { return strings.ToLower(email) }

func invalidEmail(why string) error {
	return tidings.Errorf(tidings.EINVALID, "This email address is not valid: %s.", why)
}

// checkDomain insists on a host name with at least two labels of letters,
// digits and inner hyphens (RFC 1123), and a top-level label that is not all
// digits, so IP addresses and single-label names are refused.
func checkDomain(d string) error {
	labels := strings.Split(d, ".")
	if len(labels) < 2 {
		return invalidEmail("the domain needs a dot, as in example.com")
	}
	for _, l := range labels {
		if l == "" || len(l) > maxLabelLen || l[0] == '-' || l[len(l)-1] == '-' {
			return invalidEmail("the domain is not valid")
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return invalidEmail("the domain is not valid")
			}
		}
	}
	tld := labels[len(labels)-1]
	if strings.Trim(tld, "0123456789") == "" {
		return invalidEmail("the domain is not valid")
	}
	return nil
}

// ValidateName trims name and checks that it is at most 200 runes of valid
// UTF-8 without control characters or line breaks, so it is safe in a header
// and on a page. An empty name is allowed. Errors are EINVALID.
func ValidateName(name string) (string, error) {
	return validateLine("name", name, MaxNameLen)
}

// validateLine trims s and checks it is one line of at most max runes.
func validateLine(field, s string, max int) (string, error) {
	if !utf8.ValidString(s) {
		return "", tidings.Errorf(tidings.EINVALID, "The %s is not valid text.", field)
	}
	s = strings.TrimSpace(s)
	if strings.IndexFunc(s, func(r rune) bool { return unicode.IsControl(r) || isLineBreak(r) || isInvisible(r) }) >= 0 {
		return "", tidings.Errorf(tidings.EINVALID, "The %s must be one line without control characters.", field)
	}
	if n := utf8.RuneCountInString(s); n > max {
		return "", tidings.Errorf(tidings.EINVALID, "The %s is too long: %d characters, at most %d.", field, n, max)
	}
	return s, nil
}

// validateText checks s is valid UTF-8 of at most max runes whose only control
// characters are line breaks and tabs. It keeps line breaks (a postal
// address, an email body) and normalises CRLF to LF.
func validateText(field, s string, max int) (string, error) {
	if !utf8.ValidString(s) {
		return "", tidings.Errorf(tidings.EINVALID, "The %s is not valid text.", field)
	}
	s = strings.TrimSpace(strings.ReplaceAll(s, "\r\n", "\n"))
	if strings.IndexFunc(s, func(r rune) bool { return unicode.IsControl(r) && r != '\n' && r != '\t' }) >= 0 {
		return "", tidings.Errorf(tidings.EINVALID, "The %s contains control characters.", field)
	}
	if n := utf8.RuneCountInString(s); n > max {
		return "", tidings.Errorf(tidings.EINVALID, "The %s is too long: %d characters, at most %d.", field, n, max)
	}
	return s, nil
}

func isLineBreak(r rune) bool { return r == '\u2028' || r == '\u2029' || r == '\u0085' }

// isInvisible reports the format characters (Unicode category Cf) and the
// blank fillers: the bidirectional controls, which can make text read
// differently from what it is (the "Trojan Source" trick), and the
// zero-width and other invisible characters (U+200B..U+200F, U+2060..U+2064,
// U+FEFF, U+00AD, tag characters), which make two names that look alike
// differ, or hide text. The joiners go too, though an emoji sequence or a
// Persian name may use them: a name is shown in headers and on pages where
// an invisible difference cannot be told.
func isInvisible(r rune) bool {
	switch r {
	case '\u115f', '\u1160', '\u3164', '\uffa0': // Hangul fillers: letters that show nothing
		return true
	}
	return unicode.Is(unicode.Cf, r)
}

// ValidateTimezone checks that tz names an IANA time zone such as
// "Europe/Berlin" or "UTC". The empty string and "Local" (which depends on the
// machine) are refused; a caller for which the zone is optional skips the
// check when it is empty. Errors are EINVALID. The binary embeds the zone
// database (time/tzdata), so the answer does not depend on the host.
func ValidateTimezone(tz string) error {
	bad := tidings.Errorf(tidings.EINVALID, "%q is not a known time zone; use a name such as Europe/Berlin or America/New_York.", truncateRunes(tz, 64))
	if tz == "" || tz == "Local" || len(tz) > 64 {
		return bad
	}
	for _, r := range tz {
		if !(r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || strings.ContainsRune("/_-+", r)) {
			return bad
		}
	}
	if _, err := time.LoadLocation(tz); err != nil {
		return bad
	}
	return nil
}

var slugRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

// validSlug reports whether slug is a valid list slug (as the lists table checks).
func validSlug(slug string) bool { return slugRE.MatchString(slug) }

// cleanFact makes a request fact (IP, user agent, form name) storable as it
// is: valid UTF-8, no control characters (Postgres refuses NUL), at most max runes.
func cleanFact(s string, max int) string {
	s = strings.ToValidUTF8(s, "\ufffd")
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return -1
		}
		return r
	}, s)
	return truncateRunes(strings.TrimSpace(s), max)
}

// cleanReason is cleanFact for a reason, which may have line breaks.
func cleanReason(s string) string {
	s = strings.ToValidUTF8(s, "\ufffd")
	s = strings.Map(func(r rune) rune {
		if r == '\n' || r == '\t' {
			return r
		}
		if unicode.IsControl(r) {
			return -1
		}
		return r
	}, s)
	return truncateRunes(strings.TrimSpace(s), MaxReasonLen)
}

func truncateRunes(s string, n int) string {
	i := 0
	for j := range s {
		if i == n {
			return s[:j]
		}
		i++
	}
	return s
}
