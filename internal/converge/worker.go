package converge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/membersync/membersync/internal/queue"
	"github.com/membersync/membersync/internal/store"
)

// SyncArgs asks for one person's full sync: re-read billing, compute, converge. Only trigger.go
// builds it (see Trigger).
type SyncArgs struct {
	PersonID int64 `json:"person_id"`
	// Reason says what triggered it: "event", "resync", "timer", "backfill", "reconcile", "welcome".
	Reason string `json:"reason"`
	// At is the Unix time a timer sync is scheduled for (part of its uniqueness); 0 otherwise.
	At int64 `json:"at,omitempty"`
}

// Kind is River's name for the job.
func (SyncArgs) Kind() string { return "sync_person" }

// InsertOpts puts syncs on their own queue.
func (SyncArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: queue.QueueSync, MaxAttempts: 25}
}

// ResolveArgs asks to find the customer of a stored event whose payload names none (a dispute or a
// refund names a charge), then mark that customer's person dirty.
type ResolveArgs struct {
	EventID string `json:"event_id"`
}

// Kind is River's name for the job.
func (ResolveArgs) Kind() string { return "resolve_event" }

// InsertOpts puts resolves beside syncs.
func (ResolveArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: queue.QueueSync, MaxAttempts: 25}
}

// leaseTTL bounds a sync; a crashed worker's lease expires after it.
const leaseTTL = 2 * time.Minute

// Worker runs sync_person jobs through the Engine, one sync per person at a time.
type Worker struct {
	river.WorkerDefaults[SyncArgs]
	Engine *Engine
}

// Timeout bounds one sync.
func (w *Worker) Timeout(*river.Job[SyncArgs]) time.Duration { return leaseTTL - 10*time.Second }

// Work syncs one person.
func (w *Worker) Work(ctx context.Context, job *river.Job[SyncArgs]) error {
	return w.Engine.leased(ctx, job.JobRow, job.Args.PersonID, "sync", func(ctx context.Context) error {
		_, err := w.Engine.Sync(ctx, job.Args.PersonID, job.Args.Reason, job.Attempt)
		return err
	})
}

// leased runs one step of a person's sync (step, named what: "sync" or "Kit step") under the
// person's lease and turns its answer into the job's: a person merged away cancels the job; a
// lease held by another step snoozes it a second (that step's events bumped the generation, so
// this one follows it); a rate limit snoozes it without burning an attempt; the last attempt of a
// retryable failure opens the retries_exhausted review item.
func (e *Engine) leased(ctx context.Context, job *rivertype.JobRow, personID int64, what string, step func(context.Context) error) error {
	owner := leaseOwner(job.ID)
	ok, err := e.Store.AcquireLease(ctx, personID, owner, leaseTTL)
	if errors.Is(err, store.ErrNotFound) {
		return river.JobCancel(fmt.Errorf("person %d no longer exists (merged into another)", personID))
	}
	if err != nil {
		return err
	}
	if !ok {
		return river.JobSnooze(time.Second)
	}
	defer e.Store.ReleaseLease(context.WithoutCancel(ctx), personID, owner)
	err = step(ctx)
	if errors.Is(err, store.ErrNotFound) {
		return river.JobCancel(fmt.Errorf("person %d no longer exists (merged)", personID))
	}
	var rerr *errRetry
	if errors.As(err, &rerr) {
		if rerr.snooze > 0 {
			return river.JobSnooze(rerr.snooze)
		}
		if job.Attempt >= job.MaxAttempts {
			e.review(ctx, &journal{e: e, ctx: ctx, personID: personID, attempt: job.Attempt},
				store.ReviewItem{PersonID: personID, Kind: "retries_exhausted", ActionKey: "sync",
					Reason: fmt.Sprintf("the %s gave up after %d attempts; fix the cause and retry", what, job.Attempt), LastError: safeError(rerr.err)})
		}
		return rerr.err
	}
	return err
}

func leaseOwner(jobID int64) string {
	host, _ := os.Hostname()
	return host + "/" + strconv.Itoa(os.Getpid()) + "/" + strconv.FormatInt(jobID, 10)
}

// eventCustomer finds the customer of an event whose payload names none (a dispute names a charge).
type eventCustomer interface {
	EventCustomer(ctx context.Context, raw json.RawMessage) (string, error)
}

// ResolveWorker runs resolve_event jobs: it finds the event's customer through Stripe, links the
// event to the customer's person and marks that person dirty.
type ResolveWorker struct {
	river.WorkerDefaults[ResolveArgs]
	Store    *store.Store
	Resolver eventCustomer
	Queue    inserter
}

// Work resolves one event.
func (w *ResolveWorker) Work(ctx context.Context, job *river.Job[ResolveArgs]) error {
	ev, err := w.Store.Event(ctx, job.Args.EventID)
	if err != nil {
		return err
	}
	customer, err := w.Resolver.EventCustomer(ctx, ev.Payload)
	if err != nil {
		return err
	}
	if customer == "" {
		return w.Store.AppendJournal(ctx, store.JournalEntry{Kind: "event", EventID: ev.ID, Action: "resolve", Result: "no_customer",
			Detail: "the event concerns no Stripe customer (a guest payment); nothing to sync"})
	}
	pid, need, err := w.Store.ResolveEvent(ctx, ev.ID, customer)
	if err != nil {
		return err
	}
	if need {
		return syncMarked(ctx, w.Queue, pid, "event")
	}
	return nil
}
