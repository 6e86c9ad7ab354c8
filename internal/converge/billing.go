package converge

import (
	"context"
	"slices"
	"sync"

	"github.com/membersync/membersync/internal/entitlement"
	"github.com/membersync/membersync/internal/store"
)

// readBilling reads the billing snapshot of every Stripe customer of the person, including other
// customers with the person's email, which it links to the person. The lookup by email runs beside
// the snapshot of the customers already linked: a known person's sync (a returning buyer's
// checkout, a renewal) waits for the snapshot's round trips, not for the lookup's before them. A
// customer the lookup finds is then read too, after it, so the sync still reads every customer of
// the person (the lookup rarely finds one: a customer with the person's email whose events never
// named it). Stripe's failures come back as stripeErr, the first one only (the other read is
// canceled and the sync retries whole); the store's as err.
func (e *Engine) readBilling(ctx context.Context, j *journal, person store.Person) (b entitlement.Billing, stripeErr, err error) {
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var once sync.Once
	fail := func(err error) {
		once.Do(func() {
			stripeErr = err
			cancel()
		})
	}
	var more []string
	looked := make(chan struct{})
	go func() {
		defer close(looked)
		if person.Email == "" {
			return
		}
		var err error
		if more, err = e.Billing.CustomerIDsByEmail(rctx, person.Email); err != nil {
			fail(err)
		}
	}()
	b, err = e.Billing.Snapshot(rctx, person.CustomerIDs...)
	if err != nil {
		fail(err)
	}
	<-looked
	if stripeErr != nil {
		return entitlement.Billing{}, stripeErr, nil
	}
	var linked []string
	for _, id := range more {
		if slices.Contains(person.CustomerIDs, id) || slices.Contains(linked, id) {
			continue
		}
		ok, err := e.Store.LinkCustomer(ctx, person.ID, id)
		if err != nil {
			return entitlement.Billing{}, nil, err
		}
		if ok {
			linked = append(linked, id)
			j.add("sync", "link_customer", id, "linked", 0, 0, "another Stripe customer with the same email")
		}
	}
	if len(linked) > 0 {
		extra, err := e.Billing.Snapshot(ctx, linked...)
		if err != nil {
			return entitlement.Billing{}, err, nil
		}
		b.Customers = append(b.Customers, extra.Customers...)
	}
	return b, nil, nil
}
