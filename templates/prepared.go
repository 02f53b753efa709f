package templates

import (
	"encoding/hex"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/tidings/tidings"
)

// maxLayouts bounds the laid-out variants a Prepared keeps. Recipients share a
// variant when their executed templates differ only in subscriber values and
// link tokens, so a broadcast needs a handful (with and without a name, say);
// a template that copies values into its logic in other ways may need more,
// and past the bound variants are forgotten and laid out again.
const maxLayouts = 64

// Prepared is a Content laid out for one List, to be filled in for any number
// of recipients. It is what a broadcast uses to render once and send to many:
// Prepare parses the templates; the first For of each variant runs goldmark,
// the layout and premailer on text whose subscriber values and link tokens are
// numbered slots; every For after that only executes the two templates and
// splices the recipient's values into the kept output. A Prepared is safe for
// concurrent use.
//
// For gives the same Message as Render for the same recipient (Render is
// Prepare and For), with subscriber values escaped in the same way: they reach
// goldmark and premailer only as placeholders and are HTML-escaped when
// spliced in.
type Prepared struct {
	r    *Renderer
	p    *prepared
	list List

	mu      sync.Mutex
	layouts map[string]*laidOut // by the executed templates with slots
}

// laidOut is one variant of a Prepared: the HTML and text parts with slots.
type laidOut struct {
	once sync.Once
	html split
	text split
	err  error
}

// part is a piece of a laid-out message: literal text, a slot (a recipient's
// value) or, in the text part only, the underline of a heading that holds a
// slot, whose width depends on the values.
type part struct {
	lit     string
	slot    int    // -1: none
	heading []part // underline: the heading's own parts
	under   byte   // underline: '=' or '-'; 0 for a literal or slot
}

// Prepare parses and checks the templates of c for list l. It returns EINVALID
// when the subject or body template does not parse or uses an unknown field
// (the message names "subject" or "body" and the line, as Check does).
func (r *Renderer) Prepare(c Content, l List) (*Prepared, error) {
	p, err := prepare(c)
	if err != nil {
		return nil, err
	}
	return &Prepared{r: r, p: p, list: l, layouts: map[string]*laidOut{}}, nil
}

// For renders the prepared Content for one recipient. It returns EINVALID when
// a template fails to execute for to (as Render does) and when to has no
// UnsubscribeURL; other errors are internal.
func (p *Prepared) For(to Recipient) (*Message, error) {
	m, err := p.SplicedFor(to)
	if err != nil {
		return nil, err
	}
	return &Message{Subject: m.Subject, HTML: m.HTML.String(), Text: m.Text.String()}, nil
}

// SplicedMessage is a Message whose bodies are left in pieces: the fixed
// text of the recipient's variant, which is the same strings for every
// recipient who shares it, and the recipient's values between them. A
// sender can then encode the fixed pieces once (delivery.Spliced).
type SplicedMessage struct {
	Subject    string
	HTML, Text Spliced
}

// Spliced is a body in pieces: Fixed[0] + Values[0] + Fixed[1] + ... +
// Fixed[len(Fixed)-1]. Fixed is shared by every message of the same
// variant and must not be changed.
type Spliced struct {
	Fixed  []string
	Values []string // one fewer than Fixed
}

// String joins the pieces.
func (s Spliced) String() string {
	n := 0
	for _, f := range s.Fixed {
		n += len(f)
	}
	for _, v := range s.Values {
		n += len(v)
	}
	var b strings.Builder
	b.Grow(n)
	for i, f := range s.Fixed {
		if i > 0 {
			b.WriteString(s.Values[i-1])
		}
		b.WriteString(f)
	}
	return b.String()
}

// SplicedFor is For with the bodies left in pieces. It returns the same
// errors.
func (p *Prepared) SplicedFor(to Recipient) (*SplicedMessage, error) {
	if to.UnsubscribeURL == "" {
		return nil, tidings.Errorf(tidings.EINVALID, "The recipient has no unsubscribe link.")
	}
	d := newData(to)
	subject, err := p.p.subject.execute(d)
	if err != nil {
		return nil, err
	}
	body, err := p.p.body.execute(d)
	if err != nil {
		return nil, err
	}

	// Number the recipient's values: link tokens first, then the subscriber
	// values behind their placeholders. Equal values share a slot, so that
	// comparisons the renderers make (a link whose text is its address) come
	// out as they would with the values themselves.
	var s slots
	unsubscribe, preferences := to.UnsubscribeURL, to.PreferencesURL
	for _, u := range []string{to.UnsubscribeURL, to.PreferencesURL} {
		tok := linkToken(u)
		if tok == "" {
			continue
		}
		ph := s.add(tok)
		subject = strings.ReplaceAll(subject, tok, ph)
		body = strings.ReplaceAll(body, tok, ph)
		unsubscribe = strings.ReplaceAll(unsubscribe, tok, ph)
		preferences = strings.ReplaceAll(preferences, tok, ph)
	}
	slotSubject, slotBody := s.number(subject), s.number(body)

	key := strings.Join([]string{slotSubject, slotBody, unsubscribe, preferences}, "\x00")
	lo := p.layout(key)
	lo.once.Do(func() {
		var html, text []part
		html, text, lo.err = p.lay(slotSubject, slotBody, unsubscribe, preferences)
		lo.html, lo.text = splitParts(html), splitParts(text)
	})
	if lo.err != nil {
		return nil, lo.err
	}
	return &SplicedMessage{
		Subject: strings.Join(strings.Fields(splice(subject, verbatim)), " "),
		HTML:    lo.html.fill(s.values, escapeHTML),
		Text:    lo.text.fill(s.values, verbatim),
	}, nil
}

// layout returns the variant for key, new (not yet laid out) or kept.
func (p *Prepared) layout(key string) *laidOut {
	p.mu.Lock()
	defer p.mu.Unlock()
	if lo, ok := p.layouts[key]; ok {
		return lo
	}
	if len(p.layouts) >= maxLayouts {
		for k := range p.layouts { // forget one, any one
			delete(p.layouts, k)
			break
		}
	}
	lo := &laidOut{}
	p.layouts[key] = lo
	return lo
}

// lay does the expensive, recipient-independent work on templates executed
// with slots: Markdown, layout, CSS inlining. Its output still holds the slots.
func (p *Prepared) lay(subject, body, unsubscribe, preferences string) (html, text []part, err error) {
	content, plain, err := p.r.markdown(body)
	if err != nil {
		return nil, nil, err
	}
	pg := page{
		Subject:        subject,
		Preheader:      p.p.preheader,
		Content:        content,
		List:           p.list,
		UnsubscribeURL: unsubscribe,
		PreferencesURL: preferences,
		Reason:         "You are receiving this email because you subscribed to " + p.list.Name + ".",
	}
	inlined, err := p.r.layoutPage(pg)
	if err != nil {
		return nil, nil, err
	}
	return parts(inlined, false), parts(strings.TrimRight(plain, "\n")+"\n\n"+textFooter(pg), true), nil
}

// Slots are "TDGs" + decimal slot number + "sTDG": letters and digits only,
// like the value placeholders, so Markdown, linkify, URL escaping and HTML
// serialisation leave them alone as they leave a value or a token alone.
const (
	slotStart = "TDGs"
	slotEnd   = "sTDG"
)

// slotRE finds slots and, in the text part, the underline markers that
// plainText writes under a heading holding a slot: "TDGu" + "=" or "-" as "e"
// or "d" + the hex of the heading + "uTDG".
var slotRE = regexp.MustCompile(`TDGs([0-9]{1,6})sTDG|TDGu([ed])((?:[0-9a-f]{2})*)uTDG`)

// hasSlot reports whether s holds a slot.
func hasSlot(s string) bool { return strings.Contains(s, slotStart) && slotRE.MatchString(s) }

// underlineMarker stands for the underline of heading, whose width is only
// known once the slots in it are filled in.
func underlineMarker(heading string, c byte) string {
	k := "e"
	if c == '-' {
		k = "d"
	}
	return "TDGu" + k + hex.EncodeToString([]byte(heading)) + "uTDG"
}

// slots numbers the values of one recipient.
type slots struct {
	values []string
}

// add returns the slot of v, new or the one v already has. A recipient has
// a handful of values, so they are searched rather than indexed.
func (s *slots) add(v string) string {
	n := slices.Index(s.values, v)
	if n < 0 {
		n = len(s.values)
		s.values = append(s.values, v)
	}
	return slotStart + strconv.Itoa(n) + slotEnd
}

// number replaces each value placeholder in t by the slot of its value.
func (s *slots) number(t string) string {
	return splice(t, s.add)
}

// linkToken returns the token of a link made by Tidings, its last path
// segment, when it can stand in a slot without changing how Markdown reads the
// link: 16 to 512 characters of the base64url alphabet and ".", with at least
// one of ".-_" (so it can never overlap a placeholder, which is letters and
// digits only) and no "TDG". Other links are used as they are, which is just
// as correct and only lays out more variants.
func linkToken(u string) string {
	i := strings.LastIndexByte(u, '/')
	if i < 0 {
		return ""
	}
	tok := u[i+1:]
	if len(tok) < 16 || len(tok) > 512 || strings.Contains(tok, "TDG") || !strings.ContainsAny(tok, ".-_") {
		return ""
	}
	for _, c := range []byte(tok) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return ""
		}
	}
	return tok
}

// parts splits laid-out output at its slots (and, in text, its underline
// markers), so filling it in is a concatenation.
func parts(s string, text bool) []part {
	var out []part
	last := 0
	for _, m := range slotRE.FindAllStringSubmatchIndex(s, -1) {
		if m[2] < 0 && !text { // an underline marker can only come from plainText
			continue
		}
		if m[0] > last {
			out = append(out, part{lit: s[last:m[0]], slot: -1})
		}
		if m[2] >= 0 {
			n, _ := strconv.Atoi(s[m[2]:m[3]])
			out = append(out, part{slot: n, lit: s[m[0]:m[1]]})
		} else {
			heading, _ := hex.DecodeString(s[m[6]:m[7]])
			c := byte('=')
			if s[m[4]] == 'd' {
				c = '-'
			}
			out = append(out, part{slot: -1, under: c, heading: parts(string(heading), true)})
		}
		last = m[1]
	}
	if last < len(s) {
		out = append(out, part{lit: s[last:], slot: -1})
	}
	return out
}

// split is laid-out output split for filling in: fixed[i] comes before
// vars[i], the slots and underlines, whose text depends on the values.
type split struct {
	fixed []string // len(vars)+1
	vars  []part
}

// splitParts joins the literal parts of ps into the fixed pieces between
// the others.
func splitParts(ps []part) split {
	sp := split{fixed: []string{""}}
	for _, p := range ps {
		if p.slot < 0 && p.under == 0 {
			sp.fixed[len(sp.fixed)-1] += p.lit
			continue
		}
		sp.vars = append(sp.vars, p)
		sp.fixed = append(sp.fixed, "")
	}
	return sp
}

// fill fills in the vars of sp with esc of values.
func (sp split) fill(values []string, esc func(string) string) Spliced {
	out := Spliced{Fixed: sp.fixed, Values: make([]string, len(sp.vars))}
	for i, p := range sp.vars {
		out.Values[i] = fillPart(p, values, esc)
	}
	return out
}

// fillPart is the text of one part for values: a slot's value through esc,
// or the underline of a heading as wide as the heading comes out. A slot
// with no value (an editor wrote something that looks like one) stays as
// written.
func fillPart(p part, values []string, esc func(string) string) string {
	switch {
	case p.under != 0:
		// Width as the reader sees it, as plainText counts it.
		var w int
		for _, h := range p.heading {
			w += utf8.RuneCountInString(fillPart(h, values, verbatim))
		}
		return strings.Repeat(string(p.under), w)
	case p.slot >= 0 && p.slot < len(values):
		return esc(values[p.slot])
	default:
		return p.lit
	}
}
