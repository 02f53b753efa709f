// Package web serves Tidings over HTTP: the public sign-up, confirmation and
// unsubscribe pages (including the RFC 8058 one-click POST), the JSON API, and
// in development the caught-mail inbox. It calls the domain packages and maps
// their errors to HTTP statuses in one place (errors.go).
package web

import (
	"context"
	"embed"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"time"

	"github.com/gorilla/mux"

	"github.com/tidings/tidings"
	"github.com/tidings/tidings/campaigns"
	"github.com/tidings/tidings/dkimkeys"
	"github.com/tidings/tidings/editors"
	"github.com/tidings/tidings/internal/devmail"
	"github.com/tidings/tidings/subscribers"
	"github.com/tidings/tidings/templates"
)

//go:embed pages/*.html
var pageFiles embed.FS

//go:embed static
var staticFiles embed.FS

// Limits are the anti-abuse settings of the public sign-up form.
type Limits struct {
	// SignupIPEvery and SignupIPBurst bound sign-ups from one IP address.
	SignupIPEvery time.Duration
	SignupIPBurst int
	// SignupAddressEvery and SignupAddressBurst bound sign-ups of one address.
	SignupAddressEvery time.Duration
	SignupAddressBurst int
	// MaxBody caps the size of a public request body, in bytes.
	MaxBody int64
}

// DefaultLimits are generous for people and tight for scripts.
var DefaultLimits = Limits{
	SignupIPEvery:      30 * time.Second,
	SignupIPBurst:      10,
	SignupAddressEvery: 20 * time.Minute,
	SignupAddressBurst: 3,
	MaxBody:            64 << 10,
}

// Pinger answers whether the database is reachable, for /healthz.
type Pinger interface {
	Ping(ctx context.Context) error
}

// Config is what the web server needs.
type Config struct {
	Subscribers *subscribers.Store
	Campaigns   *campaigns.Store
	// Editors keeps editors, their sessions and the API tokens.
	Editors *editors.Store
	// Health is pinged by /healthz; nil means Editors.
	Health Pinger
	// Tester sends the test copies of broadcasts; nil where there is no SMTP relay.
	Tester *campaigns.Tester
	// Inbox is the development mail catcher, shown under /dev/inbox; nil in production.
	Inbox   *devmail.Server
	BaseURL string
	// Secret signs the sign-up cookie that lets the browser which signed up
	// confirm on opening the link; without one, every confirmation takes the
	// button on the confirm page.
	Secret []byte
	// ConfirmTTL is how long a sign-up cookie works, as long as a
	// confirmation link; 0 means subscribers.DefaultConfirmTTL.
	ConfirmTTL time.Duration
	Logger     *slog.Logger
	Now        func() time.Time
	Limits     Limits
	// SendTest sends a test of a step or bonus email being written, rendered
	// for the signed-in editor's address, from the list's sender; nil when
	// this instance has no mail relay.
	SendTest func(ctx context.Context, to string, msg *templates.Message, list *subscribers.List) error
	// DKIM keeps the DKIM keys, whose records the list settings page shows;
	// nil leaves signing off that page.
	DKIM *dkimkeys.Store
}

// Server is the Tidings HTTP handler.
type Server struct {
	subscribers *subscribers.Store
	campaigns   *campaigns.Store
	editors     *editors.Store
	health      Pinger
	tester      *campaigns.Tester
	inbox       *devmail.Server
	baseURL     string
	secret      []byte
	confirmTTL  time.Duration
	logger      *slog.Logger
	now         func() time.Time
	limits      Limits
	sendTest    func(ctx context.Context, to string, msg *templates.Message, list *subscribers.List) error
	dkim        *dkimkeys.Store

	router     *mux.Router
	pages      map[string]*template.Template
	ipLimit    *limiter
	addrLimit  *limiter
	loginLimit *limiter
	handler    http.Handler
	staticFS   fs.FS
}

// NewServer builds the router and parses the page templates.
func NewServer(cfg Config) (*Server, error) {
	s := &Server{
		subscribers: cfg.Subscribers,
		campaigns:   cfg.Campaigns,
		editors:     cfg.Editors,
		health:      cfg.Health,
		tester:      cfg.Tester,
		inbox:       cfg.Inbox,
		baseURL:     cfg.BaseURL,
		secret:      cfg.Secret,
		confirmTTL:  cfg.ConfirmTTL,
		logger:      cfg.Logger,
		now:         cfg.Now,
		limits:      cfg.Limits,
		sendTest:    cfg.SendTest,
		dkim:        cfg.DKIM,
	}
	if s.logger == nil {
		s.logger = slog.Default()
	}
	if s.health == nil && s.editors != nil {
		s.health = s.editors
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.confirmTTL <= 0 {
		s.confirmTTL = subscribers.DefaultConfirmTTL
	}
	if s.limits == (Limits{}) {
		s.limits = DefaultLimits
	}
	if s.limits.MaxBody <= 0 {
		s.limits.MaxBody = DefaultLimits.MaxBody
	}
	s.ipLimit = newLimiter(s.limits.SignupIPEvery, s.limits.SignupIPBurst, s.now)
	s.addrLimit = newLimiter(s.limits.SignupAddressEvery, s.limits.SignupAddressBurst, s.now)
	s.loginLimit = newLimiter(6*time.Second, 20, s.now)
	sub, err := fs.Sub(staticFiles, "static")
	if err != nil {
		return nil, err
	}
	s.staticFS = sub
	s.routes()
	if err := s.parsePages(); err != nil {
		return nil, err
	}
	// Every state-changing browser request from another origin is refused,
	// except the two that other sites and mail clients must be able to make:
	// the embedded sign-up form and the RFC 8058 one-click unsubscribe.
	cop := http.NewCrossOriginProtection()
	cop.AddInsecureBypassPattern("POST /subscribe/{list}")
	cop.AddInsecureBypassPattern("POST /unsubscribe/{token}")
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.fail(w, r, tidings.Errorf(tidings.EFORBIDDEN, "This request came from another site, so it was refused. Go back to the page and try again."))
	}))
	s.handler = securityHeaders(cop.Handler(s.checkText(s.router)))
	return s, nil
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.handler.ServeHTTP(w, r)
}

// handleHealth answers 200 when the database answers.
func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.health.Ping(ctx); err != nil {
		s.logger.Error("health check failed", slog.Any("err", err))
		s.fail(w, r, tidings.Errorf(tidings.EUNAVAILABLE, "The database does not answer."))
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Write([]byte("ok\n"))
}
