package devmail

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"net/textproto"
	"strings"
	"unicode/utf8"
)

// maxDepth bounds how deeply nested multiparts are read, so a hostile message
// cannot make the dev inbox recurse without end.
const maxDepth = 10

// parse reads raw as an RFC 5322 message and fills Subject, Header, Text and
// HTML. It never fails: what cannot be read is reported in ParseError.
func parse(raw []byte) Message {
	m := Message{Raw: raw, Header: mail.Header{}}
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		m.ParseError = err.Error()
		return m
	}
	m.Header = msg.Header
	dec := mime.WordDecoder{CharsetReader: charsetReader}
	subject := msg.Header.Get("Subject")
	if s, err := dec.DecodeHeader(subject); err == nil {
		subject = s
	}
	m.Subject = subject

	if err := walk(&m, textproto.MIMEHeader(msg.Header), msg.Body, 0); err != nil {
		m.ParseError = err.Error()
	}
	return m
}

// walk reads one MIME entity with header h and body r (still in its transfer
// encoding) and keeps the first text/plain and text/html parts that are not
// attachments.
func walk(m *Message, h textproto.MIMEHeader, r io.Reader, depth int) error {
	if depth > maxDepth {
		return fmt.Errorf("multipart nested deeper than %d levels", maxDepth)
	}
	ctype := h.Get("Content-Type")
	if ctype == "" {
		ctype = "text/plain; charset=us-ascii" // RFC 2045 section 5.2
	}
	mediaType, params, err := mime.ParseMediaType(ctype)
	if err != nil {
		return fmt.Errorf("content type %q: %w", ctype, err)
	}

	if strings.HasPrefix(mediaType, "multipart/") {
		boundary := params["boundary"]
		if boundary == "" {
			return fmt.Errorf("%s without a boundary", mediaType)
		}
		// NextRawPart leaves Content-Transfer-Encoding to decode(), which
		// handles quoted-printable and base64 alike.
		mr := multipart.NewReader(r, boundary)
		for {
			p, err := mr.NextRawPart()
			if errors.Is(err, io.EOF) {
				return nil
			}
			if err != nil {
				return fmt.Errorf("%s: %w", mediaType, err)
			}
			if err := walk(m, p.Header, p, depth+1); err != nil {
				return err
			}
		}
	}

	if mediaType != "text/plain" && mediaType != "text/html" {
		return nil
	}
	if disp, _, err := mime.ParseMediaType(h.Get("Content-Disposition")); err == nil && disp == "attachment" {
		return nil
	}
	if (mediaType == "text/plain" && m.Text != "") || (mediaType == "text/html" && m.HTML != "") {
		return nil // keep the first of each
	}
	body, err := decode(h.Get("Content-Transfer-Encoding"), params["charset"], r)
	if err != nil {
		return fmt.Errorf("%s part: %w", mediaType, err)
	}
	if mediaType == "text/plain" {
		m.Text = body
	} else {
		m.HTML = body
	}
	return nil
}

// decode undoes the transfer encoding (RFC 2045 section 6) and the charset.
func decode(encoding, charset string, r io.Reader) (string, error) {
	switch strings.ToLower(strings.TrimSpace(encoding)) {
	case "quoted-printable":
		r = quotedprintable.NewReader(r)
	case "base64":
		// The base64 decoder skips the CR LF line breaks of the encoding.
		r = base64.NewDecoder(base64.StdEncoding, r)
	case "", "7bit", "8bit", "binary":
	default:
		return "", fmt.Errorf("unknown transfer encoding %q", encoding)
	}
	b, err := io.ReadAll(r)
	if err != nil {
		return "", err
	}
	cr, err := charsetReader(charset, bytes.NewReader(b))
	if err != nil {
		return "", err
	}
	b, err = io.ReadAll(cr)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// charsetReader understands UTF-8 and its subsets, and Latin-1, which is all a
// dev inbox sees in practice; Tidings itself always sends UTF-8.
func charsetReader(charset string, r io.Reader) (io.Reader, error) {
	switch strings.ToLower(strings.TrimSpace(charset)) {
	case "", "utf-8", "utf8", "us-ascii", "ascii":
		return r, nil
	case "iso-8859-1", "latin1", "latin-1":
		b, err := io.ReadAll(r)
		if err != nil {
			return nil, err
		}
		buf := make([]byte, 0, len(b))
		for _, c := range b {
			buf = utf8.AppendRune(buf, rune(c)) // Latin-1 bytes are the first 256 code points
		}
		return bytes.NewReader(buf), nil
	default:
		return nil, fmt.Errorf("unsupported charset %q", charset)
	}
}
