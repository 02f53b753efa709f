package main

import (
	"flag"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/tidings/tidings/campaigns"
	"github.com/tidings/tidings/delivery"
)

// setting is one TIDINGS_* variable and the flag of the same name.
type setting struct {
	env, flag, usage, def string
}

var settings = []setting{
	{"TIDINGS_DATABASE_URL", "database-url", "Postgres URL, e.g. postgres://tidings:tidings@127.0.0.1:5432/tidings?sslmode=disable", ""},
	{"TIDINGS_SMTP_URL", "smtp-url", "SMTP relay, smtp://user:pass@host:port?tls=none|starttls|tls", ""},
	{"TIDINGS_LISTEN", "listen", "address to serve on", "127.0.0.1:8080"},
	{"TIDINGS_BASE_URL", "base-url", "public URL used in links in emails (default http:// + listen address)", ""},
	{"TIDINGS_SECRET", "secret", "key for signing links and cookies, at least 32 characters", ""},
	{"TIDINGS_SMTP_CONNECTIONS", "smtp-connections", "parallel SMTP connections", "10"},
	{"TIDINGS_SEND_RATE", "send-rate", "messages per second across the instance, 0 for no limit", "0"},
	{"TIDINGS_SMTP_TIMEOUT", "smtp-timeout", "longest wait for the relay, to connect and for each message", "30s"},
	{"TIDINGS_RETRY_SCHEDULE", "retry-schedule", "waits after each temporary failure of a send, comma-separated; the last repeats", campaigns.DefaultRetrySchedule},
	{"TIDINGS_CLAIM_TIMEOUT", "claim-timeout", "how long a worker holds the outbox rows it claims; a crashed worker's are sent again after it", "30m"},
}

// config is the validated configuration of `tidings serve`.
type config struct {
	DatabaseURL     string
	SMTPURL         string
	Listen          string
	BaseURL         string
	Secret          string
	SMTPConnections int
	SendRate        float64
	SMTPTimeout     time.Duration
	ClaimTimeout    time.Duration
	RetrySchedule   campaigns.RetrySchedule
	Dev             bool
	Role            string
}

// settingFlags declares a flag per setting on fs and returns a function that
// gives each setting's value: the flag when given, else the environment, else
// the default.
func settingFlags(fs *flag.FlagSet, getenv func(string) string, only ...string) func(env string) string {
	vals := map[string]*string{}
	for _, st := range settings {
		if len(only) > 0 && !contains(only, st.env) {
			continue
		}
		vals[st.env] = fs.String(st.flag, "", st.usage+" ($"+st.env+")")
	}
	return func(env string) string {
		set := false
		fs.Visit(func(f *flag.Flag) {
			for _, st := range settings {
				if st.env == env && st.flag == f.Name {
					set = true
				}
			}
		})
		if p := vals[env]; set && p != nil {
			return *p
		}
		if v := getenv(env); v != "" {
			return v
		}
		for _, st := range settings {
			if st.env == env {
				return st.def
			}
		}
		return ""
	}
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// parseConfig validates every setting once and names the bad one.
func parseConfig(get func(string) string, dev bool, role string) (config, error) {
	c := config{Dev: dev, Role: role}
	c.DatabaseURL = get("TIDINGS_DATABASE_URL")
	if c.DatabaseURL == "" {
		return c, fmt.Errorf("TIDINGS_DATABASE_URL is required (e.g. postgres://tidings:tidings@127.0.0.1:5432/tidings?sslmode=disable)")
	}
	if u, err := url.Parse(c.DatabaseURL); err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return c, fmt.Errorf("TIDINGS_DATABASE_URL must be a postgres:// URL")
	}

	c.Listen = get("TIDINGS_LISTEN")
	if _, port, err := net.SplitHostPort(c.Listen); err != nil || port == "" {
		return c, fmt.Errorf("TIDINGS_LISTEN must be host:port, not %q", c.Listen)
	}

	c.BaseURL = strings.TrimRight(get("TIDINGS_BASE_URL"), "/")
	if c.BaseURL != "" {
		u, err := url.Parse(c.BaseURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
			return c, fmt.Errorf("TIDINGS_BASE_URL must be an absolute http(s) URL without query, not %q", c.BaseURL)
		}
	}

	c.SMTPURL = get("TIDINGS_SMTP_URL")
	if c.SMTPURL == "" && !dev && role != "web" {
		return c, fmt.Errorf("TIDINGS_SMTP_URL is required (or run with --dev to catch mail in the dev inbox)")
	}

	if c.SMTPURL != "" {
		if _, err := delivery.ParseURL(c.SMTPURL); err != nil {
			return c, fmt.Errorf("TIDINGS_SMTP_URL: %w", err)
		}
	}

	c.Secret = get("TIDINGS_SECRET")
	if c.Secret == "" && !dev {
		return c, fmt.Errorf("TIDINGS_SECRET is required: at least 32 random characters (e.g. `openssl rand -hex 32`)")
	}
	if c.Secret != "" && len(c.Secret) < 32 {
		return c, fmt.Errorf("TIDINGS_SECRET must be at least 32 characters, it has %d", len(c.Secret))
	}

	n, err := strconv.Atoi(get("TIDINGS_SMTP_CONNECTIONS"))
	if err != nil || n < 1 || n > 200 {
		return c, fmt.Errorf("TIDINGS_SMTP_CONNECTIONS must be a whole number from 1 to 200, not %q", get("TIDINGS_SMTP_CONNECTIONS"))
	}
	c.SMTPConnections = n

	r, err := strconv.ParseFloat(get("TIDINGS_SEND_RATE"), 64)
	if err != nil || r < 0 || r != r {
		return c, fmt.Errorf("TIDINGS_SEND_RATE must be a number of messages per second, 0 or more, not %q", get("TIDINGS_SEND_RATE"))
	}
	c.SendRate = r

	if c.SMTPTimeout, err = time.ParseDuration(get("TIDINGS_SMTP_TIMEOUT")); err != nil || c.SMTPTimeout <= 0 {
		return c, fmt.Errorf("TIDINGS_SMTP_TIMEOUT must be a duration above 0 such as 30s, not %q", get("TIDINGS_SMTP_TIMEOUT"))
	}
	// A claim must outlast a send of one message with a connection dialled
	// twice, with half of it to spare for the wait before the send (see
	// campaigns.Dispatcher.ClaimTimeout and delivery.Pool.MaxSendTime).
	least := 8 * c.SMTPTimeout
	if c.ClaimTimeout, err = time.ParseDuration(get("TIDINGS_CLAIM_TIMEOUT")); err != nil || c.ClaimTimeout < least {
		return c, fmt.Errorf("TIDINGS_CLAIM_TIMEOUT must be a duration of at least 8 times TIDINGS_SMTP_TIMEOUT (%s), not %q", least, get("TIDINGS_CLAIM_TIMEOUT"))
	}

	if c.RetrySchedule, err = campaigns.ParseRetrySchedule(get("TIDINGS_RETRY_SCHEDULE")); err != nil {
		return c, fmt.Errorf("TIDINGS_RETRY_SCHEDULE must be comma-separated durations above 0, none shorter than the one before, such as %s: %w", campaigns.DefaultRetrySchedule, err)
	}

	switch role {
	case "all", "web", "worker":
	default:
		return c, fmt.Errorf("--role must be web, worker or all, not %q", role)
	}
	return c, nil
}

// baseURL is the configured public URL, or http:// + the address served on.
func (c config) baseURL(listenAddr string) string {
	if c.BaseURL != "" {
		return c.BaseURL
	}
	return "http://" + listenAddr
}
