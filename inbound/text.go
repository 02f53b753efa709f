package inbound

import (
	"fmt"
	"io"
	"mime"
	"net/mail"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/emersion/go-message/textproto"
	"golang.org/x/net/html/charset"
)

// The bounds on the fields of Events. What a remote server or a provider
// says is stored and shown, so each is kept to what its standard allows.
const (
	// maxRecipient is the longest address a path holds (RFC 5321 section
	// 4.5.3.1.3: 256 octets with its angle brackets).
	maxRecipient = 254
	// maxLocalPart is the longest local part (RFC 5321 section 4.5.3.1.1).
	maxLocalPart = 64
	// maxMessageID is the longest header line (RFC 5322 section 2.1.1); a
	// longer Message-ID is dropped, since a cut one would name nothing.
	maxMessageID = 998
	// maxFeedbackType bounds Event.FeedbackType, a short token (RFC 5965).
	maxFeedbackType = 64
)

// truncate returns s, valid UTF-8, cut to at most n bytes at a rune
// boundary, so that a bounded text is still valid UTF-8.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	i := n
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i]
}

// cleanAddress returns the bare address s names (it may be in angle
// brackets or after "mailto:"), lower-cased (see cleanRecipient), or ""
// when s is no address.
func cleanAddress(s string) string {
	s = strings.TrimSpace(s)
	s = strings.TrimSuffix(strings.TrimPrefix(s, "<"), ">")
	if len(s) >= 7 && strings.EqualFold(s[:7], "mailto:") {
		s = s[7:]
	}
	addr, _ := cleanRecipient(s)
	return addr
}

// cleanRecipient lower-cases addr, a bare address, and says whether it
// looks like one:
// one local part and one domain, within RFC 5321's lengths, with no space,
// control character or address punctuation that a bare address never holds.
// Quoted local parts are not taken; no relay reports one. Local parts are
// case-sensitive by RFC 5321, but no provider treats them so, and one
// spelling per address is what suppression needs.
func cleanRecipient(addr string) (string, bool) {
	// Validity is checked first: ToLower turns invalid bytes into U+FFFD.
	if !utf8.ValidString(addr) {
		return "", false
	}
	addr = strings.ToLower(strings.TrimSpace(addr))
	if len(addr) > maxRecipient {
		return "", false
	}
	local, domain, ok := strings.Cut(addr, "@")
	if !ok || local == "" || len(local) > maxLocalPart || domain == "" {
		return "", false
	}
	if strings.ContainsFunc(addr, func(r rune) bool {
		return unicode.IsSpace(r) || unicode.IsControl(r) || strings.ContainsRune(`"(),:;<>[\]`, r)
	}) || strings.Contains(domain, "@") {
		return "", false
	}
	if strings.HasPrefix(local, ".") || strings.HasSuffix(local, ".") || strings.Contains(local, "..") ||
		strings.HasPrefix(domain, ".") || strings.HasSuffix(domain, ".") || strings.Contains(domain, "..") ||
		strings.HasPrefix(domain, "-") {
		return "", false
	}
	return addr, true
}

// addressPattern finds an address in running text; it is narrower than RFC
// 5322 allows and wide enough for the addresses bounces quote.
var addressPattern = regexp.MustCompile(`[A-Za-z0-9.!#$%&'*+/=?^_{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+`)

// headerAddress returns the first address of h's field key (such as From or
// To), lower-cased, or "".
func headerAddress(h textproto.Header, key string) string {
	v := h.Get(key)
	if v == "" {
		return ""
	}
	if list, err := mail.ParseAddressList(v); err == nil && len(list) > 0 {
		return cleanAddress(list[0].Address)
	}
	return cleanAddress(addressPattern.FindString(v))
}

// msgIDPattern is a msg-id (RFC 5322 section 3.6.4) in its angle brackets.
var msgIDPattern = regexp.MustCompile(`<[^<>\s]+>`)

// msgID returns the first message id in v with its angle brackets, or "".
// An id written without them, as some MTAs do, gets them.
func msgID(v string) string {
	v = strings.ToValidUTF8(v, "")
	if id := msgIDPattern.FindString(v); id != "" {
		return cleanMessageID(id)
	}
	if !strings.Contains(v, "@") {
		return ""
	}
	return cleanMessageID(v)
}

// cleanMessageID returns id in angle brackets, as Event.MessageID is, or ""
// for an id that is empty, too long or holds a space or control character
// (RFC 5322 section 3.6.4: msg-id is "<" id-left "@" id-right ">").
func cleanMessageID(id string) string {
	id = strings.TrimSpace(id)
	if id == "" {
		return ""
	}
	if !strings.HasPrefix(id, "<") {
		id = "<" + id
	}
	if !strings.HasSuffix(id, ">") || len(id) == 1 {
		id += ">"
	}
	if len(id) > maxMessageID || len(id) < 3 || !utf8.ValidString(id) ||
		strings.ContainsFunc(id, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) ||
		strings.Count(id, "<") != 1 || strings.Count(id, ">") != 1 {
		return ""
	}
	return id
}

// lastMsgID returns the last message id in v, which in References (RFC
// 5322 section 3.6.4) is the message answered.
func lastMsgID(v string) string {
	ids := msgIDPattern.FindAllString(strings.ToValidUTF8(v, ""), -1)
	if len(ids) == 0 {
		return ""
	}
	return cleanMessageID(ids[len(ids)-1])
}

// charsetReader converts r from any charset the HTML standard's list knows
// (the list mail clients follow in practice) to UTF-8.
func charsetReader(name string, r io.Reader) (io.Reader, error) {
	enc, _ := charset.Lookup(name)
	if enc == nil {
		return nil, fmt.Errorf("inbound: unknown charset %q", name)
	}
	return enc.NewDecoder().Reader(r), nil
}

// headerText returns h's field key decoded (RFC 2047) as one line of valid
// UTF-8; a word that does not decode is kept as written.
func headerText(h textproto.Header, key string) string {
	v := h.Get(key)
	dec := mime.WordDecoder{CharsetReader: charsetReader}
	if d, err := dec.DecodeHeader(v); err == nil {
		v = d
	}
	return cleanText(v, len(v))
}

// cleanText makes s one readable line of at most max bytes: invalid UTF-8
// and control characters (line breaks included) become spaces, runs of
// spaces one space, and a cut falls between characters.
func cleanText(s string, max int) string {
	var b strings.Builder
	space := false
	for _, r := range s {
		if r == utf8.RuneError || unicode.IsControl(r) || unicode.IsSpace(r) {
			space = b.Len() > 0
			continue
		}
		n := utf8.RuneLen(r)
		if space {
			n++
		}
		if b.Len()+n > max {
			break
		}
		if space {
			b.WriteByte(' ')
			space = false
		}
		b.WriteRune(r)
	}
	return b.String()
}
