package drift

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"sync/atomic"
	"time"

	"github.com/membersync/membersync/internal/converge"
	"github.com/membersync/membersync/internal/provider"
	"github.com/membersync/membersync/internal/store"
)

// StripeOptions tune FromStripe.
type StripeOptions struct {
	// Repair creates a person for each unknown customer and enqueues their sync; without it
	// FromStripe only reports them.
	Repair bool
	// Progress is told about each customer read.
	Progress func(Progress)
}

// StripeReport is what FromStripe found.
type StripeReport struct {
	// Customers is how many distinct customers have a subscription that is not canceled or a paid
	// one-time Checkout Session.
	Customers int `json:"customers"`
	// Known is how many of them membersync already manages.
	Known int `json:"known"`
	// Unknown are the customer ids membersync had no person for.
	Unknown []string `json:"unknown"`
	// Adopted is how many people Repair created, each with a sync enqueued.
	Adopted int   `json:"adopted"`
	Calls   Calls `json:"calls"`
}

// adoptBatch is how many new customers one transaction adopts.
const adoptBatch = 100

// FromStripe pages through Stripe's subscriptions (every status but canceled) and paid one-time
// Checkout Sessions, and finds the customers membersync has never seen, such as subscriptions
// created before it was installed. With Repair each becomes a person whose sync is enqueued, like a
// first webhook would make it; the syncs then read their billing, merge customers that share an
// email and converge Circle and Kit. It holds the sweep's lease, so it never runs beside a sweep.
func (s *Sweeper) FromStripe(ctx context.Context, opts StripeOptions) (StripeReport, error) {
	var rep StripeReport
	if s.Billing == nil {
		return rep, errors.New("reading Stripe needs a billing reader")
	}
	if opts.Repair && s.Queue == nil {
		return rep, errors.New("adopting customers needs a job queue")
	}
	owner := lockOwner()
	ok, err := s.Store.AcquireLock(ctx, lockName, owner, lockTTL)
	if err != nil {
		return rep, err
	}
	if !ok {
		return rep, ErrBusy
	}
	defer s.Store.ReleaseLock(context.WithoutCancel(ctx), lockName, owner)

	var stripeCalls atomic.Int64
	ctx = provider.WithObserver(ctx, func(c provider.Call) {
		if c.Provider == "stripe" {
			stripeCalls.Add(1)
		}
	})
	err = s.fromStripe(ctx, opts, owner, &rep)
	rep.Calls.Stripe = int(stripeCalls.Load())
	return rep, err
}

func (s *Sweeper) fromStripe(ctx context.Context, opts StripeOptions, owner string, rep *StripeReport) error {
	seen := map[string]bool{}
	var pending []string
	renewed := s.now()
	adopt := func() error {
		if len(pending) == 0 {
			return nil
		}
		n, err := s.adopt(ctx, pending)
		rep.Adopted += n
		pending = pending[:0]
		return err
	}
	lists := []iter.Seq2[string, error]{
		s.Billing.ActiveSubscriptionCustomers(ctx),
		s.Billing.PaidPaymentSessionCustomers(ctx, time.Time{}),
	}
	for _, list := range lists {
		for id, err := range list {
			if err != nil {
				return fmt.Errorf("listing Stripe customers: %w", err)
			}
			if seen[id] {
				continue
			}
			seen[id] = true
			rep.Customers++
			_, err := s.Store.PersonIDByCustomer(ctx, id)
			switch {
			case err == nil:
				rep.Known++
			case errors.Is(err, store.ErrNotFound):
				rep.Unknown = append(rep.Unknown, id)
				if opts.Repair {
					pending = append(pending, id)
				}
			default:
				return err
			}
			if len(pending) >= adoptBatch {
				if err := adopt(); err != nil {
					return err
				}
			}
			if opts.Progress != nil {
				opts.Progress(Progress{Phase: PhaseStripe, Done: rep.Customers, Total: rep.Customers})
			}
			if now := s.now(); now.Sub(renewed) > lockTTL/5 {
				if _, err := s.Store.AcquireLock(ctx, lockName, owner, lockTTL); err != nil {
					return err
				}
				renewed = now
			}
		}
	}
	return adopt()
}

// adopt creates the people of new customers with their syncs, in one transaction, and returns how
// many it created (a customer a webhook brought in meanwhile is left to it).
func (s *Sweeper) adopt(ctx context.Context, customers []string) (int, error) {
	created := 0
	err := s.Store.InTx(ctx, func(tx *store.Tx) error {
		created = 0
		var jobs converge.Batch
		for _, c := range customers {
			pid, isNew, err := tx.PersonForCustomer(ctx, c)
			if err != nil {
				return err
			}
			if !isNew {
				continue
			}
			created++
			jobs.Marked(pid, "reconcile")
			if err := tx.AppendJournal(ctx, store.JournalEntry{PersonID: pid, Kind: "note", Action: "adopt", Target: c, Result: "queued",
				Detail: "reconcile --from-stripe found this Stripe customer, unknown to membersync, paying; a sync is queued"}); err != nil {
				return err
			}
		}
		return jobs.Insert(ctx, tx, s.Queue)
	})
	if err != nil {
		return 0, fmt.Errorf("adopting Stripe customers: %w", err)
	}
	return created, nil
}
