package web

import (
	"net"
	"net/http"
	"strings"
)

// clientIP is the address the request came from. Tidings does not trust
// X-Forwarded-For: behind a proxy, the proxy's address is what it sees.
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// maxUserAgent is as much of a user agent as an event keeps.
const maxUserAgent = 500

// userAgent is the request's User-Agent as an event stores it: at most
// maxUserAgent bytes of valid UTF-8. Go's server lets any byte above 0x7F
// through in a header, and Postgres refuses text that is not UTF-8.
func userAgent(r *http.Request) string {
	return truncate(strings.ToValidUTF8(r.UserAgent(), "\uFFFD"), maxUserAgent)
}
