// Package retention owns serve's retention pass: a periodic job (River's leader runs it, so one
// instance at a time) that prunes what outlived its retention period (config retention:, pruned
// by store.Prune in small batches so that webhook ingest never waits long) and, on SQLite, hands
// the freed pages back to the file system. It logs counts only, never what it pruned.
package retention

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/riverqueue/river"

	"github.com/membersync/membersync/internal/config"
	"github.com/membersync/membersync/internal/store"
)

// Policy turns the config's retention section into the store's policy (kinds kept forever are
// zero, which the store skips).
func Policy(c config.RetentionConfig) store.RetentionPolicy {
	return store.RetentionPolicy{
		EventPayloads:       c.EventPayloads.D(),
		JournalDetail:       c.JournalDetail.D(),
		ResolvedReviewItems: c.ResolvedReviewItems.D(),
		AlertNotifications:  c.AlertNotifications.D(),
		DriftReports:        c.DriftReports.D(),
		DoctorReports:       c.DoctorReports.D(),
		BatchSize:           c.BatchSize,
	}
}

// pruner is what a pass needs of the store.
type pruner interface {
	Prune(ctx context.Context, policy store.RetentionPolicy, now time.Time) (store.PruneResult, error)
	Reclaim(ctx context.Context, maxPages int64) (int64, error)
	Space(ctx context.Context) (store.Space, error)
}

// Pass is what one retention pass did.
type Pass struct {
	Pruned store.PruneResult
	// ReclaimedBytes is what SQLite handed back to the file system (0 on PostgreSQL, and on a
	// SQLite file not in incremental auto_vacuum mode).
	ReclaimedBytes int64
	// FreeBytes is the space left free inside the SQLite file after the pass: reused by new rows,
	// but only handed back by incremental vacuum.
	FreeBytes int64
	Took      time.Duration
}

// Runner prunes and reclaims; the Worker runs it on the schedule.
type Runner struct {
	Store  pruner
	Policy store.RetentionPolicy
	// ReclaimPages bounds the pages one pass hands back (0: all that are free).
	ReclaimPages int64
	Log          *slog.Logger
	// Observe receives each pass's counts (the Prometheus metrics); nil drops them.
	Observe func(rows map[string]int64, reclaimedBytes int64)
	// Now is the clock the retention periods count back from; nil means time.Now.
	Now func() time.Time
}

func (r *Runner) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

func (r *Runner) log() *slog.Logger {
	if r.Log != nil {
		return r.Log
	}
	return slog.New(slog.DiscardHandler)
}

// Run makes one pass: Prune, then Reclaim. An error leaves what was pruned pruned; the next pass
// carries on from there.
func (r *Runner) Run(ctx context.Context) (Pass, error) {
	start := time.Now()
	var p Pass
	var err error
	p.Pruned, err = r.Store.Prune(ctx, r.Policy, r.now())
	if err != nil {
		p.Took = time.Since(start)
		return p, err
	}
	before, err := r.Store.Space(ctx)
	if err != nil {
		return p, err
	}
	pages, err := r.Store.Reclaim(ctx, r.ReclaimPages)
	p.ReclaimedBytes = pages * before.PageSize
	p.FreeBytes = (before.FreePages - pages) * before.PageSize
	p.Took = time.Since(start)
	return p, err
}

// Log writes what a pass did, counts only: a line at Info when it pruned or reclaimed something,
// at Debug otherwise.
func (p Pass) Log(log *slog.Logger) {
	attrs := []any{"pruned", p.Pruned.Summary(), "rows", p.Pruned.Rows(), "batches", p.Pruned.Batches(),
		"reclaimed_bytes", p.ReclaimedBytes, "free_bytes", p.FreeBytes, "took", p.Took.Round(time.Millisecond)}
	if p.Pruned.Rows() == 0 && p.ReclaimedBytes == 0 {
		log.Debug("retention pass: nothing expired", attrs...)
		return
	}
	log.Info("retention pass", attrs...)
}

// Args asks for one retention pass (a periodic job).
type Args struct{}

// Kind is River's name for the job.
func (Args) Kind() string { return "retention" }

// PeriodicJob schedules a pass every interval (config retention.interval, default 1h), the first
// one at start. One attempt each, and one pass per interval at most: the next pass is the retry.
func PeriodicJob(interval time.Duration) *river.PeriodicJob {
	if interval <= 0 {
		interval = config.DefaultRetentionInterval
	}
	return river.NewPeriodicJob(river.PeriodicInterval(interval),
		func() (river.JobArgs, *river.InsertOpts) {
			return Args{}, &river.InsertOpts{MaxAttempts: 1, UniqueOpts: river.UniqueOpts{ByPeriod: interval}}
		}, &river.PeriodicJobOpts{RunOnStart: true})
}

// Timeout bounds one pass. A first pass over a year of backlog (a few hundred thousand rows) takes
// seconds; a pass cut short resumes at the next.
const Timeout = 20 * time.Minute

// Worker runs retention jobs.
type Worker struct {
	river.WorkerDefaults[Args]
	Runner *Runner
}

// Timeout overrides the queue's job timeout (meant for syncs) for a pass.
func (w *Worker) Timeout(*river.Job[Args]) time.Duration { return Timeout }

// Work makes one pass and logs it. A pass cut short by its deadline or by shutdown is logged and
// not failed: the next one carries on; a database error fails the job (River records it).
func (w *Worker) Work(ctx context.Context, _ *river.Job[Args]) error {
	p, err := w.Runner.Run(ctx)
	log := w.Runner.log()
	p.Log(log)
	if w.Runner.Observe != nil {
		rows := map[string]int64{}
		for _, k := range p.Pruned.Kinds {
			rows[k.Kind] = k.Rows
		}
		w.Runner.Observe(rows, p.ReclaimedBytes)
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		log.Warn("retention pass cut short; the next one carries on", "err", err)
		return nil
	}
	return err
}
