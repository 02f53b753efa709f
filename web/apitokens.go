package web

import (
	"net/http"
	"strings"

	"github.com/tidings/tidings"
)

// authenticateToken checks a request's bearer token (RFC 6750) and whether
// its scope allows the method: a read token may only GET and HEAD.
// Returns EUNAUTHORIZED for a missing, unknown or expired token and
// EFORBIDDEN for a read token on a state-changing request.
func (s *Server) authenticateToken(r *http.Request) error {
	secret, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || strings.TrimSpace(secret) == "" {
		return tidings.Errorf(tidings.EUNAUTHORIZED, "Send an API token as `Authorization: Bearer TOKEN` (make one with `tidings token create`).")
	}
	t, err := s.editors.AuthenticateToken(r.Context(), strings.TrimSpace(secret))
	if err != nil {
		return err
	}
	if !t.CanWrite() && r.Method != http.MethodGet && r.Method != http.MethodHead {
		return tidings.Errorf(tidings.EFORBIDDEN, "The API token %q is read-only: it cannot %s. Make a token with --scope write for that.", t.Name, r.Method)
	}
	return nil
}
