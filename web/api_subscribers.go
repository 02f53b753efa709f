package web

import (
	"net/http"
	"strconv"

	"github.com/gorilla/mux"

	"github.com/tidings/tidings"
	"github.com/tidings/tidings/subscribers"
)

// handleAPISubscriberIndex lists subscribers, filtered by list, status, tag
// and a search over address and name, a page at a time (keyset: ?after=ID).
func (s *Server) handleAPISubscriberIndex(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := subscribers.Filter{List: q.Get("list"), Status: q.Get("status"), Query: q.Get("q"), Tag: q.Get("tag")}
	for name, dst := range map[string]*int64{"after": &f.AfterID} {
		if v := q.Get(name); v != "" {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 0 {
				s.jsonError(w, r, tidings.Errorf(tidings.EINVALID, "%q must be a non-negative whole number, not %q.", name, v))
				return
			}
			*dst = n
		}
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 500 {
			s.jsonError(w, r, tidings.Errorf(tidings.EINVALID, "\"limit\" must be between 1 and 500, not %q.", v))
			return
		}
		f.Limit = n
	}
	subs, err := s.subscribers.Subscribers(r.Context(), f)
	if err != nil {
		s.jsonError(w, r, err)
		return
	}
	out := map[string]any{"subscribers": subs}
	limit := f.Limit
	if limit == 0 {
		limit = 50
	}
	if len(subs) == limit {
		out["next"] = s.url("api-subscribers") + "?" + nextQuery(q, subs[len(subs)-1].ID)
	}
	writeJSON(w, http.StatusOK, out)
}

func nextQuery(q map[string][]string, after int64) string {
	v := make(urlValues, len(q))
	for k, vs := range q {
		v[k] = vs
	}
	v.Set("after", itoa(after))
	return v.Encode()
}

// handleAPISubscriberShow returns a subscriber with its subscriptions, its
// event history (the consent proof) and the messages sent to it.
func (s *Server) handleAPISubscriberShow(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(mux.Vars(r)["id"])
	if err != nil {
		s.jsonError(w, r, err)
		return
	}
	sub, err := s.subscribers.SubscriberByID(r.Context(), id)
	if err != nil {
		s.jsonError(w, r, err)
		return
	}
	events, err := s.subscribers.Events(r.Context(), id)
	if err != nil {
		s.jsonError(w, r, err)
		return
	}
	msgs, err := s.campaigns.MessagesTo(r.Context(), id)
	if err != nil {
		s.jsonError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"subscriber": sub, "events": events, "messages": msgs})
}

// subscriberInput is what POST /subscribers takes.
type subscriberInput struct {
	Email    string   `json:"email"`
	Name     string   `json:"name"`
	Timezone string   `json:"timezone"`
	Lists    []string `json:"lists"`
	Tags     []string `json:"tags"`
	Status   string   `json:"status"`
}

func (s *Server) handleAPISubscriberCreate(w http.ResponseWriter, r *http.Request) {
	var in subscriberInput
	if err := decodeJSON(w, r, &in); err != nil {
		s.jsonError(w, r, err)
		return
	}
	sub, err := s.subscribers.Add(r.Context(), subscribers.AddRequest{
		Email: in.Email, Name: in.Name, Timezone: in.Timezone, Lists: in.Lists, Tags: in.Tags, Status: in.Status,
		Meta: subscribers.Meta{IP: clientIP(r), UserAgent: userAgent(r), Form: "api"},
	})
	if err != nil {
		s.jsonError(w, r, err)
		return
	}
	w.Header().Set("Location", s.url("api-subscriber", "id", itoa(sub.ID)))
	writeJSON(w, http.StatusCreated, sub)
}

// tagsInput is what POST /subscribers/{id}/tags takes.
type tagsInput struct {
	Add    []string `json:"add"`
	Remove []string `json:"remove"`
}

// handleAPISubscriberTags adds and removes tags of a subscriber and answers
// with the subscriber.
func (s *Server) handleAPISubscriberTags(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(mux.Vars(r)["id"])
	if err != nil {
		s.jsonError(w, r, err)
		return
	}
	var in tagsInput
	if err := decodeJSON(w, r, &in); err != nil {
		s.jsonError(w, r, err)
		return
	}
	sub, err := s.subscribers.Tag(r.Context(), id, in.Add, in.Remove)
	if err != nil {
		s.jsonError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, sub)
}
