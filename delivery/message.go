package delivery

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"mime"
	netmail "net/mail"
	"net/textproto"
	"strings"
)

// Message is one rendered message to one recipient.
type Message struct {
	FromName  string // display name of the sender; may be empty
	FromEmail string // bare address, also the envelope sender (MAIL FROM) unless ReturnPath is set
	// ReturnPath, when set, is the envelope sender instead of FromEmail: a
	// bare address of the bounce domain naming this message (VERP), so that
	// a bounce says which message failed (RFC 5321 section 4.4: it becomes
	// the Return-Path).
	ReturnPath string
	ReplyTo    string // address, optionally "Name <address>"; empty for none
	To         string // bare address of the recipient, also the envelope recipient
	ToName     string // display name of the recipient; may be empty
	Subject    string
	HTML       string // the text/html alternative; may be empty if Text is not
	Text       string // the text/plain alternative; may be empty if HTML is not

	// HTMLSpliced and TextSpliced, when set, are HTML and Text in pieces, so
	// that what many messages share is encoded once (see Spliced); HTML and
	// Text are then not used.
	HTMLSpliced, TextSpliced *Spliced

	// MessageID is the Message-ID header, "<left@right>" (RFC 5322 section
	// 3.6.4), from NewMessageID. Empty means one is made up from the domain of
	// FromEmail.
	MessageID string

	// Headers are further header fields, such as List-Unsubscribe and
	// List-Unsubscribe-Post (RFC 2369, RFC 8058), List-Id (RFC 2919) or
	// Feedback-ID. They cannot replace the fields that come from the
	// other fields of Message, nor the MIME fields.
	Headers map[string]string
}

// NewMessageID returns a new Message-ID, "<hex.hex@domain>", from 128 bits of
// crypto/rand, so it is unique without coordination between instances.
// domain should be the domain of the sender address; when it is empty or
// could not appear in a Message-ID, "localhost" is used.
func NewMessageID(domain string) string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails: crypto/rand crashes the program instead
	domain = strings.TrimSpace(domain)
	if domain == "" || strings.ContainsFunc(domain, func(r rune) bool {
		return r <= ' ' || r >= 0x7f || strings.ContainsRune(`<>@()[]\",;:`, r)
	}) {
		domain = "localhost"
	}
	return "<" + hex.EncodeToString(b[:8]) + "." + hex.EncodeToString(b[8:]) + "@" + domain + ">"
}

// reservedHeaders are set from the fields of Message or by the MIME writer;
// Message.Headers may not set them.
var reservedHeaders = map[string]bool{
	"From": true, "Sender": true, "To": true, "Cc": true, "Bcc": true, "Reply-To": true,
	"Subject": true, "Message-Id": true, "Date": true, "Return-Path": true,
	"Mime-Version": true, "Content-Type": true, "Content-Transfer-Encoding": true,
}

// errRecipient marks a To address that cannot be used, so Send can report an
// AddressFailure without asking the relay.
var errRecipient = errors.New("bad recipient address")

// encodePhrase RFC 2047-encodes only the phrase of a non-ASCII value of the
// form `phrase <id>`, as in List-Id: "Grüße <weekly.example.com>". Encoding
// the whole value would hide the <id> inside an encoded word from readers.
// Other values are left to encodeText.
func encodePhrase(v string) string {
	i := strings.LastIndex(v, "<")
	if i <= 0 || !strings.HasSuffix(v, ">") || isASCII(v) || !isASCII(v[i:]) {
		return v
	}
	return mime.QEncoding.Encode("UTF-8", strings.TrimSpace(v[:i])) + " " + v[i:]
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// bareAddress checks that s is an address alone, "local@domain", without a
// display name or angle brackets.
func bareAddress(s string) (string, error) {
	if s == "" {
		return "", errors.New("empty")
	}
	if isPlainAddress(s) {
		return s, nil
	}
	a, err := netmail.ParseAddress(s)
	if err != nil {
		return "", err
	}
	if a.Name != "" || a.Address != s {
		return "", errors.New("want a bare address like name@example.com")
	}
	return a.Address, nil
}

func checkMessageID(id string) error {
	if len(id) > 250 {
		return errors.New("longer than 250 characters")
	}
	inner, ok := strings.CutPrefix(id, "<")
	if ok {
		inner, ok = strings.CutSuffix(inner, ">")
	}
	if !ok {
		return errors.New("want <left@right>")
	}
	left, right, ok := strings.Cut(inner, "@")
	if !ok || left == "" || right == "" || strings.ContainsFunc(inner, func(r rune) bool {
		return r <= ' ' || r >= 0x7f || r == '<' || r == '>'
	}) {
		return errors.New("want <left@right> in printable ASCII")
	}
	return nil
}

// checkHeader refuses names that are not RFC 5322 field names, the reserved
// fields, and values with line breaks (which would start a new field).
func checkHeader(name, value string) error {
	if name == "" {
		return errors.New("header with an empty name")
	}
	for _, r := range name {
		if r <= ' ' || r >= 0x7f || r == ':' {
			return fmt.Errorf("header name %q: not printable ASCII without a colon (RFC 5322 section 2.2)", name)
		}
	}
	if reservedHeaders[textproto.CanonicalMIMEHeaderKey(name)] {
		return fmt.Errorf("header %q is set from the message's own fields", name)
	}
	if strings.ContainsAny(value, "\r\n\x00") {
		return fmt.Errorf("header %s: value has a line break or NUL", name)
	}
	return nil
}

// isPlainAddress reports whether s is a bare address whose local part and
// domain are dot-atoms of ASCII letters, digits and (in the local part) the
// other atext characters (RFC 5322 section 3.4.1), as nearly every address
// is: one net/mail parses to itself with no name (TestIsPlainAddress). It
// saves parsing the sender and the recipient of every message.
func isPlainAddress(s string) bool {
	at := strings.IndexByte(s, '@')
	if at < 0 || strings.IndexByte(s[at+1:], '@') >= 0 {
		return false
	}
	return isDotAtom(s[:at], true) && isDotAtom(s[at+1:], false)
}

// isDotAtom reports whether s is one or more atoms joined by single dots;
// atoms of letters, digits and "-", and in a local part the rest of atext.
func isDotAtom(s string, local bool) bool {
	if s == "" || s[0] == '.' || s[len(s)-1] == '.' || strings.Contains(s, "..") {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '.':
		case local && strings.IndexByte("!#$%&'*+/=?^_`{|}~", c) >= 0:
		default:
			return false
		}
	}
	return true
}
