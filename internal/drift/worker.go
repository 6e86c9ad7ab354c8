package drift

import (
	"context"
	"errors"
	"time"

	"github.com/riverqueue/river"
)

// SweepArgs asks for one scheduled drift sweep.
type SweepArgs struct {
	// Repair enqueues the repairing syncs; false only reports.
	Repair bool `json:"repair"`
}

// Kind is River's name for the job.
func (SweepArgs) Kind() string { return "drift_sweep" }

// InsertOpts runs a sweep once: a failed one is reported, and the next period sweeps again.
func (SweepArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{MaxAttempts: 1}
}

// Worker runs drift_sweep jobs, scheduled as a River periodic job (River's leader inserts it, so
// one instance sweeps even when several share the database; the sweep's lease covers the rest).
type Worker struct {
	river.WorkerDefaults[SweepArgs]
	Sweeper *Sweeper
	// Options are the sweep's options; the job's Repair overrides Options.Repair.
	Options Options
	// OnReport is told about each stored report (the alert on a drift count); may be nil.
	OnReport func(Report)
}

// Timeout lets a sweep of a large community page through Circle at its throttled rate.
func (w *Worker) Timeout(*river.Job[SweepArgs]) time.Duration { return 6 * time.Hour }

// Work sweeps once. A sweep refused by the budget, or skipped because another one runs, is not a
// failure of the job.
func (w *Worker) Work(ctx context.Context, job *river.Job[SweepArgs]) error {
	opts := w.Options
	opts.Repair = job.Args.Repair
	rep, err := w.Sweeper.Run(ctx, opts)
	if errors.Is(err, ErrBusy) {
		w.Sweeper.log().Info("drift sweep skipped: another one is running")
		return nil
	}
	if w.OnReport != nil && rep.Status != "" {
		w.OnReport(rep)
	}
	if errors.Is(err, ErrOverBudget) {
		w.Sweeper.log().Warn("drift sweep refused", "reason", err.Error())
		return nil
	}
	return err
}
