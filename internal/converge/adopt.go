package converge

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/membersync/membersync/internal/identity"
	"github.com/membersync/membersync/internal/store"
)

// CustomerFinder looks customers up in Stripe for Resyncer.Who; *billing.Reader is one.
type CustomerFinder interface {
	CustomerExists(ctx context.Context, id string) (exists, deleted bool, err error)
	CustomerIDsByEmail(ctx context.Context, email string) ([]string, error)
}

// ErrUnknownCustomer is wrapped by Who's error when neither membersync nor Stripe knows who.
var ErrUnknownCustomer = errors.New("unknown customer")

// Resynced is what Who did.
type Resynced struct {
	PersonID int64
	// Adopted lists the Stripe customers Who brought under management (no webhook had named them);
	// empty when the person was already known.
	Adopted []string
}

// Who resolves an operator's EMAIL or cus_… to a person and triggers their sync. When no person is
// known yet (a missed webhook is exactly when an operator resyncs), it looks the customer up in
// Stripe — by id, or by email (every live customer with that email) — creates the person as
// TriggerCustomer does, and syncs. It fails with a clear error, wrapping ErrUnknownCustomer, when
// Stripe has no such customer either.
func (r Resyncer) Who(ctx context.Context, stripe CustomerFinder, who, reason string) (Resynced, error) {
	who = strings.TrimSpace(who)
	var ids []string
	switch {
	case strings.HasPrefix(who, "cus_"):
		pid, err := r.Store.PersonIDByCustomer(ctx, who)
		if err == nil {
			return Resynced{PersonID: pid}, r.Person(ctx, pid, reason)
		}
		if !errors.Is(err, store.ErrNotFound) {
			return Resynced{}, err
		}
		exists, deleted, err := stripe.CustomerExists(ctx, who)
		switch {
		case err != nil:
			return Resynced{}, fmt.Errorf("looking up %s in Stripe: %w", who, err)
		case deleted:
			return Resynced{}, fmt.Errorf("%w: Stripe customer %s is deleted and no person has it", ErrUnknownCustomer, who)
		case !exists:
			return Resynced{}, fmt.Errorf("%w: Stripe has no customer %s (check the id and that the key is for the right account and mode)", ErrUnknownCustomer, who)
		}
		ids = []string{who}
	case strings.Contains(who, "@"):
		email := identity.NormalizeEmail(who)
		pid, err := r.Store.PersonIDByEmail(ctx, email)
		if err == nil {
			return Resynced{PersonID: pid}, r.Person(ctx, pid, reason)
		}
		if !errors.Is(err, store.ErrNotFound) {
			return Resynced{}, err
		}
		if ids, err = stripe.CustomerIDsByEmail(ctx, who); err != nil {
			return Resynced{}, fmt.Errorf("looking up the email in Stripe: %w", err)
		}
		if len(ids) == 0 {
			return Resynced{}, fmt.Errorf("%w: no person with email %s is known and Stripe has no customer with it", ErrUnknownCustomer, who)
		}
	default:
		return Resynced{}, fmt.Errorf("%q is neither an email nor a Stripe customer id (cus_…)", who)
	}
	// Every customer is adopted in one transaction; the newest one's person is the answer (customers
	// sharing an email are merged by their syncs as webhooks would merge them).
	err := r.wake(r.Store.InTx(ctx, func(tx *store.Tx) error {
		for _, id := range ids {
			if err := TriggerCustomer(ctx, tx, r.Queue, id, reason); err != nil {
				return err
			}
		}
		return nil
	}))
	if err != nil {
		return Resynced{}, err
	}
	pid, err := r.Store.PersonIDByCustomer(ctx, ids[0])
	if err != nil {
		return Resynced{}, err
	}
	return Resynced{PersonID: pid, Adopted: ids}, nil
}
