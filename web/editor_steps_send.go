package web

import (
	"net/http"

	"github.com/tidings/tidings"
	"github.com/tidings/tidings/subscribers"
)

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
