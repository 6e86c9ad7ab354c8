package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/membersync/membersync/internal/admin"
	"github.com/membersync/membersync/internal/clientip"
	"github.com/membersync/membersync/internal/config"
	"github.com/membersync/membersync/internal/converge"
	"github.com/membersync/membersync/internal/drift"
	"github.com/membersync/membersync/internal/inbox"
	"github.com/membersync/membersync/internal/mail"
	"github.com/membersync/membersync/internal/status"
	"github.com/membersync/membersync/internal/store"
	"github.com/membersync/membersync/internal/web"
)

func cmdServe(ctx context.Context, e env, args []string) error {
	fs := newFlags(e, "serve [flags]",
		"Serve POST /webhooks/stripe, /healthz and /readyz, and run the sync workers, until SIGINT/SIGTERM.\nMigrates the database at start. Secrets come from the environment (see membersync help); it refuses\nto start without MEMBERSYNC_SIGNING_KEY (32+ characters), and with a Stripe key of the other mode\n(live or test) than the one the database was first served with.",
		`  STRIPE_SECRET_KEY=rk_live_… STRIPE_WEBHOOK_SECRET=whsec_… CIRCLE_API_TOKEN=… KIT_API_KEY=… \
    MEMBERSYNC_SIGNING_KEY=… membersync serve --config /etc/membersync.yaml
  membersync serve --config membersync.example.yaml --listen 127.0.0.1:9090`)
	cfgPath := configFlag(fs)
	listen := fs.String("listen", "", "listen address, overriding the config's listen")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg, err := loadConfig(e, *cfgPath)
	if err != nil {
		return err
	}
	if *listen != "" {
		cfg.Listen = *listen
	}
	if probs := cfg.RequireSecrets(); len(probs) > 0 {
		return probs
	}
	log := newLogger(e.stderr, cfg.LogFormat)
	return serve(ctx, cfg, log, serveOptions{configPath: config.Path(*cfgPath, e.getenv), noAdmin: func() {
		fmt.Fprintf(e.stderr, "No admin account yet. Create the first one (its password is printed once), then sign in at %s/admin:\n  membersync users add you@example.com --role admin --config %s\n",
			strings.TrimRight(cfg.PublicURL, "/"), shellQuote(config.Path(*cfgPath, e.getenv)))
	}})
}

// serveOptions tune serve for tests and the demo.
type serveOptions struct {
	app appOptions
	// ready, when not nil, receives the bound address once the server accepts connections.
	ready chan<- string
	// mailer, when not nil, replaces the configured SMTP server for customers' status links.
	mailer status.Mailer
	// noAdmin, when not nil, is called at start when the database has no admin account yet.
	noAdmin func()
	// configPath is the config file read, for the deploy history's digest ("" for none).
	configPath string
}

// serve runs the server until ctx ends.
func serve(ctx context.Context, cfg *config.Config, log *slog.Logger, opts serveOptions) error {
	ready := opts.ready
	opts.app.serve = true
	// cmdServe checked every secret; the demo and the tests come here directly, and still need a key
	// for the email hashes in the logs.
	if msg := cfg.Secrets.SigningKeyProblem(); msg != "" {
		return errors.New(msg)
	}
	// SQLite serves one instance: a second serve on the file is refused before it migrates or
	// opens anything. The CLI commands take no lock.
	lock, err := store.LockServe(cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer lock.Close()
	if lock.Warning != "" {
		log.Warn("serve lock", "problem", lock.Warning)
	}
	a, err := newApp(ctx, cfg, log, opts.app)
	if err != nil {
		return err
	}
	defer a.close()
	if opts.noAdmin != nil {
		if users, err := a.store.AdminUsers(ctx); err == nil && len(users) == 0 {
			opts.noAdmin()
		}
	}
	logSecrets(log, cfg.Secrets)
	for _, w := range store.SQLitePermissionWarnings(cfg.DatabaseURL) {
		log.Warn("database files are not private", "problem", w)
	}
	if err := recordStripeMode(ctx, a.store, cfg.Secrets); err != nil {
		return err
	}
	recordStart(ctx, a, cfg, opts, log)
	st, q, m := a.store, a.queue, a.metrics
	// Workers get their own context: on shutdown they are stopped after the HTTP server drained.
	workCtx, stopWork := context.WithCancel(context.WithoutCancel(ctx))
	defer stopWork()
	if err := q.Start(workCtx); err != nil {
		return fmt.Errorf("starting the job queue: %w", err)
	}
	var queueRunning atomic.Bool
	queueRunning.Store(true)
	go a.refusals.Run(workCtx, 10*time.Second, log.With("component", "alerts"))
	go a.flushUsageEvery(workCtx, time.Minute)

	clients, err := clientip.New(cfg.TrustedProxies)
	if err != nil {
		return fmt.Errorf("trusted_proxies: %w", err)
	}
	in := inbox.New(st, q, log.With("component", "inbox"))
	inboxDone := make(chan struct{})
	inboxCtx, stopInbox := context.WithCancel(context.WithoutCancel(ctx))
	go func() { in.Run(inboxCtx); close(inboxDone) }()

	// With a separate metrics listener the main one does not serve /metrics at all.
	metricsToken := cfg.Secrets.MetricsToken
	if cfg.Metrics.Listen != "" {
		metricsToken = ""
	}
	pages := status.New(status.Deps{Store: st, Billing: a.billing, Config: cfg, Log: log.With("component", "status"),
		Now: opts.app.now, Resync: a.resync.Person, ClientAddr: clients.Addr, Mailer: opts.customerMailer(cfg)})
	readiness := &web.Readiness{Log: log, Check: func(ctx context.Context) error {
		if err := st.Ping(ctx); err != nil {
			return fmt.Errorf("database: %w", err)
		}
		applied, known, err := st.SchemaVersion(ctx)
		if err != nil {
			return fmt.Errorf("database: %w", err)
		}
		if applied < known {
			return fmt.Errorf("database schema is at version %d, this binary needs %d: run membersync migrate", applied, known)
		}
		// A full disk or a read-only database still answers a ping and a read.
		if err := st.WriteProbe(ctx); err != nil {
			return fmt.Errorf("database: %w", err)
		}
		if !queueRunning.Load() {
			return errors.New("job queue is not running")
		}
		return nil
	}}
	srv := &web.Server{
		Inbox:        in,
		Verifier:     &inbox.Verifier{Secrets: cfg.Secrets.StripeWebhookSecrets},
		Livemode:     cfg.Secrets.Livemode(),
		Log:          log,
		Metrics:      m,
		MetricsToken: metricsToken,
		Mounts:       []web.Mounter{pages, newAdmin(a, cfg, log, clients, readiness.LastNotReady)},
		Refusals:     a.refusals,
		Ready:        readiness,
	}
	srv.Mounts = append(srv.Mounts, a.supportMounts(log, clients.Addr)...)
	hs := &http.Server{
		Handler:           srv.Routes(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		stopInbox()
		return fmt.Errorf("listening on %s: %w", cfg.Listen, err)
	}
	log.Info("membersync serving", "addr", ln.Addr().String(), "public_url", cfg.PublicURL, "database", st.Dialect(), "version", version)
	if ready != nil {
		ready <- ln.Addr().String()
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- hs.Serve(ln) }()
	if cfg.Metrics.Listen != "" {
		mln, err := net.Listen("tcp", cfg.Metrics.Listen)
		if err != nil {
			stopInbox()
			hs.Close()
			return fmt.Errorf("listening for metrics on %s: %w", cfg.Metrics.Listen, err)
		}
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", m.Handler())
		ms := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		go ms.Serve(mln)
		defer ms.Close()
		log.Info("metrics serving", "addr", mln.Addr().String())
	}

	select {
	case <-ctx.Done():
	case err := <-serveErr:
		stopInbox()
		return fmt.Errorf("http server: %w", err)
	}
	log.Info("shutting down: draining requests")
	shutCtx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := hs.Shutdown(shutCtx); err != nil {
		log.Warn("http shutdown", "err", err)
	}
	stopInbox()
	<-inboxDone
	queueRunning.Store(false)
	if err := q.Stop(shutCtx); err != nil {
		log.Warn("queue stop", "err", err)
	}
	log.Info("stopped")
	return nil
}

// recordStripeMode records the Stripe key's mode (live or test) in a database that has none, and
// refuses a key of the other mode than the one recorded: one database holds one mode's data.
func recordStripeMode(ctx context.Context, st *store.Store, secrets config.Secrets) error {
	mode := secrets.StripeMode()
	if mode == "" {
		return nil
	}
	recorded, err := st.RecordStripeMode(ctx, mode)
	if err != nil {
		return err
	}
	if recorded != mode {
		return stripeModeMismatch(recorded, mode)
	}
	return nil
}

// stripeModeMismatch is the refusal to run a key of one Stripe mode on a database that was served
// with the other (serve refuses to start; check reports it).
func stripeModeMismatch(recorded, mode string) error {
	return fmt.Errorf("this database was run with a %s-mode Stripe key; this key is %s mode: keep test and live data in separate databases (point %s or database_url at another one)",
		recorded, mode, config.EnvDatabaseURL)
}

// logSecrets logs, once at start, which secret values this process loaded: each secret by its
// keyed fingerprint (config.Fingerprint), never by its value, so that an operator can tell which
// key is running after a rotation.
func logSecrets(log *slog.Logger, secrets config.Secrets) {
	var attrs []any
	for _, f := range secrets.Fingerprints() {
		attrs = append(attrs, f.Env, f.Short())
	}
	log.Info("secrets loaded (keyed fingerprints)", attrs...)
}

// newAdmin builds the operator UI and API on the app.
func newAdmin(a *app, cfg *config.Config, log *slog.Logger, clients *clientip.Resolver, notReady func() (error, time.Time)) *admin.Handler {
	return admin.New(admin.Deps{Store: a.store, Names: a.names, Config: cfg, Log: log.With("component", "admin"), ClientAddr: clients.Addr,
		NotReady: notReady,
		Secure:   strings.HasPrefix(cfg.PublicURL, "https://"),
		Resync:   a.resync.Person,
		ResyncCustomer: func(ctx context.Context, who string) (int64, []string, error) {
			res, err := a.resync.Who(ctx, a.billing, who, "resync")
			return res.PersonID, res.Adopted, err
		},
		Forget: func(ctx context.Context, r store.EraseRequest) (store.Erasure, error) {
			return converge.Forget(ctx, a.store, a.queue, r)
		},
		RemoveStranger: func(ctx context.Context, personID int64, by string) error {
			_, err := drift.RemoveStranger(ctx, a.store, a.queue, personID, by)
			return err
		},
		CheckConnections: func(ctx context.Context) []admin.ConnectionCheck {
			var out []admin.ConnectionCheck
			for _, c := range checkConnections(ctx, a) {
				msg := c.Message
				if c.Fix != "" {
					msg += "; " + c.Fix
				}
				out = append(out, admin.ConnectionCheck{Name: c.Name, OK: c.OK, Message: msg})
			}
			return out
		},
		Alerts: func(ctx context.Context) (out []admin.FiringAlert) {
			for _, f := range a.alerts.Firing(ctx) {
				out = append(out, admin.FiringAlert{Rule: f.Rule, Title: f.Title, Detail: f.Detail, Since: f.Since, Link: f.Link})
			}
			return out
		}})
}

// customerMailer is the sender of customers' status links: the override, else the configured SMTP
// server, else nil (the pages then do not offer the email).
func (opts serveOptions) customerMailer(cfg *config.Config) status.Mailer {
	if opts.mailer != nil {
		return opts.mailer
	}
	m, ok := cfg.CustomerMail()
	if !ok {
		return nil
	}
	return &mail.Sender{Addr: net.JoinHostPort(m.Host, strconv.Itoa(m.Port)), Host: m.Host, Username: m.Username,
		Password: cfg.Secrets.Alerts.SMTPPassword, From: m.From, Dial: cfg.EgressPolicies()[config.EgressMail].DialContext}
}
