package inbound

import (
	"bufio"
	"encoding/base64"
	"errors"
	"io"
	"mime"
	"mime/quotedprintable"
	"strings"

	"github.com/emersion/go-message/textproto"
	"golang.org/x/net/html/charset"
)

// The bounds of the walk through a message's MIME parts (RFC 2046). A
// report is shallow (a multipart/report holding a multipart/alternative at
// most), so these leave room for any real message while keeping a crafted
// one from costing more than its size in scanning.
const (
	maxDepth = 8
	maxParts = 64
	// maxReportPart bounds what is read of a delivery-status or
	// feedback-report part, and maxHeaderPart of an enclosed message's
	// header: both are short field lists.
	maxReportPart = 256 << 10
	maxHeaderPart = 256 << 10
	// maxTextPart bounds what is read of a text part: the text kept is at
	// most MaxText, and an HTML part carries markup besides.
	maxTextPart = 1 << 20
)

// message is what the walk keeps of a message: its header and the parts
// the parsers read. Parts it does not need are skipped unread (the
// multipart reader scans past them).
type message struct {
	header textproto.Header

	statuses [][]byte // message/delivery-status and message/global-delivery-status bodies
	feedback []byte   // the first message/feedback-report body

	// original is the header of the enclosed message (message/rfc822,
	// message/global, text/rfc822-headers or message/global-headers), or nil.
	original *textproto.Header

	plain, html string // the first inline text/plain and text/html parts
	parts       int
}

// walk reads the entity whose header is h and body is r, at depth, into m.
// A multipart whose parts cannot be found is an error; one cut short after
// some parts (a truncated returned message, as MTAs do) keeps what was read.
func (m *message) walk(r io.Reader, h textproto.Header, depth int) error {
	mediaType, params := contentType(h)
	if strings.HasPrefix(mediaType, "multipart/") {
		if depth >= maxDepth {
			return nil
		}
		boundary := params["boundary"]
		if boundary == "" {
			return errors.New("multipart without a boundary")
		}
		mr := textproto.NewMultipartReader(r, boundary)
		for n := 0; ; n++ {
			if m.parts >= maxParts {
				return nil
			}
			p, err := mr.NextPart()
			if err == io.EOF {
				return nil
			}
			if err != nil {
				if n == 0 {
					return err
				}
				return nil
			}
			m.parts++
			// A broken nested part does not spoil the parts around it.
			_ = m.walk(p, p.Header, depth+1)
		}
	}
	if attachment(h) && !strings.HasPrefix(mediaType, "message/") && !strings.HasPrefix(mediaType, "text/rfc822") {
		return nil
	}
	switch mediaType {
	case "message/delivery-status", "message/global-delivery-status":
		if len(m.statuses) < 4 {
			m.statuses = append(m.statuses, readBounded(decode(r, h), maxReportPart))
		}
	case "message/feedback-report":
		if m.feedback == nil {
			m.feedback = readBounded(decode(r, h), maxReportPart)
		}
	case "message/rfc822", "message/global", "text/rfc822-headers", "message/global-headers":
		if m.original == nil {
			br := bufio.NewReader(io.LimitReader(decode(r, h), maxHeaderPart))
			// A headers-only part often ends without the blank line, and a
			// returned message may be cut inside its header: the fields
			// read so far are kept.
			oh, _ := textproto.ReadHeader(br)
			m.original = &oh
		}
	case "text/plain", "":
		if m.plain == "" {
			m.plain = readText(r, h, params)
		}
	case "text/html":
		if m.html == "" {
			m.html = readText(r, h, params)
		}
	}
	return nil
}

// contentType returns h's media type, lower-cased, and its parameters.
// Without a Content-Type, or with one that does not parse, a part is
// text/plain (RFC 2045 section 5.2).
func contentType(h textproto.Header) (string, map[string]string) {
	v := h.Get("Content-Type")
	if v == "" {
		return "text/plain", nil
	}
	t, params, err := mime.ParseMediaType(v)
	if err != nil {
		// A bad parameter list still names the type.
		t, _, _ = strings.Cut(v, ";")
		t = strings.ToLower(strings.TrimSpace(t))
		if t == "" || !strings.Contains(t, "/") {
			return "text/plain", nil
		}
		return t, params
	}
	return t, params
}

// attachment reports whether h marks its part as an attachment (RFC 2183),
// which is not the text of the message.
func attachment(h textproto.Header) bool {
	d, _, _ := strings.Cut(h.Get("Content-Disposition"), ";")
	return strings.EqualFold(strings.TrimSpace(d), "attachment")
}

// decode undoes h's Content-Transfer-Encoding (RFC 2045); an unknown one
// is read as it is.
func decode(r io.Reader, h textproto.Header) io.Reader {
	switch strings.ToLower(strings.TrimSpace(h.Get("Content-Transfer-Encoding"))) {
	case "base64":
		return base64.NewDecoder(base64.StdEncoding, &base64Filter{r: r})
	case "quoted-printable":
		return quotedprintable.NewReader(r)
	}
	return r
}

// readText reads a text part as UTF-8: its transfer encoding undone, its
// charset converted, bytes that are not UTF-8 replaced, its lines ended
// with LF whatever the wire used.
func readText(r io.Reader, h textproto.Header, params map[string]string) string {
	b := readBounded(decode(r, h), maxTextPart)
	return strings.ReplaceAll(toUTF8(b, params["charset"]), "\r\n", "\n")
}

// toUTF8 converts b from the named charset; an unknown charset is taken as
// UTF-8, and what is not UTF-8 is replaced.
func toUTF8(b []byte, name string) string {
	name = strings.ToLower(strings.TrimSpace(name))
	if name != "" && name != "utf-8" && name != "us-ascii" {
		if enc, _ := charset.Lookup(name); enc != nil {
			if out, err := enc.NewDecoder().Bytes(b); err == nil {
				b = out
			}
		}
	}
	return strings.ToValidUTF8(string(b), "\uFFFD")
}

// readBounded reads r to its end or to n bytes; a read error ends it with
// what was read, as a damaged part is still worth its readable start.
func readBounded(r io.Reader, n int64) []byte {
	b, _ := io.ReadAll(io.LimitReader(r, n))
	return b
}

// base64Filter drops the bytes that are not of the base64 alphabet, which
// MTAs leave in encoded parts (spaces, stray line breaks), so that decoding
// reads past them as RFC 2045 section 6.8 asks.
type base64Filter struct{ r io.Reader }

func (f *base64Filter) Read(p []byte) (int, error) {
	for {
		n, err := f.r.Read(p)
		j := 0
		for _, c := range p[:n] {
			if c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '+' || c == '/' || c == '=' {
				p[j] = c
				j++
			}
		}
		if j > 0 || err != nil {
			return j, err
		}
	}
}
