package web

import (
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/gorilla/mux"

	"github.com/tidings/tidings"
	"github.com/tidings/tidings/subscribers"
)

// signup is what a sign-up form or a JSON client sends.
type signup struct {
	Email    string `json:"email"`
	Name     string `json:"name"`
	Timezone string `json:"timezone"`
	Form     string `json:"form"`
	// Tags come from a hidden field of the form: in JSON a list, in form
	// fields a comma-separated value or the field repeated.
	Tags []string `json:"tags"`
	// Website is the honeypot: a field people never see and bots fill in.
	Website string `json:"website"`
}

// handleSubscribeForm serves the hosted sign-up form of a list.
func (s *Server) handleSubscribeForm(w http.ResponseWriter, r *http.Request) {
	allowFraming(w)
	list, err := s.subscribers.ListBySlug(r.Context(), mux.Vars(r)["list"])
	if err != nil {
		s.logError(r, err)
		s.message(w, r, errorStatus(err), "No such newsletter", "Check the address of the page; this newsletter does not exist.")
		return
	}
	s.renderSignup(w, r, http.StatusOK, list, map[string]any{})
}

// handleSubscribe takes a sign-up from a form or JSON. It answers 202 whether
// or not the address was known, so the form cannot be used to find out who
// subscribes. Nothing is stored unless all input is valid, tags included.
func (s *Server) handleSubscribe(w http.ResponseWriter, r *http.Request) {
	allowFraming(w) // its answer shows inside the framed form
	slug := mux.Vars(r)["list"]
	wantJSON := isJSON(r)
	var in signup
	// fail answers a sign-up that was refused: JSON for scripts; for a
	// person, the form again with the message and what they typed.
	fail := func(err error) {
		if wantJSON || tidings.ErrorCode(err) == tidings.ENOTFOUND {
			s.fail(w, r, err)
			return
		}
		list, lerr := s.subscribers.ListBySlug(r.Context(), slug)
		if lerr != nil {
			s.fail(w, r, err)
			return
		}
		s.logError(r, err)
		s.renderSignup(w, r, errorStatus(err), list, map[string]any{"Error": tidings.ErrorMessage(err), "Email": in.Email, "Name": in.Name})
	}

	ip := clientIP(r)
	if !s.ipLimit.allow(ip) {
		w.Header().Set("Retry-After", "60")
		fail(tidings.Errorf(tidings.ERATELIMITED, "Too many sign-ups from your network. Please try again in a minute."))
		return
	}

	in, err := s.decodeSignup(w, r, wantJSON)
	if err != nil {
		fail(err)
		return
	}
	if in.Website != "" {
		// A bot filled in the honeypot: answer as if it worked, store nothing.
		s.setSignupCookie(w, r, 0)
		s.accepted(w, r, wantJSON)
		return
	}
	email, err := subscribers.NormalizeEmail(in.Email)
	if err != nil {
		fail(err)
		return
	}
	if !s.addrLimit.allow(subscribers.EmailKey(email)) {
		w.Header().Set("Retry-After", "600")
		fail(tidings.Errorf(tidings.ERATELIMITED, "This address has been signed up several times just now. Please check your inbox, or try again later."))
		return
	}
	form := in.Form
	if form == "" {
		form = "hosted"
		if wantJSON {
			form = "api"
		}
	}
	id, err := s.subscribers.Subscribe(r.Context(), subscribers.SubscribeRequest{
		List:     slug,
		Email:    email,
		Name:     in.Name,
		Timezone: in.Timezone,
		Tags:     in.Tags,
		Meta:     subscribers.Meta{IP: ip, UserAgent: userAgent(r), Form: form},
	})
	if err != nil {
		fail(err)
		return
	}
	s.setSignupCookie(w, r, id)
	s.accepted(w, r, wantJSON)
}

// accepted answers a sign-up that was taken (or silently dropped).
func (s *Server) accepted(w http.ResponseWriter, r *http.Request, wantJSON bool) {
	if wantJSON {
		writeJSON(w, http.StatusAccepted, map[string]string{"status": "pending"})
		return
	}
	s.message(w, r, http.StatusAccepted, "Check your inbox",
		"We have sent you an email with a link to confirm your subscription.",
		"If it does not arrive within a few minutes, look in your spam folder.")
}

// decodeSignup reads a sign-up from JSON or form fields, within the body limit.
func (s *Server) decodeSignup(w http.ResponseWriter, r *http.Request, wantJSON bool) (signup, error) {
	var in signup
	if wantJSON {
		if err := decodeJSONWithin(w, r, &in, s.limits.MaxBody); err != nil {
			return in, err
		}
	} else {
		if err := s.parseForm(w, r); err != nil {
			return in, err
		}
		in = signup{
			Email:    r.PostFormValue("email"),
			Name:     r.PostFormValue("name"),
			Timezone: r.PostFormValue("timezone"),
			Form:     r.PostFormValue("form"),
			Tags:     formTags(r.PostForm["tags"]),
			Website:  r.PostFormValue("website"),
		}
	}
	if !utf8.ValidString(in.Form) || len(in.Form) > 100 {
		return in, tidings.Errorf(tidings.EINVALID, "The form name is too long.")
	}
	if strings.IndexFunc(in.Form, func(r rune) bool { return r < 0x20 || r == 0x7f }) >= 0 {
		return in, tidings.Errorf(tidings.EINVALID, "The form name has control characters.")
	}
	return in, nil
}

// formTags splits the values of the form field tags at commas, dropping
// empty pieces, so both tags=a,b and tags=a&tags=b give [a b].
func formTags(values []string) []string {
	var tags []string
	for _, v := range values {
		for t := range strings.SplitSeq(v, ",") {
			if strings.TrimSpace(t) != "" {
				tags = append(tags, t)
			}
		}
	}
	return tags
}

// renderSignup renders the hosted sign-up form of list with data, and with
// what the list promises: the bonus emails sent right after confirmation.
// A subject written with merge fields is not shown, since on the form there
// is nobody to fill them in for; the count still says how many there are.
func (s *Server) renderSignup(w http.ResponseWriter, r *http.Request, status int, list *subscribers.List, data map[string]any) {
	data["List"] = list
	if bonuses, err := s.campaigns.Bonuses(r.Context(), list.ID); err == nil {
		var subjects []string
		for _, b := range bonuses {
			if !strings.Contains(b.Subject, "{{") {
				subjects = append(subjects, b.Subject)
			}
		}
		data["BonusCount"], data["Bonuses"] = len(bonuses), subjects
	} else {
		s.logError(r, err) // the form works without them
	}
	s.render(w, r, status, "subscribe", s.newPage(list.Name, data))
}
