// Package converge owns the per-person sync: for every trigger it re-reads the person's billing,
// computes the desired entitlements and converges Circle and Kit to them, journaling each step.
//
// This first slice only records that a sync ran and settles the person's generation; the engine
// that reads Stripe and calls the providers replaces Work.
package converge

import (
	"context"
	"errors"
	"fmt"

	"github.com/riverqueue/river"

	"github.com/membersync/membersync/internal/queue"
	"github.com/membersync/membersync/internal/store"
)

// Worker runs sync_person jobs.
type Worker struct {
	river.WorkerDefaults[queue.SyncArgs]
	Store *store.Store
}

// Work syncs one person.
func (w *Worker) Work(ctx context.Context, job *river.Job[queue.SyncArgs]) error {
	gen, err := w.Store.BeginSync(ctx, job.Args.PersonID)
	if errors.Is(err, store.ErrNotFound) {
		return river.JobCancel(fmt.Errorf("person %d does not exist", job.Args.PersonID))
	}
	if err != nil {
		return err
	}
	if err := w.Store.AppendJournal(ctx, store.JournalEntry{
		PersonID: job.Args.PersonID, Kind: "sync", Action: "sync", Result: "recorded",
		Attempt: job.Attempt, Detail: fmt.Sprintf("generation %d (%s)", gen, job.Args.Reason),
	}); err != nil {
		return err
	}
	return w.Store.FinishSync(ctx, job.Args.PersonID, gen)
}

// ResolveWorker runs resolve_event jobs.
type ResolveWorker struct {
	river.WorkerDefaults[queue.ResolveArgs]
	Store *store.Store
}

// Work records the event for the resolver that the sync engine brings.
func (w *ResolveWorker) Work(ctx context.Context, job *river.Job[queue.ResolveArgs]) error {
	return w.Store.AppendJournal(ctx, store.JournalEntry{Kind: "event", EventID: job.Args.EventID, Action: "resolve", Result: "pending"})
}
