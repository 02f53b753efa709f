package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"sync"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/tidings/tidings/campaigns"
	"github.com/tidings/tidings/delivery"
	"github.com/tidings/tidings/dkimkeys"
	"github.com/tidings/tidings/editors"
	"github.com/tidings/tidings/internal/devmail"

	"github.com/tidings/tidings/subscribers"
	"github.com/tidings/tidings/templates"
	"github.com/tidings/tidings/web"
)

func runServe(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("serve", "tidings serve [--dev] [--role web|worker|all] [flags]", stderr)
	dev := fs.Bool("dev", false, "development: catch mail in the built-in dev inbox instead of an SMTP relay, make up a secret, seed a demo list")
	role := fs.String("role", "all", "what this instance runs: web (HTTP only), worker (scheduler and dispatcher), or all")
	get := settingFlags(fs, getenv)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("serve takes no arguments, got %q", fs.Args())
	}
	cfg, err := parseConfig(get, *dev, *role)
	if err != nil {
		return err
	}
	if cfg.Role != "web" && getenv("GOGC") == "" {
		// Sending allocates a message's worth of garbage per recipient while
		// the live heap stays small, so a higher GOGC trades a few megabytes
		// of peak memory for less collector work on the send path (see
		// docs/benchmarks.md). GOGC in the environment, which the Go runtime
		// reads itself, still decides.
		debug.SetGCPercent(gcPercent)
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	return serve(ctx, cfg, time.Now, stdout, logger)
}

// confirmTTL is how long a confirmation link, and the sign-up cookie that
// lets the same browser confirm at once, keep working.
const confirmTTL = 7 * 24 * time.Hour

// app is Tidings wired together.
type app struct {
	cfg         config
	db          *sqlx.DB
	now         func() time.Time
	logger      *slog.Logger
	baseURL     string
	inbox       *devmail.Server
	subscribers *subscribers.Store
	campaigns   *campaigns.Store
	editors     *editors.Store
	scheduler   *campaigns.Scheduler
	dispatcher  *campaigns.Dispatcher
	web         *web.Server
	dkim        *dkimkeys.Store    // the DKIM keys, loaded into senders (see loadDKIM)
	senders     []*delivery.Sender // every Sender, for the DKIM keys
	dkimLoaded  string             // what loadDKIM loaded last, to log only changes
}

// newApp connects, migrates and wires every part. In dev mode it also starts
// the mail catcher and makes up a secret.
func newApp(ctx context.Context, cfg config, now func() time.Time, logger *slog.Logger, baseURL string) (*app, error) {
	a := &app{cfg: cfg, now: now, logger: logger, baseURL: baseURL}
	db, err := openMigrated(ctx, cfg.DatabaseURL)
	if err != nil {
		return nil, err
	}
	a.db = db

	if cfg.Dev {
		if cfg.Secret == "" {
			b := make([]byte, 32)
			rand.Read(b)
			cfg.Secret = hex.EncodeToString(b)
		}
		if cfg.SMTPURL == "" {
			inbox, err := devmail.Start("127.0.0.1:0")
			if err != nil {
				db.Close()
				return nil, fmt.Errorf("dev inbox: %w", err)
			}
			a.inbox = inbox
			cfg.SMTPURL = "smtp://" + inbox.Addr() + "?tls=none"
		}
	}
	a.cfg = cfg

	tokens := &subscribers.Tokens{Secret: []byte(cfg.Secret)}
	queue := &campaigns.Queue{}
	a.subscribers = &subscribers.Store{DB: db, Now: now, Tokens: tokens, OnEvent: queue.OnEvent, OnEvents: queue.OnEvents}
	a.campaigns = &campaigns.Store{DB: db, Now: now}
	a.editors = &editors.Store{DB: db, Now: now}
	a.dkim = &dkimkeys.Store{DB: db, Now: now, Secret: []byte(cfg.Secret)}

	// The editors' test sends go straight to the relay, in every role that serves the web.
	var sendTest func(context.Context, string, *templates.Message, *subscribers.List) error
	var tester *campaigns.Tester // broadcast test copies (POST /api/v1/broadcasts/{id}/test)
	if cfg.SMTPURL != "" {
		testSender, err := delivery.NewSender(delivery.Config{URL: cfg.SMTPURL})
		if err != nil {
			a.close()
			return nil, fmt.Errorf("TIDINGS_SMTP_URL: %w", err)
		}
		a.senders = append(a.senders, testSender)
		sendTest = func(ctx context.Context, to string, msg *templates.Message, l *subscribers.List) error {
			return campaigns.SendDraft(ctx, testSender, to, msg, l)
		}
		testRenderer, err := templates.NewRenderer()
		if err != nil {
			a.close()
			return nil, err
		}
		tester = &campaigns.Tester{DB: db, Sender: testSender, Renderer: testRenderer, BaseURL: baseURL}
	}

	a.web, err = web.NewServer(web.Config{
		Subscribers: a.subscribers, Campaigns: a.campaigns, Editors: a.editors, Inbox: a.inbox,
		BaseURL: baseURL, Secret: []byte(cfg.Secret), ConfirmTTL: confirmTTL,
		Logger: logger, Now: now, SendTest: sendTest, Tester: tester, DKIM: a.dkim,
	})
	if err != nil {
		a.close()
		return nil, err
	}

	// The paths of the links in emails come from the web's route table.
	links := &subscribers.Links{BaseURL: baseURL, Paths: a.web.LinkPaths(), Tokens: tokens, ConfirmTTL: confirmTTL, Now: now}
	if cfg.Role != "web" {
		sender, err := delivery.NewSender(delivery.Config{URL: cfg.SMTPURL, Timeout: cfg.SMTPTimeout})
		if err != nil {
			a.close()
			return nil, fmt.Errorf("TIDINGS_SMTP_URL: %w", err)
		}
		a.senders = append(a.senders, sender)
		renderer, err := templates.NewRenderer()
		if err != nil {
			a.close()
			return nil, err
		}
		a.scheduler = &campaigns.Scheduler{DB: db, Now: now, Logger: logger}
		a.dispatcher = &campaigns.Dispatcher{
			DB: db, Now: now, Pool: &delivery.Pool{Sender: sender, Rate: cfg.SendRate, Logger: logger}, Renderer: renderer, Links: links, BaseURL: baseURL,
			Workers: cfg.SMTPConnections, ClaimTimeout: cfg.ClaimTimeout, Retries: cfg.RetrySchedule, OnBounce: a.subscribers.Bounce, Logger: logger,
		}
	}
	if err := a.loadDKIM(ctx); err != nil {
		a.close()
		return nil, err
	}

	return a, nil
}

func (a *app) close() {
	if a.inbox != nil {
		a.inbox.Close()
	}
	a.db.Close()
}

// serve runs the roles of cfg until ctx is done, then shuts down gracefully:
// the HTTP server drains, the dispatcher finishes or releases what it holds.
// gcPercent is the GOGC of a process that sends, unless GOGC is set.
const gcPercent = 400

func serve(ctx context.Context, cfg config, now func() time.Time, stdout io.Writer, logger *slog.Logger) error {
	var ln net.Listener
	if cfg.Role != "worker" {
		var err error
		ln, err = net.Listen("tcp", cfg.Listen)
		if err != nil {
			return fmt.Errorf("TIDINGS_LISTEN: %w", err)
		}
		defer ln.Close()
	}
	listenAddr := cfg.Listen
	if ln != nil {
		listenAddr = ln.Addr().String()
	}
	a, err := newApp(ctx, cfg, now, logger, cfg.baseURL(listenAddr))
	if err != nil {
		return err
	}
	defer a.close()

	if cfg.Dev {
		if err := a.seedDemo(ctx, stdout); err != nil {
			return err
		}
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errc := make(chan error, 3)
	if ln != nil {
		srv := a.web.HTTPServer()
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				errc <- fmt.Errorf("http: %w", err)
			}
		}()
		go func() {
			<-ctx.Done()
			sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer scancel()
			srv.Shutdown(sctx)
		}()
	}
	if a.scheduler != nil {
		wg.Add(2)
		go func() {
			defer wg.Done()
			if err := a.scheduler.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
				errc <- fmt.Errorf("scheduler: %w", err)
			}
		}()
		// Mail queued now goes at once, not at the next poll.
		a.dispatcher.Wake = campaigns.ListenQueue(ctx, a.cfg.DatabaseURL, logger)
		go func() {
			defer wg.Done()
			if err := a.dispatcher.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
				errc <- fmt.Errorf("dispatcher: %w", err)
			}
		}()
	}
	if len(a.senders) > 0 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a.refreshDKIM(ctx)
		}()
	}
	a.printWelcome(ctx, stdout, listenAddr)

	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-errc:
		cancel()
	}
	wg.Wait()
	logger.Info("stopped")
	return runErr
}

// printWelcome tells the operator where to look.
func (a *app) printWelcome(ctx context.Context, w io.Writer, listenAddr string) {
	fmt.Fprintf(w, "Tidings is running (role %s).\n", a.cfg.Role)
	if a.web != nil && a.cfg.Role != "worker" {
		fmt.Fprintf(w, "  Listening on   http://%s\n", listenAddr)
		fmt.Fprintf(w, "  Public URL     %s\n", a.baseURL)
	}
	if lists, err := a.subscribers.Lists(ctx); err == nil {
		for _, l := range lists {
			fmt.Fprintf(w, "  Sign-up form   %s/subscribe/%s   (%s)\n", a.baseURL, l.Slug, l.Name)
		}
	}
	if a.inbox != nil {
		fmt.Fprintf(w, "  Dev inbox      %s/dev/inbox   (SMTP catcher on %s)\n", a.baseURL, a.inbox.Addr())
	}
	user, token := "tidings user add --email YOU", "tidings token create --name NAME"
	if a.cfg.Dev {
		// --dev is what make run starts, and these targets know its database;
		// the bare commands need TIDINGS_DATABASE_URL exported first.
		user, token = "make user EMAIL=YOU", "make token NAME=NAME"
	}
	fmt.Fprintf(w, "  Editor         %s/editor/   (make an account with `%s`)\n", a.baseURL, user)
	fmt.Fprintf(w, "  API            %s/api/v1   (make a token with `%s`)\n", a.baseURL, token)
	fmt.Fprintf(w, "  Health         %s/healthz\n", a.baseURL)
}
