package web

import (
	"net/http"

	"github.com/gorilla/mux"

	"github.com/tidings/tidings"
	"github.com/tidings/tidings/campaigns"
)

// broadcastInput is a broadcast as the API takes it; absent fields are left
// alone on PATCH.
type broadcastInput struct {
	List        *string   `json:"list"`
	Subject     *string   `json:"subject"`
	Body        *string   `json:"body"`
	Preheader   *string   `json:"preheader"`
	TagsInclude *[]string `json:"tags_include"`
	TagsExclude *[]string `json:"tags_exclude"`
}

// scheduleInput is the body of POST /broadcasts/{id}/schedule: send_at in
// RFC 3339 with an offset, or a local time and its timezone.
type scheduleInput struct {
	SendAt   string `json:"send_at"`
	Timezone string `json:"timezone"`
}

// testInput is the body of POST /broadcasts/{id}/test.
type testInput struct {
	Emails []string `json:"emails"`
}

// policyInput is the body of PUT /lists/{list}/policy; an absent field keeps
// its value.
type policyInput struct {
	StepBroadcastPolicy *string `json:"step_broadcast_policy"`
	BroadcastGapHours   *int    `json:"broadcast_gap_hours"`
}

func (s *Server) handleAPIBroadcastIndex(w http.ResponseWriter, r *http.Request) {
	bs, err := s.campaigns.Broadcasts(r.Context(), campaigns.BroadcastFilter{List: r.URL.Query().Get("list")})
	if err != nil {
		s.jsonError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"broadcasts": bs})
}

func (s *Server) handleAPIBroadcastShow(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(mux.Vars(r)["id"])
	if err != nil {
		s.jsonError(w, r, err)
		return
	}
	b, err := s.campaigns.BroadcastByID(r.Context(), id)
	if err != nil {
		s.jsonError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, b)
}

func (s *Server) handleAPIBroadcastCreate(w http.ResponseWriter, r *http.Request) {
	var in broadcastInput
	if err := decodeJSON(w, r, &in); err != nil {
		s.jsonError(w, r, err)
		return
	}
	b := &campaigns.Broadcast{
		List: deref(in.List), Subject: deref(in.Subject), Body: deref(in.Body), Preheader: deref(in.Preheader),
		TagsInclude: deref(in.TagsInclude), TagsExclude: deref(in.TagsExclude),
	}
	if err := s.campaigns.CreateBroadcast(r.Context(), b); err != nil {
		s.jsonError(w, r, err)
		return
	}
	w.Header().Set("Location", s.url("api-broadcast", "id", itoa(b.ID)))
	s.writeBroadcast(w, r, http.StatusCreated, b.ID)
}

func (s *Server) handleAPIBroadcastUpdate(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(mux.Vars(r)["id"])
	if err != nil {
		s.jsonError(w, r, err)
		return
	}
	var in broadcastInput
	if err := decodeJSON(w, r, &in); err != nil {
		s.jsonError(w, r, err)
		return
	}
	if _, err := s.campaigns.UpdateBroadcast(r.Context(), id, campaigns.BroadcastUpdate{
		List: in.List, Subject: in.Subject, Body: in.Body, Preheader: in.Preheader,
		TagsInclude: in.TagsInclude, TagsExclude: in.TagsExclude,
	}); err != nil {
		s.jsonError(w, r, err)
		return
	}
	s.writeBroadcast(w, r, http.StatusOK, id)
}

// handleAPIBroadcastAction runs POST /broadcasts/{id}/{action}: schedule,
// send, pause, resume, cancel, retry-failed, or test. Each but test answers
// with the broadcast as it is afterwards; test answers with a result per
// address.
func (s *Server) handleAPIBroadcastAction(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(mux.Vars(r)["id"])
	if err != nil {
		s.jsonError(w, r, err)
		return
	}
	ctx := r.Context()
	switch action := mux.Vars(r)["action"]; action {
	case "schedule":
		var in scheduleInput
		if err := decodeJSON(w, r, &in); err != nil {
			s.jsonError(w, r, err)
			return
		}
		at, err := campaigns.ParseSendAt(in.SendAt, in.Timezone)
		if err == nil {
			_, err = s.campaigns.Schedule(ctx, id, at)
		}
		if err != nil {
			s.jsonError(w, r, err)
			return
		}
	case "send", "pause", "resume", "cancel", "retry-failed":
		do := map[string]func() (*campaigns.Broadcast, error){
			"send":         func() (*campaigns.Broadcast, error) { return s.campaigns.SendNow(ctx, id) },
			"pause":        func() (*campaigns.Broadcast, error) { return s.campaigns.Pause(ctx, id) },
			"resume":       func() (*campaigns.Broadcast, error) { return s.campaigns.Resume(ctx, id) },
			"cancel":       func() (*campaigns.Broadcast, error) { return s.campaigns.Cancel(ctx, id) },
			"retry-failed": func() (*campaigns.Broadcast, error) { return s.campaigns.RetryFailed(ctx, id) },
		}[action]
		if _, err := do(); err != nil {
			s.jsonError(w, r, err)
			return
		}
	case "test":
		var in testInput
		if err := decodeJSON(w, r, &in); err != nil {
			s.jsonError(w, r, err)
			return
		}
		results, err := s.tester.Test(ctx, id, in.Emails)
		if err != nil {
			s.jsonError(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"results": results})
		return
	default:
		s.jsonError(w, r, tidings.Errorf(tidings.ENOTFOUND,
			"No such action %q: use schedule, send, pause, resume, cancel, retry-failed or test.", action))
		return
	}
	s.writeBroadcast(w, r, http.StatusOK, id)
}

// writeBroadcast answers with broadcast id and its stats.
func (s *Server) writeBroadcast(w http.ResponseWriter, r *http.Request, status int, id int64) {
	b, err := s.campaigns.BroadcastByID(r.Context(), id)
	if err != nil {
		s.jsonError(w, r, err)
		return
	}
	writeJSON(w, status, b)
}

func (s *Server) handleAPIListPolicyShow(w http.ResponseWriter, r *http.Request) {
	list, err := s.subscribers.ListBySlug(r.Context(), mux.Vars(r)["list"])
	if err != nil {
		s.jsonError(w, r, err)
		return
	}
	p, err := s.campaigns.ListPolicy(r.Context(), list.ID)
	if err != nil {
		s.jsonError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, p)
}

func (s *Server) handleAPIListPolicyUpdate(w http.ResponseWriter, r *http.Request) {
	var in policyInput
	if err := decodeJSON(w, r, &in); err != nil {
		s.jsonError(w, r, err)
		return
	}
	list, err := s.subscribers.ListBySlug(r.Context(), mux.Vars(r)["list"])
	if err != nil {
		s.jsonError(w, r, err)
		return
	}
	cur, err := s.campaigns.ListPolicy(r.Context(), list.ID)
	if err != nil {
		s.jsonError(w, r, err)
		return
	}
	if in.StepBroadcastPolicy != nil {
		cur.StepBroadcastPolicy = *in.StepBroadcastPolicy
	}
	if in.BroadcastGapHours != nil {
		cur.BroadcastGapHours = *in.BroadcastGapHours
	}
	p, err := s.campaigns.SetListPolicy(r.Context(), list.ID, cur.StepBroadcastPolicy, cur.BroadcastGapHours)
	if err != nil {
		s.jsonError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, p)
}
