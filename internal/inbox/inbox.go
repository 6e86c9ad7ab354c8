package inbox

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"

	"github.com/riverqueue/river"

	"github.com/membersync/membersync/internal/converge"
	"github.com/membersync/membersync/internal/queue"
	"github.com/membersync/membersync/internal/store"
)

// Result is what accepting one event did.
type Result string

// Results.
const (
	Accepted  Result = "accepted"  // new, stored, its person's sync queued (or already waiting)
	Duplicate Result = "duplicate" // seen before: nothing new
	Ignored   Result = "ignored"   // new, stored, a type membersync does not act on
)

// Enqueuer inserts jobs inside a store transaction, and wakes this process's workers once that
// transaction committed (*queue.Queue is one).
type Enqueuer interface {
	InsertTx(ctx context.Context, tx *store.Tx, jobs []river.InsertManyParams) error
	Wake(queues ...string)
}

// maxBatch bounds how many deliveries share one commit.
const maxBatch = 256

// Inbox stores events and their jobs. Concurrent Accept calls are committed together: while one
// transaction commits, the deliveries that arrive queue up and the next transaction takes them all,
// so an fsync is paid per batch, not per delivery, with no added wait when traffic is light.
type Inbox struct {
	store *store.Store
	queue Enqueuer
	log   *slog.Logger

	reqs chan *request
	done chan struct{}
}

type request struct {
	ctx  context.Context
	ev   store.Event
	resp chan response
}

type response struct {
	res Result
	err error
}

// New returns an Inbox; Run must be running for Accept to complete.
func New(st *store.Store, q Enqueuer, log *slog.Logger) *Inbox {
	return &Inbox{store: st, queue: q, log: log, reqs: make(chan *request, maxBatch), done: make(chan struct{})}
}

// committers is how many transactions run at once: SQLite has one writer, so one; PostgreSQL
// commits in parallel, so several batches can be in flight.
func (in *Inbox) committers() int {
	if in.store.Dialect() == store.Postgres {
		return 4
	}
	return 1
}

// Run commits batches until ctx ends, then answers what is left with an error.
func (in *Inbox) Run(ctx context.Context) {
	defer close(in.done)
	var wg sync.WaitGroup
	for range in.committers() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			in.loop(ctx)
		}()
	}
	wg.Wait()
	in.drain(ctx.Err())
}

func (in *Inbox) loop(ctx context.Context) {
	for {
		var first *request
		select {
		case <-ctx.Done():
			return
		case first = <-in.reqs:
		}
		batch := []*request{first}
	fill:
		for len(batch) < maxBatch {
			select {
			case r := <-in.reqs:
				batch = append(batch, r)
			default:
				break fill
			}
		}
		in.commit(context.WithoutCancel(ctx), batch)
	}
}

func (in *Inbox) drain(err error) {
	for {
		select {
		case r := <-in.reqs:
			r.resp <- response{err: fmt.Errorf("%w: shutting down: %v", store.ErrUnavailable, err)}
		default:
			return
		}
	}
}

// commit stores a batch in one transaction. When the batch fails as a whole, each delivery is
// retried alone so that one bad row cannot refuse its neighbours.
func (in *Inbox) commit(ctx context.Context, batch []*request) {
	live := batch[:0:0]
	for _, r := range batch {
		if r.ctx.Err() == nil { // the sender gave up; Stripe will deliver it again
			live = append(live, r)
		} else {
			r.resp <- response{err: r.ctx.Err()}
		}
	}
	if len(live) == 0 {
		return
	}
	results, err := in.store1(ctx, live)
	if err != nil && len(live) > 1 {
		for _, r := range live {
			res, err := in.store1(ctx, []*request{r})
			if err != nil {
				r.resp <- response{err: err}
				continue
			}
			r.resp <- response{res: res[0]}
		}
		return
	}
	for i, r := range live {
		if err != nil {
			r.resp <- response{err: err}
			continue
		}
		r.resp <- response{res: results[i]}
	}
}

func (in *Inbox) store1(ctx context.Context, batch []*request) ([]Result, error) {
	results := make([]Result, len(batch))
	// Every transaction touches rows in the same order (customer, then event id), so concurrent
	// committers on PostgreSQL wait for each other instead of deadlocking on the same person.
	order := make([]int, len(batch))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int {
		return cmp.Or(cmp.Compare(batch[a].ev.CustomerID, batch[b].ev.CustomerID), cmp.Compare(batch[a].ev.ID, batch[b].ev.ID))
	})
	queued := false
	err := in.store.InTx(ctx, func(tx *store.Tx) error {
		var jobs converge.Batch
		for _, i := range order {
			r := batch[i]
			ir, err := tx.IngestEvent(ctx, r.ev)
			if err != nil {
				return err
			}
			switch {
			case ir.Duplicate:
				results[i] = Duplicate
			case ir.State == store.EventIgnored:
				results[i] = Ignored
			default:
				results[i] = Accepted
			}
			if ir.NeedsSync {
				jobs.Marked(ir.PersonID, "event")
			}
			if ir.NeedsResolve {
				jobs.Resolve(r.ev.ID)
			}
			queued = queued || ir.NeedsSync || ir.NeedsResolve
		}
		return jobs.Insert(ctx, tx, in.queue)
	})
	if err != nil {
		return nil, err
	}
	if queued {
		// The syncs and resolves are committed: start them now rather than at the workers' next poll.
		in.queue.Wake(queue.QueueSync)
	}
	return results, nil
}

// ErrStopped is returned by Accept after Run has ended.
var ErrStopped = errors.New("inbox stopped")

// Accept stores ev durably (deduplicated by id) with the jobs it triggers, and returns once the
// transaction committed. Any error means nothing is acknowledged: the caller answers 503.
func (in *Inbox) Accept(ctx context.Context, ev store.Event) (Result, error) {
	r := &request{ctx: ctx, ev: ev, resp: make(chan response, 1)}
	select {
	case in.reqs <- r:
	case <-in.done:
		return "", fmt.Errorf("%w: %w", store.ErrUnavailable, ErrStopped)
	case <-ctx.Done():
		return "", ctx.Err()
	}
	select {
	case resp := <-r.resp:
		return resp.res, resp.err
	case <-in.done:
		// Run answers every request it took before closing done; one it did not take is unanswered.
		select {
		case resp := <-r.resp:
			return resp.res, resp.err
		default:
			return "", fmt.Errorf("%w: %w", store.ErrUnavailable, ErrStopped)
		}
	}
}
