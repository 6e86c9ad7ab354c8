package billing

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/stripe/stripe-go/v85"

	"github.com/membersync/membersync/internal/entitlement"
	"github.com/membersync/membersync/internal/provider"
)

// snapshotConcurrency is how many Stripe calls one Snapshot has in flight at most: a person with
// two customers (a subscriber who later bought as a guest) reads its six first reads at once, two
// round trips in all where 4 would take three (BenchmarkSnapshot). Each call still takes from the
// Reader's request budget, which every snapshot (and, on PostgreSQL, every instance) shares.
const snapshotConcurrency = 6

// snapshotOptions choose how a snapshot reads.
type snapshotOptions struct {
	// concurrency bounds the calls in flight. 1 reads one call after another, the customer before
	// its lists: the sequential reading the concurrent one must equal (tests compare them).
	concurrency int
	// customerFirst reads each customer before its lists even when concurrent: a deleted customer
	// then costs one call instead of three, and every other customer one round trip more.
	customerFirst bool
}

// Snapshot reads what entitlements depend on for each customer, in the order given (duplicates and
// empty ids skipped). A typical snapshot of one customer costs:
//
//	get_customer                      1
//	list_subscriptions                1 per 100 subscriptions (status=all; latest invoice and its
//	                                    payments expanded)
//	list_charges?payment_intent=      1 per payment intent on the latest invoice of each trialing,
//	                                    active or past_due subscription that had a payment
//	list_checkout_sessions            1 per 100 completed sessions (line items and payment intent →
//	                                    latest charge expanded)
//	list_disputes?payment_intent=     only for a disputed charge
//
// so 4 calls for a paying subscriber, 3 for a trial or a buyer of one-time purchases only, 1 for a
// deleted customer (up to 3: see below). Embedded lists that overflow (more than 10 line items or
// invoice payments, more than 20 subscription items) are paged through their own endpoints.
//
// Independent reads run concurrently, at most snapshotConcurrency calls in flight: every customer's
// record, subscriptions and purchases at once, then at once what those did not embed (the charges of
// each entitling subscription's latest payments, the disputes of a disputed purchase's charge). A
// buyer costs one round trip; a paying subscriber, or a subscriber and a buyer with two customers,
// two; a disputed subscription charge three. A deleted customer is returned as {ID, Deleted: true}:
// its lists, read beside it (or canceled before they start), are discarded, errors included, and its
// record's error wins over theirs (an unknown customer is the NotFound of get_customer, not the 400
// of its lists). The result is the sequential reading's, in the same order.
//
// A failed read fails the whole snapshot with that read's *provider.Error and no partial result:
// the other reads are canceled (the record of the failed list's customer is let finish, as it
// decides which error counts). Subscriptions in a terminal or non-entitling status (canceled,
// incomplete_expired, unpaid, paused, incomplete) get no charge reads: FirstFailedPaymentAt and
// LatestCharges only matter while a subscription entitles.
func (r *Reader) Snapshot(ctx context.Context, customerIDs ...string) (entitlement.Billing, error) {
	return r.snapshot(ctx, snapshotOptions{concurrency: snapshotConcurrency}, customerIDs...)
}

func (r *Reader) snapshot(ctx context.Context, opts snapshotOptions, customerIDs ...string) (entitlement.Billing, error) {
	s := &snap{r: r, seq: opts.concurrency <= 1, customerFirst: opts.customerFirst, slots: make(chan struct{}, max(1, opts.concurrency))}
	var ids []string
	seen := map[string]bool{}
	for _, id := range customerIDs {
		if id != "" && !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		return entitlement.Billing{}, nil
	}
	customers := make([]entitlement.Customer, len(ids))
	err := s.each(ctx, len(ids), func(ctx context.Context, i int) (err error) {
		customers[i], err = s.customer(ctx, ids[i])
		return err
	})
	if err != nil {
		return entitlement.Billing{}, err
	}
	return entitlement.Billing{Customers: customers}, nil
}

// snap is one snapshot's reading: its bound on calls in flight and how it runs independent reads.
type snap struct {
	r             *Reader
	seq           bool // one read after another, in order
	customerFirst bool
	// slots holds a token for each read in flight. Only a read (HTTP calls, no nested read) holds
	// one, so that a goroutine waiting for a slot never holds another.
	slots chan struct{}
}

// read makes one read, a retrieve or a list through all its pages, holding a slot, on a tracker of
// its own: concurrent reads never see each other's calls, so its error is the *provider.Error of
// its own failed call. op names the read should it be canceled before it starts.
func (s *snap) read(ctx context.Context, op string, fn func(context.Context) error) error {
	if err := ctx.Err(); err != nil {
		return provider.TransportError("stripe", op, err)
	}
	select {
	case s.slots <- struct{}{}:
	case <-ctx.Done():
		return provider.TransportError("stripe", op, ctx.Err())
	}
	defer func() { <-s.slots }()
	ctx, tr := track(ctx)
	return tr.fail(fn(ctx))
}

// each runs fn for 0…n-1, concurrently unless the snapshot is sequential, and waits for all of
// them. The first error (in time) cancels the context of the others and is the one returned:
// theirs are consequences of the cancellation. Sequentially, the first error stops the rest.
func (s *snap) each(ctx context.Context, n int, fn func(ctx context.Context, i int) error) error {
	if s.seq || n == 1 {
		for i := range n {
			if err := fn(ctx, i); err != nil {
				return err
			}
		}
		return nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg    sync.WaitGroup
		once  sync.Once
		first error
	)
	for i := range n {
		wg.Go(func() {
			if err := fn(ctx, i); err != nil {
				once.Do(func() {
					first = err
					cancel()
				})
			}
		})
	}
	wg.Wait()
	return first
}

// both runs a and b as each does.
func (s *snap) both(ctx context.Context, a, b func(context.Context) error) error {
	fns := [2]func(context.Context) error{a, b}
	return s.each(ctx, 2, func(ctx context.Context, i int) error { return fns[i](ctx) })
}

// collect reads a list through every page.
func collect[T any](seq stripe.Seq2[T, error]) ([]T, error) {
	var out []T
	for v, err := range seq {
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

func (s *snap) customer(ctx context.Context, id string) (entitlement.Customer, error) {
	var c *stripe.Customer
	record := func(ctx context.Context) error {
		return s.read(ctx, "get_customer", func(ctx context.Context) (err error) {
			c, err = s.r.sc.V1Customers.Retrieve(ctx, id, nil)
			if f, ok := ctx.Value(customerSeenKey{}).(func(id, email string)); ok && err == nil && !c.Deleted {
				f(id, c.Email)
			}
			return err
		})
	}
	var subs []entitlement.Subscription
	var purchases []entitlement.Purchase
	lists := func(ctx context.Context) error {
		return s.both(ctx,
			func(ctx context.Context) (err error) { subs, err = s.subscriptions(ctx, id); return err },
			func(ctx context.Context) (err error) { purchases, err = s.purchases(ctx, id); return err })
	}
	if s.seq || s.customerFirst {
		if err := record(ctx); err != nil {
			return entitlement.Customer{}, err
		}
		if !c.Deleted {
			if err := lists(ctx); err != nil {
				return entitlement.Customer{}, err
			}
		}
	} else {
		// The lists are read beside the record, on a context of their own: a failed list cancels
		// the other one but not the record, whose answer decides whether the failure counts.
		lctx, cancel := context.WithCancel(ctx)
		defer cancel()
		var lerr error
		done := make(chan struct{})
		go func() {
			defer close(done)
			if lerr = lists(lctx); lerr != nil {
				cancel()
			}
		}()
		cerr := record(ctx)
		if cerr != nil || c.Deleted {
			cancel()
		}
		<-done
		switch {
		case cerr != nil && lerr != nil && localThrottle(cerr) && !localThrottle(lerr):
			// The record waited out the pause that a list's 429 began: the 429 is the cause.
			return entitlement.Customer{}, lerr
		case cerr != nil:
			return entitlement.Customer{}, cerr
		case c.Deleted:
			subs, purchases = nil, nil
		case lerr != nil:
			return entitlement.Customer{}, lerr
		}
	}
	out := entitlement.Customer{ID: c.ID, Email: c.Email, Name: c.Name, Deleted: c.Deleted,
		Subscriptions: subs, Purchases: purchases}
	if out.ID == "" {
		out.ID = id
	}
	return out, nil
}

// localThrottle reports whether err is a call the budget refused before sending it.
func localThrottle(err error) bool {
	var pe *provider.Error
	return errors.As(err, &pe) && pe.Throttled && pe.Status == 0
}

// refusedExpand reports whether Stripe refused an expand[] parameter.
func refusedExpand(err error) bool {
	var se *stripe.Error
	return errors.As(err, &se) && se.HTTPStatusCode == http.StatusBadRequest && se.Param == "expand"
}

func (s *snap) subscriptions(ctx context.Context, customerID string) ([]entitlement.Subscription, error) {
	list := func(ctx context.Context, expand ...string) ([]*stripe.Subscription, error) {
		p := &stripe.SubscriptionListParams{Customer: stripe.String(customerID), Status: stripe.String("all")}
		p.Limit = stripe.Int64(pageSize)
		for _, x := range expand {
			p.AddExpand(x)
		}
		return collect(s.r.sc.V1Subscriptions.List(ctx, p).All(ctx))
	}
	var subs []*stripe.Subscription
	err := s.read(ctx, "list_subscriptions", func(ctx context.Context) (err error) {
		subs, err = list(ctx, "data.latest_invoice", "data.latest_invoice.payments")
		if refusedExpand(err) {
			// Should Stripe refuse a nested expansion, read the same data with more calls instead.
			subs, err = list(ctx, "data.latest_invoice")
		}
		return err
	})
	if err != nil || len(subs) == 0 {
		return nil, err
	}
	out := make([]entitlement.Subscription, len(subs))
	err = s.each(ctx, len(subs), func(ctx context.Context, i int) (err error) {
		out[i], err = s.subscription(ctx, subs[i])
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// entitling reports whether a subscription status can entitle, so that its payments matter.
func entitling(status stripe.SubscriptionStatus) bool {
	switch status {
	case stripe.SubscriptionStatusTrialing, stripe.SubscriptionStatusActive, stripe.SubscriptionStatusPastDue:
		return true
	}
	return false
}

// subscription reads what the list did not embed: the items beyond the embedded page and, beside
// them, the payments of the latest invoice.
func (s *snap) subscription(ctx context.Context, sub *stripe.Subscription) (entitlement.Subscription, error) {
	es := entitlement.Subscription{
		ID: sub.ID, Status: string(sub.Status), Created: unix(sub.Created), CancelAtPeriodEnd: sub.CancelAtPeriodEnd,
		CancelAt: unix(sub.CancelAt), EndedAt: unix(sub.EndedAt), TrialEnd: unix(sub.TrialEnd),
	}
	var items []*stripe.SubscriptionItem
	err := s.both(ctx,
		func(ctx context.Context) (err error) { items, err = s.subscriptionItems(ctx, sub); return err },
		func(ctx context.Context) (err error) {
			es.LatestCharges, es.FirstFailedPaymentAt, err = s.latestPayments(ctx, sub)
			return err
		})
	if err != nil {
		return es, err
	}
	for _, it := range items {
		es.Items = append(es.Items, entitlement.Item{PriceID: priceID(it.Price), ProductID: productID(it.Price),
			CurrentPeriodStart: unix(it.CurrentPeriodStart), CurrentPeriodEnd: unix(it.CurrentPeriodEnd)})
	}
	return es, nil
}

// latestPayments reads the payments of an entitling subscription's latest invoice: the succeeded
// charges (with their disputes) of a paid one, the first failed attempt on an open or
// uncollectible one.
func (s *snap) latestPayments(ctx context.Context, sub *stripe.Subscription) ([]entitlement.Charge, time.Time, error) {
	if !entitling(sub.Status) || sub.LatestInvoice == nil || sub.LatestInvoice.ID == "" {
		return nil, time.Time{}, nil
	}
	inv := sub.LatestInvoice
	if inv.Object == "" { // not expanded after all
		err := s.read(ctx, "get_invoice", func(ctx context.Context) (err error) {
			p := &stripe.InvoiceRetrieveParams{}
			p.AddExpand("payments")
			inv, err = s.r.sc.V1Invoices.Retrieve(ctx, inv.ID, p)
			return err
		})
		if err != nil {
			return nil, time.Time{}, err
		}
	}
	var latest []entitlement.Charge
	var firstFailed time.Time
	switch inv.Status {
	case stripe.InvoiceStatusPaid:
		charges, err := s.invoiceCharges(ctx, inv, true)
		if err != nil {
			return nil, time.Time{}, err
		}
		for _, c := range charges {
			if c.Status == stripe.ChargeStatusSucceeded {
				latest = append(latest, toCharge(c))
			}
		}
		if latest, err = s.withDisputes(ctx, charges, latest); err != nil {
			return nil, time.Time{}, err
		}
	case stripe.InvoiceStatusOpen, stripe.InvoiceStatusUncollectible:
		charges, err := s.invoiceCharges(ctx, inv, false)
		if err != nil {
			return nil, time.Time{}, err
		}
		for _, c := range charges {
			if c.Status != stripe.ChargeStatusFailed {
				continue
			}
			if t := unix(c.Created); firstFailed.IsZero() || t.Before(firstFailed) {
				firstFailed = t
			}
		}
	}
	return latest, firstFailed, nil
}

func (s *snap) subscriptionItems(ctx context.Context, sub *stripe.Subscription) ([]*stripe.SubscriptionItem, error) {
	if sub.Items != nil && !sub.Items.HasMore {
		return sub.Items.Data, nil
	}
	var out []*stripe.SubscriptionItem
	err := s.read(ctx, "list_subscription_items", func(ctx context.Context) (err error) {
		p := &stripe.SubscriptionItemListParams{Subscription: stripe.String(sub.ID)}
		p.Limit = stripe.Int64(pageSize)
		out, err = collect(s.r.sc.V1SubscriptionItems.List(ctx, p).All(ctx))
		return err
	})
	return out, err
}

func priceID(p *stripe.Price) string {
	if p == nil {
		return ""
	}
	return p.ID
}

func productID(p *stripe.Price) string {
	if p == nil || p.Product == nil {
		return ""
	}
	return p.Product.ID
}

// invoiceCharges returns the charges behind an invoice's payments (only the paid payments when
// paidOnly), in the payments' order: since basil an invoice names no charge or payment intent, its
// payments do (InvoicePayment → payment.payment_intent), and the charges of a payment intent are
// listed by it. The payments' charges are read concurrently.
func (s *snap) invoiceCharges(ctx context.Context, inv *stripe.Invoice, paidOnly bool) ([]*stripe.Charge, error) {
	payments, err := s.invoicePayments(ctx, inv)
	if err != nil {
		return nil, err
	}
	var reads []func(context.Context) ([]*stripe.Charge, error)
	for _, ip := range payments {
		if ip.Payment == nil || paidOnly && ip.Status != "paid" {
			continue
		}
		switch {
		case ip.Payment.PaymentIntent != nil && ip.Payment.PaymentIntent.ID != "":
			id := ip.Payment.PaymentIntent.ID
			reads = append(reads, func(ctx context.Context) ([]*stripe.Charge, error) { return s.intentCharges(ctx, id) })
		case ip.Payment.Charge != nil && ip.Payment.Charge.ID != "":
			id := ip.Payment.Charge.ID
			reads = append(reads, func(ctx context.Context) ([]*stripe.Charge, error) {
				var c *stripe.Charge
				err := s.read(ctx, "get_charge", func(ctx context.Context) (err error) {
					c, err = s.r.sc.V1Charges.Retrieve(ctx, id, nil)
					return err
				})
				return []*stripe.Charge{c}, err
			})
		}
	}
	got := make([][]*stripe.Charge, len(reads))
	err = s.each(ctx, len(reads), func(ctx context.Context, i int) (err error) {
		got[i], err = reads[i](ctx)
		return err
	})
	if err != nil {
		return nil, err
	}
	var out []*stripe.Charge
	for _, cs := range got {
		out = append(out, cs...)
	}
	return out, nil
}

func (s *snap) invoicePayments(ctx context.Context, inv *stripe.Invoice) ([]*stripe.InvoicePayment, error) {
	if inv.Payments != nil && !inv.Payments.HasMore {
		return inv.Payments.Data, nil
	}
	var out []*stripe.InvoicePayment
	err := s.read(ctx, "list_invoice_payments", func(ctx context.Context) (err error) {
		p := &stripe.InvoicePaymentListParams{Invoice: stripe.String(inv.ID)}
		p.Limit = stripe.Int64(pageSize)
		out, err = collect(s.r.sc.V1InvoicePayments.List(ctx, p).All(ctx))
		return err
	})
	return out, err
}

// intentCharges lists every charge (payment attempt) of a payment intent.
func (s *snap) intentCharges(ctx context.Context, paymentIntentID string) ([]*stripe.Charge, error) {
	var out []*stripe.Charge
	err := s.read(ctx, "list_charges", func(ctx context.Context) (err error) {
		p := &stripe.ChargeListParams{PaymentIntent: stripe.String(paymentIntentID)}
		p.Limit = stripe.Int64(pageSize)
		out, err = collect(s.r.sc.V1Charges.List(ctx, p).All(ctx))
		return err
	})
	return out, err
}

func toCharge(c *stripe.Charge) entitlement.Charge {
	return entitlement.Charge{ID: c.ID, Amount: c.Amount, AmountRefunded: c.AmountRefunded}
}

// withDisputes fills in the disputes of the charges in out. A charge's disputed flag says whether it
// has any; only then are the disputes listed, once per payment intent (or per charge without one),
// concurrently, and attached in the charges' order.
func (s *snap) withDisputes(ctx context.Context, charges []*stripe.Charge, out []entitlement.Charge) ([]entitlement.Charge, error) {
	var filters []*stripe.DisputeListParams
	listed := map[string]bool{}
	for _, c := range charges {
		if !c.Disputed {
			continue
		}
		p := &stripe.DisputeListParams{}
		key := "charge:" + c.ID
		if c.PaymentIntent != nil && c.PaymentIntent.ID != "" {
			p.PaymentIntent = stripe.String(c.PaymentIntent.ID)
			key = "pi:" + c.PaymentIntent.ID
		} else {
			p.Charge = stripe.String(c.ID)
		}
		if listed[key] {
			continue
		}
		listed[key] = true
		p.Limit = stripe.Int64(pageSize)
		filters = append(filters, p)
	}
	if len(filters) == 0 {
		return out, nil
	}
	got := make([][]*stripe.Dispute, len(filters))
	err := s.each(ctx, len(filters), func(ctx context.Context, i int) error {
		return s.read(ctx, "list_disputes", func(ctx context.Context) (err error) {
			got[i], err = collect(s.r.sc.V1Disputes.List(ctx, filters[i]).All(ctx))
			return err
		})
	})
	if err != nil {
		return nil, err
	}
	byCharge := map[string][]entitlement.Dispute{}
	for _, ds := range got {
		for _, d := range ds {
			if d.Charge == nil {
				continue
			}
			byCharge[d.Charge.ID] = append(byCharge[d.Charge.ID], entitlement.Dispute{ID: d.ID, Status: string(d.Status), Created: unix(d.Created)})
		}
	}
	for i := range out {
		out[i].Disputes = byCharge[out[i].ID]
	}
	return out, nil
}

// purchases reads the paid one-time Checkout Sessions of a customer: complete sessions with
// mode=payment and payment_status=paid (an async payment method's session is complete but unpaid
// until it succeeds). Each purchase carries the charge that paid it: the latest charge of the
// session's succeeded payment intent (earlier failed attempts cannot be refunded or disputed).
func (s *snap) purchases(ctx context.Context, customerID string) ([]entitlement.Purchase, error) {
	list := func(ctx context.Context, expand ...string) ([]*stripe.CheckoutSession, error) {
		p := &stripe.CheckoutSessionListParams{Customer: stripe.String(customerID), Status: stripe.String("complete")}
		p.Limit = stripe.Int64(pageSize)
		for _, x := range expand {
			p.AddExpand(x)
		}
		return collect(s.r.sc.V1CheckoutSessions.List(ctx, p).All(ctx))
	}
	var sessions []*stripe.CheckoutSession
	err := s.read(ctx, "list_checkout_sessions", func(ctx context.Context) (err error) {
		sessions, err = list(ctx, "data.line_items", "data.payment_intent.latest_charge")
		if refusedExpand(err) {
			sessions, err = list(ctx)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	var paid []*stripe.CheckoutSession
	for _, cs := range sessions {
		if cs.Mode == stripe.CheckoutSessionModePayment && cs.PaymentStatus == stripe.CheckoutSessionPaymentStatusPaid {
			paid = append(paid, cs)
		}
	}
	if len(paid) == 0 {
		return nil, nil
	}
	out := make([]entitlement.Purchase, len(paid))
	err = s.each(ctx, len(paid), func(ctx context.Context, i int) (err error) {
		out[i], err = s.purchase(ctx, paid[i])
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// purchase reads what the session list did not embed: its line items and its payment intent's
// charges, concurrently, then the disputes of a disputed charge.
func (s *snap) purchase(ctx context.Context, cs *stripe.CheckoutSession) (entitlement.Purchase, error) {
	pu := entitlement.Purchase{SessionID: cs.ID, PaidAt: unix(cs.Created)}
	var items []*stripe.LineItem
	var charges []*stripe.Charge
	err := s.both(ctx,
		func(ctx context.Context) (err error) { items, err = s.lineItems(ctx, cs); return err },
		func(ctx context.Context) (err error) {
			pi := cs.PaymentIntent
			switch {
			case pi == nil || pi.ID == "":
			case pi.LatestCharge != nil && pi.LatestCharge.Object != "":
				charges = []*stripe.Charge{pi.LatestCharge}
			default: // not expanded after all
				charges, err = s.intentCharges(ctx, pi.ID)
			}
			return err
		})
	if err != nil {
		return pu, err
	}
	for _, li := range items {
		pu.Items = append(pu.Items, entitlement.Item{PriceID: priceID(li.Price), ProductID: productID(li.Price)})
	}
	if cs.PaymentIntent == nil || cs.PaymentIntent.ID == "" {
		return pu, nil
	}
	for _, c := range charges {
		if c.Status != stripe.ChargeStatusSucceeded {
			continue
		}
		pu.Charges = append(pu.Charges, toCharge(c))
		pu.PaidAt = unix(c.Created)
	}
	pu.Charges, err = s.withDisputes(ctx, charges, pu.Charges)
	return pu, err
}

// lineItems returns a session's line items: the embedded page, or every page of its own endpoint
// when that one was not embedded or has more.
func (s *snap) lineItems(ctx context.Context, cs *stripe.CheckoutSession) ([]*stripe.LineItem, error) {
	if cs.LineItems != nil && !cs.LineItems.HasMore {
		return cs.LineItems.Data, nil
	}
	var out []*stripe.LineItem
	err := s.read(ctx, "list_checkout_session_line_items", func(ctx context.Context) (err error) {
		p := &stripe.CheckoutSessionListLineItemsParams{Session: stripe.String(cs.ID)}
		p.Limit = stripe.Int64(pageSize)
		out, err = collect(s.r.sc.V1CheckoutSessions.ListLineItems(ctx, p).All(ctx))
		return err
	})
	return out, err
}

type customerSeenKey struct{}

// WithCustomerSeen returns a context whose snapshots call seen with each customer's id and email as
// soon as its record is read, before the rest of its state has arrived: the sync engine starts
// Circle's member search for a new person then, beside the Stripe reads still in flight. seen may
// be called concurrently, once per customer read.
func WithCustomerSeen(ctx context.Context, seen func(id, email string)) context.Context {
	return context.WithValue(ctx, customerSeenKey{}, seen)
}
