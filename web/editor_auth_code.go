package web

import (
	"net/http"
	"time"

	"github.com/tidings/tidings"
	"github.com/tidings/tidings/editors"
)

// challengeCookie holds the secret of a sign-in that waits for its second
// factor, between the password page and the code page.
const challengeCookieName = "tidings_sign_in"

// challengeCookieAge is as long as the store keeps a sign-in waiting.
const challengeCookieAge = 5 * time.Minute

// challengeCookie is the pending sign-in's cookie with a value and max age.
func (s *Server) challengeCookie(value string, maxAge int) *http.Cookie {
	return &http.Cookie{
		Name: challengeCookieName, Value: value, Path: s.url("editor-login"), MaxAge: maxAge,
		HttpOnly: true, Secure: s.secureCookies(), SameSite: http.SameSiteLaxMode,
	}
}

// handleEditorLoginCodeForm asks for the second factor of a sign-in whose
// password was right.
func (s *Server) handleEditorLoginCodeForm(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(challengeCookieName); err != nil || c.Value == "" {
		http.Redirect(w, r, s.url("editor-login"), http.StatusSeeOther)
		return
	}
	s.render(w, r, http.StatusOK, "editor_login_code", s.newPage("Sign in", map[string]any{"Next": safeNext(r.URL.Query().Get("next"))}))
}

// handleEditorLoginCode checks the code, from the authenticator app or a
// recovery code, and signs the editor in.
func (s *Server) handleEditorLoginCode(w http.ResponseWriter, r *http.Request) {
	next := safeNext(r.URL.Query().Get("next"))
	fail := func(err error) {
		s.logError(r, err)
		page := "editor_login_code"
		if tidings.ErrorCode(err) == tidings.EEXPIRED {
			// The sign-in is over: start again with the password.
			http.SetCookie(w, s.challengeCookie("", -1))
			page = "editor_login"
		}
		s.render(w, r, errorStatus(err), page, s.newPage("Sign in", map[string]any{"Error": tidings.ErrorMessage(err), "Next": next}))
	}
	if err := s.parseForm(w, r); err != nil {
		fail(err)
		return
	}
	if next == "" {
		next = safeNext(r.PostFormValue("next"))
	}
	c, err := r.Cookie(challengeCookieName)
	if err != nil {
		fail(tidings.Errorf(tidings.EEXPIRED, "This sign-in has expired. Please sign in again."))
		return
	}
	if !s.loginLimit.allow(clientIP(r)) {
		fail(tidings.Errorf(tidings.ERATELIMITED, "Too many sign-in attempts from your network. Try again in a few minutes."))
		return
	}
	e, err := s.editors.VerifyCode(r.Context(), editors.CodeRequest{Challenge: c.Value, Code: r.PostFormValue("code"), IP: clientIP(r)})
	if err != nil {
		fail(err)
		return
	}
	http.SetCookie(w, s.challengeCookie("", -1))
	if err := s.finishSignIn(w, r, e, next); err != nil {
		fail(err)
	}
}
