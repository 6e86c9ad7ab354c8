// Package queue owns membersync's durable job queue: River on the same database as the store
// (riversqlite by default, riverpgxv5 on PostgreSQL), its queues and retry policy, and inserting jobs
// inside the store's transactions so that a job exists exactly when the rows it is about were
// committed. Each job's arguments live beside its worker (converge.SyncArgs, drift.SweepArgs, …).
package queue

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivertype"

	"github.com/membersync/membersync/internal/store"
)

// Queue names.
const (
	QueueSync = "sync"
)

// Options tune the queue.
type Options struct {
	// Workers, when set, registers the job workers. It is given the queue being built, which the
	// workers keep to insert follow-up jobs: River's client needs its workers before it exists, and
	// the queue accepts inserts once New returns, before Start runs any job. Nil makes an
	// insert-only queue (for CLI commands).
	Workers func(q *Queue, w *river.Workers)
	// Concurrency is how many jobs run at once (default 4).
	Concurrency int
	// PollInterval is how often workers look for new jobs (SQLite has no LISTEN/NOTIFY; default
	// 20 ms so that a job starts within ~50 ms of its commit).
	PollInterval time.Duration
	Logger       *slog.Logger
	// PeriodicJobs run on a schedule (drift sweep, doctor, alert evaluation).
	PeriodicJobs []*river.PeriodicJob
	// RetryBase is the first retry's delay, doubling per attempt up to 10 minutes (default 1 s).
	RetryBase time.Duration
}

// Queue is a River client of either dialect.
type Queue struct {
	lite *river.Client[*sql.Tx]
	pg   *river.Client[pgx.Tx]
}

// New builds the River client on the store's database. Call Start to run workers.
func New(st *store.Store, opts Options) (*Queue, error) {
	if opts.Concurrency == 0 {
		opts.Concurrency = 4
	}
	if opts.PollInterval == 0 {
		opts.PollInterval = 20 * time.Millisecond
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	cfg := &river.Config{
		Logger:            opts.Logger,
		FetchPollInterval: opts.PollInterval,
		FetchCooldown:     opts.PollInterval / 2,
		JobTimeout:        2 * time.Minute,
		// A sync that outlives its worker (crash) is rescued and re-run; syncs are idempotent.
		RescueStuckJobsAfter: 5 * time.Minute,
		RetryPolicy:          &retryPolicy{base: opts.RetryBase},
		PeriodicJobs:         opts.PeriodicJobs,
	}
	q := &Queue{}
	if opts.Workers != nil {
		workers := river.NewWorkers()
		opts.Workers(q, workers)
		cfg.Workers = workers
		cfg.Queues = map[string]river.QueueConfig{
			QueueSync:          {MaxWorkers: opts.Concurrency},
			river.QueueDefault: {MaxWorkers: 2},
		}
	}
	var err error
	if st.Dialect() == store.Postgres {
		q.pg, err = river.NewClient(riverpgxv5.New(st.Pool()), cfg)
	} else {
		q.lite, err = river.NewClient(riversqlite.New(st.SQLDB()), cfg)
	}
	if err != nil {
		return nil, fmt.Errorf("creating the job queue: %w", err)
	}
	return q, nil
}

// Start runs the workers until Stop.
func (q *Queue) Start(ctx context.Context) error {
	if q.pg != nil {
		return q.pg.Start(ctx)
	}
	return q.lite.Start(ctx)
}

// Stop lets running jobs finish (until ctx ends) and stops fetching new ones.
func (q *Queue) Stop(ctx context.Context) error {
	var err error
	if q.pg != nil {
		err = q.pg.Stop(ctx)
	} else {
		err = q.lite.Stop(ctx)
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return fmt.Errorf("stopping the queue: jobs still running were left to be rescued: %w", err)
	}
	return err
}

// Stopped is closed when the client has fully stopped.
func (q *Queue) Stopped() <-chan struct{} {
	if q.pg != nil {
		return q.pg.Stopped()
	}
	return q.lite.Stopped()
}

// InsertTx inserts jobs inside a store transaction.
func (q *Queue) InsertTx(ctx context.Context, tx *store.Tx, jobs []river.InsertManyParams) error {
	if len(jobs) == 0 {
		return nil
	}
	var err error
	if q.pg != nil {
		_, err = q.pg.InsertManyFastTx(ctx, tx.PGX(), jobs)
	} else {
		_, err = q.lite.InsertManyTx(ctx, tx.SQL(), jobs)
	}
	if err != nil {
		return fmt.Errorf("enqueueing %d jobs: %w", len(jobs), err)
	}
	return nil
}

// Insert inserts one job outside any transaction.
func (q *Queue) Insert(ctx context.Context, args river.JobArgs, opts *river.InsertOpts) error {
	var err error
	if q.pg != nil {
		_, err = q.pg.Insert(ctx, args, opts)
	} else {
		_, err = q.lite.Insert(ctx, args, opts)
	}
	return err
}

// retryPolicy backs off exponentially from base (1 s) to 10 minutes, so that 25 attempts span hours.
type retryPolicy struct{ base time.Duration }

// NextRetry is when a failed job runs again.
func (p *retryPolicy) NextRetry(job *rivertype.JobRow) time.Time {
	base := p.base
	if base == 0 {
		base = time.Second
	}
	d := base << min(job.Attempt, 10)
	d = min(d, 10*time.Minute)
	return time.Now().Add(d)
}
