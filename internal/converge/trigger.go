package converge

import (
	"context"
	"time"

	"github.com/riverqueue/river"

	"github.com/membersync/membersync/internal/queue"
	"github.com/membersync/membersync/internal/store"
)

// This file owns "sync this person": it is the one place that builds SyncArgs (trigger_test.go
// fails the build of any other). A sync job exists exactly when the person's dirty mark was
// committed: the mark and the insert share the caller's transaction, or, where the store committed
// the mark itself (an ingested event, a merge, a resolved event), the insert follows that commit.

// TxInserter inserts jobs inside a store transaction; *queue.Queue is one.
type TxInserter interface {
	InsertTx(ctx context.Context, tx *store.Tx, jobs []river.InsertManyParams) error
}

// Trigger marks the person dirty and inserts their sync job, both in the caller's transaction tx,
// unless a sync of theirs is already waiting (it will read the new mark). reason says what asked
// for it: "resync", "welcome", "resend_invitation" and so on.
func Trigger(ctx context.Context, tx *store.Tx, q TxInserter, personID int64, reason string) error {
	var b Batch
	if err := b.Trigger(ctx, tx, personID, reason); err != nil {
		return err
	}
	return b.Insert(ctx, tx, q)
}

// TriggerCustomer brings a Stripe customer under management in tx, creating its person when no
// webhook ever named it (as reconcile --from-stripe does), and triggers that person's sync.
func TriggerCustomer(ctx context.Context, tx *store.Tx, q TxInserter, customerID, reason string) error {
	pid, created, err := tx.PersonForCustomer(ctx, customerID)
	if err != nil {
		return err
	}
	var b Batch
	if created {
		b.Marked(pid, reason)
	} else if err := b.Trigger(ctx, tx, pid, reason); err != nil {
		return err
	}
	return b.Insert(ctx, tx, q)
}

// Resyncer triggers syncs on request, each in a transaction of its own: the resync command, the
// admin's Resync button, the status pages and the demo's clock. Its fields are set once.
type Resyncer struct {
	Store *store.Store
	Queue TxInserter
}

// Person triggers the person's sync (Trigger in a transaction of its own).
func (r Resyncer) Person(ctx context.Context, personID int64, reason string) error {
	return r.wake(r.Store.InTx(ctx, func(tx *store.Tx) error {
		return Trigger(ctx, tx, r.Queue, personID, reason)
	}))
}

// Customer triggers the sync of the Stripe customer's person, creating the person when needed
// (TriggerCustomer in a transaction of its own).
func (r Resyncer) Customer(ctx context.Context, customerID, reason string) error {
	return r.wake(r.Store.InTx(ctx, func(tx *store.Tx) error {
		return TriggerCustomer(ctx, tx, r.Queue, customerID, reason)
	}))
}

// wake starts the committed sync now rather than at the workers' next poll, when the queue can
// (*queue.Queue.Wake), and returns the transaction's err.
func (r Resyncer) wake(err error) error {
	if w, ok := r.Queue.(interface{ Wake(queues ...string) }); ok && err == nil {
		w.Wake(queue.QueueSync)
	}
	return err
}

// Batch collects the jobs that follow one transaction's dirty marks and inserts them in that
// transaction together: the inbox commits many events at once, the drift repair and adoption many
// people. The zero value is an empty batch.
type Batch struct {
	jobs []river.InsertManyParams
}

// Trigger marks the person dirty in tx and adds their sync, unless one is already waiting.
func (b *Batch) Trigger(ctx context.Context, tx *store.Tx, personID int64, reason string) error {
	need, err := tx.Trigger(ctx, personID)
	if err != nil || !need {
		return err
	}
	b.Marked(personID, reason)
	return nil
}

// Marked adds the sync of a person whose dirty mark tx already holds: a person it created, or one
// an ingested event marked (store.IngestResult.NeedsSync).
func (b *Batch) Marked(personID int64, reason string) {
	b.jobs = append(b.jobs, river.InsertManyParams{Args: SyncArgs{PersonID: personID, Reason: reason}})
}

// Resolve adds the job that finds the customer of a stored event whose payload names none (a
// dispute or a refund names a charge) and then marks that customer's person dirty.
func (b *Batch) Resolve(eventID string) {
	b.jobs = append(b.jobs, river.InsertManyParams{Args: ResolveArgs{EventID: eventID}})
}

// Insert inserts the collected jobs in tx (nothing when there are none).
func (b *Batch) Insert(ctx context.Context, tx *store.Tx, q TxInserter) error {
	if len(b.jobs) == 0 {
		return nil
	}
	return q.InsertTx(ctx, tx, b.jobs)
}

// syncMarked inserts the sync of a person whose dirty mark the store already committed on its
// own (a merge, a resolved event).
func syncMarked(ctx context.Context, q inserter, personID int64, reason string) error {
	return q.Insert(ctx, SyncArgs{PersonID: personID, Reason: reason}, nil)
}

// scheduleSync inserts the person's timer sync at at (a grace period's end, an access expiry). It
// is unique by its arguments: every sync that computes the same boundary schedules one job.
func scheduleSync(ctx context.Context, q inserter, personID int64, at time.Time) error {
	return q.Insert(ctx, SyncArgs{PersonID: personID, Reason: "timer", At: at.Unix()},
		&river.InsertOpts{ScheduledAt: at, UniqueOpts: river.UniqueOpts{ByArgs: true}})
}
