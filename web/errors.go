package web

import (
	"encoding/json"
	"log/slog"
	"net/http"

	"github.com/tidings/tidings"
)

// codes is the one map from error code to HTTP status.
var codes = map[string]int{
	tidings.ECONFLICT:     http.StatusConflict,
	tidings.EINVALID:      http.StatusUnprocessableEntity,
	tidings.ENOTFOUND:     http.StatusNotFound,
	tidings.EFORBIDDEN:    http.StatusForbidden,
	tidings.EUNAUTHORIZED: http.StatusUnauthorized,
	tidings.ERATELIMITED:  http.StatusTooManyRequests,
	tidings.EEXPIRED:      http.StatusGone,
	tidings.EINTERNAL:     http.StatusInternalServerError,
}

// errorStatus returns the HTTP status for err's code.
func errorStatus(err error) int {
	if st, ok := codes[tidings.ErrorCode(err)]; ok {
		return st
	}
	return http.StatusInternalServerError
}

// logError logs internal errors once, here at the edge; other codes are the
// user's business, not the operator's.
func (s *Server) logError(r *http.Request, err error) {
	if tidings.ErrorCode(err) == tidings.EINTERNAL {
		s.logger.Error("request failed", slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.Any("err", err))
	}
}

// jsonError writes err as {"error": message} with its status.
func (s *Server) jsonError(w http.ResponseWriter, r *http.Request, err error) {
	s.logError(r, err)
	writeJSON(w, errorStatus(err), map[string]string{"error": tidings.ErrorMessage(err)})
}

// writeJSON writes v as JSON with the given status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}
