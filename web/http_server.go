package web

import (
	"net/http"
	"time"
)

// Timeouts and limits of the HTTP server. Requests are small forms and JSON
// bodies, so a client that trickles its headers, its body or its reading of
// the answer is cut off rather than holding a connection; the handlers that
// move big files (CSV import and export) extend their own deadlines.
const (
	readHeaderTimeout = 10 * time.Second
	readTimeout       = 30 * time.Second
	writeTimeout      = 60 * time.Second
	idleTimeout       = 30 * time.Second
	maxHeaderBytes    = 64 << 10
)

// HTTPServer returns an http.Server that serves s with the timeouts and the
// header limit every listener of Tidings should have.
func (s *Server) HTTPServer() *http.Server {
	return &http.Server{
		Handler:           s,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
	}
}

// extendDeadlines gives a request that moves a big file more time to read its
// body and write its answer than the server's timeouts, which are meant for
// small requests. An error only means the deadline cannot be moved (HTTP/2
// through some proxies), and the request then gets the usual time.
func extendDeadlines(w http.ResponseWriter, d time.Duration) {
	rc := http.NewResponseController(w)
	until := time.Now().Add(d)
	_ = rc.SetReadDeadline(until)
	_ = rc.SetWriteDeadline(until)
}
