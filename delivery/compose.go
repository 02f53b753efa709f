package delivery

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"mime"
	netmail "net/mail"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// compose appends m to dst (which may be nil) as an Internet message (RFC 5322, MIME), ready for DATA:
// lines end in CRLF, and no line starts with a dot, so it needs no dot
// stuffing (RFC 5321 section 4.5.2). The bodies are quoted-printable (RFC
// 2045 section 6.7), so every line is 7-bit and at most 76 characters long.
// It returns the envelope sender (ReturnPath, else the From address) and
// recipient too. Its errors describe a
// message that can never be sent; those wrapping errRecipient are about the
// To address.
//
// Tidings writes its messages itself rather than with go-mail's Msg, which
// encodes a message through several layers of writers and then goes through
// a byte-at-a-time dot-stuffing writer: together a third of a sending
// worker's CPU. go-mail still carries them (connection, STARTTLS, AUTH,
// MAIL, RCPT).
//
// The pieces of a Spliced body come from cache, encoded before, when cache
// is not nil.
func compose(dst []byte, m *Message, date time.Time, cache *fixedCache) (data []byte, from, to string, err error) {
	from, err = bareAddress(m.FromEmail)
	if err != nil {
		return nil, "", "", fmt.Errorf("from address %q: %w", m.FromEmail, err)
	}
	to, err = bareAddress(m.To)
	if err != nil {
		return nil, "", "", fmt.Errorf("%w %q: %w", errRecipient, m.To, err)
	}
	envelopeFrom := from
	if m.ReturnPath != "" {
		if envelopeFrom, err = bareAddress(m.ReturnPath); err != nil {
			return nil, "", "", fmt.Errorf("return path %q: %w", m.ReturnPath, err)
		}
	}
	var replyTo string
	if m.ReplyTo != "" {
		a, err := netmail.ParseAddress(m.ReplyTo)
		if err != nil {
			return nil, "", "", fmt.Errorf("reply-to address %q: %w", m.ReplyTo, err)
		}
		replyTo = a.String()
	}
	id := m.MessageID
	if id == "" {
		_, domain, _ := strings.Cut(from, "@")
		id = NewMessageID(domain)
	}
	if err := checkMessageID(id); err != nil {
		return nil, "", "", fmt.Errorf("message id %q: %w", id, err)
	}
	names := make([]string, 0, len(m.Headers))
	for name, value := range m.Headers {
		if err := checkHeader(name, value); err != nil {
			return nil, "", "", err
		}
		names = append(names, name)
	}
	slices.Sort(names) // the same message is written the same way
	html, text := body{m.HTML, m.HTMLSpliced}, body{m.Text, m.TextSpliced}
	for _, bd := range []body{html, text} {
		if bd.spliced != nil && !bd.spliced.valid() {
			return nil, "", "", errors.New("spliced body: there must be one value fewer than fixed pieces")
		}
	}
	if html.empty() && text.empty() {
		return nil, "", "", errors.New("message has neither a text nor an HTML body")
	}

	// Room for the bodies, their encoding, the dot that ends DATA, and the
	// next message's envelope, which SendAll writes with it.
	b := slices.Grow(dst, 1024+(html.size()+text.size())*5/4+3+maxEnvelope)
	header := func(name, value string) {
		b = append(b, name...)
		b = append(b, ": "...)
		b = append(b, value...)
		b = append(b, "\r\n"...)
	}
	header("Date", date.Format(time.RFC1123Z))
	// net/mail quotes or encodes any name, so a subscriber-supplied name
	// cannot break the header (RFC 5322, RFC 2047).
	header("From", formatAddress(m.FromName, from))
	header("To", formatAddress(m.ToName, to))
	if replyTo != "" {
		header("Reply-To", replyTo)
	}
	header("Subject", encodeSubject(m.Subject))
	header("Message-ID", id)
	for _, name := range names {
		header(name, encodeText(encodePhrase(m.Headers[name])))
	}
	header("MIME-Version", "1.0")

	part := func(contentType string, bd body) {
		header("Content-Type", contentType+"; charset=UTF-8")
		header("Content-Transfer-Encoding", "quoted-printable")
		b = append(b, "\r\n"...)
		if bd.spliced != nil {
			b = appendSpliced(b, bd.spliced, cache)
		} else {
			b = appendQP(b, bd.text)
		}
	}
	switch {
	case !text.empty() && !html.empty():
		// multipart/alternative: the last part is the preferred one (RFC 2046
		// section 5.1.4). "=_" cannot occur in quoted-printable text, so the
		// boundary cannot occur in the parts.
		var r [12]byte
		_, _ = rand.Read(r[:]) // never fails: crypto/rand crashes the program instead
		boundary := "=_" + hex.EncodeToString(r[:])
		header("Content-Type", `multipart/alternative; boundary="`+boundary+`"`)
		b = append(b, "\r\n--"+boundary+"\r\n"...)
		part("text/plain", text)
		b = append(b, "\r\n--"+boundary+"\r\n"...)
		part("text/html", html)
		b = append(b, "\r\n--"+boundary+"--\r\n"...)
	case !text.empty():
		part("text/plain", text)
	default:
		part("text/html", html)
	}
	if b[len(b)-1] != '\n' {
		b = append(b, "\r\n"...) // DATA ends with a line of its own
	}
	return b, envelopeFrom, to, nil
}

// body is a body part as a string, or in pieces when spliced is set.
type body struct {
	text    string
	spliced *Spliced
}

func (bd body) empty() bool { return bd.size() == 0 }

// size is the length of the body, unencoded.
func (bd body) size() int {
	if bd.spliced == nil {
		return len(bd.text)
	}
	n := 0
	for _, f := range bd.spliced.Fixed {
		n += len(f)
	}
	for _, v := range bd.spliced.Values {
		n += len(v)
	}
	return n
}

// encodeText returns a header value as it may be written: as it is when it
// is printable ASCII, else as RFC 2047 encoded words, one folded line each.
// A line break in the value is encoded too, so it cannot start a new field.
// (Readers drop spaces around a value, as they would anyway.)
func encodeText(v string) string {
	if isPrintableASCII(v) {
		return fold(v)
	}
	return strings.ReplaceAll(mime.QEncoding.Encode("UTF-8", v), "?= =?", "?=\r\n =?")
}

// formatAddress is the mailbox of name and addr for a From or To field.
// net/mail leaves a printable ASCII name as a quoted string, and most mail
// clients decode an encoded-word even inside quotes (which RFC 2047 section
// 5 forbids), so a name a subscriber typed as "=?utf-8?b?...?=" would be
// shown decoded, as text they did not write. Such a name is sent as
// encoded-words itself, which decode to the literal text.
func formatAddress(name, addr string) string {
	if isPrintableASCII(name) && strings.Contains(name, "=?") {
		return encodeWords(name) + " " + (&netmail.Address{Address: addr}).String()
	}
	return (&netmail.Address{Name: name, Address: addr}).String()
}

// encodeSubject is encodeText for the Subject field, where the text is
// the editor's or a subscriber's: a printable ASCII subject holding "=?"
// (what starts an RFC 2047 encoded-word) is encoded whole, so that a reader
// shows it literally instead of decoding the words inside it. Other fields
// keep what encodeText does: their values may hold encoded-words on purpose.
func encodeSubject(v string) string {
	if isPrintableASCII(v) && strings.Contains(v, "=?") {
		return encodeWords(v)
	}
	return encodeText(v)
}

// wordBytes is the most bytes of text in one "B" encoded-word: its 60
// characters of base64 and the 12 of "=?UTF-8?b?" and "?=" keep it within
// the 75 that RFC 2047 section 2 allows.
const wordBytes = 45

// encodeWords returns v as RFC 2047 "B" encoded-words, however plain it is
// (mime.WordEncoder leaves printable ASCII as it is), one folded line each.
// A word never splits a UTF-8 sequence (RFC 2047 section 5, rule 3).
func encodeWords(v string) string {
	var b strings.Builder
	for v != "" {
		n := min(len(v), wordBytes)
		for n < len(v) && n > 0 && !utf8.RuneStart(v[n]) {
			n--
		}
		if b.Len() > 0 {
			b.WriteString("\r\n ")
		}
		b.WriteString("=?UTF-8?b?")
		b.WriteString(base64.StdEncoding.EncodeToString([]byte(v[:n])))
		b.WriteString("?=")
		v = v[n:]
	}
	return b.String()
}

// foldAt is the length after which fold breaks a header value, leaving room
// for the field name on the first line (RFC 5322 section 2.1.1 asks for lines
// of at most 78 characters).
const foldAt = 64

// fold breaks a long header value into lines at spaces (RFC 5322 section
// 2.2.3): a line break before a space, which readers remove again. A run
// without spaces longer than a line stays whole; lines may be 998 long.
func fold(v string) string {
	if len(v) <= foldAt {
		return v
	}
	var b strings.Builder
	line := 0
	for len(v) > 0 {
		// The next word, with the space before it.
		i := 1 + strings.IndexByte(v[min(1, len(v)):], ' ')
		if i == 0 {
			i = len(v)
		}
		if line > 0 && line+i > foldAt && v[0] == ' ' {
			b.WriteString("\r\n")
			line = 0
		}
		b.WriteString(v[:i])
		line += i
		v = v[i:]
	}
	return b.String()
}

func isPrintableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < ' ' && c != '\t') || c >= 0x7f {
			return false
		}
	}
	return true
}

// qpMaxLine is the longest line of quoted-printable text, without its CRLF
// (RFC 2045 section 6.7, rule 5).
const qpMaxLine = 76

const upperHex = "0123456789ABCDEF"

// appendQP appends s to b encoded as quoted-printable. Line breaks ("\n" or
// "\r\n") become CRLF; longer lines are broken with soft line breaks. Beyond
// what RFC 2045 asks, a dot or an "F" that would start a line is encoded too,
// so that no line needs dot stuffing and none reads "From " to an mbox
// writer. A line break at the end of s is kept; none is added (in a
// multipart body, the CRLF before a boundary belongs to the boundary).
func appendQP(b []byte, s string) []byte {
	n := 0 // length of the current output line
	// room starts a new line with a soft break unless w more characters and
	// the soft break's "=" fit on this one (rule 5).
	room := func(w int) {
		if n+w > qpMaxLine-1 {
			b = append(b, '=', '\r', '\n')
			n = 0
		}
	}
	for i := 0; i < len(s); {
		c := s[i]
		if c == '\n' {
			b = append(b, '\r', '\n')
			n, i = 0, i+1
			continue
		}
		if c == '\r' && i+1 < len(s) && s[i+1] == '\n' {
			i++ // the "\n" makes the line break
			continue
		}
		if qpLiteral[c] {
			room(1)
			if n == 0 && (c == '.' || c == 'F') {
				b = append(b, '=', upperHex[c>>4], upperHex[c&0x0f])
				n, i = 3, i+1
				continue
			}
			// As many literal characters as fit on the line, at once.
			j, end := i, min(len(s), i+qpMaxLine-1-n)
			for j < end && qpLiteral[s[j]] {
				j++
			}
			if j == len(s) || s[j] == '\n' || (s[j] == '\r' && j+1 < len(s) && s[j+1] == '\n') {
				// Whitespace may not end a line (rule 3): it is encoded below.
				for j > i && (s[j-1] == ' ' || s[j-1] == '\t') {
					j--
				}
			}
			if j > i {
				b = append(b, s[i:j]...)
				n, i = n+j-i, j
				continue
			}
		}
		room(3)
		b = append(b, '=', upperHex[c>>4], upperHex[c&0x0f])
		n, i = n+3, i+1
	}
	return b
}

// qpLiteral says which bytes quoted-printable may leave as they are: the
// printable ASCII characters but "=", and space and tab (rules 2 and 3).
var qpLiteral = func() (t [256]bool) {
	for c := '!'; c <= '~'; c++ {
		t[c] = c != '='
	}
	t[' '], t['\t'] = true, true
	return t
}()
