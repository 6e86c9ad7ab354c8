package converge

import (
	"context"
	"errors"
	"fmt"

	"github.com/membersync/membersync/internal/entitlement"
	"github.com/membersync/membersync/internal/provider"
	"github.com/membersync/membersync/internal/queue"
	"github.com/membersync/membersync/internal/store"
)

// This file owns the sync's part of an erasure ("membersync forget", GDPR Art. 17). A person marked
// erasing (store.Tx.BeginErasure) syncs to no access without reading Stripe — Circle access groups
// and Kit tags that membersync manages are removed — and once every removal is confirmed the sync
// scrubs them (store.FinishErasure). An erased person's later event is looked up in Stripe: a
// customer Stripe still has is managed again from what Stripe holds now, like a new person; one
// Stripe deleted (or never had) leaves the event stored as ignored, its payload dropped.

// erasureStore is what the engine needs of the database for erasures; *store.Store implements it.
type erasureStore interface {
	FinishErasure(ctx context.Context, personID int64) (store.Erasure, error)
	ReviveErased(ctx context.Context, personID int64) error
	IgnoreErasedEvents(ctx context.Context, personID int64, eventIDs []string) error
	InTx(ctx context.Context, fn func(tx *store.Tx) error) error
}

var _ erasureStore = (*store.Store)(nil)

// ReasonCustomerDeleted is the reason of an erasure Stripe's customer.deleted asked for
// (config erasure.on_customer_deleted).
const ReasonCustomerDeleted = "customer.deleted in Stripe"

// Forget begins the erasure of a person: it marks them erasing and writes the tombstone and the
// audit entry; by default it triggers their sync in the same transaction (which removes their
// access and then scrubs them); with req.LocalOnly it scrubs them at once and leaves Circle and Kit
// alone. Forget of a person already erasing resumes the erasure (a crash between the steps loses
// nothing); of one already erased it returns store.ErrErased with the tombstone.
func Forget(ctx context.Context, st *store.Store, q TxInserter, req store.EraseRequest) (store.Erasure, error) {
	var e store.Erasure
	err := st.InTx(ctx, func(tx *store.Tx) error {
		var err error
		if e, err = tx.BeginErasure(ctx, req); err != nil {
			return err
		}
		if req.LocalOnly {
			return nil
		}
		return Trigger(ctx, tx, q, req.PersonID, "erasure")
	})
	if err != nil {
		return e, err
	}
	if req.LocalOnly {
		// Also finishes an erasure begun with the sync whose removal is stuck (a review item).
		return st.FinishErasure(ctx, req.PersonID)
	}
	if w, ok := q.(interface{ Wake(queues ...string) }); ok {
		w.Wake(queue.QueueSync)
	}
	return e, nil
}

// erasureOf returns the engine's erasure store, nil when the Store is not one (tests' fakes).
func (e *Engine) erasureOf() erasureStore {
	es, _ := e.Store.(erasureStore)
	return es
}

// erasureStep runs before a sync reads billing. It returns erasing when the person is to be synced
// to no access, and done when the sync has nothing more to do (an erased person without a live
// Stripe customer).
func (e *Engine) erasureStep(ctx context.Context, j *journal, person store.Person, begun store.SyncStart) (erasing, done bool, err error) {
	es := e.erasureOf()
	if es == nil {
		return false, false, nil
	}
	switch person.Erasure { // read with the person: no query of its own on every sync
	case store.Erasing:
		return true, false, nil
	case store.Erased:
	default:
		return false, false, nil
	}
	// Erased: only a later event can bring them back, and only if Stripe still has them. A timer,
	// the drift sweep or a reconcile finds nothing to do.
	if len(begun.Events) == 0 || len(person.CustomerIDs) == 0 {
		return false, true, e.Store.FinishSync(ctx, person.ID, begun.Generation)
	}
	live, err := e.liveCustomer(ctx, person.CustomerIDs)
	if err != nil {
		return false, false, &errRetry{err: err}
	}
	if live {
		if err := es.ReviveErased(ctx, person.ID); err != nil {
			return false, false, err
		}
		j.add("sync", "erasure", "", "revived", 0, 0, "an event for an erased customer Stripe still has: managed again from Stripe")
		return false, false, nil
	}
	if err := es.IgnoreErasedEvents(ctx, person.ID, begun.Events); err != nil {
		return false, false, err
	}
	j.add("sync", "erasure", "", "ignored", 0, 0, fmt.Sprintf("%d event(s) for an erased customer Stripe no longer has: stored as ignored", len(begun.Events)))
	return false, true, e.Store.FinishSync(ctx, person.ID, begun.Generation)
}

// liveCustomer reports whether Stripe still has one of the customers (not deleted, not unknown).
func (e *Engine) liveCustomer(ctx context.Context, ids []string) (bool, error) {
	b, err := e.Billing.Snapshot(ctx, ids...)
	if provider.KindOf(err) == provider.NotFound {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	for _, c := range b.Customers {
		if !c.Deleted {
			return true, nil
		}
	}
	return false, nil
}

// eraseDeleted begins the erasure Stripe's customer.deleted asks for (config
// erasure.on_customer_deleted) when every customer of the person is deleted in Stripe and the sync
// started from an event. It returns whether the person is now erasing.
func (e *Engine) eraseDeleted(ctx context.Context, j *journal, person store.Person, b entitlement.Billing, begun store.SyncStart) (bool, error) {
	es := e.erasureOf()
	if !e.EraseOnCustomerDeleted || es == nil || len(begun.Events) == 0 || len(b.Customers) == 0 {
		return false, nil
	}
	for _, c := range b.Customers {
		if !c.Deleted {
			return false, nil
		}
	}
	err := es.InTx(ctx, func(tx *store.Tx) error {
		_, err := tx.BeginErasure(ctx, store.EraseRequest{PersonID: person.ID, Reason: ReasonCustomerDeleted, By: "stripe", Key: e.ErasureKey})
		return err
	})
	if errors.Is(err, store.ErrErased) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	j.add("sync", "erasure", "", "begun", 0, 0, "every Stripe customer of this person is deleted: erasing them (erasure.on_customer_deleted)")
	return true, nil
}

// finishErasure scrubs a person whose sync converged them to no access.
func (e *Engine) finishErasure(ctx context.Context, personID int64) error {
	es := e.erasureOf()
	if es == nil {
		return nil
	}
	if _, err := es.FinishErasure(ctx, personID); err != nil && !errors.Is(err, store.ErrErased) {
		return fmt.Errorf("scrubbing the erased person: %w", err)
	}
	e.Log.Info("erasure", "action", "erasure", "result", "erased", "person_id", personID)
	return nil
}
