package delivery_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// scripted is a relay written by hand for what devmail cannot do. It reads
// commands one line at a time, as a relay may, and refuses
// nobody@example.org at RCPT TO (550).
//
// With pipelining it offers PIPELINING. Without, it notes as a fault any
// command that arrives before the reply to the one before, and hangs up.
//
// At the end of each message, before replying, it calls atEnd (if not nil)
// with the connection's number (from 1), the message's recipient, and the
// connection and its reader, which atEnd may look ahead in. atEnd says
// what to do: reply 250 (and hang up after, if hangUp).
//
// Before it answers MAIL FROM, RCPT TO or DATA, or the end of a message, it
// asks closes (if not nil), with the connection's number, the number of the
// transaction on it (from 1) and the stage ("MAIL", "RCPT", "DATA", "END"),
// whether to say 421 and hang up instead.
type scripted struct {
	l          net.Listener
	pipelining bool
	atEnd      func(conn int, to string, nc net.Conn, r *bufio.Reader) (reply, hangUp bool)
	closes     func(conn, txn int, stage string) bool

	mu     sync.Mutex
	conns  int
	taken  []string // "conn:to" of each message replied 250 to
	last   string   // the text of the last message taken
	faults []string // what the client did wrong
}

func startScripted(t *testing.T, pipelining bool, atEnd func(conn int, to string, nc net.Conn, r *bufio.Reader) (reply, hangUp bool)) *scripted {
	t.Helper()
	return listenScripted(t, &scripted{pipelining: pipelining, atEnd: atEnd})
}

// startClosing starts a scripted relay that says 421 and hangs up where
// closes says.
func startClosing(t *testing.T, pipelining bool, closes func(conn, txn int, stage string) bool) *scripted {
	t.Helper()
	return listenScripted(t, &scripted{pipelining: pipelining, closes: closes})
}

// listenScripted serves s, whose fields are set, on a port of its own.
func listenScripted(t *testing.T, s *scripted) *scripted {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.l = l
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			nc, err := l.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.conns++
			n := s.conns
			s.mu.Unlock()
			go s.serve(n, nc)
		}
	}()
	return s
}

func (s *scripted) url() string { return "smtp://" + s.l.Addr().String() + "?tls=none" }

func (s *scripted) fault(f string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, f)
}

func (s *scripted) serve(n int, nc net.Conn) {
	defer nc.Close()
	tp := textproto.NewConn(nc)
	reply := func(line string) { _ = tp.PrintfLine("%s", line) }
	reply("220 scripted")
	var to string
	txn := 0 // MAIL FROM commands on this connection
	closing := func(stage string) bool {
		if s.closes == nil || !s.closes(n, txn, stage) {
			return false
		}
		reply("421 closing")
		s.hangUp(nc)
		return true
	}
	for {
		line, err := tp.ReadLine()
		if err != nil {
			return
		}
		if !s.pipelining && tp.R.Buffered() > 0 {
			s.fault("pipelined after " + line)
			return
		}
		cmd := strings.ToUpper(line)
		stage := ""
		switch {
		case strings.HasPrefix(cmd, "MAIL FROM:"):
			txn++
			stage = "MAIL"
		case strings.HasPrefix(cmd, "RCPT TO:"):
			stage = "RCPT"
		case cmd == "DATA":
			stage = "DATA"
		}
		if stage != "" && closing(stage) {
			return
		}
		switch {
		case strings.HasPrefix(cmd, "EHLO"):
			reply("250-scripted")
			if s.pipelining {
				reply("250 PIPELINING")
			} else {
				reply("250 8BITMIME")
			}
		case strings.HasPrefix(cmd, "MAIL FROM:") && !strings.HasPrefix(cmd, "MAIL FROM:<"),
			strings.HasPrefix(cmd, "RCPT TO:") && !strings.HasPrefix(cmd, "RCPT TO:<"):
			s.fault("no angle brackets: " + line)
			reply("501 syntax")
		case strings.HasPrefix(cmd, "MAIL FROM:"):
			to = ""
			reply("250 ok")
		case cmd == "RCPT TO:<NOBODY@EXAMPLE.ORG>":
			reply("550 no such user")
		case strings.HasPrefix(cmd, "RCPT TO:"):
			to = strings.Trim(line[len("RCPT TO:"):], "<>")
			reply("250 ok")
		case cmd == "DATA" && to == "":
			reply("554 no valid recipients")
		case cmd == "DATA":
			reply("354 go on")
			lines, err := tp.ReadDotLines()
			if err != nil || closing("END") {
				return
			}
			ok, hangUp := true, false
			if s.atEnd != nil {
				ok, hangUp = s.atEnd(n, to, nc, tp.R)
			}
			if ok {
				s.mu.Lock()
				s.taken = append(s.taken, fmt.Sprintf("%d:%s", n, to))
				s.last = strings.Join(lines, "\n")
				s.mu.Unlock()
				reply("250 taken")
			}
			if hangUp {
				s.hangUp(nc)
				return
			}
		case cmd == "RSET":
			to = ""
			reply("250 ok")
		case cmd == "QUIT":
			reply("221 bye")
			return
		default:
			reply("502 not here")
		}
	}
}

// hangUp closes nc as a relay that quits would, without a reset: it says it
// will send nothing more, and waits for the client to close its side. What
// the client sent meanwhile is read and thrown away.
func (s *scripted) hangUp(nc net.Conn) {
	_ = nc.(*net.TCPConn).CloseWrite()
	_ = nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, _ = io.Copy(io.Discard, nc)
}

// mustHaveTaken fails the test unless the relay took the messages want
// ("conn:to"), in order, and the client did nothing wrong.
func (s *scripted) mustHaveTaken(t *testing.T, want ...string) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if !slices.Equal(s.taken, want) {
		t.Errorf("relay took %q, want %q", s.taken, want)
	}
	if len(s.faults) > 0 {
		t.Errorf("the client's faults: %q", s.faults)
	}
}

// lastText is the text of the last message taken.
func (s *scripted) lastText() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last
}
