package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/emersion/go-smtp"
)

// sink is an SMTP server that accepts everything, throws the content away and
// counts deliveries per recipient, so duplicates and gaps can be seen.
type sink struct {
	delay time.Duration // taken over each message before it is accepted

	mu    sync.Mutex
	per   map[string]int
	total int
	first time.Time
	last  time.Time
}

type sinkStats struct {
	Total      int   `json:"total"`
	Unique     int   `json:"unique"`
	Duplicates int   `json:"duplicates"`
	FirstNanos int64 `json:"first_nanos"`
	LastNanos  int64 `json:"last_nanos"`
}

func (s *sink) NewSession(*smtp.Conn) (smtp.Session, error) { return &sinkSession{sink: s}, nil }

type sinkSession struct {
	sink *sink
	rcpt []string
}

func (ss *sinkSession) Reset()        { ss.rcpt = ss.rcpt[:0] }
func (ss *sinkSession) Logout() error { return nil }
func (ss *sinkSession) Mail(string, *smtp.MailOptions) error {
	ss.rcpt = ss.rcpt[:0]
	return nil
}
func (ss *sinkSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	ss.rcpt = append(ss.rcpt, to)
	return nil
}
func (ss *sinkSession) Data(r io.Reader) error {
	if _, err := io.Copy(io.Discard, r); err != nil {
		return err
	}
	if ss.sink.delay > 0 {
		time.Sleep(ss.sink.delay) // a slow relay: the reply to the end of data waits
	}
	now := time.Now()
	s := ss.sink
	s.mu.Lock()
	if s.total == 0 {
		s.first = now
	}
	for _, to := range ss.rcpt {
		s.per[to]++
		s.total++
	}
	s.last = now
	s.mu.Unlock()
	return nil
}

func (s *sink) stats() sinkStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := sinkStats{Total: s.total, Unique: len(s.per), Duplicates: s.total - len(s.per)}
	if !s.first.IsZero() {
		st.FirstNanos, st.LastNanos = s.first.UnixNano(), s.last.UnixNano()
	}
	return st
}

// runSink serves SMTP and a stats endpoint on loopback, prints both
// addresses on one line, and runs until killed. Its one flag, -delay, is
// how long it takes over each message.
func runSink(args []string) error {
	fs := flag.NewFlagSet("sink", flag.ContinueOnError)
	delay := fs.Duration("delay", 0, "time taken over each message")
	if err := fs.Parse(args); err != nil {
		return err
	}
	s := &sink{per: make(map[string]int), delay: *delay}
	srv := smtp.NewServer(s)
	srv.Domain = "sink.localhost"
	srv.AllowInsecureAuth = true
	srv.MaxRecipients = 100
	srv.MaxMessageBytes = 10 << 20
	srv.ReadTimeout = time.Minute
	srv.WriteTimeout = time.Minute
	sl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	hl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /stats", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(s.stats())
	})
	mux.HandleFunc("POST /reset", func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.per, s.total, s.first, s.last = make(map[string]int), 0, time.Time{}, time.Time{}
		s.mu.Unlock()
	})
	go http.Serve(hl, mux)
	fmt.Fprintf(os.Stdout, "sink smtp=%s http=%s\n", sl.Addr(), hl.Addr())
	return srv.Serve(sl)
}
