package web

import (
	"net/http"
	"strings"

	"github.com/gorilla/mux"

	"github.com/tidings/tidings"
	"github.com/tidings/tidings/editors"
)

// newTokenCookie carries a new token's secret across the redirect after it
// is made, to the one page view that shows it. It is scoped to the tokens
// page, HttpOnly and cleared on that view, so the secret is shown once.
const newTokenCookie = "tidings_new_token"

// tokenNotices are the notices the tokens page shows after a redirect.
var tokenNotices = map[string]string{
	"token-revoked": "The token was revoked: scripts using it are refused from now on.",
}

// tokenForm is the new-token form as typed.
type tokenForm struct {
	Name, Scope, Expires string
}

// tokenExpiries are the choices of the form's expiry field.
var tokenExpiries = []struct{ Value, Text string }{
	{"", "Never"}, {"7d", "In 7 days"}, {"30d", "In 30 days"}, {"90d", "In 90 days"}, {"365d", "In a year"},
}

// handleEditorTokenIndex lists the API tokens, with the form for a new one
// and, right after making one, its secret.
func (s *Server) handleEditorTokenIndex(w http.ResponseWriter, r *http.Request) {
	secret := ""
	if c, err := r.Cookie(newTokenCookie); err == nil && strings.HasPrefix(c.Value, editors.TokenPrefix) {
		secret = c.Value
		http.SetCookie(w, s.onceCookie(newTokenCookie, s.url("editor-tokens"), "", -1))
	}
	s.renderTokens(w, r, http.StatusOK, tokenForm{Scope: editors.ScopeRead}, secret, "")
}

// renderTokens renders the tokens page.
func (s *Server) renderTokens(w http.ResponseWriter, r *http.Request, status int, f tokenForm, secret, errMsg string) {
	tokens, err := s.editors.Tokens(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	p := s.editorPage(r, "API tokens", map[string]any{
		"Tokens": tokens, "Form": f, "Expiries": tokenExpiries, "Secret": secret, "Error": errMsg,
		"Notice": tokenNotices[r.URL.Query().Get("done")], "Now": s.now(),
	})
	s.render(w, r, status, "editor_tokens", p)
}

// handleEditorTokenCreate makes a token and redirects to the page that shows
// its secret once.
func (s *Server) handleEditorTokenCreate(w http.ResponseWriter, r *http.Request) {
	if err := s.parseForm(w, r); err != nil {
		s.fail(w, r, err)
		return
	}
	f := tokenForm{Name: r.PostFormValue("name"), Scope: r.PostFormValue("scope"), Expires: r.PostFormValue("expires")}
	lifetime, err := editors.ParseLifetime(f.Expires)
	if err == nil {
		var secret string
		if _, secret, err = s.editors.CreateToken(r.Context(), editors.TokenRequest{Name: f.Name, Scope: f.Scope, Lifetime: lifetime}); err == nil {
			http.SetCookie(w, s.onceCookie(newTokenCookie, s.url("editor-tokens"), secret, 300))
			http.Redirect(w, r, s.url("editor-tokens"), http.StatusSeeOther)
			return
		}
	}
	s.logError(r, err)
	s.renderTokens(w, r, errorStatus(err), f, "", tidings.ErrorMessage(err))
}

// handleEditorTokenRevoke revokes a token.
func (s *Server) handleEditorTokenRevoke(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(mux.Vars(r)["id"])
	if err == nil {
		err = s.editors.RevokeToken(r.Context(), id)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	http.Redirect(w, r, s.url("editor-tokens")+"?done=token-revoked", http.StatusSeeOther)
}
