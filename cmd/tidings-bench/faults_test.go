package main

import (
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"net/smtp"
	"slices"
	"strings"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"
)

func TestParseFaults(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		for _, tt := range []struct {
			list string
			want []faultMode
		}{
			{"", nil},
			{"all", faultModes},
			{"temp-rcpt", []faultMode{faultTempRcpt}},
			{" perm-data , lost-reply ", []faultMode{faultPermData, faultLostReply}},
			{"421-hangup,drop", []faultMode{fault421Hangup, faultDrop}},
		} {
			got, err := parseFaults(tt.list)
			if err != nil {
				t.Errorf("parseFaults(%q): %v", tt.list, err)
				continue
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("parseFaults(%q) = %v, want %v", tt.list, got, tt.want)
			}
		}
	})
	t.Run("ErrBadList", func(t *testing.T) {
		for _, tt := range []struct {
			list, want string
		}{
			{"temp", `unknown fault mode "temp"`},
			{"ALL", `unknown fault mode "ALL"`},
			{"temp-rcpt,", "an empty mode between commas"},
			{",drop", "an empty mode between commas"},
			{"drop,drop", "drop named twice"},
			{"all,drop", `unknown fault mode "all"`},
		} {
			_, err := parseFaults(tt.list)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("parseFaults(%q) = %v, want an error with %q", tt.list, err, tt.want)
			}
		}
	})
}

func TestFaultFlags_Config(t *testing.T) {
	parse := func(args ...string) (faultConfig, error) {
		fs := flag.NewFlagSet("test", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		ff := addFaultFlags(fs)
		if err := fs.Parse(args); err != nil {
			return faultConfig{}, err
		}
		return ff.config()
	}
	t.Run("OK", func(t *testing.T) {
		c, err := parse("-faults", "all", "-faults-only", "-fault-n", "500", "-fault-rate", "0.25", "-retry-schedule", " 5s,15s ")
		if err != nil {
			t.Fatal(err)
		}
		if !c.only || c.n != 500 || c.rate != 0.25 || len(c.modes) != len(faultModes) || c.retrySchedule != "5s,15s" {
			t.Errorf("config = %+v", c)
		}
	})
	t.Run("Defaults", func(t *testing.T) {
		c, err := parse()
		if err != nil {
			t.Fatal(err)
		}
		if c.only || c.modes != nil || c.n != 1000 || c.rate != 0.1 || c.retrySchedule != "" {
			t.Errorf("config = %+v", c)
		}
	})
	t.Run("ErrBadFlags", func(t *testing.T) {
		for _, tt := range []struct {
			args []string
			want string
		}{
			{[]string{"-faults-only"}, "-faults-only needs -faults"},
			{[]string{"-faults", "nope"}, `unknown fault mode "nope"`},
			{[]string{"-faults", "drop", "-fault-n", "0"}, "-fault-n must be at least 1, not 0"},
			{[]string{"-faults", "drop", "-fault-rate", "0"}, "-fault-rate must be above 0 and at most 1, not 0"},
			{[]string{"-faults", "drop", "-fault-rate", "1.5"}, "-fault-rate must be above 0 and at most 1, not 1.5"},
			{[]string{"-faults", "drop", "-fault-rate", "NaN"}, "-fault-rate must be above 0 and at most 1, not NaN"},
			{[]string{"-faults", "drop", "-fault-timeout", "0s"}, "-fault-timeout must be above 0"},
			{[]string{"-fault-rate", "lots"}, "invalid value"},
		} {
			_, err := parse(tt.args...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("flags %q: got %v, want an error with %q", tt.args, err, tt.want)
			}
		}
	})
}

func TestFaultHits(t *testing.T) {
	t.Run("Deterministic", func(t *testing.T) {
		for i := range 100 {
			to := fmt.Sprintf("reader%d@bench.localhost", i)
			for attempt := 1; attempt <= 3; attempt++ {
				if faultHits(7, to, attempt, 0.3) != faultHits(7, to, attempt, 0.3) {
					t.Fatalf("faultHits(7, %q, %d) changed between calls", to, attempt)
				}
			}
		}
	})
	t.Run("Rate", func(t *testing.T) {
		for _, rate := range []float64{0.01, 0.1, 0.5} {
			const n = 20000
			hits := 0
			for i := range n {
				if faultHits(1, fmt.Sprintf("reader%d@bench.localhost", i), 1, rate) {
					hits++
				}
			}
			if got := float64(hits) / n; math.Abs(got-rate) > 0.01 {
				t.Errorf("rate %v: %v of first attempts hit", rate, got)
			}
		}
		if !faultHits(1, "a@bench.localhost", 1, 1) {
			t.Error("rate 1 missed an attempt")
		}
	})
	t.Run("RetryIsAFreshDraw", func(t *testing.T) {
		// Of the recipients hit at their first attempt, about the rate are
		// hit again at the second: a retry is not refused for sure.
		hit, again := 0, 0
		for i := range 20000 {
			to := fmt.Sprintf("reader%d@bench.localhost", i)
			if faultHits(1, to, 1, 0.1) {
				hit++
				if faultHits(1, to, 2, 0.1) {
					again++
				}
			}
		}
		if got := float64(again) / float64(hit); got > 0.2 {
			t.Errorf("%d of %d hit at the first attempt hit again at the second", again, hit)
		}
	})
	t.Run("Seed", func(t *testing.T) {
		same := 0
		for i := range 1000 {
			to := fmt.Sprintf("reader%d@bench.localhost", i)
			if faultHits(1, to, 1, 0.5) == faultHits(2, to, 1, 0.5) {
				same++
			}
		}
		if same > 600 {
			t.Errorf("seeds 1 and 2 agree on %d of 1000 attempts", same)
		}
	})
}

// mustStartSink serves s on loopback for the test.
func mustStartSink(tb testing.TB, s *sink) string {
	tb.Helper()
	srv := gosmtp.NewServer(s)
	srv.Domain = "sink.localhost"
	srv.ReadTimeout, srv.WriteTimeout = 5*time.Second, 5*time.Second
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	go srv.Serve(l)
	tb.Cleanup(func() { srv.Close() })
	return l.Addr().String()
}

// sendOne sends one message to to, reporting the error of the first step
// that fails.
func sendOne(addr, to string) error {
	c, err := smtp.Dial(addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Mail("bench@tidings.localhost"); err != nil {
		return err
	}
	if err := c.Rcpt(to); err != nil {
		return err
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := io.WriteString(w, "Subject: hi\r\n\r\nhello\r\n"); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	return c.Quit()
}

func TestSink_Faults(t *testing.T) {
	for _, tt := range []struct {
		mode   faultMode
		want   string // in the error of the hit attempt
		stored bool   // whether the hit attempt's message is stored
	}{
		{faultTempRcpt, "450", false},
		{faultPermRcpt, "550", false},
		{faultTempData, "451", false},
		{faultPermData, "554", false},
		{fault421Hangup, "421", false},
		{faultDrop, "EOF", false},
		{faultLostReply, "EOF", true},
	} {
		t.Run(string(tt.mode), func(t *testing.T) {
			t.Parallel()
			// Rate 1: every attempt is hit, so the first is.
			s := &sink{per: map[string]*sinkRecipient{}, fault: tt.mode, rate: 1, seed: 1}
			addr := mustStartSink(t, s)
			err := sendOne(addr, "a@bench.localhost")
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("send: %v, want an error with %q", err, tt.want)
			}
			got := s.recipients()["a@bench.localhost"]
			want := sinkRecipient{Attempts: 1}
			if tt.stored {
				want.Delivered, want.LostReplies = 1, 1
			}
			if got != want {
				t.Errorf("recipient = %+v, want %+v", got, want)
			}
			if st := s.stats(); st.Faults != 1 {
				t.Errorf("faults = %d, want 1", st.Faults)
			}
		})
	}
	t.Run("NoFault", func(t *testing.T) {
		t.Parallel()
		s := &sink{per: map[string]*sinkRecipient{}}
		addr := mustStartSink(t, s)
		for range 2 {
			if err := sendOne(addr, "a@bench.localhost"); err != nil {
				t.Fatal(err)
			}
		}
		if got, want := s.recipients()["a@bench.localhost"], (sinkRecipient{Attempts: 2, Delivered: 2}); got != want {
			t.Errorf("recipient = %+v, want %+v", got, want)
		}
		if st := s.stats(); st.Unique != 1 || st.Duplicates != 1 {
			t.Errorf("stats = %+v, want 1 unique, 1 duplicate", st)
		}
	})
}
