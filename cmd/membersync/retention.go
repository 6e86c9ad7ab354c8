package main

import (
	"context"
	"time"

	"github.com/riverqueue/river"

	"github.com/membersync/membersync/internal/queue"
	"github.com/membersync/membersync/internal/retention"
)

// Retention in serve (internal/retention): the retention job prunes on the River leader every
// retention.interval; before that, serve puts a SQLite file into incremental auto_vacuum mode so
// that the job can hand pruned space back to the file system.
const (
	// vacuumAtStartMax is the largest SQLite file serve rewrites at start to switch it to
	// incremental auto_vacuum (SQLite applies the mode only on a full VACUUM, which copies the
	// whole file): a new or young database takes milliseconds. A larger one is left as it is, with
	// a warning that says how to switch it during a quiet moment.
	vacuumAtStartMax = 64 << 20
	// vacuumAtStartTimeout bounds that rewrite.
	vacuumAtStartTimeout = 2 * time.Minute
	// reclaimPagesPerPass bounds what one pass hands back (64 MiB of 4 KiB pages): a first pass
	// after a large backlog spreads the work over a few passes.
	reclaimPagesPerPass = 16384
)

// scheduleRetention adds the retention job and its worker to serve's queue, after preparing a
// SQLite file for incremental vacuum.
func (a *app) scheduleRetention(opts *queue.Options) {
	log := a.log.With("component", "retention")
	ctx, cancel := context.WithTimeout(context.Background(), vacuumAtStartTimeout)
	setup, err := a.store.EnableIncrementalVacuum(ctx, vacuumAtStartMax)
	cancel()
	switch {
	case err != nil:
		log.Warn("could not switch the SQLite file to incremental vacuum; pruned space is reused but not handed back", "err", err)
	case setup.Converted:
		log.Info("switched the SQLite file to incremental vacuum, so that retention hands pruned space back",
			"bytes", setup.Before.FileBytes(), "took", setup.Took.Round(time.Millisecond))
	case setup.Deferred:
		log.Warn("the SQLite file is not in incremental vacuum mode and too large to switch at start: pruned space is reused but not handed back to the disk; "+
			"to switch it, stop membersync and run: sqlite3 FILE 'PRAGMA auto_vacuum=INCREMENTAL; VACUUM;' (needs free disk space the size of the file)",
			"bytes", setup.Before.FileBytes())
	}
	runner := &retention.Runner{Store: a.store, Policy: retention.Policy(a.cfg.Retention), ReclaimPages: reclaimPagesPerPass, Log: log}
	if a.metrics != nil {
		runner.Observe = a.metrics.Retention
	}
	register := opts.Workers
	opts.Workers = func(q *queue.Queue, w *river.Workers) {
		if register != nil {
			register(q, w)
		}
		river.AddWorker(w, &retention.Worker{Runner: runner})
	}
	opts.PeriodicJobs = append(opts.PeriodicJobs, retention.PeriodicJob(a.cfg.Retention.Interval.D()))
}
