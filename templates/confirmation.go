package templates

import (
	"bytes"
	"fmt"
	htmltemplate "html/template"
	"strings"
	"sync"

	"github.com/tidings/tidings"
)

// PreparedConfirmation is the confirmation email of one List laid out once,
// to be filled in for each reader who signs up: their name and address and
// the tokens of their links stand in numbered slots while the layout and
// premailer run, as in a Prepared, so each reader after the first of a
// variant costs two template executions and a splice. It is safe for
// concurrent use.
type PreparedConfirmation struct {
	r    *Renderer
	list List
	// whole is set when a field of the list holds text that looks like a
	// slot or a placeholder: filling in could not tell it from a real one, so every reader's
	// email is rendered whole.
	whole bool

	mu      sync.Mutex
	layouts map[string]*laidOut // by the executed templates with slots
}

// PrepareConfirmation returns the confirmation email of l, ready to be
// filled in for any number of readers.
func (r *Renderer) PrepareConfirmation(l List) *PreparedConfirmation {
	whole := false
	for _, f := range []string{l.Name, l.FromName, l.PostalAddress} {
		whole = whole || hasSlot(f) || strings.Contains(f, placeholderStart)
	}
	return &PreparedConfirmation{r: r, list: l, whole: whole, layouts: map[string]*laidOut{}}
}

// For renders the confirmation email for to with confirmURL, the same
// Message as Renderer.Confirmation. It returns the same errors.
func (p *PreparedConfirmation) For(to Recipient, confirmURL string) (*Message, error) {
	m, err := p.SplicedFor(to, confirmURL)
	if err != nil {
		return nil, err
	}
	return &Message{Subject: m.Subject, HTML: m.HTML.String(), Text: m.Text.String()}, nil
}

// SplicedFor is For with the bodies left in pieces, whose fixed pieces are
// shared by every reader of the same variant. It returns the same errors.
func (p *PreparedConfirmation) SplicedFor(to Recipient, confirmURL string) (*SplicedMessage, error) {
	if confirmURL == "" {
		return nil, tidings.Errorf(tidings.EINVALID, "The confirmation link is missing.")
	}
	if p.whole {
		m, err := p.r.Confirmation(p.list, to, confirmURL)
		if err != nil {
			return nil, err
		}
		return &SplicedMessage{Subject: m.Subject, HTML: Spliced{Fixed: []string{m.HTML}}, Text: Spliced{Fixed: []string{m.Text}}}, nil
	}
	// The link tokens first, then the reader's values behind their
	// placeholders, as Prepared.SplicedFor numbers them.
	var s slots
	links := []string{confirmURL, to.UnsubscribeURL, to.PreferencesURL}
	for _, u := range []string{confirmURL, to.UnsubscribeURL, to.PreferencesURL} {
		tok := linkToken(u)
		if tok == "" {
			continue
		}
		ph := s.add(tok)
		for i := range links {
			links[i] = strings.ReplaceAll(links[i], tok, ph)
		}
	}
	content, text, err := p.r.confirmationParts(p.list, newData(to), links[0])
	if err != nil {
		return nil, err
	}
	content, text = s.number(content), s.number(text)

	key := strings.Join(append([]string{content, text}, links...), "\x00")
	lo := p.layout(key)
	lo.once.Do(func() {
		pg := p.r.confirmationPage(p.list, htmltemplate.HTML(content), links[1], links[2])
		inlined, err := p.r.layoutPage(pg)
		if err != nil {
			lo.err = err
			return
		}
		lo.html = splitParts(parts(inlined, false))
		lo.text = splitParts(parts(strings.TrimRight(text, "\n")+"\n\n"+textFooter(pg), true))
	})
	if lo.err != nil {
		return nil, lo.err
	}
	return &SplicedMessage{
		Subject: confirmationSubject(p.list),
		HTML:    lo.html.fill(s.values, escapeHTML),
		Text:    lo.text.fill(s.values, verbatim),
	}, nil
}

// layout returns the variant for key, new (not yet laid out) or kept; past
// maxLayouts one is forgotten, as in Prepared.layout.
func (p *PreparedConfirmation) layout(key string) *laidOut {
	p.mu.Lock()
	defer p.mu.Unlock()
	if lo, ok := p.layouts[key]; ok {
		return lo
	}
	if len(p.layouts) >= maxLayouts {
		for k := range p.layouts {
			delete(p.layouts, k)
			break
		}
	}
	lo := &laidOut{}
	p.layouts[key] = lo
	return lo
}

// confirmationParts executes the confirmation's HTML body and text for d,
// with its values still behind placeholders.
func (r *Renderer) confirmationParts(l List, d data, confirmURL string) (content, text string, err error) {
	v := struct {
		data
		List       List
		ConfirmURL string
	}{d, l, confirmURL}
	var html bytes.Buffer
	if err := r.layout.ExecuteTemplate(&html, "confirm.html", v); err != nil {
		return "", "", fmt.Errorf("templates: confirmation: %w", err)
	}
	var t strings.Builder
	if err := r.confirmText.Execute(&t, v); err != nil {
		return "", "", fmt.Errorf("templates: confirmation text: %w", err)
	}
	return html.String(), t.String(), nil
}

// confirmationPage is the page of the confirmation email of l around its
// body content.
func (r *Renderer) confirmationPage(l List, content htmltemplate.HTML, unsubscribe, preferences string) page {
	return page{
		Subject:        confirmationSubject(l),
		Preheader:      "One click and you're in.",
		Content:        content,
		List:           l,
		UnsubscribeURL: unsubscribe,
		PreferencesURL: preferences,
		Reason:         "You are receiving this email because this address was entered on the sign-up form of " + l.Name + ". If that was not you, ignore it and you will not hear from us again.",
	}
}

// confirmationSubject is the subject of the confirmation email of l, as
// finish makes a subject one line.
func confirmationSubject(l List) string {
	return strings.Join(strings.Fields("Confirm your subscription to "+l.Name), " ")
}
