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

// onceCookie carries a secret made by a POST (a new API token, recovery
// codes) across its redirect to the one page view that shows it and clears
// it. It goes only to that page's path, never to scripts or other sites.
func (s *Server) onceCookie(name, path, value string, maxAge int) *http.Cookie {
	return &http.Cookie{
		Name: name, Value: value, Path: path, MaxAge: maxAge,
		HttpOnly: true, Secure: s.secureCookies(), SameSite: http.SameSiteStrictMode,
	}
}

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
			s.fail(w, r, err)
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

// handleEditorLogin checks the email and password of the sign-in form. An
// editor with two-factor sign-in goes on to the code page; the others are
// signed in.
func (s *Server) handleEditorLogin(w http.ResponseWriter, r *http.Request) {
	email := strings.TrimSpace(r.PostFormValue("email"))
	fail := func(err error) {
		s.logError(r, err)
		s.render(w, r, errorStatus(err), "editor_login", s.newPage("Sign in", map[string]any{
			"Error": tidings.ErrorMessage(err), "Email": email, "Next": safeNext(r.PostFormValue("next")),
		}))
	}
	if err := s.parseForm(w, r); err != nil {
		email = ""
		fail(err)
		return
	}
	email = strings.TrimSpace(r.PostFormValue("email"))
	if !s.loginLimit.allow(clientIP(r)) {
		fail(tidings.Errorf(tidings.ERATELIMITED, "Too many sign-in attempts from your network. Try again in a few minutes."))
		return
	}
	in, err := s.editors.Authenticate(r.Context(), editors.SignInRequest{Email: email, Password: r.PostFormValue("password"), IP: clientIP(r)})
	if err != nil {
		fail(err)
		return
	}
	next := safeNext(r.PostFormValue("next"))
	if in.Challenge != "" {
		http.SetCookie(w, s.challengeCookie(in.Challenge, int(challengeCookieAge.Seconds())))
		target := s.url("editor-login-code")
		if next != "" {
			target += "?next=" + url.QueryEscape(next)
		}
		http.Redirect(w, r, target, http.StatusSeeOther)
		return
	}
	if err := s.finishSignIn(w, r, in.Editor, next); err != nil {
		fail(err)
	}
}

// finishSignIn starts the editor's session and sends them on to next, or to
// the dashboard.
func (s *Server) finishSignIn(w http.ResponseWriter, r *http.Request, e *editors.Editor, next string) error {
	if err := s.startSession(w, r, e); err != nil {
		return err
	}
	if next == "" {
		next = s.url("editor-dashboard")
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
	return nil
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
