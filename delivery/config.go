package delivery

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// DefaultTimeout bounds connecting, and each message sent, when
// Config.Timeout is zero.
const DefaultTimeout = 30 * time.Second

// Config is what a Sender needs. cmd/tidings fills it from TIDINGS_SMTP_URL.
type Config struct {
	// URL names the relay: smtp://user:pass@host:port?tls=none|starttls|tls
	// (see ParseURL for the defaults).
	URL string
	// HeloName is the name sent with EHLO; empty means the host name of the
	// machine.
	HeloName string
	// Timeout bounds connecting (with STARTTLS and AUTH), and then each
	// message; zero means DefaultTimeout.
	Timeout time.Duration
	// InsecureSkipVerify turns off the check of the relay's TLS certificate.
	// For tests against a self-signed certificate only.
	InsecureSkipVerify bool
}

// TLSMode is how the connection to the relay is protected.
type TLSMode string

// The TLS modes of an SMTP URL, as written in its tls parameter.
const (
	// TLSNone sends everything in clear text. Only sensible on loopback.
	TLSNone TLSMode = "none"
	// TLSStartTLS connects in clear text and must upgrade with STARTTLS
	// (RFC 3207) before anything else is sent; a relay that does not offer it
	// is refused. Usually port 587 (RFC 6409).
	TLSStartTLS TLSMode = "starttls"
	// TLSImplicit speaks TLS from the first byte (RFC 8314). Usually port 465.
	TLSImplicit TLSMode = "tls"
)

// Relay is a parsed SMTP URL: where to send and how.
type Relay struct {
	Host     string // host name or IP address, without brackets
	Port     int
	TLS      TLSMode
	Username string // empty: no SMTP AUTH
	Password string
}

// String returns the relay as a URL with the password masked, fit for logs.
func (r Relay) String() string {
	u := url.URL{Scheme: "smtp", Host: net.JoinHostPort(r.Host, strconv.Itoa(r.Port))}
	if r.Username != "" {
		u.User = url.UserPassword(r.Username, "xxxxx")
	}
	u.RawQuery = "tls=" + string(r.TLS)
	return u.String()
}

// ParseURL parses and checks an SMTP URL:
//
//	smtp://[user:pass@]host[:port][?tls=none|starttls|tls]
//	smtps://[user:pass@]host[:port]          (same as smtp with tls=tls)
//
// When tls is absent it is "none" for localhost, 127.0.0.1 and ::1 and
// "starttls" for any other host; for smtps it is "tls". When the port is
// absent it is 25 for tls=none, 587 for starttls and 465 for tls.
// User information turns SMTP AUTH on; it needs a password, and it is refused
// with tls=none to any host but localhost, 127.0.0.1 and ::1, so a password
// never crosses a network in clear text (go-mail refuses it too).
//
// A bad URL gets an error that names what is wrong: the scheme, host, port,
// user information, tls value or an unknown parameter. The error quotes the
// URL with its password masked.
func ParseURL(raw string) (Relay, error) {
	shown := redact(raw)
	fail := func(format string, args ...any) (Relay, error) {
		return Relay{}, fmt.Errorf("smtp url %q: %s", shown, fmt.Sprintf(format, args...))
	}
	if strings.TrimSpace(raw) == "" {
		return Relay{}, errors.New("smtp url is empty: want smtp://user:pass@host:port?tls=none|starttls|tls")
	}
	u, err := url.Parse(raw)
	if err != nil {
		// url.Error repeats the raw URL, password included: report only the cause.
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		return fail("cannot parse: %v", err)
	}
	var r Relay
	switch u.Scheme {
	case "smtp":
	case "smtps":
		r.TLS = TLSImplicit
	case "":
		return fail("no scheme: want smtp:// or smtps://")
	default:
		return fail("scheme %q is not smtp or smtps", u.Scheme)
	}
	if u.Opaque != "" {
		return fail("want %s://host, with two slashes", u.Scheme)
	}
	r.Host = u.Hostname()
	if r.Host == "" {
		return fail("no host")
	}
	if strings.ContainsAny(r.Host, " \t%") {
		return fail("host %q is not a valid host name", r.Host)
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return fail("port %q is not a number from 1 to 65535", p)
		}
		r.Port = n
	} else if strings.HasSuffix(u.Host, ":") {
		return fail("empty port after the host")
	}
	if u.Path != "" && u.Path != "/" {
		return fail("unexpected path %q", u.Path)
	}
	if u.Fragment != "" {
		return fail("unexpected fragment %q", u.Fragment)
	}

	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return fail("cannot parse the parameters: %v", err)
	}
	for k, v := range q {
		if k != "tls" {
			return fail("unknown parameter %q (the only one is tls)", k)
		}
		if len(v) > 1 {
			return fail("tls is given %d times", len(v))
		}
	}
	if q.Has("tls") {
		mode := TLSMode(strings.ToLower(q.Get("tls")))
		switch mode {
		case TLSNone, TLSStartTLS, TLSImplicit:
		default:
			return fail("tls=%q is not one of none, starttls, tls", q.Get("tls"))
		}
		if r.TLS == TLSImplicit && mode != TLSImplicit {
			return fail("smtps means tls=tls, not tls=%s; use smtp://", mode)
		}
		r.TLS = mode
	}
	if r.TLS == "" {
		r.TLS = TLSStartTLS
		if isLocalhost(r.Host) {
			r.TLS = TLSNone
		}
	}
	if r.Port == 0 {
		switch r.TLS {
		case TLSNone:
			r.Port = 25
		case TLSStartTLS:
			r.Port = 587
		case TLSImplicit:
			r.Port = 465
		}
	}

	if u.User != nil {
		r.Username = u.User.Username()
		r.Password, _ = u.User.Password()
		if r.Username == "" {
			return fail("empty user name before @")
		}
		if r.Password == "" {
			return fail("user %q has no password (want user:pass@host)", r.Username)
		}
		if r.TLS == TLSNone && !isLocalhost(r.Host) {
			return fail("tls=none would send the password in clear text to %s; use tls=starttls or tls=tls", r.Host)
		}
	}
	return r, nil
}

// isLocalhost reports whether host is one of the names that go-mail's PLAIN
// and LOGIN authentication accept without TLS. It is deliberately literal
// (no 127.0.0.2, no DNS) so that the check here and go-mail's agree.
func isLocalhost(host string) bool {
	return host == "localhost" || host == "127.0.0.1" || host == "::1"
}

// redact masks the password of a URL that may not even parse, so error
// messages can quote what was given without leaking it.
func redact(raw string) string {
	start := 0
	if i := strings.Index(raw, "://"); i >= 0 {
		start = i + 3
	}
	rest := raw[start:]
	// The last @ anywhere, not just before the first / ? #: a password with
	// an unescaped / or # must still be masked. Masking too much is harmless.
	at := strings.LastIndex(rest, "@")
	if at < 0 {
		return raw
	}
	user, _, hasPass := strings.Cut(rest[:at], ":")
	if !hasPass {
		return raw
	}
	return raw[:start] + user + ":xxxxx" + rest[at:]
}
