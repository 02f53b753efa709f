package web

import (
	"net/http"
	"strings"

	"github.com/tidings/tidings"
)

// authenticateToken checks a request's bearer token (RFC 6750).
// Returns EUNAUTHORIZED for a missing or unknown token.
func (s *Server) authenticateToken(r *http.Request) error {
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || strings.TrimSpace(token) == "" {
		return tidings.Errorf(tidings.EUNAUTHORIZED, "Send an API token as `Authorization: Bearer TOKEN` (make one with `tidings token create`).")
	}
	return s.editors.AuthenticateToken(r.Context(), strings.TrimSpace(token))
}
