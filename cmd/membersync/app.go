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
	"github.com/membersync/membersync/internal/drift"
	"github.com/membersync/membersync/internal/kit"
	"github.com/membersync/membersync/internal/provider"
	"github.com/membersync/membersync/internal/queue"
	"github.com/membersync/membersync/internal/store"
)

// app is one membersync instance's wiring: the store, the provider clients, the sync engine and the
// queue. serve runs it; the CLI commands use parts of it.
type app struct {
	cfg     *config.Config
	log     *slog.Logger
	store   *store.Store
	billing *billing.Reader
	circle  *circle.Client
	kit     *kit.Client
	engine  *converge.Engine
	queue   *queue.Queue
	// alerts evaluates the alert rules (serve); refusals counts refused webhook deliveries for them.
	alerts   *alert.Evaluator
	refusals *alert.Refusals
	// sweeper is the drift sweep (serve schedules it; reconcile runs it).
	sweeper *drift.Sweeper
}

// appOptions tune newApp.
type appOptions struct {
	// workers runs the sync workers; false builds an insert-only queue (CLI commands).
	workers bool
	// observer also receives every provider call (metrics).
	observer provider.Observer
	// now is the engine's clock (tests and the demo share the fake Stripe's); nil means time.Now.
	now func() time.Time
	// retryBase is the first retry delay of failed jobs (tests shorten it).
	retryBase time.Duration
	// rateLimitSnooze is how long a rate-limited sync waits (tests shorten it).
	rateLimitSnooze time.Duration
}

// newApp opens and migrates the store and builds the clients, the engine and the queue.
func newApp(ctx context.Context, cfg *config.Config, log *slog.Logger, opts appOptions) (*app, error) {
	st, err := store.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return nil, err
	}
	if _, err := st.Migrate(ctx); err != nil {
		st.Close()
		return nil, err
	}
	a := &app{cfg: cfg, log: log, store: st}
	a.billing = billing.NewReader(billing.Config{SecretKey: cfg.Secrets.StripeSecretKey, BaseURL: cfg.Stripe.BaseURL, Observer: opts.observer})
	a.circle = circle.New(circle.Config{BaseURL: cfg.Circle.BaseURL, Token: cfg.Secrets.CircleAPIToken,
		RequestsPerMinute: cfg.Circle.RequestsPerMinute, Observer: opts.observer})
	a.kit = kit.New(kit.Config{BaseURL: cfg.Kit.BaseURL, APIKey: cfg.Secrets.KitAPIKey,
		RequestsPerMinute: cfg.Kit.RequestsPerMinute, Observer: opts.observer})
	hashKey := sha256.Sum256([]byte("membersync-log-hash:" + cfg.Secrets.SigningKey))
	a.engine = &converge.Engine{
		Store: st, Billing: a.billing, Circle: a.circle, Kit: a.kit, Plans: cfg.Plans,
		SkipInvitation: cfg.Circle.SkipInvitation, Log: log.With("component", "sync"), HashKey: hashKey[:],
		Now: opts.now, RateLimitSnooze: opts.rateLimitSnooze,
	}
	qopts := queue.Options{Logger: log.With("component", "queue"), RetryBase: opts.retryBase}
	var resolve *converge.ResolveWorker
	a.sweeper = &drift.Sweeper{Store: st, Circle: a.circle, Kit: a.kit, Billing: a.billing, Plans: cfg.Plans, Log: log.With("component", "drift")}
	if opts.workers {
		workers := river.NewWorkers()
		river.AddWorker(workers, &converge.Worker{Engine: a.engine})
		resolve = &converge.ResolveWorker{Store: st, Resolver: a.billing}
		river.AddWorker(workers, resolve)

		a.refusals = &alert.Refusals{Store: st}
		a.alerts = &alert.Evaluator{Store: st, Config: cfg.Alerts, PublicURL: cfg.PublicURL,
			Notifiers: alert.NewNotifiers(cfg.Alerts, cfg.Secrets.Alerts), Refusals: a.refusals,
			Stripe: a.billing,
			LatestStripeEvent: func(ctx context.Context) (time.Time, bool, error) {
				ev, ok, err := a.billing.LatestEvent(ctx)
				return ev.Created, ok, err
			},
			Log: log.With("component", "alerts")}
		river.AddWorker(workers, &alertsWorker{ev: a.alerts})
		qopts.PeriodicJobs = append(qopts.PeriodicJobs, river.NewPeriodicJob(river.PeriodicInterval(time.Minute),
			func() (river.JobArgs, *river.InsertOpts) { return queue.AlertsArgs{}, nil }, &river.PeriodicJobOpts{RunOnStart: true}))

		river.AddWorker(workers, &drift.Worker{Sweeper: a.sweeper,
			Options:  drift.Options{MonthlyQuota: cfg.Circle.MonthlyQuota, MaxQuotaShare: cfg.Reconcile.MaxQuotaShare},
			OnReport: func(rep drift.Report) { a.driftReported(rep) }})
		qopts.PeriodicJobs = append(qopts.PeriodicJobs, river.NewPeriodicJob(river.PeriodicInterval(cfg.Reconcile.Interval.D()),
			func() (river.JobArgs, *river.InsertOpts) { return drift.SweepArgs{Repair: !cfg.Reconcile.DryRun}, nil }, nil))
		if cfg.Doctor.Domain != "" {
			river.AddWorker(workers, &doctorWorker{cfg: cfg, store: st, notifiers: alert.NewNotifiers(cfg.Alerts, cfg.Secrets.Alerts),
				log: log.With("component", "doctor")})
			qopts.PeriodicJobs = append(qopts.PeriodicJobs, river.NewPeriodicJob(river.PeriodicInterval(cfg.Doctor.Interval.D()),
				func() (river.JobArgs, *river.InsertOpts) { return queue.DoctorArgs{}, nil }, &river.PeriodicJobOpts{RunOnStart: true}))
		}
		qopts.Workers = workers
	}
	q, err := queue.New(st, qopts)
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("job queue: %w", err)
	}
	a.queue = q
	a.engine.Queue = q
	a.sweeper.Queue = q
	if resolve != nil {
		resolve.Queue = q
	}
	return a, nil
}

func (a *app) close() { a.store.Close() }

// alertsWorker runs one pass of the alert rules.
type alertsWorker struct {
	river.WorkerDefaults[queue.AlertsArgs]
	ev *alert.Evaluator
}

// Work evaluates every rule once.
func (w *alertsWorker) Work(ctx context.Context, _ *river.Job[queue.AlertsArgs]) error {
	return w.ev.Evaluate(ctx)
}

// driftReported opens a review item (which the alert rules surface) when a scheduled sweep finds
// more drifted people than the threshold, or could not complete.
func (a *app) driftReported(rep drift.Report) {
	ctx := context.Background()
	var err error
	defer func() {
		if err != nil {
			a.log.Error("recording the drift sweep's review item", "err", err)
		}
	}()
	switch {
	case rep.Status != "complete":
		_, err = a.store.OpenReview(ctx, store.ReviewItem{Kind: "drift_sweep", ActionKey: "sweep",
			Reason: "the scheduled drift sweep did not complete: " + rep.Status, LastError: rep.Error})
	case rep.Drifted+rep.Unknown > a.cfg.Reconcile.AlertThreshold:
		reason := fmt.Sprintf("the drift sweep found %d drifted people and %d unknown members (threshold %d)",
			rep.Drifted, rep.Unknown, a.cfg.Reconcile.AlertThreshold)
		if rep.Repaired > 0 {
			reason += fmt.Sprintf("; syncs were enqueued for %d of them", rep.Repaired)
		}
		_, err = a.store.OpenReview(ctx, store.ReviewItem{Kind: "drift_detected", ActionKey: "sweep", Reason: reason})
	}
}
