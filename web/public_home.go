package web

import "net/http"

// handleHome lists the newsletters on this server with links to their forms.
func (s *Server) handleHome(w http.ResponseWriter, r *http.Request) {
	lists, err := s.subscribers.Lists(r.Context())
	if err != nil {
		s.logError(r, err)
		s.message(w, r, errorStatus(err), "Something went wrong", "Please try again in a moment.")
		return
	}
	s.render(w, r, http.StatusOK, "home", s.newPage("", map[string]any{"Lists": lists, "Inbox": s.inbox != nil}))
}
