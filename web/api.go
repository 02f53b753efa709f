package web

import (
	"net/http"
	"net/url"

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

type urlValues = url.Values
