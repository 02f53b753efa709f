package web

import (
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"

	"github.com/tidings/tidings"
)

// parseForm reads an application/x-www-form-urlencoded or multipart/form-data
// body within the body limit. (ParseMultipartForm alone hides the errors of a
// url-encoded body behind ErrNotMultipart.)
//
// Its errors are for people: ETOOLARGE for a body over the limit, EINVALID
// naming a field whose text cannot be stored, EMALFORMED for the rest.
func (s *Server) parseForm(w http.ResponseWriter, r *http.Request) error {
	r.Body = http.MaxBytesReader(w, r.Body, s.limits.MaxBody)
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	var err error
	if mt == "multipart/form-data" {
		err = r.ParseMultipartForm(s.limits.MaxBody)
	} else {
		err = r.ParseForm()
	}
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		return tidings.Errorf(tidings.ETOOLARGE, "The form is too large: at most %d KiB.", s.limits.MaxBody>>10)
	case err != nil:
		return tidings.Errorf(tidings.EMALFORMED, "The form could not be read.")
	}
	// checkText does not read multipart bodies; their fields are checked
	// here, once parsed.
	if r.MultipartForm != nil {
		if f := badValuesField(r.MultipartForm.Value); f != "" {
			return badText(f)
		}
	}
	return nil
}

// decodeJSON reads exactly one JSON object into v, refusing unknown fields, a
// body over the API's limit and anything that is not JSON.
func decodeJSON(w http.ResponseWriter, r *http.Request, v any) error {
	return decodeJSONWithin(w, r, v, maxAPIBody)
}

// decodeJSONWithin is decodeJSON with a body limit of limit bytes. Its errors
// are EMALFORMED for a body that is not JSON or not the right shape,
// ETOOLARGE for one over the limit.
func decodeJSONWithin(w http.ResponseWriter, r *http.Request, v any, limit int64) error {
	if !isJSON(r) {
		return tidings.Errorf(tidings.EMALFORMED, "Send the request body as JSON with Content-Type: application/json.")
	}
	r.Body = http.MaxBytesReader(w, r.Body, limit)
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return tidings.Errorf(tidings.ETOOLARGE, "The request body is too large: at most %d KiB.", limit>>10)
		}
		return tidings.Errorf(tidings.EMALFORMED, "The request body is not valid JSON: %s", jsonErrorText(err))
	}
	if _, err := dec.Token(); err != io.EOF {
		return tidings.Errorf(tidings.EMALFORMED, "The request body must hold one JSON object.")
	}
	return nil
}

// jsonErrorText says why a JSON body could not be decoded.
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
