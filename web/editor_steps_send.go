package web

import (
	"io"
	"net/http"

	"github.com/tidings/tidings"
	"github.com/tidings/tidings/subscribers"
)

// handleEditorTest sends a test of the step or bonus email being written,
// as it stands in the form and without saving it, and answers, as plain
// text, what it did. The compose page's script posts here, so the editor
// stays on the page with the draft as typed (nothing to post again on a
// reload); without the script the form's own test button does the same
// with a page load (composeAction).
func (s *Server) handleEditorTest(w http.ResponseWriter, r *http.Request) {
	l, ok := s.editorList(w, r)
	if !ok {
		return
	}
	if err := s.parseForm(w, r); err != nil {
		s.previewError(w, r, err)
		return
	}
	to := editorFrom(r.Context()).Email
	if err := s.sendDraft(r, l, readContentForm(r), to); err != nil {
		s.scriptError(w, r, testNotSent, err)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	io.WriteString(w, testSent(to))
}

const testNotSent = "The test was not sent: "

// testSent is what the compose page says once a test has gone.
func testSent(to string) string {
	return "A test of this email was sent to " + to + ". Nothing was saved."
}

// sendDraft renders the form as the preview does (the sample name, at the
// editor's address) and sends it to the editor through Config.SendTest.
// Returns EINVALID for templates that do not render, ECONFLICT when this
// instance cannot send mail, and the sender's error otherwise.
func (s *Server) sendDraft(r *http.Request, l *subscribers.List, f contentForm, to string) error {
	if s.sendTest == nil {
		return tidings.Errorf(tidings.ECONFLICT, "This instance has no mail relay (TIDINGS_SMTP_URL), so it cannot send tests.")
	}
	msg, err := s.renderSample(r, l, f, to)
	if err != nil {
		return err
	}
	return s.sendTest(r.Context(), to, msg, l)
}
