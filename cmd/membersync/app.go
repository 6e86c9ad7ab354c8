package main

import (
	"cmp"
	"context"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"time"

	"github.com/riverqueue/river"

	"github.com/membersync/membersync/internal/alert"
	"github.com/membersync/membersync/internal/billing"
	"github.com/membersync/membersync/internal/budget"
	"github.com/membersync/membersync/internal/catalog"
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
	// budgets are the request budgets of the Stripe, Circle and Kit credentials (newBudgets).
	budgets map[string]providerBudget
	// resync triggers syncs on request (the resync command, the admin UI, the status pages).
	resync converge.Resyncer
	names  *catalog.Cached // the providers' names for the ids shown (catalog_refresh.go)
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
	// rateLimitSnooze is how long a rate-limited sync waits, and how long the providers' budgets
	// pause after a 429 (their documented windows: Circle and Kit 60 s, Stripe 1 s); the demo and
	// tests shorten it. Zero keeps the defaults.
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
	if err := a.newBudgets(ctx); err != nil {
		st.Close()
		return nil, err
	}
	var observer provider.Observer
	if opts.serve {
		a.metrics = metrics.New(st, alert.FiringCount(st, log.With("component", "alerts")), log)
		a.metrics.SetCircleQuota(cfg.Circle.MonthlyQuota)
		observer = a.metrics.Call
	}
	a.billing = billing.NewReader(billing.Config{SecretKey: cfg.Secrets.StripeSecretKey, BaseURL: cfg.Stripe.BaseURL, Observer: observer,
		HTTPClient: a.egress[config.EgressStripe].Client(billing.DefaultTimeout), Budget: a.budgets[config.EgressStripe].b,
		RateLimitWindow: opts.rateLimitSnooze})
	a.circle = circle.New(circle.Config{BaseURL: cfg.Circle.BaseURL, Token: cfg.Secrets.CircleAPIToken,
		RequestsPerMinute: cfg.Circle.RequestsPerMinute, Observer: observer, Budget: a.budgets[config.EgressCircle].b,
		RateLimitWindow: opts.rateLimitSnooze,
		HTTPClient:      a.egress[config.EgressCircle].Client(circle.DefaultTimeout)})
	a.kit = kit.New(kit.Config{BaseURL: cfg.Kit.BaseURL, APIKey: cfg.Secrets.KitAPIKey, OAuthToken: cfg.Secrets.KitOAuthToken,
		Onboarding: cfg.Kit.Onboarding, TagFirst: cfg.Kit.TagFirst,
		RequestsPerMinute: cfg.Kit.RequestsPerMinute, Observer: observer, Budget: a.budgets[config.EgressKit].b,
		RateLimitWindow: opts.rateLimitSnooze,
		HTTPClient:      a.egress[config.EgressKit].Client(kit.DefaultTimeout)})
	a.names = a.loadNames(ctx, opts.serve)
	qopts := queue.Options{Logger: log.With("component", "queue"), RetryBase: opts.retryBase}
	if opts.serve {
		a.refusals = &alert.Refusals{Store: st}
		a.alerts = &alert.Evaluator{Store: st, Config: cfg.Alerts, PublicURL: cfg.PublicURL, CircleMonthlyQuota: cfg.Circle.MonthlyQuota,
			SupportSpikeFactor: cfg.Support.SpikeFactor, Notifiers: alert.NewNotifiers(cfg.Alerts, cfg.Secrets.Alerts, a.egress[config.EgressAlerts]), Refusals: a.refusals,
			Stripe: a.billing,
			LatestStripeEvent: func(ctx context.Context) (time.Time, bool, error) {
				ev, ok, err := a.billing.LatestEvent(ctx)
				return ev.Created, ok, err
			},
			OnNotifyFailure: a.metrics.NotifierFailed,
			WhatChanged:     whatChanged(st),
			Log:             log.With("component", "alerts")}
		qopts.Workers = a.workers(opts)
		qopts.PeriodicJobs = []*river.PeriodicJob{alert.PeriodicJob(),
			drift.PeriodicJob(cfg.Reconcile.Interval.D(), !cfg.Reconcile.DryRun)}
		if cfg.Doctor.Domain != "" {
			qopts.PeriodicJobs = append(qopts.PeriodicJobs, doctor.PeriodicJob(cfg.Doctor.Interval.D()))
		}
		a.scheduleCatalog(&qopts)
		a.scheduleUptime(&qopts)
		a.scheduleSupport(&qopts)
		a.scheduleRetention(&qopts)
		a.scheduleBackup(&qopts)
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
			EraseOnCustomerDeleted: cfg.Erasure.OnCustomerDeleted, ErasureKey: cfg.Secrets.ErasureKey(),
		}
		river.AddWorker(w, &converge.Worker{Engine: engine})
		river.AddWorker(w, &converge.KitWorker{Engine: engine})
		river.AddWorker(w, &converge.ResolveWorker{Store: st, Resolver: a.billing, Queue: q})
		river.AddWorker(w, &alert.Worker{Evaluator: a.alerts})
		sweeper := &drift.Sweeper{Store: st, Circle: a.circle, Kit: a.kit, Billing: a.billing, Queue: q, Plans: cfg.Plans, ErasureKey: cfg.Secrets.ErasureKey(),
			Log: log.With("component", "drift")}
		river.AddWorker(w, &drift.Worker{Sweeper: sweeper, AlertThreshold: cfg.Reconcile.AlertThreshold,
			Options: drift.Options{MonthlyQuota: cfg.Circle.MonthlyQuota, MaxQuotaShare: cfg.Reconcile.MaxQuotaShare,
				RemoveStrangers: cfg.Reconcile.UnknownMembers == config.UnknownRemove, ReviewStrangers: true}})
		if cfg.Doctor.Domain != "" {
			river.AddWorker(w, &doctor.Worker{Config: cfg, Store: st, Notifiers: alert.NewNotifiers(cfg.Alerts, cfg.Secrets.Alerts, a.egress[config.EgressAlerts]),
				Log: log.With("component", "doctor")})
		}
	}
}

func (a *app) close() {
	a.flushUsage(context.Background())
	a.store.Close()
}

// providerBudget is one provider credential's request budget, and its key in the database.
type providerBudget struct {
	key string
	b   budget.Budget
	// mem is b when it lives in memory (SQLite): its count is flushed to the database.
	mem *budget.Memory
}

// newBudgets builds the request budget of each provider credential. On PostgreSQL it is the
// database row every instance shares (store.Budget), so that N instances together keep one rate;
// SQLite runs one instance, so it stays in memory and only its monthly count is written (flushUsage).
// A budget's key is the provider and the keyed fingerprint of the credential, never the credential.
func (a *app) newBudgets(ctx context.Context) error {
	cfg := a.cfg
	rates := []struct {
		name, env string
		rate      budget.Rate
	}{
		{config.EgressStripe, config.EnvStripeSecretKey, billing.Rate(cfg.Stripe.RequestsPerMinute)},
		{config.EgressCircle, config.EnvCircleAPIToken, circle.Rate(cfg.Circle.RequestsPerMinute)},
		{config.EgressKit, config.EnvKitAPIKey, kit.Rate(cfg.Kit.RequestsPerMinute)},
	}
	if cfg.Secrets.KitOAuthToken != "" { // an OAuth token has its own, larger budget
		rates[2].env, rates[2].rate = config.EnvKitOAuthToken, kit.OAuthRate(cfg.Kit.RequestsPerMinute)
	}
	a.budgets = map[string]providerBudget{}
	for _, r := range rates {
		key := r.name + ":" + cmp.Or(cfg.Secrets.FingerprintOf(r.env), "unset")
		if a.store.Dialect() == store.Postgres {
			b, err := a.store.Budget(ctx, key, r.rate, nil)
			if err != nil {
				return err
			}
			a.budgets[r.name] = providerBudget{key: key, b: b}
			continue
		}
		m := budget.NewMemory(r.rate, nil)
		a.budgets[r.name] = providerBudget{key: key, b: m, mem: m}
	}
	return nil
}

// flushUsageEvery runs flushUsage every interval until ctx ends.
func (a *app) flushUsageEvery(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			a.flushUsage(ctx)
		}
	}
}

// flushUsage adds the requests the in-memory budgets let through to the month's count in the
// database (serve calls it every minute and at exit; commands at exit).
func (a *app) flushUsage(ctx context.Context) {
	for _, pb := range a.budgets {
		if pb.mem == nil {
			continue
		}
		if n := pb.mem.Drain(); n > 0 {
			if err := a.store.AddBudgetUsage(ctx, pb.key, store.Month(time.Now()), n); err != nil {
				a.log.Warn("could not count provider requests", "budget", pb.key, "err", err)
			}
		}
	}
}
