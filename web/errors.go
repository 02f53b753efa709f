package web

// Errors are answered here and nowhere else: a handler passes a
// tidings.Error to fail (or to jsonError, or renders its form again with
// errorStatus), and this file alone turns codes into statuses. Each audience
// gets errors in its own form: the JSON API and JSON sign-ups an
// {"error": message} body, the editor a page inside the editor, readers a
// plain page.

import (
	"encoding/json"
	"log/slog"
	"mime"
	"net/http"
	"strings"

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
	tidings.EMALFORMED:    http.StatusBadRequest,
	tidings.ETOOLARGE:     http.StatusRequestEntityTooLarge,
	tidings.EUNAVAILABLE:  http.StatusServiceUnavailable,
}

// titles head the error page of each code.
var titles = map[string]string{
	tidings.ECONFLICT:     "That cannot be done now",
	tidings.EINVALID:      "Please check what you sent",
	tidings.ENOTFOUND:     "Not found",
	tidings.EFORBIDDEN:    "Not allowed",
	tidings.EUNAUTHORIZED: "Please sign in",
	tidings.ERATELIMITED:  "Too many attempts",
	tidings.EEXPIRED:      "This link has expired",
	tidings.EINTERNAL:     "Something went wrong",
	tidings.EMALFORMED:    "The request could not be read",
	tidings.ETOOLARGE:     "Too large",
	tidings.EUNAVAILABLE:  "Try again in a moment",
}

// audience is who reads the answer to a request.
type audience int

const (
	forReaders audience = iota // public pages and forms
	forEditors                 // the editor UI
	forScripts                 // the JSON API, and JSON posts to public routes
)

// audienceOf chooses, in one place, the form errors take for r.
func audienceOf(r *http.Request) audience {
	switch {
	case strings.HasPrefix(r.URL.Path, "/api/"):
		return forScripts
	case strings.HasPrefix(r.URL.Path, "/editor/"):
		return forEditors
	}
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt == "application/json" {
		return forScripts
	}
	return forReaders
}

// fail answers err to r's audience with the status of its code: JSON for
// scripts, a page in the editor for editors, a plain page for readers.
// Internal errors are logged and shown as "Something went wrong."
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	s.logError(r, err)
	status, msg := errorStatus(err), tidings.ErrorMessage(err)
	title := titles[tidings.ErrorCode(err)]
	switch audienceOf(r) {
	case forScripts:
		writeJSON(w, status, map[string]string{"error": msg})
	case forEditors:
		p := s.editorPage(r, title, nil)
		p.Lines = []string{msg}
		s.render(w, r, status, "message", p)
	default:
		s.message(w, r, status, title, msg)
	}
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
