package converge

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/riverqueue/river"

	"github.com/membersync/membersync/internal/entitlement"
	"github.com/membersync/membersync/internal/identity"
	"github.com/membersync/membersync/internal/provider"
	"github.com/membersync/membersync/internal/queue"
)

// This file owns the Kit step when it cannot run inside the sync. Kit allows 120 requests a minute
// per API key: on a launch day its budget is spent minutes ahead, and a sync that waited for it
// would hold a worker while the next buyers' Circle access waits (cmd/launchday measured the last
// buyer's access at ×3.99 its lower bound). So a sync calls Kit only when its budget has a slot
// within kitInlineWait; otherwise it finishes with Circle converged and hands the rest of Kit to a
// sync_kit job on the kit queue, whose own workers wait for Kit's slots. The Kit job re-reads
// nothing from Stripe: it converges Kit to the desired state the last sync saved, under the
// person's lease, gated on the Circle grants recorded (email follows access), and settles the
// events the sync left open.

// kitInlineWait is the longest a sync waits for a slot of Kit's budget before it hands Kit off.
const kitInlineWait = 250 * time.Millisecond

// KitArgs asks for the Kit step of one person's sync.
type KitArgs struct {
	PersonID int64 `json:"person_id"`
	// Events are the events the handing-off sync started from: marked converged once Kit is.
	Events []string `json:"events,omitempty"`
}

// Kind is River's name for the job.
func (KitArgs) Kind() string { return "sync_kit" }

// InsertOpts puts Kit steps on their own queue: their wait for Kit's budget holds only Kit workers.
func (KitArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: queue.QueueKit, MaxAttempts: 25}
}

// deferKit inserts the person's Kit job, due after wait.
func deferKit(ctx context.Context, q inserter, personID int64, events []string, wait time.Duration) error {
	at := time.Now().Add(wait)
	if err := q.Insert(ctx, KitArgs{PersonID: personID, Events: events}, &river.InsertOpts{ScheduledAt: at}); err != nil {
		return fmt.Errorf("handing the Kit step to its job at %s: %w", at.Format(time.RFC3339), err)
	}
	return nil
}

// KitWorker runs sync_kit jobs, one step per person at a time (the person's sync lease).
type KitWorker struct {
	river.WorkerDefaults[KitArgs]
	Engine *Engine
}

// Timeout bounds one Kit step.
func (w *KitWorker) Timeout(*river.Job[KitArgs]) time.Duration { return leaseTTL - 10*time.Second }

// Work runs one person's Kit step.
func (w *KitWorker) Work(ctx context.Context, job *river.Job[KitArgs]) error {
	return w.Engine.leased(ctx, job.JobRow, job.Args.PersonID, "Kit step", func(ctx context.Context) error {
		_, err := w.Engine.SyncKit(ctx, job.Args.PersonID, job.Args.Events, job.Attempt)
		return err
	})
}

// SyncKit converges the person's Kit tags and sequences to the desired state their last sync saved
// and, once Kit is converged, marks events converged (the events of the sync that handed Kit off).
// Like Sync, it returns an error only when the step must be retried.
func (e *Engine) SyncKit(ctx context.Context, personID int64, events []string, attempt int) (Outcome, error) {
	out := Outcome{PersonID: personID}
	start := e.now()
	person, err := e.Store.Person(ctx, personID)
	if err != nil {
		return out, err
	}
	state, err := e.Store.SyncState(ctx, personID)
	if err != nil {
		return out, err
	}
	log := e.Log.With("person_id", personID, "reason", "kit", "attempt", attempt)
	if person.Email != "" {
		log = log.With("person", identity.Hash(e.HashKey, person.Email))
	}
	j := &journal{e: e, ctx: ctx, personID: personID, attempt: attempt, log: log}
	ctx = provider.WithObserver(ctx, j.call)
	if state.Desired == "" {
		return out, nil // never synced: nothing to converge to
	}
	var desired entitlement.Desired
	if err := json.Unmarshal([]byte(state.Desired), &desired); err != nil {
		return out, fmt.Errorf("reading the desired state of person %d: %w", personID, err)
	}
	out.Desired = desired
	applied, err := e.Store.Applied(ctx, personID)
	if err != nil {
		return out, err
	}
	blocked, err := e.Store.OpenActionKeys(ctx, personID)
	if err != nil {
		return out, err
	}
	c := &converger{e: e, ctx: ctx, j: j, person: &person, email: person.Email, name: person.Name,
		desired: desired, applied: applied, blocked: blocked}
	c.kit()
	out.Actions, out.Calls = c.actions, int(j.calls.Load())
	dur := e.now().Sub(start)
	if c.retry != nil {
		e.Metrics.Sync("kit_retry", dur)
		j.add("sync", "kit", "", "retry", 0, dur, c.retry.Error())
		log.Warn("kit step incomplete", "action", "kit", "result", "retry", "actions", len(c.actions), "err", safeError(c.retry))
		return out, e.failed(ctx, j, log, person, attempt, "", c.retry)
	}
	if _, err := e.Store.ResolveReviews(ctx, personID, "sync_failing", "*", "membersync", "a later sync succeeded"); err != nil {
		return out, err
	}
	result := "converged"
	if c.partial {
		result = "blocked"
	} else {
		received, err := e.Store.MarkEventsConverged(ctx, personID, events)
		if err != nil {
			return out, err
		}
		for _, at := range received {
			e.Metrics.Converged(e.now().Sub(at))
		}
	}
	if err := e.Store.IndexPerson(ctx, personID); err != nil {
		log.Warn("indexing the person for the people list", "err", err)
	}
	out.Converged = !c.partial
	e.Metrics.Sync("kit_"+result, dur)
	j.add("sync", "kit", "", result, 0, dur, fmt.Sprintf("%d action(s), %d call(s)", len(c.actions), j.calls.Load()))
	log.Info("kit step", "action", "kit", "result", result, "actions", len(c.actions), "calls", j.calls.Load(), "duration_ms", dur.Milliseconds())
	return out, nil
}
