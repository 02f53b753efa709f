package web

import (
	"io/fs"
	"net/http"
	"strings"
)

// securityHeaders sets the headers every response carries. No page of
// Tidings may be framed by another site (clickjacking): X-Frame-Options for
// old browsers and CSP frame-ancestors for the rest. The few pages meant to
// be framed say so with allowFraming, which replaces both.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Content-Security-Policy", "frame-ancestors 'none'")
		next.ServeHTTP(w, r)
	})
}

// allowFraming lets the hosted sign-up form be framed by any site, which is
// what embedding it in an iframe needs; the form changes nothing without the
// reader typing an address, so framing it gives a clickjacker nothing.
func allowFraming(w http.ResponseWriter) {
	h := w.Header()
	h.Del("X-Frame-Options")
	h.Set("Content-Security-Policy", "frame-ancestors *")
}

// sandboxedCSP is the policy of an email's HTML shown in the editor's
// previews and the dev inbox: no script runs, nothing is fetched but images,
// and only Tidings' own pages may frame it.
const sandboxedCSP = "sandbox; default-src 'none'; img-src * data:; style-src 'unsafe-inline'; frame-ancestors 'self'"

// inboxCSP is sandboxedCSP for the dev inbox's frame, which also keeps the
// page's origin so that the inbox can size the frame to the whole email.
// Scripts stay off: neither the policy nor the frame allows them.
const inboxCSP = "sandbox allow-same-origin; default-src 'none'; img-src * data:; style-src 'unsafe-inline'; frame-ancestors 'self'"

// writeSandboxed answers with an email's HTML under sandboxedCSP.
func writeSandboxed(w http.ResponseWriter, html string) {
	writeFramed(w, html, sandboxedCSP)
}

// writeFramed answers with an email's HTML under the policy csp.
func writeFramed(w http.ResponseWriter, html, csp string) {
	h := w.Header()
	h.Set("X-Frame-Options", "SAMEORIGIN")
	h.Set("Content-Security-Policy", csp)
	h.Set("Content-Type", "text/html; charset=utf-8")
	w.Write([]byte(html))
}

// staticHandler serves the embedded static files without listing directories:
// a path that names a directory, or ends in a slash, is not found.
func staticHandler(files fs.FS, notFound http.Handler) http.Handler {
	fileServer := http.FileServerFS(files)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := strings.TrimPrefix(r.URL.Path, "/")
		if name == "" || strings.HasSuffix(name, "/") {
			notFound.ServeHTTP(w, r)
			return
		}
		if st, err := fs.Stat(files, name); err != nil || st.IsDir() {
			notFound.ServeHTTP(w, r)
			return
		}
		fileServer.ServeHTTP(w, r)
	})
}
