package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-smtp"
)

// sink is an SMTP server that accepts everything, throws the content away and
// counts deliveries per recipient, so duplicates and gaps can be seen. With a
// fault mode it refuses or breaks off some transactions (see faultMode),
// chosen per recipient and attempt, so that a retry may go through.
type sink struct {
	delay time.Duration // taken over each message before it is accepted
	fault faultMode     // "" for none
	rate  float64       // of the attempts the fault hits
	seed  int64

	mu     sync.Mutex
	per    map[string]*sinkRecipient
	total  int
	unique int // recipients delivered to at least once
	faults int // attempts the fault hit
	first  time.Time
	last   time.Time
}

// sinkRecipient is what the sink saw of one recipient: the RCPT TOs, the
// messages it stored, and how many of those it stored without replying.
type sinkRecipient struct {
	Attempts    int `json:"attempts"`
	Delivered   int `json:"delivered"`
	LostReplies int `json:"lost_replies"`
}

type sinkStats struct {
	Total      int   `json:"total"`
	Unique     int   `json:"unique"`
	Duplicates int   `json:"duplicates"`
	Faults     int   `json:"faults"`
	FirstNanos int64 `json:"first_nanos"`
	LastNanos  int64 `json:"last_nanos"`
}

func (s *sink) NewSession(c *smtp.Conn) (smtp.Session, error) {
	return &sinkSession{sink: s, conn: c}, nil
}

type sinkSession struct {
	sink  *sink
	conn  *smtp.Conn
	rcpt  []string
	fault faultMode // a fault of the data stage, chosen at RCPT, for this transaction
}

func (ss *sinkSession) Reset()        { ss.rcpt, ss.fault = ss.rcpt[:0], "" }
func (ss *sinkSession) Logout() error { return nil }
func (ss *sinkSession) Mail(string, *smtp.MailOptions) error {
	ss.rcpt, ss.fault = ss.rcpt[:0], ""
	return nil
}

// Rcpt counts the attempt and, when the fault hits it, refuses the recipient
// or breaks the connection off, or marks the transaction for a fault at its
// data. The reply goes straight to the connection before it is closed:
// go-smtp flushes each reply as it is written, so nothing of its own can be
// behind it.
func (ss *sinkSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s := ss.sink
	s.mu.Lock()
	r := s.recipient(to)
	r.Attempts++
	hit := s.fault != "" && faultHits(s.seed, to, r.Attempts, s.rate)
	if hit {
		s.faults++
	}
	s.mu.Unlock()
	if hit {
		switch s.fault {
		case faultTempRcpt:
			return &smtp.SMTPError{Code: 450, EnhancedCode: smtp.EnhancedCode{4, 2, 1}, Message: "Mailbox busy, try again later (fault)"}
		case faultPermRcpt:
			return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "No such user (fault)"}
		case fault421Hangup:
			io.WriteString(ss.conn.Conn(), "421 4.3.2 Closing the connection (fault)\r\n")
			ss.conn.Conn().Close()
			return errFaultClosed
		case faultDrop:
			ss.conn.Conn().Close()
			return errFaultClosed
		default:
			ss.fault = s.fault
		}
	}
	ss.rcpt = append(ss.rcpt, to)
	return nil
}

// errFaultClosed is returned by a session whose connection the fault has
// closed: go-smtp's reply to it goes nowhere.
var errFaultClosed = errors.New("sink: connection closed by the fault")

func (ss *sinkSession) Data(r io.Reader) error {
	if _, err := io.Copy(io.Discard, r); err != nil {
		return err
	}
	if ss.sink.delay > 0 {
		time.Sleep(ss.sink.delay) // a slow relay: the reply to the end of data waits
	}
	switch ss.fault {
	case faultTempData:
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Local error, try again later (fault)"}
	case faultPermData:
		return &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 6, 0}, Message: "Message refused (fault)"}
	}
	lost := ss.fault == faultLostReply
	now := time.Now()
	s := ss.sink
	s.mu.Lock()
	if s.total == 0 {
		s.first = now
	}
	for _, to := range ss.rcpt {
		r := s.recipient(to)
		if r.Delivered == 0 {
			s.unique++
		}
		r.Delivered++
		if lost {
			r.LostReplies++
		}
		s.total++
	}
	s.last = now
	s.mu.Unlock()
	if lost {
		// Stored, and the reply never sent: the client cannot tell whether
		// the message went, so it must send it again.
		ss.conn.Conn().Close()
		return errFaultClosed
	}
	return nil
}

// recipient is to's record, made on first sight. s.mu is held.
func (s *sink) recipient(to string) *sinkRecipient {
	r := s.per[to]
	if r == nil {
		r = &sinkRecipient{}
		s.per[to] = r
	}
	return r
}

// recipients is a copy of what the sink saw of each recipient.
func (s *sink) recipients() map[string]sinkRecipient {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]sinkRecipient, len(s.per))
	for to, r := range s.per {
		out[to] = *r
	}
	return out
}

func (s *sink) stats() sinkStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := sinkStats{Total: s.total, Unique: s.unique, Duplicates: s.total - s.unique, Faults: s.faults}
	if !s.first.IsZero() {
		st.FirstNanos, st.LastNanos = s.first.UnixNano(), s.last.UnixNano()
	}
	return st
}

// runSink serves SMTP and a stats endpoint on loopback, prints both
// addresses on one line, and runs until killed. Its flags: -delay, how long
// it takes over each message, and -fault, -fault-rate and -fault-seed, what
// it breaks and how often (see faultMode).
func runSink(args []string) error {
	fs := flag.NewFlagSet("sink", flag.ContinueOnError)
	delay := fs.Duration("delay", 0, "time taken over each message")
	fault := fs.String("fault", "", "fault to inject: "+strings.Join(faultModeNames(), ", "))
	rate := fs.Float64("fault-rate", 0.1, "fraction of attempts the fault hits, from 0 to 1")
	seed := fs.Int64("fault-seed", 1, "seed of the choice of the attempts the fault hits")
	if err := fs.Parse(args); err != nil {
		return err
	}
	s := &sink{per: make(map[string]*sinkRecipient), delay: *delay, seed: *seed}
	if *fault != "" {
		m, err := parseFaultMode(*fault)
		if err != nil {
			return err
		}
		if err := checkFaultRate(*rate); err != nil {
			return err
		}
		s.fault, s.rate = m, *rate
	}
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
	mux.HandleFunc("GET /recipients", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(s.recipients())
	})
	mux.HandleFunc("POST /reset", func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.per, s.total, s.unique, s.faults = make(map[string]*sinkRecipient), 0, 0, 0
		s.first, s.last = time.Time{}, time.Time{}
		s.mu.Unlock()
	})
	go http.Serve(hl, mux)
	fmt.Fprintf(os.Stdout, "sink smtp=%s http=%s\n", sl.Addr(), hl.Addr())
	return srv.Serve(sl)
}
