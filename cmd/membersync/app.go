package main

import (
	"context"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"time"

	"github.com/riverqueue/river"

	"github.com/membersync/membersync/internal/alert"
	"github.com/membersync/membersync/internal/billing"
	"github.com/membersync/membersync/internal/circle"
	"github.com/membersync/membersync/internal/config"
	"github.com/membersync/membersync/internal/converge"
	"github.com/membersync/membersync/internal/doctor"
	"github.com/membersync/membersync/internal/drift"
	"github.com/membersync/membersync/internal/egress"
	"github.com/membersync/membersync/internal/kit"
	"github.com/membersync/membersync/internal/metrics"
	"github.com/membersync/membersync/internal/provider"
	"github.com/membersync/membersync/internal/queue"
	"github.com/membersync/membersync/internal/store"
)

// app is one membersync instance's wiring: the store, the provider clients and the queue, and for
// serve the workers, the alert rules and the metrics. serve runs it; the CLI commands use parts of it.
type app struct {
	cfg     *config.Config
	log     *slog.Logger
	store   *store.Store
	billing *billing.Reader
	circle  *circle.Client
	kit     *kit.Client
	queue   *queue.Queue
	// egress is the outbound allowlist of each component (config.EgressPolicies).
	egress map[string]*egress.Policy
	// resync triggers syncs on request (the resync command, the admin UI, the status pages).
	resync converge.Resyncer
	// metrics (serve only) counts provider calls, syncs and webhooks.
	metrics *metrics.Metrics
	// alerts evaluates the alert rules (serve only); refusals counts refused webhook deliveries for them.
	alerts   *alert.Evaluator
	refusals *alert.Refusals
}

// appOptions tune newApp.
type appOptions struct {
	// serve also builds what serve runs: the workers and periodic jobs, the alert rules and the
	// metrics; false builds an insert-only queue (CLI commands).
	serve bool
	// now is the engine's clock (tests and the demo share the fake Stripe's); nil means time.Now.
	now func() time.Time
	// retryBase is the first retry delay of failed jobs (tests shorten it).
	retryBase time.Duration
	// rateLimitSnooze is how long a rate-limited sync waits (tests shorten it).
	rateLimitSnooze time.Duration
}

// newApp opens and migrates the store and builds the clients and the queue (with serve, the
// metrics, the alert rules and the workers first: every component gets its dependencies when it
// is built).
func newApp(ctx context.Context, cfg *config.Config, log *slog.Logger, opts appOptions) (*app, error) {
	st, err := openDB(ctx, cfg, true)
	if err != nil {
		return nil, err
	}
	a := &app{cfg: cfg, log: log, store: st, egress: cfg.EgressPolicies()}
	var observer provider.Observer
	if opts.serve {
		a.metrics = metrics.New(st, alert.FiringCount(st, log.With("component", "alerts")), log)
		observer = a.metrics.Call
	}
	a.billing = billing.NewReader(billing.Config{SecretKey: cfg.Secrets.StripeSecretKey, BaseURL: cfg.Stripe.BaseURL, Observer: observer,
		HTTPClient: a.egress[config.EgressStripe].Client(billing.DefaultTimeout)})
	a.circle = circle.New(circle.Config{BaseURL: cfg.Circle.BaseURL, Token: cfg.Secrets.CircleAPIToken,
		RequestsPerMinute: cfg.Circle.RequestsPerMinute, Observer: observer,
		HTTPClient: a.egress[config.EgressCircle].Client(circle.DefaultTimeout)})
	a.kit = kit.New(kit.Config{BaseURL: cfg.Kit.BaseURL, APIKey: cfg.Secrets.KitAPIKey,
		RequestsPerMinute: cfg.Kit.RequestsPerMinute, Observer: observer,
		HTTPClient: a.egress[config.EgressKit].Client(kit.DefaultTimeout)})
	qopts := queue.Options{Logger: log.With("component", "queue"), RetryBase: opts.retryBase}
	if opts.serve {
		a.refusals = &alert.Refusals{Store: st}
		a.alerts = &alert.Evaluator{Store: st, Config: cfg.Alerts, PublicURL: cfg.PublicURL,
			Notifiers: alert.NewNotifiers(cfg.Alerts, cfg.Secrets.Alerts, a.egress[config.EgressAlerts]), Refusals: a.refusals,
			Stripe: a.billing,
			LatestStripeEvent: func(ctx context.Context) (time.Time, bool, error) {
				ev, ok, err := a.billing.LatestEvent(ctx)
				return ev.Created, ok, err
			},
			OnNotifyFailure: a.metrics.NotifierFailed,
			Log:             log.With("component", "alerts")}
		qopts.Workers = a.workers(opts)
		qopts.PeriodicJobs = []*river.PeriodicJob{alert.PeriodicJob(),
			drift.PeriodicJob(cfg.Reconcile.Interval.D(), !cfg.Reconcile.DryRun)}
		if cfg.Doctor.Domain != "" {
			qopts.PeriodicJobs = append(qopts.PeriodicJobs, doctor.PeriodicJob(cfg.Doctor.Interval.D()))
		}
	}
	if a.queue, err = queue.New(st, qopts); err != nil {
		st.Close()
		return nil, fmt.Errorf("job queue: %w", err)
	}
	a.resync = converge.Resyncer{Store: st, Queue: a.queue}
	return a, nil
}

// workers registers serve's job workers on the queue being built, which the workers that enqueue
// follow-up jobs receive (see queue.Options.Workers).
func (a *app) workers(opts appOptions) func(q *queue.Queue, w *river.Workers) {
	return func(q *queue.Queue, w *river.Workers) {
		cfg, st, log := a.cfg, a.store, a.log
		hashKey := sha256.Sum256([]byte("membersync-log-hash:" + cfg.Secrets.SigningKey))
		engine := &converge.Engine{
			Store: st, Billing: a.billing, Circle: a.circle, Kit: a.kit, Queue: q, Plans: cfg.Plans,
			SkipInvitation: cfg.Circle.SkipInvitation, Log: log.With("component", "sync"), HashKey: hashKey[:],
			Now: opts.now, Metrics: a.metrics, RateLimitSnooze: opts.rateLimitSnooze,
		}
		river.AddWorker(w, &converge.Worker{Engine: engine})
		river.AddWorker(w, &converge.ResolveWorker{Store: st, Resolver: a.billing, Queue: q})
		river.AddWorker(w, &alert.Worker{Evaluator: a.alerts})
		sweeper := &drift.Sweeper{Store: st, Circle: a.circle, Kit: a.kit, Billing: a.billing, Queue: q, Plans: cfg.Plans,
			Log: log.With("component", "drift")}
		river.AddWorker(w, &drift.Worker{Sweeper: sweeper, AlertThreshold: cfg.Reconcile.AlertThreshold,
			Options: drift.Options{MonthlyQuota: cfg.Circle.MonthlyQuota, MaxQuotaShare: cfg.Reconcile.MaxQuotaShare}})
		if cfg.Doctor.Domain != "" {
			river.AddWorker(w, &doctor.Worker{Config: cfg, Store: st, Notifiers: alert.NewNotifiers(cfg.Alerts, cfg.Secrets.Alerts, a.egress[config.EgressAlerts]),
				Log: log.With("component", "doctor")})
		}
	}
}

func (a *app) close() { a.store.Close() }
