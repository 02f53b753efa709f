package web

import (
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net"
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
	s.render(w, r, http.StatusOK, "subscribe", s.newPage(list.Name, map[string]any{"List": list}))
}

// handleSubscribe takes a sign-up from a form or JSON. It answers 202 whether
// or not the address was known, so the form cannot be used to find out who
// subscribes. Nothing is stored unless all input is valid, tags included.
func (s *Server) handleSubscribe(w http.ResponseWriter, r *http.Request) {
	allowFraming(w) // its answer shows inside the framed form
	slug := mux.Vars(r)["list"]
	wantJSON := isJSON(r)
	fail := func(status int, err error) {
		s.logError(r, err)
		if wantJSON {
			writeJSON(w, status, map[string]string{"error": tidings.ErrorMessage(err)})
			return
		}
		if tidings.ErrorCode(err) == tidings.ENOTFOUND {
			s.message(w, r, status, "No such newsletter", tidings.ErrorMessage(err))
			return
		}
		list, lerr := s.subscribers.ListBySlug(r.Context(), slug)
		if lerr != nil {
			s.message(w, r, status, "Sign-up failed", tidings.ErrorMessage(err))
			return
		}
		s.render(w, r, status, "subscribe", s.newPage(list.Name, map[string]any{"List": list, "Error": tidings.ErrorMessage(err)}))
	}

	ip := clientIP(r)
	if !s.ipLimit.allow(ip) {
		w.Header().Set("Retry-After", "60")
		fail(http.StatusTooManyRequests, tidings.Errorf(tidings.ERATELIMITED, "Too many sign-ups from your network. Please try again in a minute."))
		return
	}

	in, status, err := s.decodeSignup(w, r, wantJSON)
	if err != nil {
		fail(status, err)
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
		fail(errorStatus(err), err)
		return
	}
	if !s.addrLimit.allow(subscribers.EmailKey(email)) {
		w.Header().Set("Retry-After", "600")
		fail(http.StatusTooManyRequests, tidings.Errorf(tidings.ERATELIMITED, "This address has been signed up several times just now. Please check your inbox, or try again later."))
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
		Meta:     subscribers.Meta{IP: ip, UserAgent: truncate(r.UserAgent(), 500), Form: form},
	})
	if err != nil {
		fail(errorStatus(err), err)
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
func (s *Server) decodeSignup(w http.ResponseWriter, r *http.Request, wantJSON bool) (signup, int, error) {
	var in signup
	if wantJSON {
		r.Body = http.MaxBytesReader(w, r.Body, s.limits.MaxBody)
		dec := json.NewDecoder(r.Body)
		dec.DisallowUnknownFields()
		if err := dec.Decode(&in); err != nil {
			return in, bodyErrorStatus(err), tidings.Errorf(tidings.EINVALID, "The request body is not valid JSON: %s", jsonErrorText(err))
		}
		if _, err := dec.Token(); err != io.EOF {
			return in, http.StatusBadRequest, tidings.Errorf(tidings.EINVALID, "The request body must hold one JSON object.")
		}
	} else {
		if err := s.parseForm(w, r); err != nil {
			return in, bodyErrorStatus(err), tidings.Errorf(tidings.EINVALID, "The form could not be read.")
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
		return in, http.StatusUnprocessableEntity, tidings.Errorf(tidings.EINVALID, "The form name is too long.")
	}
	if strings.IndexFunc(in.Form, func(r rune) bool { return r < 0x20 || r == 0x7f }) >= 0 {
		return in, http.StatusUnprocessableEntity, tidings.Errorf(tidings.EINVALID, "The form name has control characters.")
	}
	return in, 0, nil
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

// bodyErrorStatus is 413 for a body over the limit and 400 otherwise.
func bodyErrorStatus(err error) int {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return http.StatusRequestEntityTooLarge
	}
	return http.StatusBadRequest
}

func jsonErrorText(err error) string {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return "it is too large"
	}
	if errors.Is(err, io.EOF) {
		return "it is empty"
	}
	return err.Error()
}

// isJSON reports whether the request body is JSON.
func isJSON(r *http.Request) bool {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return mt == "application/json"
}

// clientIP is the address the request came from. Tidings does not trust
// X-Forwarded-For: behind a proxy, the proxy's address is what it sees.
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// parseForm reads an application/x-www-form-urlencoded or multipart/form-data
// body within the body limit. (ParseMultipartForm alone hides the errors of a
// url-encoded body behind ErrNotMultipart.)
func (s *Server) parseForm(w http.ResponseWriter, r *http.Request) error {
	r.Body = http.MaxBytesReader(w, r.Body, s.limits.MaxBody)
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt == "multipart/form-data" {
		return r.ParseMultipartForm(s.limits.MaxBody)
	}
	return r.ParseForm()
}
