package web

import (
	"github.com/tidings/tidings"

	"net/http"

	"github.com/gorilla/mux"

	"github.com/tidings/tidings/subscribers"
	"github.com/tidings/tidings/templates"
)

// listInput is a list as the API takes it; absent fields are left alone on PATCH.
type listInput struct {
	Slug           *string `json:"slug"`
	Name           *string `json:"name"`
	FromName       *string `json:"from_name"`
	FromEmail      *string `json:"from_email"`
	ReplyTo        *string `json:"reply_to"`
	Timezone       *string `json:"timezone"`
	PostalAddress  *string `json:"postal_address"`
	ConsentText    *string `json:"consent_text"`
	WelcomeSubject *string `json:"welcome_subject"`
	WelcomeBody    *string `json:"welcome_body"`
}

func (s *Server) handleAPIListIndex(w http.ResponseWriter, r *http.Request) {
	lists, err := s.subscribers.Lists(r.Context())
	if err != nil {
		s.jsonError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"lists": lists})
}

func (s *Server) handleAPIListShow(w http.ResponseWriter, r *http.Request) {
	list, err := s.subscribers.ListBySlug(r.Context(), mux.Vars(r)["list"])
	if err != nil {
		s.jsonError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, list)
}

func (s *Server) handleAPIListCreate(w http.ResponseWriter, r *http.Request) {
	var in listInput
	if err := decodeJSON(w, r, &in); err != nil {
		s.jsonError(w, r, err)
		return
	}
	if err := templates.Check(deref(in.WelcomeSubject), deref(in.WelcomeBody)); err != nil {
		s.jsonError(w, r, err)
		return
	}
	l := &subscribers.List{
		Slug: deref(in.Slug), Name: deref(in.Name), FromName: deref(in.FromName), FromEmail: deref(in.FromEmail),
		ReplyTo: deref(in.ReplyTo), Timezone: deref(in.Timezone), PostalAddress: deref(in.PostalAddress),
		ConsentText: deref(in.ConsentText), WelcomeSubject: deref(in.WelcomeSubject), WelcomeBody: deref(in.WelcomeBody),
	}
	if err := s.subscribers.CreateList(r.Context(), l); err != nil {
		s.jsonError(w, r, err)
		return
	}
	w.Header().Set("Location", s.url("api-list", "list", l.Slug))
	writeJSON(w, http.StatusCreated, l)
}

func (s *Server) handleAPIListUpdate(w http.ResponseWriter, r *http.Request) {
	var in listInput
	if err := decodeJSON(w, r, &in); err != nil {
		s.jsonError(w, r, err)
		return
	}
	slug := mux.Vars(r)["list"]
	if in.Slug != nil && *in.Slug != slug {
		s.jsonError(w, r, tidings.Errorf(tidings.EINVALID, "A list's slug cannot be changed: it is in every form and link."))
		return
	}
	if in.WelcomeSubject != nil || in.WelcomeBody != nil {
		cur, err := s.subscribers.ListBySlug(r.Context(), slug)
		if err != nil {
			s.jsonError(w, r, err)
			return
		}
		subject, body := cur.WelcomeSubject, cur.WelcomeBody
		if in.WelcomeSubject != nil {
			subject = *in.WelcomeSubject
		}
		if in.WelcomeBody != nil {
			body = *in.WelcomeBody
		}
		if err := templates.Check(subject, body); err != nil {
			s.jsonError(w, r, err)
			return
		}
	}
	l, err := s.subscribers.UpdateList(r.Context(), slug, subscribers.ListUpdate{
		Name: in.Name, FromName: in.FromName, FromEmail: in.FromEmail, ReplyTo: in.ReplyTo, Timezone: in.Timezone,
		PostalAddress: in.PostalAddress, ConsentText: in.ConsentText, WelcomeSubject: in.WelcomeSubject, WelcomeBody: in.WelcomeBody,
	})
	if err != nil {
		s.jsonError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, l)
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}
