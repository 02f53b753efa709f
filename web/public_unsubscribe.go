package web

import (
	"net/http"

	"github.com/gorilla/mux"

	"github.com/tidings/tidings"
	"github.com/tidings/tidings/subscribers"
)

// handleUnsubscribeForm shows one button. A GET changes nothing, so a link
// scanner that fetches every link in an email unsubscribes nobody.
func (s *Server) handleUnsubscribeForm(w http.ResponseWriter, r *http.Request) {
	token := mux.Vars(r)["token"]
	sub, list, email, err := s.subscribers.SubscriptionByToken(r.Context(), subscribers.PurposeUnsubscribe, token)
	if err != nil {
		s.unsubscribeError(w, r, err)
		return
	}
	if sub.Status == subscribers.StatusUnsubscribed {
		s.message(w, r, http.StatusOK, "You are unsubscribed",
			email+" gets no more emails from "+list.Name+".")
		return
	}
	s.render(w, r, http.StatusOK, "unsubscribe", s.newPage("Unsubscribe", map[string]any{
		"List": list, "Email": email, "Token": token,
	}))
}

// handleUnsubscribe unsubscribes at once. It serves both the button on the
// page and the RFC 8058 one-click POST, which carries
// "List-Unsubscribe=One-Click" as application/x-www-form-urlencoded or
// multipart/form-data and no cookies. Repeating it answers 200 again.
func (s *Server) handleUnsubscribe(w http.ResponseWriter, r *http.Request) {
	if err := s.parseForm(w, r); err != nil {
		s.message(w, r, errorStatus(err), "The request could not be read", "Please use the button on the unsubscribe page.")
		return
	}
	reason := truncate(r.PostFormValue("reason"), 500)
	if r.PostFormValue("List-Unsubscribe") == "One-Click" && reason == "" {
		reason = "one-click"
	}
	res, err := s.subscribers.Unsubscribe(r.Context(), mux.Vars(r)["token"], reason, subscribers.Meta{
		IP: clientIP(r), UserAgent: userAgent(r), Form: "unsubscribe",
	})
	if err != nil {
		s.unsubscribeError(w, r, err)
		return
	}
	// The answer offers the way back: a new sign-up, which sends a new
	// confirmation, so an unsubscribe is undone only by the inbox's owner.
	s.render(w, r, http.StatusOK, "unsubscribed", s.newPage("You are unsubscribed", map[string]any{
		"List": res.List, "Email": res.Email,
	}))
}

func (s *Server) unsubscribeError(w http.ResponseWriter, r *http.Request, err error) {
	s.logError(r, err)
	st := errorStatus(err)
	switch tidings.ErrorCode(err) {
	case tidings.EINVALID:
		s.message(w, r, statusOf(tidings.EMALFORMED), "This link is not valid",
			"Make sure you opened the whole link from the email. Every email we send has a working unsubscribe link at the bottom.")
	case tidings.ENOTFOUND:
		s.message(w, r, st, "Subscription not found",
			"This subscription no longer exists, so no more emails will be sent for it.")
	default:
		s.message(w, r, st, "Something went wrong", "Please try again in a moment.")
	}
}
