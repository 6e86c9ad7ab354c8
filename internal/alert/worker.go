package alert

import (
	"context"
	"log/slog"
	"time"

	"github.com/riverqueue/river"

	"github.com/membersync/membersync/internal/store"
)

// EvaluateArgs asks for one pass of the alert rules (a periodic job, once a minute).
type EvaluateArgs struct{}

// Kind is River's name for the job.
func (EvaluateArgs) Kind() string { return "evaluate_alerts" }

// InsertOpts runs a pass once: the next minute's job is the retry.
func (EvaluateArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{MaxAttempts: 1, UniqueOpts: river.UniqueOpts{ByPeriod: time.Minute}}
}

// PeriodicJob schedules a pass of the alert rules once a minute, and one at start.
func PeriodicJob() *river.PeriodicJob {
	return river.NewPeriodicJob(river.PeriodicInterval(time.Minute),
		func() (river.JobArgs, *river.InsertOpts) { return EvaluateArgs{}, nil }, &river.PeriodicJobOpts{RunOnStart: true})
}

// Worker runs evaluate_alerts jobs: one pass of the alert rules each.
type Worker struct {
	river.WorkerDefaults[EvaluateArgs]
	Evaluator *Evaluator
}

// Work evaluates every rule once.
func (w *Worker) Work(ctx context.Context, _ *river.Job[EvaluateArgs]) error {
	return w.Evaluator.Evaluate(ctx)
}

// FiringCount returns a function counting the alerts firing now, as the evaluators' passes stored
// them (the metrics gauge; it needs no evaluator, so metrics can be built before one). A database
// that cannot be read counts none; the error is logged.
func FiringCount(st *store.Store, log *slog.Logger) func(ctx context.Context) int {
	reader := &Evaluator{Store: st, Log: log}
	return func(ctx context.Context) int { return len(reader.Firing(ctx)) }
}
