package web

import (
	"errors"
	"io"
	"mime"
	"net/http"
	"time"

	"github.com/tidings/tidings"
	"github.com/tidings/tidings/subscribers"
)

// maxImportBody caps the CSV body of an import: 64 MiB. It bounds the
// time an import takes; its memory does not grow with the body.
const maxImportBody = 64 << 20

// importReadTime is how long an import may take to upload, in place of the
// server's read timeout, which is meant for small requests.
const importReadTime = 10 * time.Minute

// handleAPISubscriberImport imports a CSV of subscribers into the list named
// by ?list=SLUG as confirmed (see subscribers.Store.Import); ?series= says
// whether those it confirms start the list's series from step 1 with the
// welcome email and bonuses (welcome), without them (join, the default), or
// not at all (none); another value is a 422 naming series. The body is the
// CSV itself, whatever its Content-Type says, except a multipart form. It
// answers 200 with the counts of added, updated, skipped and rejected rows
// and each rejection's line and reason; 422 for a malformed file, which
// imports nothing; 413 for a body over 64 MiB; 404 for an unknown list. A
// file of more than subscribers.MaxImportRows rows is imported up to that
// many, and the report's "stopped" gives the line it stopped at and why.
func (s *Server) handleAPISubscriberImport(w http.ResponseWriter, r *http.Request) {
	slug := r.URL.Query().Get("list")
	if slug == "" {
		s.jsonError(w, r, tidings.Errorf(tidings.EINVALID, "Name the list to import into: POST /api/v1/subscribers/import?list=SLUG."))
		return
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt == "multipart/form-data" {
		s.jsonError(w, r, tidings.Errorf(tidings.EINVALID, "Send the CSV file itself as the request body (Content-Type: text/csv; with curl, --data-binary @file.csv), not as a form upload."))
		return
	}
	// An error here only means the connection cannot extend its deadline
	// (HTTP/2 through some proxies); the server's read timeout then applies.
	extendDeadlines(w, importReadTime)
	body := http.MaxBytesReader(w, r.Body, maxImportBody)
	var rep *subscribers.ImportReport
	var err error
	if r.ContentLength > maxImportBody {
		// Said too large before a byte is read: reading it could only end so.
		err = &http.MaxBytesError{Limit: maxImportBody}
	} else {
		rep, err = s.subscribers.Import(r.Context(), subscribers.ImportRequest{
			List: slug, Series: r.URL.Query().Get("series"),
			Meta: subscribers.Meta{IP: clientIP(r), UserAgent: userAgent(r), Form: "import"},
		}, body)
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		s.jsonError(w, r, importTooLarge())
		return
	}
	if err != nil {
		s.jsonError(w, r, err)
		return
	}
	if rep.Stopped != nil {
		// The client is still sending the rows the import did not read;
		// taking them (at most maxImportBody, into nothing) lets it read
		// the answer rather than a connection reset.
		_, _ = io.Copy(io.Discard, body)
	}
	writeJSON(w, http.StatusOK, rep)
}
