package billing

import (
	"context"
	"errors"
	"net/http"

	"github.com/stripe/stripe-go/v85"

	"github.com/membersync/membersync/internal/entitlement"
)

// Snapshot reads what entitlements depend on for each customer, in the order given (duplicates and
// empty ids skipped). Calls are sequential; a typical snapshot of one customer costs:
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
// deleted customer. Embedded lists that overflow (more than 10 line items or invoice payments, more
// than 20 subscription items) are paged through their own endpoints.
//
// A deleted customer is returned as {ID, Deleted: true} without further reads. Subscriptions in a
// terminal or non-entitling status (canceled, incomplete_expired, unpaid, paused, incomplete) get no
// charge reads: FirstFailedPaymentAt and LatestCharges only matter while a subscription entitles.
func (r *Reader) Snapshot(ctx context.Context, customerIDs ...string) (entitlement.Billing, error) {
	ctx, tr := track(ctx)
	var b entitlement.Billing
	seen := map[string]bool{}
	for _, id := range customerIDs {
		if id == "" || seen[id] {
			continue
		}
		seen[id] = true
		c, err := r.customer(ctx, id)
		if err != nil {
			return entitlement.Billing{}, tr.fail(err)
		}
		b.Customers = append(b.Customers, c)
	}
	return b, nil
}

func (r *Reader) customer(ctx context.Context, id string) (entitlement.Customer, error) {
	c, err := r.sc.V1Customers.Retrieve(ctx, id, nil)
	if err != nil {
		return entitlement.Customer{}, err
	}
	out := entitlement.Customer{ID: c.ID, Email: c.Email, Name: c.Name, Deleted: c.Deleted}
	if out.ID == "" {
		out.ID = id
	}
	if c.Deleted {
		return out, nil
	}
	// Should Stripe refuse a nested expansion, read the same data with more calls instead.
	out.Subscriptions, err = r.subscriptions(ctx, id, "data.latest_invoice", "data.latest_invoice.payments")
	if refusedExpand(err) {
		out.Subscriptions, err = r.subscriptions(ctx, id, "data.latest_invoice")
	}
	if err != nil {
		return entitlement.Customer{}, err
	}
	out.Purchases, err = r.purchases(ctx, id, "data.line_items", "data.payment_intent.latest_charge")
	if refusedExpand(err) {
		out.Purchases, err = r.purchases(ctx, id)
	}
	if err != nil {
		return entitlement.Customer{}, err
	}
	return out, nil
}

// refusedExpand reports whether Stripe refused an expand[] parameter.
func refusedExpand(err error) bool {
	var se *stripe.Error
	return errors.As(err, &se) && se.HTTPStatusCode == http.StatusBadRequest && se.Param == "expand"
}

func (r *Reader) subscriptions(ctx context.Context, customerID string, expand ...string) ([]entitlement.Subscription, error) {
	p := &stripe.SubscriptionListParams{Customer: stripe.String(customerID), Status: stripe.String("all")}
	p.Limit = stripe.Int64(pageSize)
	for _, x := range expand {
		p.AddExpand(x)
	}
	var out []entitlement.Subscription
	for s, err := range r.sc.V1Subscriptions.List(ctx, p).All(ctx) {
		if err != nil {
			return nil, err
		}
		es, err := r.subscription(ctx, s)
		if err != nil {
			return nil, err
		}
		out = append(out, es)
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

func (r *Reader) subscription(ctx context.Context, s *stripe.Subscription) (entitlement.Subscription, error) {
	es := entitlement.Subscription{
		ID: s.ID, Status: string(s.Status), Created: unix(s.Created), CancelAtPeriodEnd: s.CancelAtPeriodEnd,
		CancelAt: unix(s.CancelAt), EndedAt: unix(s.EndedAt), TrialEnd: unix(s.TrialEnd),
	}
	items, err := r.subscriptionItems(ctx, s)
	if err != nil {
		return es, err
	}
	for _, it := range items {
		es.Items = append(es.Items, entitlement.Item{PriceID: priceID(it.Price), ProductID: productID(it.Price),
			CurrentPeriodEnd: unix(it.CurrentPeriodEnd)})
	}
	if !entitling(s.Status) || s.LatestInvoice == nil || s.LatestInvoice.ID == "" {
		return es, nil
	}
	inv := s.LatestInvoice
	if inv.Object == "" { // not expanded after all
		p := &stripe.InvoiceRetrieveParams{}
		p.AddExpand("payments")
		if inv, err = r.sc.V1Invoices.Retrieve(ctx, inv.ID, p); err != nil {
			return es, err
		}
	}
	switch inv.Status {
	case stripe.InvoiceStatusPaid:
		charges, err := r.invoiceCharges(ctx, inv, true)
		if err != nil {
			return es, err
		}
		for _, c := range charges {
			if c.Status == stripe.ChargeStatusSucceeded {
				es.LatestCharges = append(es.LatestCharges, r.toCharge(c))
			}
		}
		if es.LatestCharges, err = r.withDisputes(ctx, charges, es.LatestCharges); err != nil {
			return es, err
		}
	case stripe.InvoiceStatusOpen, stripe.InvoiceStatusUncollectible:
		charges, err := r.invoiceCharges(ctx, inv, false)
		if err != nil {
			return es, err
		}
		for _, c := range charges {
			if c.Status != stripe.ChargeStatusFailed {
				continue
			}
			if t := unix(c.Created); es.FirstFailedPaymentAt.IsZero() || t.Before(es.FirstFailedPaymentAt) {
				es.FirstFailedPaymentAt = t
			}
		}
	}
	return es, nil
}

func (r *Reader) subscriptionItems(ctx context.Context, s *stripe.Subscription) ([]*stripe.SubscriptionItem, error) {
	if s.Items != nil && !s.Items.HasMore {
		return s.Items.Data, nil
	}
	p := &stripe.SubscriptionItemListParams{Subscription: stripe.String(s.ID)}
	p.Limit = stripe.Int64(pageSize)
	var out []*stripe.SubscriptionItem
	for it, err := range r.sc.V1SubscriptionItems.List(ctx, p).All(ctx) {
		if err != nil {
			return nil, err
		}
		out = append(out, it)
	}
	return out, nil
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
// paidOnly): since basil an invoice names no charge or payment intent, its payments do
// (InvoicePayment → payment.payment_intent), and the charges of a payment intent are listed by it.
func (r *Reader) invoiceCharges(ctx context.Context, inv *stripe.Invoice, paidOnly bool) ([]*stripe.Charge, error) {
	payments, err := r.invoicePayments(ctx, inv)
	if err != nil {
		return nil, err
	}
	var out []*stripe.Charge
	for _, ip := range payments {
		if ip.Payment == nil || paidOnly && ip.Status != "paid" {
			continue
		}
		switch {
		case ip.Payment.PaymentIntent != nil && ip.Payment.PaymentIntent.ID != "":
			cs, err := r.intentCharges(ctx, ip.Payment.PaymentIntent.ID)
			if err != nil {
				return nil, err
			}
			out = append(out, cs...)
		case ip.Payment.Charge != nil && ip.Payment.Charge.ID != "":
			c, err := r.sc.V1Charges.Retrieve(ctx, ip.Payment.Charge.ID, nil)
			if err != nil {
				return nil, err
			}
			out = append(out, c)
		}
	}
	return out, nil
}

func (r *Reader) invoicePayments(ctx context.Context, inv *stripe.Invoice) ([]*stripe.InvoicePayment, error) {
	if inv.Payments != nil && !inv.Payments.HasMore {
		return inv.Payments.Data, nil
	}
	p := &stripe.InvoicePaymentListParams{Invoice: stripe.String(inv.ID)}
	p.Limit = stripe.Int64(pageSize)
	var out []*stripe.InvoicePayment
	for ip, err := range r.sc.V1InvoicePayments.List(ctx, p).All(ctx) {
		if err != nil {
			return nil, err
		}
		out = append(out, ip)
	}
	return out, nil
}

// intentCharges lists every charge (payment attempt) of a payment intent.
func (r *Reader) intentCharges(ctx context.Context, paymentIntentID string) ([]*stripe.Charge, error) {
	p := &stripe.ChargeListParams{PaymentIntent: stripe.String(paymentIntentID)}
	p.Limit = stripe.Int64(pageSize)
	var out []*stripe.Charge
	for c, err := range r.sc.V1Charges.List(ctx, p).All(ctx) {
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

func (r *Reader) toCharge(c *stripe.Charge) entitlement.Charge {
	return entitlement.Charge{ID: c.ID, Amount: c.Amount, AmountRefunded: c.AmountRefunded}
}

// withDisputes fills in the disputes of the charges in out. A charge's disputed flag says whether it
// has any; only then are the disputes listed, once per payment intent (or per charge without one).
func (r *Reader) withDisputes(ctx context.Context, charges []*stripe.Charge, out []entitlement.Charge) ([]entitlement.Charge, error) {
	listed := map[string]bool{}
	byCharge := map[string][]entitlement.Dispute{}
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
		for d, err := range r.sc.V1Disputes.List(ctx, p).All(ctx) {
			if err != nil {
				return nil, err
			}
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
func (r *Reader) purchases(ctx context.Context, customerID string, expand ...string) ([]entitlement.Purchase, error) {
	p := &stripe.CheckoutSessionListParams{Customer: stripe.String(customerID), Status: stripe.String("complete")}
	p.Limit = stripe.Int64(pageSize)
	for _, x := range expand {
		p.AddExpand(x)
	}
	var out []entitlement.Purchase
	for cs, err := range r.sc.V1CheckoutSessions.List(ctx, p).All(ctx) {
		if err != nil {
			return nil, err
		}
		if cs.Mode != stripe.CheckoutSessionModePayment || cs.PaymentStatus != stripe.CheckoutSessionPaymentStatusPaid {
			continue
		}
		pu, err := r.purchase(ctx, cs)
		if err != nil {
			return nil, err
		}
		out = append(out, pu)
	}
	return out, nil
}

func (r *Reader) purchase(ctx context.Context, cs *stripe.CheckoutSession) (entitlement.Purchase, error) {
	pu := entitlement.Purchase{SessionID: cs.ID, PaidAt: unix(cs.Created)}
	items := []*stripe.LineItem(nil)
	if cs.LineItems != nil {
		items = cs.LineItems.Data
	}
	if cs.LineItems == nil || cs.LineItems.HasMore {
		p := &stripe.CheckoutSessionListLineItemsParams{Session: stripe.String(cs.ID)}
		p.Limit = stripe.Int64(pageSize)
		items = nil
		for li, err := range r.sc.V1CheckoutSessions.ListLineItems(ctx, p).All(ctx) {
			if err != nil {
				return pu, err
			}
			items = append(items, li)
		}
	}
	for _, li := range items {
		pu.Items = append(pu.Items, entitlement.Item{PriceID: priceID(li.Price), ProductID: productID(li.Price)})
	}
	pi := cs.PaymentIntent
	if pi == nil || pi.ID == "" {
		return pu, nil
	}
	var charges []*stripe.Charge
	if pi.LatestCharge != nil && pi.LatestCharge.Object != "" {
		charges = []*stripe.Charge{pi.LatestCharge}
	} else { // not expanded after all
		var err error
		if charges, err = r.intentCharges(ctx, pi.ID); err != nil {
			return pu, err
		}
	}
	for _, c := range charges {
		if c.Status != stripe.ChargeStatusSucceeded {
			continue
		}
		pu.Charges = append(pu.Charges, r.toCharge(c))
		pu.PaidAt = unix(c.Created)
	}
	var err error
	pu.Charges, err = r.withDisputes(ctx, charges, pu.Charges)
	return pu, err
}
