package web

import (
	"html/template"
	"net/http"
	"strings"

	"github.com/tidings/tidings"
)

// recoveryCookie carries the new recovery codes across the redirect after
// two-factor sign-in is turned on, to the one page view that shows them.
const recoveryCookie = "tidings_recovery_codes"

// accountNotices are the notices the account page shows after a redirect.
var accountNotices = map[string]string{
	"totp-on":  "Two-factor sign-in is on. From now on signing in asks for a code from your app.",
	"totp-off": "Two-factor sign-in is off. Signing in takes only your password.",
}

// handleEditorAccount shows the signed-in editor's account: two-factor
// sign-in, its set-up, and right after turning it on the recovery codes.
func (s *Server) handleEditorAccount(w http.ResponseWriter, r *http.Request) {
	var codes []string
	if c, err := r.Cookie(recoveryCookie); err == nil && c.Value != "" {
		codes = strings.Split(c.Value, ".")
		http.SetCookie(w, s.onceCookie(recoveryCookie, s.url("editor-account"), "", -1))
	}
	s.renderAccount(w, r, http.StatusOK, codes, "")
}

// renderAccount renders the account page.
func (s *Server) renderAccount(w http.ResponseWriter, r *http.Request, status int, codes []string, errMsg string) {
	a, err := s.editors.Account(r.Context(), editorFrom(r.Context()).ID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var qr template.HTML
	if a.Pending != nil {
		if qr, err = qrSVG(a.Pending.URI, "QR code to scan with your authenticator app"); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	p := s.editorPage(r, "Your account", map[string]any{
		"Account": a, "QR": qr, "RecoveryCodes": codes, "Error": errMsg,
		"Notice": accountNotices[r.URL.Query().Get("done")],
	})
	s.render(w, r, status, "editor_account", p)
}

// handleEditorTOTPBegin starts setting up two-factor sign-in.
func (s *Server) handleEditorTOTPBegin(w http.ResponseWriter, r *http.Request) {
	if _, err := s.editors.BeginTOTP(r.Context(), editorFrom(r.Context()).ID); err != nil {
		s.fail(w, r, err)
		return
	}
	http.Redirect(w, r, s.url("editor-account")+"#totp", http.StatusSeeOther)
}

// handleEditorTOTPConfirm turns two-factor sign-in on with a first code.
func (s *Server) handleEditorTOTPConfirm(w http.ResponseWriter, r *http.Request) {
	err := s.parseForm(w, r)
	var codes []string
	if err == nil {
		codes, err = s.editors.ConfirmTOTP(r.Context(), editorFrom(r.Context()).ID, r.PostFormValue("code"))
	}
	if err != nil {
		s.logError(r, err)
		s.renderAccount(w, r, errorStatus(err), nil, tidings.ErrorMessage(err))
		return
	}
	http.SetCookie(w, s.onceCookie(recoveryCookie, s.url("editor-account"), strings.Join(codes, "."), 300))
	http.Redirect(w, r, s.url("editor-account")+"?done=totp-on", http.StatusSeeOther)
}

// handleEditorTOTPDisable turns two-factor sign-in off, given a current code.
func (s *Server) handleEditorTOTPDisable(w http.ResponseWriter, r *http.Request) {
	err := s.parseForm(w, r)
	if err == nil {
		err = s.editors.DisableTOTP(r.Context(), editorFrom(r.Context()).ID, r.PostFormValue("code"))
	}
	if err != nil {
		s.logError(r, err)
		s.renderAccount(w, r, errorStatus(err), nil, tidings.ErrorMessage(err))
		return
	}
	http.Redirect(w, r, s.url("editor-account")+"?done=totp-off", http.StatusSeeOther)
}
