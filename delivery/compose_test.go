package delivery

import (
	"bytes"
	"encoding/base64"
	"io"
	"math/rand/v2"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	netmail "net/mail"
	"strings"
	"testing"
	"time"
)

// parsed is a composed message read back with the standard library.
type parsed struct {
	header      netmail.Header
	text, html  string
	contentType string
}

// mustParse reads data as a mail reader would, and checks the rules of the
// wire: CRLF line ends, 7-bit, body lines of at most 76 characters, header
// lines of at most 998, no line that starts with a dot.
func mustParse(t *testing.T, data []byte) parsed {
	t.Helper()
	if !bytes.HasSuffix(data, []byte("\r\n")) {
		t.Fatalf("message does not end in CRLF")
	}
	inBody := false
	for i, line := range bytes.Split(data[:len(data)-2], []byte("\r\n")) {
		if bytes.ContainsAny(line, "\r\n") {
			t.Fatalf("line %d has a bare CR or LF: %q", i, line)
		}
		if bytes.HasPrefix(line, []byte(".")) {
			t.Fatalf("line %d starts with a dot: %q", i, line)
		}
		for _, c := range line {
			if c >= 0x80 {
				t.Fatalf("line %d is not 7-bit: %q", i, line)
			}
		}
		if len(line) == 0 {
			inBody = true
		}
		max := 998
		if inBody {
			max = 76
		}
		if len(line) > max {
			t.Fatalf("line %d is %d long: %q", i, len(line), line)
		}
	}
	m, err := netmail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	p := parsed{header: m.Header}
	mt, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil {
		t.Fatal(err)
	}
	p.contentType = mt
	read := func(h interface{ Get(string) string }, r io.Reader) (string, string) {
		if got := h.Get("Content-Transfer-Encoding"); got != "quoted-printable" {
			t.Fatalf("Content-Transfer-Encoding %q", got)
		}
		b, err := io.ReadAll(quotedprintable.NewReader(r))
		if err != nil {
			t.Fatal(err)
		}
		ct, _, _ := mime.ParseMediaType(h.Get("Content-Type"))
		return ct, strings.ReplaceAll(string(b), "\r\n", "\n")
	}
	set := func(ct, body string) {
		switch ct {
		case "text/plain":
			p.text = body
		case "text/html":
			p.html = body
		default:
			t.Fatalf("part of type %q", ct)
		}
	}
	if mt != "multipart/alternative" {
		set(read(m.Header, m.Body))
		return p
	}
	mr := multipart.NewReader(m.Body, params["boundary"])
	var order []string
	for {
		part, err := mr.NextRawPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		ct, body := read(part.Header, part)
		order = append(order, ct)
		set(ct, body)
	}
	if strings.Join(order, " ") != "text/plain text/html" {
		t.Fatalf("parts %v, want text then HTML", order)
	}
	return p
}

// TestCompose_RoundTrip: what compose writes reads back as what it was given,
// for bodies and headers that stress the encodings.
func TestCompose_RoundTrip(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("word ", 40)
	bodies := []string{
		"Hello.",
		"Hello.\n",
		"a=b\n.starts with a dot\nFrom the start\n..two\n",
		"trailing space \nand tab\t\nend ",
		strings.Repeat("x", 300) + "\n" + strings.Repeat("=", 100),
		long + "\n" + long,
		"Grüße, Zoë — “quotes” 🙂 " + strings.Repeat("ü", 80),
		"crlf\r\nline\r\n\r\nlone\rcr",
		`<a href="https://example.com/u?a=1&b=2" style="color:#333">` + long + `</a>`,
		"\n\n\nblank lines\n\n",
	}
	date := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	for i, body := range bodies {
		for _, kind := range []string{"both", "text", "html"} {
			m := &Message{
				FromName: "Zoë from “Weekly”", FromEmail: "news@example.com", ReplyTo: "Answers <answers@example.com>",
				To: "ada@example.org", ToName: `Ada "the" Lovelace, Jr.`,
				Subject:   "Notes for Zoë: " + body[:min(len(body), 60)],
				MessageID: "<abc.def@example.com>",
				Headers: map[string]string{
					"List-Unsubscribe":      "<https://example.com/unsubscribe/x>",
					"List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
					"List-Id":               "Grüße <weekly.example.com>",
				},
			}
			switch kind {
			case "both":
				m.Text, m.HTML = body, "<p>"+body+"</p>"
			case "text":
				m.Text = body
			case "html":
				m.HTML = body
			}
			data, from, to, err := compose(nil, m, date, nil)
			if err != nil {
				t.Fatalf("body %d %s: %v", i, kind, err)
			}
			if from != "news@example.com" || to != "ada@example.org" {
				t.Fatalf("envelope %q -> %q", from, to)
			}
			p := mustParse(t, data)
			want := func(s string) string {
				s = strings.ReplaceAll(s, "\r\n", "\n")
				if kind != "both" && s != "" && !strings.HasSuffix(s, "\n") {
					s += "\n" // a single part runs to the end of the message, which ends a line
				}
				return s
			}
			if p.text != want(m.Text) || p.html != want(m.HTML) {
				t.Fatalf("body %d %s: read back text %q html %q\nwant %q and %q", i, kind, p.text, p.html, want(m.Text), want(m.HTML))
			}
			var dec mime.WordDecoder
			if got, err := dec.DecodeHeader(p.header.Get("Subject")); err != nil || got != m.Subject {
				t.Fatalf("Subject %q (%v), want %q", got, err, m.Subject)
			}
			if got, err := dec.DecodeHeader(p.header.Get("List-Id")); err != nil || got != "Grüße <weekly.example.com>" {
				t.Fatalf("List-Id %q (%v)", got, err)
			}
			if !strings.HasSuffix(p.header.Get("List-Id"), " <weekly.example.com>") {
				t.Fatalf("List-Id %q: the id must stay outside the encoded words", p.header.Get("List-Id"))
			}
			for _, h := range []struct{ field, name, addr string }{
				{"From", m.FromName, "news@example.com"},
				{"To", m.ToName, "ada@example.org"},
				{"Reply-To", "Answers", "answers@example.com"},
			} {
				a, err := netmail.ParseAddress(p.header.Get(h.field))
				if err != nil || a.Name != h.name || a.Address != h.addr {
					t.Fatalf("%s %q: %+v %v", h.field, p.header.Get(h.field), a, err)
				}
			}
			if got := p.header.Get("Message-Id"); got != m.MessageID {
				t.Fatalf("Message-ID %q", got)
			}
			if got, err := p.header.Date(); err != nil || !got.Equal(date) {
				t.Fatalf("Date %v %v", got, err)
			}
			if got := p.header.Get("List-Unsubscribe-Post"); got != "List-Unsubscribe=One-Click" {
				t.Fatalf("List-Unsubscribe-Post %q", got)
			}
		}
	}
}

// TestCompose_Random: random bodies, mostly of the characters that need care,
// read back whole.
func TestCompose_Random(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	alphabet := []string{"a", "b", " ", "\t", "=", ".", "F", "\n", "\r\n", "\r", "ü", "—", "🙂", "<", ">", "\"", "x"}
	for i := range 500 {
		var b strings.Builder
		for range rng.IntN(400) {
			b.WriteString(alphabet[rng.IntN(len(alphabet))])
		}
		body := b.String()
		if body == "" {
			continue
		}
		subject := body[:min(len(body), 40)]
		data, _, _, err := compose(nil, &Message{FromEmail: "a@example.com", To: "b@example.com", Subject: subject, Text: body, HTML: body}, time.Now(), nil)
		if err != nil {
			t.Fatal(err)
		}
		p := mustParse(t, data)
		want := strings.ReplaceAll(body, "\r\n", "\n")
		if p.text != want || p.html != want {
			t.Fatalf("case %d: read back %q, want %q", i, p.text, want)
		}
		var dec mime.WordDecoder
		// A reader drops the spaces around a header value, encoded or not.
		if got, err := dec.DecodeHeader(p.header.Get("Subject")); err != nil || strings.TrimSpace(got) != strings.TrimSpace(subject) {
			t.Fatalf("case %d: Subject %q (%v), want %q", i, got, err, subject)
		}
	}
}

// TestCompose_Spliced: bodies in pieces, whose fixed pieces are encoded once
// and shared, read back as the joined pieces, whatever the pieces hold
// (including a CR at the end of one and an LF at the start of the next).
func TestCompose_Spliced(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(3, 4))
	alphabet := []string{"a", "b", " ", "\t", "=", ".", "F", "\n", "\r\n", "\r", "ü", "—", "<", "x", strings.Repeat("y", 80)}
	piece := func() string {
		var b strings.Builder
		for range rng.IntN(30) {
			b.WriteString(alphabet[rng.IntN(len(alphabet))])
		}
		return b.String()
	}
	var cache fixedCache
	for i := range 300 {
		fixed := make([]string, 1+rng.IntN(5))
		for j := range fixed {
			fixed[j] = piece()
		}
		// Three recipients share the fixed pieces, each with values of their own.
		for range 3 {
			values := make([]string, len(fixed)-1)
			for j := range values {
				values[j] = piece()
			}
			sp := &Spliced{Fixed: fixed, Values: values}
			want := strings.ReplaceAll(sp.String(), "\r\n", "\n")
			if want == "" {
				continue
			}
			data, _, _, err := compose(nil, &Message{FromEmail: "a@example.com", To: "b@example.com", Subject: "s", HTMLSpliced: sp, TextSpliced: sp}, time.Now(), &cache)
			if err != nil {
				t.Fatal(err)
			}
			p := mustParse(t, data)
			if p.text != want || p.html != want {
				t.Fatalf("case %d: %q + %q: read back %q, want %q", i, fixed, values, p.text, want)
			}
		}
	}
	_, _, _, err := compose(nil, &Message{FromEmail: "a@example.com", To: "b@example.com", Subject: "s",
		TextSpliced: &Spliced{Fixed: []string{"a", "b"}}}, time.Now(), &cache)
	if err == nil || !strings.Contains(err.Error(), "one value fewer") {
		t.Fatalf("a value missing: %v", err)
	}
}

// TestFold: long header values are folded at spaces into lines of at most
// 78 characters with their field name, and read back as they were.
func TestFold(t *testing.T) {
	t.Parallel()
	for _, v := range []string{
		"short",
		strings.Repeat("word ", 60) + "end",
		"  leading and  double  spaces " + strings.Repeat("x", 100) + " after a long run " + strings.Repeat("y ", 50),
		strings.Repeat("z", 200),
	} {
		folded := fold(v)
		for i, line := range strings.Split(folded, "\r\n") {
			if len("Subject: "+line) > 78 && strings.Contains(strings.TrimSpace(line), " ") {
				t.Errorf("line %d of %q is %d long: %q", i, v, len(line), line)
			}
			if i > 0 && !strings.HasPrefix(line, " ") {
				t.Errorf("line %d does not start with a space: %q", i, line)
			}
		}
		if got := strings.ReplaceAll(folded, "\r\n", ""); got != v {
			t.Errorf("unfolded %q, want %q", got, v)
		}
		m, err := netmail.ReadMessage(strings.NewReader("Subject: " + folded + "\r\n\r\nbody"))
		if err != nil || m.Header.Get("Subject") != strings.TrimSpace(v) {
			t.Errorf("read back %q (%v), want %q", m.Header.Get("Subject"), err, v)
		}
	}
}

// TestCompose_Refused: a message that can never be sent is refused before
// anything is written, and a bad To says so.
func TestCompose_Refused(t *testing.T) {
	t.Parallel()
	ok := func() *Message {
		return &Message{FromEmail: "a@example.com", To: "b@example.com", Subject: "s", Text: "t"}
	}
	tests := []struct {
		name      string
		edit      func(*Message)
		recipient bool
	}{
		{"bad to", func(m *Message) { m.To = "not an address" }, true},
		{"to with a name", func(m *Message) { m.To = "B <b@example.com>" }, true},
		{"bad from", func(m *Message) { m.FromEmail = "nope" }, false},
		{"bad reply-to", func(m *Message) { m.ReplyTo = "<<" }, false},
		{"bad message id", func(m *Message) { m.MessageID = "no-brackets" }, false},
		{"header with a line break", func(m *Message) { m.Headers = map[string]string{"X-A": "a\r\nBcc: c@example.com"} }, false},
		{"reserved header", func(m *Message) { m.Headers = map[string]string{"Subject": "again"} }, false},
		{"no body", func(m *Message) { m.Text = "" }, false},
	}
	for _, tt := range tests {
		m := ok()
		tt.edit(m)
		data, _, _, err := compose(nil, m, time.Now(), nil)
		if err == nil || data != nil {
			t.Errorf("%s: no error", tt.name)
			continue
		}
		if got := strings.Contains(err.Error(), errRecipient.Error()); got != tt.recipient {
			t.Errorf("%s: %v, recipient error %v, want %v", tt.name, err, got, tt.recipient)
		}
	}
}

// BenchmarkCompose is the cost of writing one newsletter-sized message.
func BenchmarkCompose(b *testing.B) {
	html := strings.Repeat(`<p style="margin:0 0 16px">A paragraph of the week's notes, with a <a href="https://example.com/x?a=1&b=2">link</a>.</p>`+"\n", 80)
	text := strings.Repeat("A paragraph of the week's notes, with a link (https://example.com/x?a=1&b=2).\n\n", 60)
	m := &Message{FromName: "Weekly", FromEmail: "news@example.com", To: "ada@example.org", ToName: "Ada", Subject: "Notes for Ada", HTML: html, Text: text,
		Headers: map[string]string{"List-Unsubscribe": "<https://example.com/u/x>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}}
	b.SetBytes(int64(len(html) + len(text)))
	for b.Loop() {
		if _, _, _, err := compose(nil, m, time.Now(), nil); err != nil {
			b.Fatal(err)
		}
	}
}

// TestCompose_LiteralEncodedWords: a name or subject that a subscriber typed
// as an RFC 2047 encoded-word reads back as the literal text, not decoded,
// both through net/mail and through a decoder that (as many mail clients do)
// decodes encoded-words inside quoted strings too.
func TestCompose_LiteralEncodedWords(t *testing.T) {
	t.Parallel()
	word := "=?utf-8?b?" + base64.StdEncoding.EncodeToString([]byte("Your bank")) + "?="
	for _, text := range []string{
		word,
		"Hi " + word + " there",
		"=?utf-8?q?Support_team?=",
		"=?",
		"a =?iso-8859-1?q?caf=E9?= " + strings.Repeat("long ", 30),
		"Zoë =?utf-8?b?QQ==?=",
	} {
		m := &Message{FromName: text, FromEmail: "news@example.com", To: "ada@example.org", ToName: text, Subject: text, Text: "Hello."}
		data, _, _, err := compose(nil, m, time.Now(), nil)
		if err != nil {
			t.Fatalf("%q: %v", text, err)
		}
		p := mustParse(t, data)
		var dec mime.WordDecoder
		if got, err := dec.DecodeHeader(p.header.Get("Subject")); err != nil || got != text {
			t.Errorf("Subject of %q reads back as %q (%v)", text, got, err)
		}
		for _, field := range []string{"From", "To"} {
			raw := p.header.Get(field)
			a, err := netmail.ParseAddress(raw)
			if err != nil || a.Name != text {
				t.Errorf("%s of %q: %q reads back as %+v (%v)", field, text, raw, a, err)
				continue
			}
			// What a lenient reader does: take the display name, quotes
			// dropped, and decode the encoded-words in it.
			display, _, _ := strings.Cut(raw, " <")
			if got, err := dec.DecodeHeader(strings.Trim(display, `"`)); err != nil || strings.ReplaceAll(got, `\"`, `"`) != text {
				t.Errorf("%s of %q: %q decodes leniently to %q (%v)", field, text, raw, got, err)
			}
		}
	}
}
