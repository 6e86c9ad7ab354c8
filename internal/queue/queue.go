// Package queue owns membersync's durable job queue: River on the same database as the store
// (riversqlite by default, riverpgxv5 on PostgreSQL), its queues and retry policy, and inserting jobs
// inside the store's transactions so that a job exists exactly when the rows it is about were
// committed. Each job's arguments live beside its worker (converge.SyncArgs, drift.SweepArgs, …).
//
// Workers are woken in process (wake.go): when a transaction that inserted jobs commits (Wake) and
// when a snoozed, retried or scheduled job falls due. Otherwise they poll rarely (PollInterval), so
// an idle instance does almost nothing.
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
	// QueueKit runs the Kit steps a sync handed off (converge.KitArgs): their wait for Kit's
	// budget holds only its own workers.
	QueueKit = "kit"
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
	// PollInterval is how often workers look for jobs nothing woke them for (default 1 s): jobs
	// another process inserted on SQLite (a CLI resync), a notification River's limiter skipped, a
	// job its scheduler made available. Jobs this process commits and calls Wake for, and jobs that
	// fall due after a snooze or a retry, start at once without it.
	PollInterval time.Duration
	Logger       *slog.Logger
	// PeriodicJobs run on a schedule (drift sweep, doctor, alert evaluation).
	PeriodicJobs []*river.PeriodicJob
	// RetryBase is the first retry's delay, doubling per attempt up to 10 minutes (default 1 s).
	RetryBase time.Duration
}

// DefaultPollInterval is Options.PollInterval's default.
const DefaultPollInterval = time.Second

// fetchCooldown is the least time between two fetches of one queue: a wake within it of the last
// fetch waits for its end. It also spaces River's insert notifications per queue.
const fetchCooldown = 5 * time.Millisecond

// Queue is a River client of either dialect.
type Queue struct {
	lite *river.Client[*sql.Tx]
	pg   *river.Client[pgx.Tx]
	// queues are the names of the queues this process works; empty for an insert-only queue.
	queues []string
	waker  *waker
	alarm  *alarm
}

// New builds the River client on the store's database. Call Start to run workers.
func New(st *store.Store, opts Options) (*Queue, error) {
	if opts.Concurrency == 0 {
		opts.Concurrency = 4
	}
	if opts.PollInterval == 0 {
		opts.PollInterval = DefaultPollInterval
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	cfg := &river.Config{
		Logger:            opts.Logger,
		FetchPollInterval: opts.PollInterval,
		FetchCooldown:     min(fetchCooldown, opts.PollInterval),
		JobTimeout:        2 * time.Minute,
		// A sync that outlives its worker (crash) is rescued and re-run; syncs are idempotent. Soon
		// after the job timeout and the person's 2-minute lease: on launch day a SIGKILLed instance's
		// buyers waited the former 5 minutes (cmd/launchday).
		RescueStuckJobsAfter: 2*time.Minute + 30*time.Second,
		RetryPolicy:          &retryPolicy{base: opts.RetryBase},
		PeriodicJobs:         opts.PeriodicJobs,
	}
	q := &Queue{waker: newWaker()}
	q.alarm = &alarm{wake: q.waker.wake}
	if opts.Workers != nil {
		workers := river.NewWorkers()
		opts.Workers(q, workers)
		cfg.Workers = workers
		cfg.Queues = map[string]river.QueueConfig{
			QueueSync:          {MaxWorkers: opts.Concurrency},
			QueueKit:           {MaxWorkers: opts.Concurrency},
			river.QueueDefault: {MaxWorkers: 2},
		}
		q.queues = []string{QueueSync, QueueKit, river.QueueDefault}
	}
	var err error
	if st.Dialect() == store.Postgres {
		q.pg, err = river.NewClient[pgx.Tx](&wakeDriver[pgx.Tx]{Driver: riverpgxv5.New(st.Pool()), w: q.waker}, cfg)
	} else {
		// River's SQLite listener would read river_notification every 50 ms; once per poll is enough.
		q.lite, err = river.NewClient[*sql.Tx](&wakeDriver[*sql.Tx]{Driver: riversqlite.New(st.SQLDB()), w: q.waker,
			every: opts.PollInterval}, cfg)
	}
	if err != nil {
		return nil, fmt.Errorf("creating the job queue: %w", err)
	}
	return q, nil
}

// Start runs the workers until Stop.
func (q *Queue) Start(ctx context.Context) error {
	// A snoozed or failed job's event carries the time it is due again: the alarm wakes its queue
	// then. River closes the subscription when the client stops.
	kinds := []river.EventKind{river.EventKindJobSnoozed, river.EventKindJobFailed}
	if len(q.queues) > 0 {
		var events <-chan *river.Event
		if q.pg != nil {
			events, _ = q.pg.Subscribe(kinds...)
		} else {
			events, _ = q.lite.Subscribe(kinds...)
		}
		go q.watch(events)
	}
	if q.pg != nil {
		return q.pg.Start(ctx)
	}
	return q.lite.Start(ctx)
}

// watch sets the alarm for each job that will run again.
func (q *Queue) watch(events <-chan *river.Event) {
	for ev := range events {
		if ev.Job == nil {
			continue
		}
		switch ev.Job.State {
		case rivertype.JobStateAvailable, rivertype.JobStateRetryable, rivertype.JobStateScheduled:
			q.alarm.set(ev.Job.Queue, ev.Job.ScheduledAt)
		}
	}
}

// Wake tells this process's workers of the named queues (every queue when none is named) that jobs
// were just committed, so that they fetch now instead of at their next poll. Call it after the
// transaction that inserted them commits: woken before, they would not see the jobs yet. On an
// insert-only queue it does nothing; other processes hear of the jobs through River's notifier.
func (q *Queue) Wake(queues ...string) {
	if len(q.queues) == 0 {
		return
	}
	if len(queues) == 0 {
		queues = q.queues
	}
	q.waker.wake(queues...)
}

// Stop lets running jobs finish (until ctx ends) and stops fetching new ones.
func (q *Queue) Stop(ctx context.Context) error {
	var err error
	if q.pg != nil {
		err = q.pg.Stop(ctx)
	} else {
		err = q.lite.Stop(ctx)
	}
	q.alarm.stop()
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

// Insert inserts one job outside any transaction, and wakes this process's workers for it when it
// is due (now, or at its InsertOpts.ScheduledAt).
func (q *Queue) Insert(ctx context.Context, args river.JobArgs, opts *river.InsertOpts) error {
	var (
		res *rivertype.JobInsertResult
		err error
	)
	if q.pg != nil {
		res, err = q.pg.Insert(ctx, args, opts)
	} else {
		res, err = q.lite.Insert(ctx, args, opts)
	}
	if err != nil {
		return err
	}
	if len(q.queues) > 0 && res != nil && res.Job != nil {
		q.alarm.set(res.Job.Queue, res.Job.ScheduledAt)
	}
	return nil
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
