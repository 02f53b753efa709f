package web

import (
	"net/http"
	"net/url"
	"strconv"

	"github.com/gorilla/mux"

	"github.com/tidings/tidings"
)

// pathID parses a numeric path variable (the router's pattern already ensures digits).
func pathID(s string) (int64, error) {
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 {
		return 0, tidings.Errorf(tidings.ENOTFOUND, "Not found.")
	}
	return id, nil
}

// itoa formats an id for a path.
func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// subscriberID reads the subscriber id from the path.
func subscriberID(r *http.Request) int64 {
	// The route only matches digits; an id too large for int64 finds no one.
	id, _ := strconv.ParseInt(mux.Vars(r)["id"], 10, 64)
	return id
}

// withQuery appends a query string to a path when there is one.
func withQuery(path string, v url.Values) string {
	if len(v) == 0 {
		return path
	}
	return path + "?" + v.Encode()
}
