package drift

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/riverqueue/river"

	"github.com/membersync/membersync/internal/store"
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
	// AlertThreshold is how many drifted people and unknown members a scheduled sweep may find
	// before it opens a review item (which the alert rules surface); see ReviewReport.
	AlertThreshold int
	// OnReport is told about each stored report; may be nil.
	OnReport func(Report)
}

// PeriodicJob schedules the drift sweep every interval; repair enqueues the repairing syncs.
func PeriodicJob(interval time.Duration, repair bool) *river.PeriodicJob {
	return river.NewPeriodicJob(river.PeriodicInterval(interval),
		func() (river.JobArgs, *river.InsertOpts) { return SweepArgs{Repair: repair}, nil }, nil)
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
	if rep.Status != "" {
		if err := ReviewReport(context.WithoutCancel(ctx), w.Sweeper.Store, rep, w.AlertThreshold); err != nil {
			w.Sweeper.log().Error("recording the drift sweep's review item", "err", err)
		}
		if w.OnReport != nil {
			w.OnReport(rep)
		}
	}
	if errors.Is(err, ErrOverBudget) {
		w.Sweeper.log().Warn("drift sweep refused", "reason", err.Error())
		return nil
	}
	return err
}

// ReviewReport is the scheduled sweep's alert rule: it opens a review item (which the alert rules
// surface) when the sweep found more drifted people and unknown members than threshold, or could
// not complete.
func ReviewReport(ctx context.Context, st *store.Store, rep Report, threshold int) error {
	var err error
	switch {
	case rep.Status != StatusComplete:
		_, err = st.OpenReview(ctx, store.ReviewItem{Kind: "drift_sweep", ActionKey: "sweep",
			Reason: "the scheduled drift sweep did not complete: " + rep.Status, LastError: rep.Error})
	case rep.Drifted+rep.Unknown > threshold:
		reason := fmt.Sprintf("the drift sweep found %d drifted people and %d unknown members (threshold %d)",
			rep.Drifted, rep.Unknown, threshold)
		if rep.Repaired > 0 {
			reason += fmt.Sprintf("; syncs were enqueued for %d of them", rep.Repaired)
		}
		_, err = st.OpenReview(ctx, store.ReviewItem{Kind: "drift_detected", ActionKey: "sweep", Reason: reason})
	}
	return err
}
