package web

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// signupCookie remembers, in the browser that signed up, which subscriptions
// it signed up for, so that the confirmation link opened there confirms at
// once: a person is known to be at that browser. A mail scanner fetching the
// same link has no such cookie and gets the page with the button.
//
// The value is up to maxSignupMarks marks joined by "~", newest first; a mark
// is EXPIRY "." base64url(HMAC-SHA256(secret, domain | id | EXPIRY)). The
// subscription id is not in the cookie, only in the MAC, so the cookie tells
// nobody whether the address signed up was already known; the confirm link's
// token supplies the id to check it against.
const signupCookie = "tidings_signup"

// maxSignupMarks bounds the sign-ups one browser remembers, and so the cookie's size.
const maxSignupMarks = 4

// signupDomain separates these MACs from anything else the secret signs.
const signupDomain = "tidings/web/signup-browser\x00"

// setSignupCookie adds a mark for the subscription to the browser's sign-up
// cookie, valid as long as a confirmation link. The id is 0 when nothing was
// stored; the cookie is set all the same, so every sign-up answers alike.
func (s *Server) setSignupCookie(w http.ResponseWriter, r *http.Request, subscriptionID int64) {
	if len(s.secret) == 0 {
		return
	}
	now := s.now()
	marks := []string{s.signupMark(subscriptionID, now.Add(s.confirmTTL))}
	if c, err := r.Cookie(signupCookie); err == nil {
		for m := range strings.SplitSeq(c.Value, "~") {
			if len(marks) == maxSignupMarks {
				break
			}
			if exp, ok := markExpiry(m); ok && now.Before(exp) && m != marks[0] {
				marks = append(marks, m)
			}
		}
	}
	http.SetCookie(w, &http.Cookie{
		Name:     signupCookie,
		Value:    strings.Join(marks, "~"),
		Path:     strings.TrimSuffix(s.pathTemplate("confirm"), "{token}"),
		MaxAge:   int(s.confirmTTL / time.Second),
		HttpOnly: true,
		Secure:   s.secureCookies(),
		// Lax: the cookie goes with the top-level GET of a link clicked in a
		// mail client or webmail, and with nothing another site embeds.
		SameSite: http.SameSiteLaxMode,
	})
}

// signedUpHere reports whether the request carries an unexpired mark for the
// subscription: whether this browser signed it up.
func (s *Server) signedUpHere(r *http.Request, subscriptionID int64) bool {
	if len(s.secret) == 0 {
		return false
	}
	c, err := r.Cookie(signupCookie)
	if err != nil {
		return false
	}
	now := s.now()
	for m := range strings.SplitSeq(c.Value, "~") {
		exp, ok := markExpiry(m)
		if !ok || !now.Before(exp) {
			continue
		}
		e, mac, _ := strings.Cut(m, ".")
		got, err := base64.RawURLEncoding.Strict().DecodeString(mac)
		// hmac.Equal takes the same time however much of a guess is right.
		if err == nil && hmac.Equal(got, s.signupMAC(subscriptionID, e)) {
			return true
		}
	}
	return false
}

func (s *Server) signupMark(subscriptionID int64, expires time.Time) string {
	e := strconv.FormatInt(expires.Unix(), 10)
	return e + "." + base64.RawURLEncoding.EncodeToString(s.signupMAC(subscriptionID, e))
}

func (s *Server) signupMAC(subscriptionID int64, expiry string) []byte {
	h := hmac.New(sha256.New, s.secret)
	h.Write([]byte(signupDomain))
	h.Write([]byte(strconv.FormatInt(subscriptionID, 10) + "|" + expiry))
	return h.Sum(nil)
}

// markExpiry reads the expiry of a mark, refusing anything not shaped like one.
func markExpiry(mark string) (time.Time, bool) {
	e, mac, ok := strings.Cut(mark, ".")
	if !ok || len(mac) != 43 || len(e) == 0 || len(e) > 12 {
		return time.Time{}, false
	}
	sec, err := strconv.ParseInt(e, 10, 64)
	if err != nil || sec <= 0 {
		return time.Time{}, false
	}
	return time.Unix(sec, 0), true
}
