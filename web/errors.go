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

	"github.com/gorilla/mux"

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
// scripts, a page in the editor for editors, a plain page for readers. The
// message says what went wrong (a not-found names what was not found);
// internal errors are logged and shown as "Something went wrong". A page
// links back when given where to.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error, back ...pageLink) {
	s.logError(r, err)
	code := tidings.ErrorCode(err)
	status, msg := statusOf(code), tidings.ErrorMessage(err)
	aud := audienceOf(r)
	if aud == forScripts {
		writeJSON(w, status, map[string]string{"error": msg})
		return
	}
	if code == tidings.EINTERNAL {
		msg = "Please try again in a moment."
	}
	p := s.newPage(titles[code], nil)
	if aud == forEditors {
		p = s.editorPage(r, titles[code], nil)
	}
	p.Lines = []string{msg}
	if len(back) > 0 {
		p.Link = &back[0]
	}
	s.render(w, r, status, "message", p)
}

// errorStatus returns the HTTP status for err's code.
func errorStatus(err error) int {
	return statusOf(tidings.ErrorCode(err))
}

// statusOf returns the HTTP status for an error code.
func statusOf(code string) int {
	if st, ok := codes[code]; ok {
		return st
	}
	return http.StatusInternalServerError
}

// previewError answers a preview that could not be rendered with the reason
// as plain text, which the editor's script shows beside the form (for
// example "body line 3: unexpected end of template").
func (s *Server) previewError(w http.ResponseWriter, r *http.Request, err error) {
	s.scriptError(w, r, "", err)
}

// scriptError answers a script of an editor page with what went wrong as
// plain text, after the words of prefix ("The test was not sent: ").
func (s *Server) scriptError(w http.ResponseWriter, r *http.Request, prefix string, err error) {
	s.logError(r, err)
	http.Error(w, prefix+tidings.ErrorMessage(err), errorStatus(err))
}

// handleNotFound answers a path no route matches, in its audience's form.
func (s *Server) handleNotFound(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/api/") {
		s.handleAPINotFound(w, r)
		return
	}
	s.message(w, r, http.StatusNotFound, "Page not found", "There is nothing at this address.")
}

// handleMethodNotAllowed answers a method a route does not take.
func (s *Server) handleMethodNotAllowed(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/api/") {
		s.handleAPIMethodNotAllowed(w, r)
		return
	}
	s.message(w, r, http.StatusMethodNotAllowed, "Method not allowed", "This page does not accept "+r.Method+" requests.")
}

// handleAPINotFound answers an API path no route matches, or a method that
// the path does not take.
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

// renderFailed answers a page whose template failed; nothing of it was sent.
func (s *Server) renderFailed(w http.ResponseWriter, r *http.Request, err error) {
	s.logError(r, err)
	http.Error(w, "Something went wrong.", http.StatusInternalServerError)
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
