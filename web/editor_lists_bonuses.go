package web

import (
	"fmt"
	"net/http"

	"github.com/gorilla/mux"

	"github.com/tidings/tidings"
	"github.com/tidings/tidings/campaigns"
	"github.com/tidings/tidings/subscribers"
)

// Bonus emails are written on the same compose page as steps, without the
// timing fields: they go out once, right after confirmation.

// handleEditorBonusNew shows an empty bonus email form.
func (s *Server) handleEditorBonusNew(w http.ResponseWriter, r *http.Request) {
	l, ok := s.editorList(w, r)
	if !ok {
		return
	}
	s.renderCompose(w, r, http.StatusOK, composePage{Kind: "bonus", New: true, List: l})
}

// handleEditorBonusCreate adds a bonus email.
func (s *Server) handleEditorBonusCreate(w http.ResponseWriter, r *http.Request) {
	l, ok := s.editorList(w, r)
	if !ok {
		return
	}
	d := composePage{Kind: "bonus", New: true, List: l}
	if err := s.parseForm(w, r); err != nil {
		d.Error = tidings.ErrorMessage(err)
		s.renderCompose(w, r, errorStatus(err), d)
		return
	}
	d.Form = readContentForm(r)
	if s.composeAction(w, r, &d) {
		return
	}
	b := &campaigns.Bonus{Subject: d.Form.Subject, Body: d.Form.Body}
	if err := s.campaigns.CreateBonus(r.Context(), l.ID, b); err != nil {
		s.logError(r, err)
		d.Error = tidings.ErrorMessage(err)
		s.renderCompose(w, r, errorStatus(err), d)
		return
	}
	http.Redirect(w, r, s.url("editor-list", "list", l.Slug)+"?done=bonus-added#bonuses", http.StatusSeeOther)
}

// editorBonus finds the list and bonus named in the path, or shows the
// not-found page.
func (s *Server) editorBonus(w http.ResponseWriter, r *http.Request) (*subscribers.List, *campaigns.Bonus, bool) {
	l, ok := s.editorList(w, r)
	if !ok {
		return nil, nil, false
	}
	id, err := pathID(mux.Vars(r)["id"])
	if err == nil {
		var b *campaigns.Bonus
		if b, err = s.campaigns.BonusByID(r.Context(), l.ID, id); err == nil {
			return l, b, true
		}
	}
	s.editorFail(w, r, err)
	return nil, nil, false
}

// handleEditorBonusEdit shows a bonus email with its preview.
func (s *Server) handleEditorBonusEdit(w http.ResponseWriter, r *http.Request) {
	l, b, ok := s.editorBonus(w, r)
	if !ok {
		return
	}
	s.renderCompose(w, r, http.StatusOK, composePage{
		Kind: "bonus", List: l, ID: b.ID, Position: b.Position,
		Form: contentForm{Subject: b.Subject, Body: b.Body}, Notice: notice(r),
	})
}

// handleEditorBonusUpdate saves a bonus email.
func (s *Server) handleEditorBonusUpdate(w http.ResponseWriter, r *http.Request) {
	l, b, ok := s.editorBonus(w, r)
	if !ok {
		return
	}
	d := composePage{Kind: "bonus", List: l, ID: b.ID, Position: b.Position}
	if err := s.parseForm(w, r); err != nil {
		d.Form, d.Error = contentForm{Subject: b.Subject, Body: b.Body}, tidings.ErrorMessage(err)
		s.renderCompose(w, r, errorStatus(err), d)
		return
	}
	d.Form = readContentForm(r)
	if s.composeAction(w, r, &d) {
		return
	}
	if _, err := s.campaigns.UpdateBonus(r.Context(), l.ID, b.ID, campaigns.BonusUpdate{Subject: &d.Form.Subject, Body: &d.Form.Body}); err != nil {
		s.logError(r, err)
		d.Error = tidings.ErrorMessage(err)
		s.renderCompose(w, r, errorStatus(err), d)
		return
	}
	http.Redirect(w, r, s.url("editor-list", "list", l.Slug)+"?done=bonus-saved#bonuses", http.StatusSeeOther)
}

// handleEditorBonusDeleteForm asks before a bonus email is deleted.
func (s *Server) handleEditorBonusDeleteForm(w http.ResponseWriter, r *http.Request) {
	l, b, ok := s.editorBonus(w, r)
	if !ok {
		return
	}
	s.render(w, r, http.StatusOK, "editor_list_confirm", s.editorPage(r, fmt.Sprintf("Delete bonus email %d?", b.Position), confirmPage{
		List: l, Crumb: &pageLink{URL: s.url("editor-list", "list", l.Slug) + "#bonuses", Text: "Bonus emails"},
		Lines: []string{
			fmt.Sprintf("“%s” will no longer be sent to those who confirm, and copies still waiting to be sent are dropped.", b.Subject),
			"Those who got it keep it in their history.",
		},
		Action: s.url("editor-bonus-delete", "list", l.Slug, "id", itoa(b.ID)),
		Button: "Delete bonus email", Cancel: s.url("editor-bonus", "list", l.Slug, "id", itoa(b.ID)),
	}))
}

// handleEditorBonusDelete deletes a bonus email.
func (s *Server) handleEditorBonusDelete(w http.ResponseWriter, r *http.Request) {
	l, b, ok := s.editorBonus(w, r)
	if !ok {
		return
	}
	if err := s.campaigns.DeleteBonus(r.Context(), l.ID, b.ID); err != nil {
		s.editorFail(w, r, err)
		return
	}
	http.Redirect(w, r, s.url("editor-list", "list", l.Slug)+"?done=bonus-deleted#bonuses", http.StatusSeeOther)
}
