package uptime

import (
	"context"
	"time"

	"github.com/riverqueue/river"

	"github.com/membersync/membersync/internal/config"
)

// Args asks for one round of the uptime checks.
type Args struct{}

// Kind is River's name for the job.
func (Args) Kind() string { return "uptime" }

// InsertOpts runs a round once: the next minute's round is the retry.
func (Args) InsertOpts() river.InsertOpts {
	return river.InsertOpts{MaxAttempts: 1, UniqueOpts: river.UniqueOpts{ByPeriod: time.Minute}}
}

// PeriodicJob schedules a round every minute, and one at start. River runs periodic jobs on its
// leader only, so one instance probes however many run.
func PeriodicJob() *river.PeriodicJob {
	return river.NewPeriodicJob(river.PeriodicInterval(time.Minute),
		func() (river.JobArgs, *river.InsertOpts) { return Args{}, nil }, &river.PeriodicJobOpts{RunOnStart: true})
}

// Worker runs uptime jobs.
type Worker struct {
	river.WorkerDefaults[Args]
	Checker *Checker
}

// Timeout bounds one round: the probes run at once, each within its own timeout.
func (w *Worker) Timeout(*river.Job[Args]) time.Duration {
	return config.MaxUptimeTimeout + 20*time.Second
}

// Work runs one round.
func (w *Worker) Work(ctx context.Context, _ *river.Job[Args]) error { return w.Checker.Run(ctx) }
