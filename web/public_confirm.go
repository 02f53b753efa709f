package web

import (
	"net/http"

	"github.com/gorilla/mux"

	"github.com/tidings/tidings"
	"github.com/tidings/tidings/subscribers"
)

// handleConfirm follows a double opt-in link. A second click says it is
// already confirmed; a forged, expired or foreign token gets a page that says
// what to do, with a 4xx status.
func (s *Server) handleConfirm(w http.ResponseWriter, r *http.Request) {
	res, err := s.subscribers.Confirm(r.Context(), mux.Vars(r)["token"], subscribers.Meta{
		IP: clientIP(r), UserAgent: truncate(r.UserAgent(), 500), Form: "confirm-link",
	})
	if err != nil {
		s.logError(r, err)
		st := errorStatus(err)
		switch tidings.ErrorCode(err) {
		case tidings.EEXPIRED:
			s.message(w, r, st, "This link has expired",
				"Confirmation links work for 7 days. Sign up again on the form and we will send you a new one.")
		case tidings.EINVALID:
			s.message(w, r, http.StatusBadRequest, "This link is not valid",
				"Make sure you opened the whole link from the email. If it still does not work, sign up again on the form.")
		case tidings.ENOTFOUND:
			s.message(w, r, st, "Subscription not found",
				"This subscription no longer exists. Sign up again on the form if you would like to receive the emails.")
		case tidings.EINTERNAL:
			s.message(w, r, st, "Something went wrong", "Please try the link again in a moment.")
		default:
			s.message(w, r, st, "We could not confirm this subscription", tidings.ErrorMessage(err))
		}
		return
	}
	if res.AlreadyConfirmed {
		s.message(w, r, http.StatusOK, "You are already subscribed",
			"Your subscription to "+res.List.Name+" was confirmed before. Nothing more to do.")
		return
	}
	s.message(w, r, http.StatusOK, "You are subscribed",
		"Thank you for confirming your subscription to "+res.List.Name+".",
		"Your welcome email and bonuses are on their way.")
}
