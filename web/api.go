package web

import (
	"net/http"
	"net/url"

	"github.com/gorilla/mux"

	"github.com/tidings/tidings"
)

// maxAPIBody caps a JSON API request body.
const maxAPIBody = 1 << 20

// requireToken lets a request through only with a valid bearer token.
func (s *Server) requireToken(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := s.authenticateToken(r); err != nil {
			if tidings.ErrorCode(err) == tidings.EUNAUTHORIZED {
				w.Header().Set("WWW-Authenticate", `Bearer realm="tidings"`)
			}
			s.jsonError(w, r, err)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (s *Server) handleAPINotFound(w http.ResponseWriter, r *http.Request) {
	// gorilla/mux reports a wrong method as "not found" when a longer route
	// follows on a subrouter, so look for the path under another method.
	for _, m := range []string{"GET", "POST", "PATCH", "DELETE"} {
		if m == r.Method {
			continue
		}
		probe := r.Clone(r.Context())
		probe.Method = m
		var match mux.RouteMatch
		if s.router.Match(probe, &match) && match.MatchErr == nil {
			s.handleAPIMethodNotAllowed(w, r)
			return
		}
	}
	writeJSON(w, http.StatusNotFound, map[string]string{"error": "No such API route: " + r.Method + " " + r.URL.Path})
}

func (s *Server) handleAPIMethodNotAllowed(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "This route does not accept " + r.Method + "."})
}

type urlValues = url.Values
