package inbound

import (
	"fmt"
	"io"
	"mime"
	"net/mail"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/emersion/go-message/textproto"
	"golang.org/x/net/html/charset"
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

// oneLine returns s as one line of valid UTF-8: its runs of white space
// (line breaks of folding among them) one space, and trimmed.
func oneLine(s string) string {
	return strings.Join(strings.Fields(strings.ToValidUTF8(s, "\uFFFD")), " ")
}

// cleanAddress returns the bare address s names (it may be in angle
// brackets or after "mailto:"), lower-cased, or "" when s is no address.
// Local parts are case-sensitive by RFC 5321, but no provider treats them
// so, and one spelling per address is what suppression needs.
func cleanAddress(s string) string {
	s = strings.TrimSpace(s)
	s = strings.TrimSuffix(strings.TrimPrefix(s, "<"), ">")
	if len(s) >= 7 && strings.EqualFold(s[:7], "mailto:") {
		s = s[7:]
	}
	s = strings.ToLower(strings.ToValidUTF8(strings.TrimSpace(s), ""))
	at := strings.LastIndexByte(s, '@')
	if at <= 0 || at == len(s)-1 || len(s) > 254 || strings.ContainsAny(s, " \t\r\n<>,;\"()[]\\") {
		return ""
	}
	return s
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
		if len(id) > 998 {
			return ""
		}
		return id
	}
	v = strings.TrimSpace(v)
	if v == "" || len(v) > 996 || strings.ContainsAny(v, " \t\r\n<>") || !strings.Contains(v, "@") {
		return ""
	}
	return "<" + v + ">"
}

// lastMsgID returns the last message id in v, which in References (RFC
// 5322 section 3.6.4) is the message answered.
func lastMsgID(v string) string {
	ids := msgIDPattern.FindAllString(strings.ToValidUTF8(v, ""), -1)
	if len(ids) == 0 || len(ids[len(ids)-1]) > 998 {
		return ""
	}
	return ids[len(ids)-1]
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
	return oneLine(v)
}
