package web

import (
	"net/http"

	"github.com/gorilla/mux"

	"github.com/tidings/tidings/campaigns"
	"github.com/tidings/tidings/subscribers"
)

// stepInput is a step as the API takes it; absent fields are left alone on PATCH.
type stepInput struct {
	Position  *int      `json:"position"`
	Subject   *string   `json:"subject"`
	Body      *string   `json:"body"`
	DelayDays *int      `json:"delay_days"`
	SendTime  *string   `json:"send_time"`
	Weekdays  *[]string `json:"weekdays"`
}

// stepList finds the list named in the path.
func (s *Server) stepList(r *http.Request) (*subscribers.List, error) {
	return s.subscribers.ListBySlug(r.Context(), mux.Vars(r)["list"])
}

func (s *Server) handleAPIStepIndex(w http.ResponseWriter, r *http.Request) {
	list, err := s.stepList(r)
	if err != nil {
		s.jsonError(w, r, err)
		return
	}
	steps, err := s.campaigns.Steps(r.Context(), list.ID)
	if err != nil {
		s.jsonError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"steps": steps})
}

func (s *Server) handleAPIStepShow(w http.ResponseWriter, r *http.Request) {
	list, err := s.stepList(r)
	if err != nil {
		s.jsonError(w, r, err)
		return
	}
	id, err := pathID(mux.Vars(r)["id"])
	if err != nil {
		s.jsonError(w, r, err)
		return
	}
	st, err := s.campaigns.StepByID(r.Context(), list.ID, id)
	if err != nil {
		s.jsonError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

func (s *Server) handleAPIStepCreate(w http.ResponseWriter, r *http.Request) {
	list, err := s.stepList(r)
	if err != nil {
		s.jsonError(w, r, err)
		return
	}
	var in stepInput
	if err := decodeJSON(w, r, &in); err != nil {
		s.jsonError(w, r, err)
		return
	}
	st := &campaigns.Step{
		Position: deref(in.Position), Subject: deref(in.Subject), Body: deref(in.Body),
		DelayDays: deref(in.DelayDays), SendTime: deref(in.SendTime), Weekdays: deref(in.Weekdays),
	}
	if in.DelayDays == nil {
		st.DelayDays = 7
	}
	if err := s.campaigns.CreateStep(r.Context(), list.ID, st); err != nil {
		s.jsonError(w, r, err)
		return
	}
	w.Header().Set("Location", s.url("api-step", "list", list.Slug, "id", itoa(st.ID)))
	writeJSON(w, http.StatusCreated, st)
}

func (s *Server) handleAPIStepUpdate(w http.ResponseWriter, r *http.Request) {
	list, err := s.stepList(r)
	if err != nil {
		s.jsonError(w, r, err)
		return
	}
	id, err := pathID(mux.Vars(r)["id"])
	if err != nil {
		s.jsonError(w, r, err)
		return
	}
	var in stepInput
	if err := decodeJSON(w, r, &in); err != nil {
		s.jsonError(w, r, err)
		return
	}
	st, err := s.campaigns.UpdateStep(r.Context(), list.ID, id, campaigns.StepUpdate{
		Position: in.Position, Subject: in.Subject, Body: in.Body,
		DelayDays: in.DelayDays, SendTime: in.SendTime, Weekdays: in.Weekdays,
	})
	if err != nil {
		s.jsonError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

func (s *Server) handleAPIStepDelete(w http.ResponseWriter, r *http.Request) {
	list, err := s.stepList(r)
	if err != nil {
		s.jsonError(w, r, err)
		return
	}
	id, err := pathID(mux.Vars(r)["id"])
	if err != nil {
		s.jsonError(w, r, err)
		return
	}
	if err := s.campaigns.DeleteStep(r.Context(), list.ID, id); err != nil {
		s.jsonError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
