package web

import (
	"net/http"

	"github.com/gorilla/mux"

	"github.com/tidings/tidings"
	"github.com/tidings/tidings/subscribers"
)

// handleConfirmForm opens a double opt-in link. Mail scanners fetch every link
// in a message, and some run its scripts, so a GET confirms only when it comes
// from the browser that signed up (its sign-up cookie is bound to this
// subscription); anywhere else, and on every HEAD, it shows a page with one
// button and changes nothing. The page has no script, so nothing presses the
// button but a person.
func (s *Server) handleConfirmForm(w http.ResponseWriter, r *http.Request) {
	token := mux.Vars(r)["token"]
	sub, list, email, err := s.subscribers.SubscriptionByToken(r.Context(), subscribers.PurposeConfirm, token)
	if err != nil {
		s.confirmError(w, r, err)
		return
	}
	switch {
	case sub.Status == subscribers.StatusConfirmed:
		s.alreadyConfirmed(w, r, list)
	case r.Method == http.MethodGet && sub.Status == subscribers.StatusPending && s.signedUpHere(r, sub.ID):
		s.confirm(w, r, token, "confirm-link")
	default:
		s.render(w, r, http.StatusOK, "confirm", s.newPage("Confirm your subscription", map[string]any{
			"List": list, "Email": email, "Token": token,
		}))
	}
}

// handleConfirm is the page's button: it confirms at once. A second click
// says it is already confirmed; a forged, expired or foreign token gets a
// page that says what to do, with a 4xx status.
func (s *Server) handleConfirm(w http.ResponseWriter, r *http.Request) {
	if err := s.parseForm(w, r); err != nil {
		s.message(w, r, errorStatus(err), "The request could not be read", "Please use the button on the confirmation page.")
		return
	}
	s.confirm(w, r, mux.Vars(r)["token"], "confirm-button")
}

// confirm confirms the subscription of token and answers with the outcome;
// form names, in the consent record, how the person confirmed.
func (s *Server) confirm(w http.ResponseWriter, r *http.Request, token, form string) {
	res, err := s.subscribers.Confirm(r.Context(), token, subscribers.Meta{
		IP: clientIP(r), UserAgent: userAgent(r), Form: form,
	})
	if err != nil {
		s.confirmError(w, r, err)
		return
	}
	if res.AlreadyConfirmed {
		s.alreadyConfirmed(w, r, res.List)
		return
	}
	s.message(w, r, http.StatusOK, "You are subscribed",
		"Thank you for confirming your subscription to "+res.List.Name+".",
		"Your welcome email and bonuses are on their way.")
}

func (s *Server) alreadyConfirmed(w http.ResponseWriter, r *http.Request, list *subscribers.List) {
	s.message(w, r, http.StatusOK, "You are already subscribed",
		"Your subscription to "+list.Name+" was confirmed before. Nothing more to do.")
}

// confirmError answers a confirmation that could not be done with a page
// that says what to do next.
func (s *Server) confirmError(w http.ResponseWriter, r *http.Request, err error) {
	s.logError(r, err)
	st := errorStatus(err)
	switch tidings.ErrorCode(err) {
	case tidings.EEXPIRED:
		s.message(w, r, st, "This link has expired",
			"Confirmation links work for 7 days. Sign up again on the form and we will send you a new one.")
	case tidings.EINVALID:
		// A link that does not verify is a bad request (400), not input
		// a person typed wrong.
		s.message(w, r, statusOf(tidings.EMALFORMED), "This link is not valid",
			"Make sure you opened the whole link from the email. If it still does not work, sign up again on the form.")
	case tidings.ENOTFOUND:
		s.message(w, r, st, "Subscription not found",
			"This subscription no longer exists. Sign up again on the form if you would like to receive the emails.")
	case tidings.EINTERNAL:
		s.message(w, r, st, "Something went wrong", "Please try the link again in a moment.")
	default:
		s.message(w, r, st, "We could not confirm this subscription", tidings.ErrorMessage(err))
	}
}
