package web

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
)

// flashCookie carries what a POST's redirect should show once (post,
// redirect, get): the page that the browser then loads says what the POST
// did, and reloading it posts nothing again.
const flashCookie = "tidings_flash"

// flash is what the next page shows once.
type flash struct {
	Notice string `json:"n,omitempty"`
	Error  string `json:"e,omitempty"`
	Emails string `json:"m,omitempty"` // what the test form held
}

// maxFlashText keeps a flash well inside a cookie's 4 KB.
const maxFlashText = 900

// setFlash keeps f for the next editor page, signed so that no other site
// can make an editor's page say something.
func (s *Server) setFlash(w http.ResponseWriter, f flash) {
	f.Notice, f.Error, f.Emails = truncate(f.Notice, maxFlashText), truncate(f.Error, maxFlashText), truncate(f.Emails, maxFlashText)
	b, _ := json.Marshal(f)
	v := base64.RawURLEncoding.EncodeToString(b)
	http.SetCookie(w, &http.Cookie{
		Name: flashCookie, Value: v + "." + s.flashMAC(v), Path: "/editor/",
		MaxAge: 60, HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: s.secureCookies(),
	})
}

// takeFlash returns the flash the last POST left, and clears it.
func (s *Server) takeFlash(w http.ResponseWriter, r *http.Request) flash {
	var f flash
	c, err := r.Cookie(flashCookie)
	if err != nil {
		return f
	}
	http.SetCookie(w, &http.Cookie{Name: flashCookie, Path: "/editor/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: s.secureCookies()})
	v, mac, ok := strings.Cut(c.Value, ".")
	if !ok || !hmac.Equal([]byte(mac), []byte(s.flashMAC(v))) {
		return f
	}
	b, err := base64.RawURLEncoding.DecodeString(v)
	if err != nil || json.Unmarshal(b, &f) != nil {
		return flash{}
	}
	return f
}

// flashMAC signs a flash's value for this server's secret.
func (s *Server) flashMAC(v string) string {
	h := hmac.New(sha256.New, s.secret)
	h.Write([]byte("flash\x00" + v))
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil))
}
