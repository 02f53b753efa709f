package web

import (
	"net/http"
	"strings"

	"github.com/tidings/tidings"
	"github.com/tidings/tidings/subscribers"
	"github.com/tidings/tidings/templates"
)

// The preview renders what the editor is writing through the same templates
// as the real send (templates.Renderer.Render), for a sample recipient, with
// the list's name and postal address in the footer. Editors see it in a
// sandboxed iframe: the body may hold raw HTML.

// sampleRecipient is the made-up subscriber of previews; "anonymous" is one
// who gave no name, to check the fallbacks of merge fields.
func (s *Server) sampleRecipient(r *http.Request, as, email string) templates.Recipient {
	to := templates.Recipient{Email: "alex@example.com", Name: "Alex Example"}
	if as == "anonymous" {
		to.Name = ""
	}
	if email != "" {
		to.Email = email
	}
	// A link that goes nowhere harmful: the unsubscribe page of a token that
	// does not exist says the link is not valid.
	to.UnsubscribeURL = s.publicBase(r) + s.url("unsubscribe", "token", "preview")
	return to
}

// publicBase is the public URL of the site, or, when none is configured, the
// one the editor is using.
func (s *Server) publicBase(r *http.Request) string {
	if base := strings.TrimRight(s.baseURL, "/"); base != "" {
		return base
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

func templateList(l *subscribers.List) templates.List {
	return templates.List{Name: l.Name, FromName: l.FromName, PostalAddress: l.PostalAddress}
}

// renderSample renders a subject and body for the sample recipient (or, with
// email, the sample name at that address). Errors are EINVALID, naming the
// line, for templates that do not parse or run.
func (s *Server) renderSample(r *http.Request, l *subscribers.List, f contentForm, email string) (*templates.Message, error) {
	// A Renderer costs a parse of the embedded layouts; previews are
	// debounced and few, so one per request keeps Server free of it.
	rd, err := templates.NewRenderer()
	if err != nil {
		return nil, err
	}
	return rd.Render(templates.Content{Subject: f.Subject, Body: f.Body}, templateList(l), s.sampleRecipient(r, f.As, email))
}

// preview is the rendered email shown beside the form, or why it could not be.
type preview struct {
	Subject string
	HTML    string
	Error   string
	As      string
}

// previewOf renders the form for the page. An empty form has nothing to show yet.
func (s *Server) previewOf(r *http.Request, l *subscribers.List, f contentForm) *preview {
	p := &preview{As: f.As}
	if strings.TrimSpace(f.Body) == "" && strings.TrimSpace(f.Subject) == "" {
		p.HTML = emptyPreview
		return p
	}
	msg, err := s.renderSample(r, l, f, "")
	if err != nil {
		s.logError(r, err)
		p.Error = tidings.ErrorMessage(err)
		return p
	}
	p.Subject, p.HTML = msg.Subject, msg.HTML
	return p
}

const emptyPreview = `<!doctype html><html><body style="margin:0;display:flex;align-items:center;justify-content:center;height:90vh;font:15px -apple-system,BlinkMacSystemFont,'Segoe UI',Roboto,sans-serif;color:#6b7280">Write a subject and a body to see the email here.</body></html>`

// handleEditorPreview renders a subject and body posted by the compose
// page's script: 200 with the email's HTML document, or 422 with the reason
// as plain text (for example "body line 3: unexpected end of template...").
func (s *Server) handleEditorPreview(w http.ResponseWriter, r *http.Request) {
	l, ok := s.editorList(w, r)
	if !ok {
		return
	}
	if err := s.parseForm(w, r); err != nil {
		s.previewError(w, r, err)
		return
	}
	f := readContentForm(r)
	msg, err := s.renderSample(r, l, f, "")
	if err != nil {
		s.previewError(w, r, err)
		return
	}
	// Should the document ever be opened on its own, it runs sandboxed, like
	// the iframe it is meant for.
	writeSandboxed(w, msg.HTML)
}
