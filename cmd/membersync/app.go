package main

import (
	"context"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"time"

	"github.com/riverqueue/river"

	"github.com/membersync/membersync/internal/billing"
	"github.com/membersync/membersync/internal/circle"
	"github.com/membersync/membersync/internal/config"
	"github.com/membersync/membersync/internal/converge"
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
	if opts.workers {
		workers := river.NewWorkers()
		river.AddWorker(workers, &converge.Worker{Engine: a.engine})
		resolve = &converge.ResolveWorker{Store: st, Resolver: a.billing}
		river.AddWorker(workers, resolve)
		qopts.Workers = workers
	}
	q, err := queue.New(st, qopts)
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("job queue: %w", err)
	}
	a.queue = q
	a.engine.Queue = q
	if resolve != nil {
		resolve.Queue = q
	}
	return a, nil
}

func (a *app) close() { a.store.Close() }
