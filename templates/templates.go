// Package templates renders emails: a Markdown body (goldmark, CommonMark with
// the GFM table, strikethrough and linkify extensions) with Go-template merge
// fields, inside a table-based HTML layout whose CSS is inlined with premailer,
// plus a plain-text part derived from the same Markdown: the text/html and
// text/plain alternatives of a multipart/alternative message (RFC 2046). The
// footer of every subscriber message carries the unsubscribe link and the
// list's postal address, as CAN-SPAM asks; the List-Unsubscribe headers of
// RFC 2369 and RFC 8058 are the dispatcher's.
//
// # Merge fields and subscriber values
//
// A subject and a body are text/template templates over one recipient:
// .FirstName (first word of the name), .Name, .Email, .UnsubscribeURL and
// .PreferencesURL. Only the builtin template functions exist, so a fallback is
// written {{or .FirstName "there"}}.
//
// Name, FirstName and Email are supplied by subscribers and must never become
// markup or Markdown. They are therefore never given to goldmark or premailer:
// in the template data they have a type whose String method prints an opaque
// placeholder (letters and digits only, carrying the hex of the value), so
// template logic (or, if, eq, len, slice) still sees the real value while the
// output only ever contains the placeholder. After the Markdown has been
// rendered, laid out and inlined, each placeholder is replaced by its value:
// HTML-escaped in the HTML part, verbatim in the subject and the text part.
// Because premailer re-serialises the document before that, a placeholder only
// ever lands in element text or a quoted attribute value, where escaping with
// html.EscapeString is sufficient. The two URL fields are made by Tidings
// itself (signed tokens), so they reach the Markdown as they are and
// linkify/links work on them.
//
// The body is written by an editor, a signed-in and trusted user, so raw HTML
// in it is passed through goldmark (html.WithUnsafe), and the rendered HTML is
// then cleaned with an allow-list (emailPolicy): tables, images, links and
// inline styles stay; scripts, event handlers, javascript: URLs, forms and
// frames never reach a sent email. Subscriber values are safe because of the
// placeholders above. Pages that preview a rendered body to editors show it
// in a sandboxed iframe all the same.
//
// # Rendering once, splicing per recipient
//
// Prepare parses a Content's templates once. Prepared.For executes them for
// one recipient, numbers the subscriber values and the tokens of the
// recipient's links as slots ("TDGs0sTDG"), and does the expensive,
// recipient-independent work (goldmark, layout, premailer) once per distinct
// slotted text, keeping the output split at its slots; each recipient after
// that costs two template executions and a concatenation. Render is Prepare
// and For, so a broadcast sent through a Prepared gives each recipient what
// Render would.
package templates

import (
	"bytes"
	"embed"
	"fmt"
	htmltemplate "html/template"
	"strings"
	texttemplate "text/template"

	"github.com/microcosm-cc/bluemonday"
	"github.com/tidings/tidings"
	"github.com/vanng822/go-premailer/premailer"
	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/extension"
	"github.com/yuin/goldmark/renderer/html"
	gmtext "github.com/yuin/goldmark/text"
)

//go:embed layout
var layoutFS embed.FS

// Renderer turns a Content into a Message for one recipient. It holds the
// parsed layouts and the Markdown converter, none of which change after
// NewRenderer, so it is safe for concurrent use.
type Renderer struct {
	md          goldmark.Markdown
	policy      *bluemonday.Policy     // cleans the rendered body (emailPolicy); safe for concurrent use
	layout      *htmltemplate.Template // "email.html" (the page) and "confirm.html" (a body)
	confirmText *texttemplate.Template
}

// List is what a message needs to know about the list it is sent for.
type List struct {
	Name          string // shown above the card and in the footer
	FromName      string // signs the confirmation email, if set
	PostalAddress string // the sender's postal address, shown in every footer; lines separated by "\n"
}

// Recipient is the person a message is rendered for.
type Recipient struct {
	// Email and Name are supplied by the subscriber. They are always escaped in
	// the HTML part and can never inject markup or Markdown (see the package
	// documentation); in the subject and text part they appear as they are.
	Email, Name string

	// UnsubscribeURL and PreferencesURL are absolute links made by Tidings.
	// Render requires UnsubscribeURL; PreferencesURL is optional.
	UnsubscribeURL, PreferencesURL string
}

// Content is what an editor writes: a broadcast, a sequence step, a welcome
// or bonus message.
type Content struct {
	Subject   string // a Go template; the rendered subject is one line of plain text
	Preheader string // plain text shown by mail clients after the subject; not a template
	Body      string // a Go template producing Markdown
}

// Message is a rendered email.
type Message struct {
	Subject string // plain text, one line
	HTML    string // a complete HTML document with inlined CSS
	Text    string // the plain-text alternative, ending with the footer
}

// NewRenderer returns a Renderer with the embedded layouts parsed. An error
// means the embedded files are broken, which is a bug (EINTERNAL).
func NewRenderer() (*Renderer, error) {
	layout, err := htmltemplate.New("email.html").Funcs(htmltemplate.FuncMap{
		"lines": lines,
	}).ParseFS(layoutFS, "layout/*.html")
	if err != nil {
		return nil, fmt.Errorf("templates: parse layout: %w", err)
	}
	confirmText, err := texttemplate.New("confirm.txt").ParseFS(layoutFS, "layout/confirm.txt")
	if err != nil {
		return nil, fmt.Errorf("templates: parse confirmation text: %w", err)
	}
	md := goldmark.New(
		goldmark.WithExtensions(extension.Table, extension.Strikethrough, extension.Linkify),
		// Editor-written raw HTML is allowed; subscriber values never reach
		// goldmark (see the package documentation).
		goldmark.WithRendererOptions(html.WithUnsafe()),
	)
	return &Renderer{md: md, policy: emailPolicy(), layout: layout, confirmText: confirmText}, nil
}

// Render renders c for one recipient of list l. It returns EINVALID when the
// subject or body template does not parse, uses an unknown field or fails to
// execute (the message names "subject" or "body" and the line, as Check does),
// and when to has no UnsubscribeURL: every message to a subscriber must carry
// one. Other errors are internal.
func (r *Renderer) Render(c Content, l List, to Recipient) (*Message, error) {
	if to.UnsubscribeURL == "" {
		return nil, tidings.Errorf(tidings.EINVALID, "The recipient has no unsubscribe link.")
	}
	p, err := r.Prepare(c, l)
	if err != nil {
		return nil, err
	}
	return p.For(to)
}

// Confirmation renders the built-in double opt-in email that asks to to
// confirm their subscription to l by following confirmURL. to.UnsubscribeURL
// may be empty: the subscription is not confirmed yet, and the email says that
// ignoring it is enough. It returns EINVALID when confirmURL is empty.
func (r *Renderer) Confirmation(l List, to Recipient, confirmURL string) (*Message, error) {
	if confirmURL == "" {
		return nil, tidings.Errorf(tidings.EINVALID, "The confirmation link is missing.")
	}
	content, text, err := r.confirmationParts(l, newData(to), confirmURL)
	if err != nil {
		return nil, err
	}
	return r.finish(r.confirmationPage(l, htmltemplate.HTML(content), to.UnsubscribeURL, to.PreferencesURL), text)
}

// page is the data of the layout email.html. Subject and Content may hold
// placeholders; every other field is written by an editor or by Tidings.
type page struct {
	Subject        string
	Preheader      string
	Content        htmltemplate.HTML
	List           List
	UnsubscribeURL string
	PreferencesURL string
	Reason         string // the first line of the footer: why this email came
}

// markdown converts the executed body (with placeholders) to an HTML fragment
// and to plain text, from one parse.
func (r *Renderer) markdown(body string) (htmltemplate.HTML, string, error) {
	src := []byte(body)
	doc := r.md.Parser().Parse(gmtext.NewReader(src))
	var buf bytes.Buffer
	if err := r.md.Renderer().Render(&buf, src, doc); err != nil {
		return "", "", fmt.Errorf("templates: render markdown: %w", err)
	}
	clean := r.policy.SanitizeBytes(buf.Bytes())
	return htmltemplate.HTML(clean), plainText(doc, src), nil
}

// finish lays out the page, inlines its CSS, appends the footer to the text
// and splices the subscriber values in.
func (r *Renderer) finish(p page, text string) (*Message, error) {
	inlined, err := r.layoutPage(p)
	if err != nil {
		return nil, err
	}
	return &Message{
		Subject: strings.Join(strings.Fields(splice(p.Subject, verbatim)), " "),
		HTML:    splice(inlined, escapeHTML),
		Text:    splice(strings.TrimRight(text, "\n")+"\n\n"+textFooter(p), verbatim),
	}, nil
}

// layoutPage lays out the page and inlines its CSS.
func (r *Renderer) layoutPage(p page) (string, error) {
	var doc bytes.Buffer
	if err := r.layout.ExecuteTemplate(&doc, "email.html", p); err != nil {
		return "", fmt.Errorf("templates: layout: %w", err)
	}
	pm, err := premailer.NewPremailerFromBytes(doc.Bytes(), premailer.NewOptions())
	if err != nil {
		return "", fmt.Errorf("templates: inline css: %w", err)
	}
	inlined, err := pm.Transform()
	if err != nil {
		return "", fmt.Errorf("templates: inline css: %w", err)
	}
	return inlined, nil
}

// textFooter is the footer of the plain-text part.
func textFooter(p page) string {
	var b strings.Builder
	b.WriteString("-- \n") // the conventional signature separator
	b.WriteString(p.Reason + "\n")
	if p.UnsubscribeURL != "" {
		b.WriteString("Unsubscribe: " + p.UnsubscribeURL + "\n")
	}
	if p.PreferencesURL != "" {
		b.WriteString("Preferences: " + p.PreferencesURL + "\n")
	}
	b.WriteString("\n" + p.List.Name + "\n")
	for _, line := range lines(p.List.PostalAddress) {
		b.WriteString(line + "\n")
	}
	return b.String()
}

// lines splits a multi-line value such as a postal address into its non-blank,
// trimmed lines.
func lines(s string) []string {
	var out []string
	for line := range strings.Lines(s) {
		if line = strings.TrimSpace(line); line != "" {
			out = append(out, line)
		}
	}
	return out
}
