package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/tidings/tidings"
)

// maxCheckedBody is the largest url-encoded or JSON body checkText reads. A
// bigger one is left to the handler, whose own body limit (far smaller for
// every such route) refuses it.
const maxCheckedBody = 4 << 20

// checkText refuses, before any handler runs, a request with text that
// Postgres cannot store: a NUL byte or bytes that are not UTF-8, in the path,
// the query, or a url-encoded or JSON body. Postgres would fail the statement
// and the request would end in a 500; here it gets a 422 that names the
// field, in the request's audience's form, and nothing is changed. Multipart
// bodies (the sign-up form may be one, the CSV import is one) are checked
// where they are parsed.
func (s *Server) checkText(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		field, err := badTextField(r)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		if field != "" {
			s.fail(w, r, badText(field))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// badText is the error for a field holding text Postgres cannot store.
func badText(field string) error {
	// The name itself may hold the bad bytes; it is shown, so clean it.
	field = strings.ReplaceAll(strings.ToValidUTF8(field, "\uFFFD"), "\x00", `\0`)
	return tidings.Errorf(tidings.EINVALID, "%s: the text holds a NUL byte or bytes that are not UTF-8.", field)
}

// storable reports whether Postgres can store s as text.
func storable(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsRune(s, 0)
}

// badValuesField returns the name of the first field of v whose name or
// value Postgres cannot store, or "".
func badValuesField(v url.Values) string {
	for k, vs := range v {
		if !storable(k) {
			return "a field name"
		}
		for _, s := range vs {
			if !storable(s) {
				return k
			}
		}
	}
	return ""
}

// badTextField returns the field of r that holds text Postgres cannot store,
// or "". It reads a url-encoded or JSON body and puts it back for the
// handler. An error means the body could not be read.
func badTextField(r *http.Request) (string, error) {
	if !storable(r.URL.Path) {
		return "the address (path)", nil
	}
	if q, err := url.ParseQuery(r.URL.RawQuery); err == nil {
		if f := badValuesField(q); f != "" {
			return f, nil
		}
	}
	// A query that does not parse is the handler's to refuse; a value in
	// it may still be bad, which the raw query shows.
	if raw, err := url.QueryUnescape(r.URL.RawQuery); err == nil && !storable(raw) {
		return "the query", nil
	}
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if r.Body == nil || (mt != "application/x-www-form-urlencoded" && mt != "application/json") {
		return "", nil
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxCheckedBody+1))
	if err != nil {
		return "", tidings.Errorf(tidings.EMALFORMED, "The request body could not be read.")
	}
	r.Body = readCloser{io.MultiReader(bytes.NewReader(body), r.Body), r.Body}
	if len(body) > maxCheckedBody {
		return "", nil
	}
	if mt == "application/json" {
		return badJSONField(body), nil
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return "", nil // the handler says what is wrong with it
	}
	return badValuesField(form), nil
}

// readCloser reads the checked bytes again, then the rest, and closes the
// original body.
type readCloser struct {
	io.Reader
	io.Closer
}

// badJSONField names the first value or key of a JSON body that Postgres
// cannot store, as a path such as "subject" or "lists[2]": a string that
// decodes to a NUL (\u0000) or one whose bytes are not UTF-8 (which the JSON
// decoder would quietly replace with U+FFFD). A body that is not JSON is left
// to the handler.
func badJSONField(body []byte) string {
	bad := -1 // the offset of the first byte that is not UTF-8
	if !utf8.Valid(body) {
		for i := 0; i < len(body); {
			r, n := utf8.DecodeRune(body[i:])
			if r == utf8.RuneError && n <= 1 {
				bad = i
				break
			}
			i += n
		}
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	var p jsonPath
	for {
		tok, err := dec.Token()
		if err != nil {
			if errors.Is(err, io.EOF) || bad < 0 {
				return ""
			}
			return "the request body"
		}
		field := p.next(tok)
		if str, ok := tok.(string); ok {
			if strings.ContainsRune(str, 0) || (bad >= 0 && dec.InputOffset() > int64(bad)) {
				return field
			}
		}
	}
}

// jsonPath follows where a stream of JSON tokens is.
type jsonPath struct {
	frames []jsonFrame
}

type jsonFrame struct {
	array   bool
	index   int    // the next element's index, in an array
	key     string // the current key, in an object
	wantKey bool   // in an object: the next string is a key
}

// next takes the next token and returns the path of the value or key it is.
func (p *jsonPath) next(tok json.Token) string {
	if d, ok := tok.(json.Delim); ok {
		switch d {
		case '{', '[':
			path := p.String()
			p.frames = append(p.frames, jsonFrame{array: d == '[', wantKey: d == '{'})
			return path
		default:
			p.frames = p.frames[:len(p.frames)-1]
			p.advance()
			return p.String()
		}
	}
	if n := len(p.frames); n > 0 && !p.frames[n-1].array && p.frames[n-1].wantKey {
		f := &p.frames[n-1]
		f.key, _ = tok.(string)
		f.wantKey = false
		return p.String()
	}
	path := p.String()
	p.advance()
	return path
}

// advance moves past a value that has been read in full.
func (p *jsonPath) advance() {
	if n := len(p.frames); n > 0 {
		f := &p.frames[n-1]
		if f.array {
			f.index++
		} else {
			f.wantKey = true
		}
	}
}

// String is the path, such as lists[2] or a.b, or "the request body" at the top.
func (p *jsonPath) String() string {
	var b strings.Builder
	for _, f := range p.frames {
		if f.array {
			b.WriteString("[" + strconv.Itoa(f.index) + "]")
			continue
		}
		if f.wantKey && f.key == "" {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(f.key)
	}
	if b.Len() == 0 {
		return "the request body"
	}
	return b.String()
}
