package web

import (
	"context"
	"net/http"
	"net/url"
	"strings"

	"github.com/tidings/tidings"
	"github.com/tidings/tidings/editors"
)

// sessionCookie holds the editor's session secret.
const sessionCookie = "tidings_session"

type editorKey struct{}

// editorFrom returns the signed-in editor of a request that passed requireEditor.
func editorFrom(ctx context.Context) *editors.Editor {
	e, _ := ctx.Value(editorKey{}).(*editors.Editor)
	return e
}

// startSession stores a new session and sets its cookie.
func (s *Server) startSession(w http.ResponseWriter, r *http.Request, e *editors.Editor) error {
	sess, err := s.editors.StartSession(r.Context(), e.ID, editors.SessionMeta{IP: clientIP(r), UserAgent: userAgent(r)})
	if err != nil {
		return err
	}
	http.SetCookie(w, &http.Cookie{
		Name: sessionCookie, Value: sess.Token, Path: "/editor", MaxAge: int(editors.SessionLifetime.Seconds()),
		HttpOnly: true, Secure: s.secureCookies(), SameSite: http.SameSiteLaxMode,
	})
	return nil
}

// secureCookies is true when the public URL is https.
func (s *Server) secureCookies() bool { return strings.HasPrefix(s.baseURL, "https://") }

// sessionEditor returns the editor of the request's session cookie, or nil.
func (s *Server) sessionEditor(r *http.Request) (*editors.Editor, error) {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return nil, nil
	}
	e, err := s.editors.EditorBySession(r.Context(), c.Value)
	if tidings.ErrorCode(err) == tidings.EUNAUTHORIZED {
		return nil, nil
	}
	return e, err
}

// requireEditor sends a request without a session to the sign-in page.
func (s *Server) requireEditor(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e, err := s.sessionEditor(r)
		if err != nil {
			s.logError(r, err)
			s.message(w, r, http.StatusInternalServerError, "Something went wrong", "Please try again in a moment.")
			return
		}
		if e == nil {
			target := s.url("editor-login")
			if r.Method == http.MethodGet {
				target += "?next=" + url.QueryEscape(r.URL.RequestURI())
			}
			http.Redirect(w, r, target, http.StatusSeeOther)
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), editorKey{}, e)))
	})
}

// handleEditorLoginForm shows the sign-in form.
func (s *Server) handleEditorLoginForm(w http.ResponseWriter, r *http.Request) {
	if e, _ := s.sessionEditor(r); e != nil {
		http.Redirect(w, r, s.url("editor-dashboard"), http.StatusSeeOther)
		return
	}
	s.render(w, r, http.StatusOK, "editor_login", s.newPage("Sign in", map[string]any{"Next": safeNext(r.URL.Query().Get("next"))}))
}

// handleEditorLogin signs an editor in.
func (s *Server) handleEditorLogin(w http.ResponseWriter, r *http.Request) {
	fail := func(status int, msg, email string) {
		s.render(w, r, status, "editor_login", s.newPage("Sign in", map[string]any{
			"Error": msg, "Email": email, "Next": safeNext(r.PostFormValue("next")),
		}))
	}
	if err := s.parseForm(w, r); err != nil {
		fail(errorStatus(err), tidings.ErrorMessage(err), "")
		return
	}
	email := strings.TrimSpace(r.PostFormValue("email"))
	if !s.loginLimit.allow(clientIP(r)) {
		fail(http.StatusTooManyRequests, "Too many sign-in attempts from your network. Try again in a few minutes.", email)
		return
	}
	e, err := s.editors.Authenticate(r.Context(), email, r.PostFormValue("password"))
	if err != nil {
		s.logError(r, err)
		fail(errorStatus(err), tidings.ErrorMessage(err), email)
		return
	}
	if err := s.startSession(w, r, e); err != nil {
		s.logError(r, err)
		fail(http.StatusInternalServerError, "Something went wrong.", email)
		return
	}
	next := safeNext(r.PostFormValue("next"))
	if next == "" {
		next = s.url("editor-dashboard")
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// handleEditorLogout ends the session.
func (s *Server) handleEditorLogout(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(sessionCookie); err == nil {
		if err := s.editors.EndSession(r.Context(), c.Value); err != nil {
			s.logError(r, err)
		}
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/editor", MaxAge: -1, HttpOnly: true, Secure: s.secureCookies(), SameSite: http.SameSiteLaxMode})
	http.Redirect(w, r, s.url("editor-login"), http.StatusSeeOther)
}

// safeNext keeps a post-sign-in redirect on this site's editor pages.
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/editor/") || strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\\r\n") {
		return ""
	}
	return next
}
