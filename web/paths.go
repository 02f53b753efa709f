package web

import (
	"strconv"

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
