package web

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"

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

// decodeJSON reads exactly one JSON object into v, refusing unknown fields, a
// body over the limit and anything that is not JSON.
func decodeJSON(w http.ResponseWriter, r *http.Request, v any) error {
	if !isJSON(r) {
		return tidings.Errorf(tidings.EINVALID, "Send the request body as JSON with Content-Type: application/json.")
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxAPIBody)
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return tidings.Errorf(tidings.EINVALID, "The request body is not valid JSON: %s", jsonErrorText(err))
	}
	if _, err := dec.Token(); err != io.EOF {
		return tidings.Errorf(tidings.EINVALID, "The request body must hold one JSON object.")
	}
	return nil
}

// badRequest writes a 400 for a body that could not be read.
func (s *Server) badRequest(w http.ResponseWriter, r *http.Request, err error) {
	writeJSON(w, http.StatusBadRequest, map[string]string{"error": tidings.ErrorMessage(err)})
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

// pathID parses a numeric path variable (the router's pattern already ensures digits).
func pathID(s string) (int64, error) {
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 {
		return 0, tidings.Errorf(tidings.ENOTFOUND, "Not found.")
	}
	return id, nil
}

type urlValues = url.Values

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
