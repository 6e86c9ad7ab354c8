package stripetest

import (
	"encoding/json"
	"fmt"
	"reflect"
	"time"
)

// EventJSON is one event body exactly as Stripe posts it to a webhook endpoint.
type EventJSON []byte

// Event is one event the fake recorded.
type Event struct {
	ID         string // evt_…
	Type       string // such as "invoice.payment_failed"
	CustomerID string // the customer the event concerns, as the fake knows it ("" for none)
	Created    time.Time
	// PendingWebhooks is how many webhook endpoints have not acknowledged the event yet (see
	// webhookEndpoints).
	PendingWebhooks int
	// JSON is the event as it reads now; its pending_webhooks is PendingWebhooks.
	JSON EventJSON
}

// webhookEndpoints is how many webhook endpoints the fake's account has: one, the endpoint whose
// signing secret is Options.WebhookSecret and to which Deliver posts. Stripe sets an event's
// pending_webhooks to the endpoints it is to be sent to and counts one down per endpoint that answers
// 2xx; the fake does the same for its one endpoint, so an event is pending until a Deliver of it is
// acknowledged. (Stripe also gives up after 3 days of retries; the fake never does, and Stripe's
// documentation does not say what pending_webhooks reads then.)
const webhookEndpoints = 1

type event struct {
	id, typ, customer string
	created           int64
	// env is the envelope as emitted, its data rendered once (a snapshot, as Stripe's).
	env eventEnvelope
	// pending is the event's pending_webhooks: endpoints that have not acknowledged it.
	pending int
}

// body renders the event as Stripe returns it now.
func (e *event) body() []byte {
	env := e.env
	env.PendingWebhooks = e.pending
	b, err := json.Marshal(env)
	if err != nil {
		panic(fmt.Sprintf("stripetest: encoding event %s: %v", e.id, err))
	}
	return b
}

// eventEnvelope is the JSON shape of a snapshot event, fields in Stripe's order.
type eventEnvelope struct {
	ID              string          `json:"id"`
	Object          string          `json:"object"`
	APIVersion      string          `json:"api_version"`
	Created         int64           `json:"created"`
	Data            json.RawMessage `json:"data"`
	Livemode        bool            `json:"livemode"`
	PendingWebhooks int             `json:"pending_webhooks"`
	Request         eventReq        `json:"request"`
	Type            string          `json:"type"`
}

type eventData struct {
	Object             any `json:"object"`
	PreviousAttributes obj `json:"previous_attributes,omitempty"`
}

type eventReq struct {
	ID             *string `json:"id"`
	IdempotencyKey *string `json:"idempotency_key"`
}

// emit records an event. automatic marks changes Stripe makes on its own (renewals, retries), whose
// request.id is null; the others look like API requests. Callers hold s.mu.
func (s *Server) emit(typ string, object any, prev obj, customerID string, automatic bool) {
	e := &event{id: s.st.newID("evt"), typ: typ, customer: customerID, created: s.Now().Unix(), pending: webhookEndpoints}
	data, err := json.Marshal(eventData{Object: object, PreviousAttributes: prev})
	if err != nil {
		panic(fmt.Sprintf("stripetest: encoding event %s: %v", typ, err))
	}
	e.env = eventEnvelope{ID: e.id, Object: "event", APIVersion: APIVersion, Created: e.created, Data: data, Type: typ}
	if !automatic {
		e.env.Request = eventReq{ID: ptr(fmt.Sprintf("req_E%013d", s.st.next)), IdempotencyKey: ptr(fmt.Sprintf("T%013d-membersync", s.st.next))}
	}
	s.st.events = append(s.st.events, e)
}

// changed returns the previous values of the top-level fields that differ between two renderings of
// an object: Stripe's data.previous_attributes.
func changed(before, after any) obj {
	b, a := before.(obj), after.(obj)
	prev := obj{}
	for k, v := range b {
		if !reflect.DeepEqual(v, a[k]) {
			prev[k] = v
		}
	}
	return prev
}

// Events returns every event recorded so far, oldest first.
func (s *Server) Events() []Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Event, 0, len(s.st.events))
	for _, e := range s.st.events {
		out = append(out, Event{ID: e.id, Type: e.typ, CustomerID: e.customer, Created: time.Unix(e.created, 0).UTC(),
			PendingWebhooks: e.pending, JSON: e.body()})
	}
	return out
}

// acknowledged records that the webhook endpoint answered a delivery of the event id with 2xx: it is
// no longer pending there. Unknown ids (bodies not recorded by this fake) change nothing.
func (s *Server) acknowledged(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range s.st.events {
		if e.id == id {
			e.pending = 0
			return
		}
	}
}

// Bodies returns the JSON bodies of events, for Deliver.
func Bodies(events []Event) []EventJSON {
	out := make([]EventJSON, len(events))
	for i, e := range events {
		out[i] = e.JSON
	}
	return out
}

func (s *Server) mustCustomer(id string) *customer {
	c := s.st.customers[id]
	if c == nil {
		panic("stripetest: no such customer " + id)
	}
	return c
}

func (s *Server) mustPrice(id string) *price {
	p := s.st.prices[id]
	if p == nil {
		panic("stripetest: no such price " + id)
	}
	return p
}

func (s *Server) mustSub(id string) *subscription {
	sub := s.st.subs[id]
	if sub == nil {
		panic("stripetest: no such subscription " + id)
	}
	return sub
}

func (s *Server) mustCharge(id string) *charge {
	ch := s.st.charges[id]
	if ch == nil {
		panic("stripetest: no such charge " + id)
	}
	return ch
}

// CreateProduct creates a product and returns its id (prod_…).
func (s *Server) CreateProduct(name string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := &product{id: s.st.newID("prod"), name: name, created: s.Now().Unix()}
	s.st.products[p.id] = p
	s.emit("product.created", s.renderProduct(p), nil, "", false)
	s.Faults.Record("POST /v1/products", "create product "+p.id)
	return p.id
}

// CreatePrice creates a USD price for a product, monthly when recurring, and returns its id (price_…).
func (s *Server) CreatePrice(productID string, unitAmount int64, recurring bool) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.st.products[productID] == nil {
		panic("stripetest: no such product " + productID)
	}
	p := &price{id: s.st.newID("price"), product: productID, unitAmount: unitAmount, recurring: recurring, created: s.Now().Unix()}
	s.st.prices[p.id] = p
	s.emit("price.created", s.renderPrice(p, nil), nil, "", false)
	s.Faults.Record("POST /v1/prices", "create price "+p.id)
	return p.id
}

// CreateCustomer creates a customer and returns its id (cus_…).
func (s *Server) CreateCustomer(email, name string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := &customer{id: s.st.newID("cus"), email: email, name: name, created: s.Now().Unix()}
	s.st.customers[c.id] = c
	s.emit("customer.created", s.renderCustomer(c, true), nil, c.id, false)
	s.Faults.Record("POST /v1/customers", "create customer "+c.id)
	return c.id
}

// ChangeEmail changes a customer's email (customer.updated with previous_attributes.email).
func (s *Server) ChangeEmail(customerID, email string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.mustCustomer(customerID)
	before := s.renderCustomer(c, true)
	c.email = email
	after := s.renderCustomer(c, true)
	s.emit("customer.updated", after, changed(before, after), c.id, false)
	s.Faults.Record("POST /v1/customers/{id}", "change email of "+c.id)
}

// DeleteCustomer deletes a customer. Like Stripe it first cancels the customer's subscriptions
// (customer.subscription.deleted each), then sends customer.deleted.
func (s *Server) DeleteCustomer(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.mustCustomer(id)
	for _, sub := range newest(s.st, s.st.subs, func(x *subscription) string { return x.id }) {
		if sub.customer == id && sub.status != "canceled" && sub.status != "incomplete_expired" {
			s.endSubscription(sub, "cancellation_requested", false)
		}
	}
	full := s.renderCustomer(c, true)
	c.deleted = true
	s.emit("customer.deleted", full, nil, id, false)
	s.Faults.Record("DELETE /v1/customers/{id}", "delete customer "+id)
}

// newInvoice creates an open subscription invoice for the items' current periods. A trial invoice
// costs nothing.
func (s *Server) newInvoice(sub *subscription, reason string, free bool) *invoice {
	now := s.Now().Unix()
	inv := &invoice{id: s.st.newID("in"), customer: sub.customer, sub: sub.id, status: "open",
		billingReason: reason, created: now, finalizedAt: now, collectionMethod: sub.collectionMethod()}
	if sub.daysUntilDue > 0 {
		inv.dueDate = s.Now().Add(time.Duration(sub.daysUntilDue) * 24 * time.Hour).Unix()
	}
	n := 0
	for _, x := range s.st.invoices {
		if x.customer == sub.customer {
			n++
		}
	}
	c := s.st.customers[sub.customer]
	inv.number = fmt.Sprintf("T%s-%04d", c.id[len(c.id)-6:], n+1)
	for _, it := range s.subItems(sub) {
		amount := s.st.prices[it.price].unitAmount
		if free {
			amount = 0
		}
		inv.lines = append(inv.lines, invoiceLine{id: s.st.newID("il"), price: it.price, item: it.id,
			amount: amount, start: it.periodStart, end: it.periodEnd})
		inv.amountDue += amount
		inv.periodStart, inv.periodEnd = it.periodStart, it.periodEnd
	}
	s.st.invoices[inv.id] = inv
	sub.latestInvoice = inv.id
	return inv
}

func (s *Server) newIntent(customerID string, amount int64, description string) *paymentIntent {
	pi := &paymentIntent{id: s.st.newID("pi"), customer: customerID, amount: amount,
		status: "requires_payment_method", created: s.Now().Unix(), description: description}
	s.st.intents[pi.id] = pi
	return pi
}

// newCharge makes a payment attempt on pi, succeeded or failed.
func (s *Server) newCharge(pi *paymentIntent, ok bool) *charge {
	ch := &charge{id: s.st.newID("ch"), customer: pi.customer, intent: pi.id, amount: pi.amount,
		status: "failed", created: s.Now().Unix(), description: pi.description}
	if ok {
		ch.status = "succeeded"
		pi.status = "succeeded"
	} else {
		pi.lastErrCharge = ch.id
	}
	pi.latestCharge = ch.id
	s.st.charges[ch.id] = ch
	return ch
}

// openPayment returns the open invoice payment of inv, creating it and its payment intent if needed.
func (s *Server) openPayment(inv *invoice) (*invoicePayment, *paymentIntent) {
	for _, id := range inv.payments {
		if ip := s.st.inpays[id]; ip.status == "open" {
			return ip, s.st.intents[ip.intent]
		}
	}
	pi := s.newIntent(inv.customer, inv.amountDue, "Subscription update")
	if inv.billingReason == "subscription_create" {
		pi.description = "Subscription creation"
	}
	ip := &invoicePayment{id: s.st.newID("inpay"), invoice: inv.id, intent: pi.id, amount: inv.amountDue,
		status: "open", created: s.Now().Unix()}
	s.st.inpays[ip.id] = ip
	inv.payments = append(inv.payments, ip.id)
	return ip, pi
}

// collect charges inv successfully and sends the events of a paid invoice.
func (s *Server) collect(inv *invoice) {
	now := s.Now().Unix()
	if inv.amountDue > 0 {
		ip, pi := s.openPayment(inv)
		ch := s.newCharge(pi, true)
		ip.status, ip.paidAt = "paid", now
		s.emit("charge.succeeded", s.renderCharge(ch, nil), nil, inv.customer, true)
		s.emit("payment_intent.succeeded", s.renderPaymentIntent(pi, nil), nil, inv.customer, true)
		s.emit("invoice_payment.paid", s.renderInvoicePayment(ip, nil), nil, inv.customer, true)
	}
	inv.status, inv.amountPaid, inv.paidAt, inv.nextAttempt = "paid", inv.amountDue, now, 0
	if inv.attemptCount == 0 {
		inv.attemptCount = 1
	}
	s.emit("invoice.paid", s.renderInvoice(inv, nil), nil, inv.customer, true)
	s.emit("invoice.payment_succeeded", s.renderInvoice(inv, nil), nil, inv.customer, true)
}

// Subscribe subscribes a customer to a recurring price, with a trial of trialDays (0 for none), and
// returns the subscription id. Without a trial the first invoice is paid at once (payment intent and
// succeeded charge); with one it is a paid $0 invoice. Events: customer.subscription.created,
// invoice.created, invoice.finalized, charge.succeeded, payment_intent.succeeded,
// invoice_payment.paid, invoice.paid, invoice.payment_succeeded.
func (s *Server) Subscribe(customerID, priceID string, trialDays int) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, subID := s.subscribe(customerID, priceID, trialDays, false)
	return subID
}

// SubscribeViaCheckout is Subscribe through a Checkout Session in subscription mode; it also sends
// checkout.session.completed and returns the session id (cs_…) too.
func (s *Server) SubscribeViaCheckout(customerID, priceID string, trialDays int) (sessionID, subID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.subscribe(customerID, priceID, trialDays, true)
}

func (s *Server) subscribe(customerID, priceID string, trialDays int, checkout bool) (string, string) {
	c := s.mustCustomer(customerID)
	p := s.mustPrice(priceID)
	if !p.recurring {
		panic("stripetest: price " + priceID + " is not recurring")
	}
	now := s.Now()
	t := now.Unix()
	sub := &subscription{id: s.st.newID("sub"), customer: c.id, status: "active", created: t}
	it := &subItem{id: s.st.newID("si"), sub: sub.id, price: p.id, created: t, periodStart: t, periodEnd: now.AddDate(0, 1, 0).Unix()}
	if trialDays > 0 {
		sub.status, sub.trialStart, sub.trialEnd = "trialing", t, now.AddDate(0, 0, trialDays).Unix()
		it.periodEnd = sub.trialEnd
	}
	sub.items = []string{it.id}
	s.st.subs[sub.id], s.st.items[it.id] = sub, it
	inv := s.newInvoice(sub, "subscription_create", trialDays > 0)
	s.emit("customer.subscription.created", s.renderSubscription(sub, nil), nil, c.id, false)
	s.emit("invoice.created", s.renderInvoice(inv, nil), nil, c.id, true)
	s.emit("invoice.finalized", s.renderInvoice(inv, nil), nil, c.id, true)
	s.collect(inv)
	sessionID := ""
	if checkout {
		cs := &checkoutSession{id: s.st.newID("cs_test"), customer: c.id, email: c.email, name: c.name,
			mode: "subscription", status: "complete", paymentStatus: "paid", sub: sub.id, invoice: inv.id,
			amountTotal: inv.amountDue, created: t, successURL: "https://example.com/welcome?session_id={CHECKOUT_SESSION_ID}",
			lineItems: []lineItem{{id: s.st.newID("li"), price: p.id, amount: inv.amountDue}}}
		if inv.amountDue == 0 {
			cs.paymentStatus = "no_payment_required"
		}
		s.st.sessions[cs.id] = cs
		s.emit("checkout.session.completed", s.renderSession(cs, nil), nil, c.id, false)
		sessionID = cs.id
	}
	s.Faults.Record("POST /v1/subscriptions", fmt.Sprintf("subscribe %s to %s: %s %s", c.id, p.id, sub.id, sub.status))
	return sessionID, sub.id
}

// advance moves every item of sub to its next monthly period.
func (s *Server) advance(sub *subscription) {
	for _, it := range s.subItems(sub) {
		it.periodStart = it.periodEnd
		it.periodEnd = time.Unix(it.periodStart, 0).UTC().AddDate(0, 1, 0).Unix()
	}
}

// Renew bills the next period of a subscription: the items move a period on, a new invoice is paid
// (a trial ends and the subscription becomes active). A subscription set to cancel at period end is
// canceled instead (customer.subscription.deleted). It panics when the latest invoice is unpaid
// (use RecoverPayment). The clock does not move: Advance it first for realistic timestamps.
func (s *Server) Renew(subID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sub := s.mustSub(subID)
	if sub.status == "canceled" || sub.status == "incomplete_expired" {
		panic("stripetest: Renew " + subID + ": subscription has ended")
	}
	if inv := s.st.invoices[sub.latestInvoice]; inv != nil && inv.status == "open" {
		panic("stripetest: Renew " + subID + ": latest invoice " + inv.id + " is unpaid; use RecoverPayment")
	}
	if sub.cancelAtPeriodEnd {
		s.endSubscription(sub, "cancellation_requested", true)
		s.Faults.Record("POST /v1/subscriptions/{id}", "period ended, canceled "+subID)
		return
	}
	before := s.renderSubscription(sub, nil)
	s.advance(sub)
	if sub.status == "trialing" {
		sub.status = "active"
	}
	inv := s.newInvoice(sub, "subscription_cycle", false)
	s.emit("invoice.created", s.renderInvoice(inv, nil), nil, sub.customer, true)
	s.emit("invoice.finalized", s.renderInvoice(inv, nil), nil, sub.customer, true)
	s.collect(inv)
	after := s.renderSubscription(sub, nil)
	s.emit("customer.subscription.updated", after, changed(before, after), sub.customer, true)
	s.Faults.Record("POST /v1/invoices/{id}/pay", "renew "+subID+" with "+inv.id)
}

// FailPayment makes a payment attempt fail. When the latest invoice is paid it first bills the next
// period (a renewal, or the end of a trial) with a new open invoice; when the latest invoice is
// already open this is one more failed retry on it. The attempt is a failed charge on the invoice's
// payment intent; the subscription becomes past_due. Events: charge.failed,
// payment_intent.payment_failed, invoice.payment_failed, and customer.subscription.updated when
// the status changes.
func (s *Server) FailPayment(subID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sub := s.mustSub(subID)
	if sub.status == "canceled" || sub.status == "incomplete_expired" {
		panic("stripetest: FailPayment " + subID + ": subscription has ended")
	}
	before := s.renderSubscription(sub, nil)
	inv := s.st.invoices[sub.latestInvoice]
	if inv == nil || inv.status != "open" {
		s.advance(sub)
		inv = s.newInvoice(sub, "subscription_cycle", false)
		s.emit("invoice.created", s.renderInvoice(inv, nil), nil, sub.customer, true)
		s.emit("invoice.finalized", s.renderInvoice(inv, nil), nil, sub.customer, true)
	}
	_, pi := s.openPayment(inv)
	ch := s.newCharge(pi, false)
	inv.attemptCount++
	inv.nextAttempt = s.Now().Add(72 * time.Hour).Unix()
	s.emit("charge.failed", s.renderCharge(ch, nil), nil, sub.customer, true)
	s.emit("payment_intent.payment_failed", s.renderPaymentIntent(pi, nil), nil, sub.customer, true)
	s.emit("invoice.payment_failed", s.renderInvoice(inv, nil), nil, sub.customer, true)
	if sub.status != "past_due" && sub.status != "unpaid" {
		sub.status = "past_due"
	}
	after := s.renderSubscription(sub, nil)
	if prev := changed(before, after); len(prev) > 0 {
		s.emit("customer.subscription.updated", after, prev, sub.customer, true)
	}
	s.Faults.Record("POST /v1/invoices/{id}/pay", fmt.Sprintf("payment failed for %s on %s (attempt %d)", subID, inv.id, inv.attemptCount))
}

// SendInvoices switches a subscription to collection_method=send_invoice with days_until_due days:
// its later invoices are emailed to the customer, to be paid within that many days, and no charge is
// attempted on them. Events: customer.subscription.updated.
func (s *Server) SendInvoices(subID string, daysUntilDue int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if daysUntilDue < 1 {
		panic("stripetest: SendInvoices needs days_until_due >= 1")
	}
	sub := s.mustSub(subID)
	before := s.renderSubscription(sub, nil)
	sub.daysUntilDue = int64(daysUntilDue)
	after := s.renderSubscription(sub, nil)
	s.emit("customer.subscription.updated", after, changed(before, after), sub.customer, false)
	s.Faults.Record("POST /v1/subscriptions/{id}", fmt.Sprintf("send invoices for %s, due in %d days", subID, daysUntilDue))
}

// SendRenewalInvoice bills the next period of a send_invoice subscription (SendInvoices): the items
// move a period on and a new open invoice, due days_until_due days from now, is sent. No payment is
// attempted. Events: invoice.created, invoice.finalized, invoice.sent.
func (s *Server) SendRenewalInvoice(subID string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	sub := s.mustSub(subID)
	if sub.daysUntilDue == 0 {
		panic("stripetest: SendRenewalInvoice " + subID + ": collection_method is charge_automatically; use SendInvoices")
	}
	if inv := s.st.invoices[sub.latestInvoice]; inv != nil && inv.status == "open" {
		panic("stripetest: SendRenewalInvoice " + subID + ": latest invoice " + inv.id + " is unpaid")
	}
	s.advance(sub)
	inv := s.newInvoice(sub, "subscription_cycle", false)
	s.emit("invoice.created", s.renderInvoice(inv, nil), nil, sub.customer, true)
	s.emit("invoice.finalized", s.renderInvoice(inv, nil), nil, sub.customer, true)
	s.emit("invoice.sent", s.renderInvoice(inv, nil), nil, sub.customer, true)
	s.Faults.Record("POST /v1/invoices/{id}/send", "renewal invoice "+inv.id+" sent for "+subID)
	return inv.id
}

// InvoiceOverdue passes the due date of a send_invoice subscription's open latest invoice unpaid:
// as Stripe's subscription lifecycle says, the subscription becomes past_due after the due date. No
// charge exists for it (nothing was attempted). The clock does not move: Advance it past the due
// date first. Events: invoice.overdue, customer.subscription.updated.
func (s *Server) InvoiceOverdue(subID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sub := s.mustSub(subID)
	inv := s.st.invoices[sub.latestInvoice]
	if inv == nil || inv.status != "open" || inv.collectionMethod != "send_invoice" {
		panic("stripetest: InvoiceOverdue " + subID + ": latest invoice is not an open sent invoice")
	}
	before := s.renderSubscription(sub, nil)
	s.emit("invoice.overdue", s.renderInvoice(inv, nil), nil, sub.customer, true)
	if sub.status == "active" || sub.status == "trialing" {
		sub.status = "past_due"
	}
	after := s.renderSubscription(sub, nil)
	if prev := changed(before, after); len(prev) > 0 {
		s.emit("customer.subscription.updated", after, prev, sub.customer, true)
	}
	s.Faults.Record("POST /v1/subscriptions/{id}", "invoice "+inv.id+" overdue, "+subID+" past_due")
}

// RecoverPayment pays the open latest invoice of a subscription (a retry that succeeds, or a new
// card): a succeeded charge on the same payment intent; a past_due or unpaid subscription becomes
// active. Events: charge.succeeded, payment_intent.succeeded, invoice_payment.paid, invoice.paid,
// invoice.payment_succeeded, customer.subscription.updated.
func (s *Server) RecoverPayment(subID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sub := s.mustSub(subID)
	inv := s.st.invoices[sub.latestInvoice]
	if inv == nil || inv.status != "open" {
		panic("stripetest: RecoverPayment " + subID + ": latest invoice is not open")
	}
	before := s.renderSubscription(sub, nil)
	s.collect(inv)
	if sub.status == "past_due" || sub.status == "unpaid" {
		sub.status = "active"
	}
	after := s.renderSubscription(sub, nil)
	if prev := changed(before, after); len(prev) > 0 {
		s.emit("customer.subscription.updated", after, prev, sub.customer, true)
	}
	s.Faults.Record("POST /v1/invoices/{id}/pay", "payment recovered for "+subID+" on "+inv.id)
}

// CancelAtPeriodEnd schedules a subscription to cancel when its period ends (customer.subscription.updated).
func (s *Server) CancelAtPeriodEnd(subID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sub := s.mustSub(subID)
	before := s.renderSubscription(sub, nil)
	sub.cancelAtPeriodEnd = true
	sub.canceledAt = s.Now().Unix()
	for _, it := range s.subItems(sub) {
		sub.cancelAt = it.periodEnd
	}
	sub.cancelReason = "cancellation_requested"
	after := s.renderSubscription(sub, nil)
	s.emit("customer.subscription.updated", after, changed(before, after), sub.customer, false)
	s.Faults.Record("POST /v1/subscriptions/{id}", "cancel at period end "+subID)
}

// CancelNow cancels a subscription immediately (customer.subscription.deleted).
func (s *Server) CancelNow(subID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sub := s.mustSub(subID)
	s.endSubscription(sub, "cancellation_requested", false)
	s.Faults.Record("DELETE /v1/subscriptions/{id}", "cancel "+subID)
}

// endSubscription cancels sub now and sends customer.subscription.deleted.
func (s *Server) endSubscription(sub *subscription, reason string, automatic bool) {
	now := s.Now().Unix()
	sub.status = "canceled"
	if sub.canceledAt == 0 {
		sub.canceledAt = now
	}
	sub.endedAt = now
	sub.cancelReason = reason
	s.emit("customer.subscription.deleted", s.renderSubscription(sub, nil), nil, sub.customer, automatic)
}

// ExpireUnpaid ends a failing subscription the way Stripe does when all retries failed: canceled
// (customer.subscription.deleted), or unpaid with Options.UnpaidWhenRetriesExhausted
// (customer.subscription.updated). The open invoice stays open.
func (s *Server) ExpireUnpaid(subID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sub := s.mustSub(subID)
	if s.opts.UnpaidWhenRetriesExhausted {
		before := s.renderSubscription(sub, nil)
		sub.status = "unpaid"
		after := s.renderSubscription(sub, nil)
		s.emit("customer.subscription.updated", after, changed(before, after), sub.customer, true)
		s.Faults.Record("POST /v1/subscriptions/{id}", "retries exhausted, unpaid "+subID)
		return
	}
	s.endSubscription(sub, "payment_failed", true)
	s.Faults.Record("DELETE /v1/subscriptions/{id}", "retries exhausted, canceled "+subID)
}

// Purchase is a one-time purchase of one price through Checkout (mode=payment, paid). It returns the
// session id and the id of the charge that paid it. Events: charge.succeeded,
// payment_intent.succeeded, checkout.session.completed.
func (s *Server) Purchase(customerID, priceID string) (sessionID, chargeID string) {
	return s.PurchaseItems(customerID, priceID)
}

// PurchaseItems is Purchase with several line items.
func (s *Server) PurchaseItems(customerID string, priceIDs ...string) (sessionID, chargeID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.mustCustomer(customerID)
	if len(priceIDs) == 0 {
		panic("stripetest: PurchaseItems needs a price")
	}
	now := s.Now().Unix()
	cs := &checkoutSession{id: s.st.newID("cs_test"), customer: c.id, email: c.email, name: c.name,
		mode: "payment", status: "complete", paymentStatus: "paid", created: now,
		successURL: "https://example.com/welcome?session_id={CHECKOUT_SESSION_ID}"}
	for _, id := range priceIDs {
		p := s.mustPrice(id)
		cs.lineItems = append(cs.lineItems, lineItem{id: s.st.newID("li"), price: p.id, amount: p.unitAmount})
		cs.amountTotal += p.unitAmount
	}
	pi := s.newIntent(c.id, cs.amountTotal, "")
	cs.intent = pi.id
	ch := s.newCharge(pi, true)
	s.st.sessions[cs.id] = cs
	s.emit("charge.succeeded", s.renderCharge(ch, nil), nil, c.id, false)
	s.emit("payment_intent.succeeded", s.renderPaymentIntent(pi, nil), nil, c.id, false)
	s.emit("checkout.session.completed", s.renderSession(cs, nil), nil, c.id, false)
	s.Faults.Record("POST /v1/checkout/sessions", fmt.Sprintf("purchase by %s: %s paid by %s", c.id, cs.id, ch.id))
	return cs.id, ch.id
}

// Refund refunds amount of a charge (everything left when amount <= 0 or more than is left) and
// returns the refund id. Events: refund.created, charge.refunded (with previous_attributes).
func (s *Server) Refund(chargeID string, amount int64) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	ch := s.mustCharge(chargeID)
	left := ch.amount - ch.amountRefunded
	if ch.status != "succeeded" || left <= 0 {
		panic("stripetest: Refund " + chargeID + ": nothing to refund")
	}
	if amount <= 0 || amount > left {
		amount = left
	}
	before := s.renderCharge(ch, nil)
	r := &refund{id: s.st.newID("re"), charge: ch.id, intent: ch.intent, amount: amount, created: s.Now().Unix()}
	s.st.refunds[r.id] = r
	ch.refunds = append([]string{r.id}, ch.refunds...)
	ch.amountRefunded += amount
	after := s.renderCharge(ch, nil)
	s.emit("refund.created", s.renderRefund(r, nil), nil, ch.customer, false)
	s.emit("charge.refunded", after, changed(before, after), ch.customer, false)
	s.Faults.Record("POST /v1/refunds", fmt.Sprintf("refund %d of %s", amount, chargeID))
	return r.id
}

// Dispute opens a dispute (chargeback) on a charge and returns its id (dp_…). Event:
// charge.dispute.created.
func (s *Server) Dispute(chargeID string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	ch := s.mustCharge(chargeID)
	d := &dispute{id: s.st.newID("dp"), charge: ch.id, intent: ch.intent, amount: ch.amount - ch.amountRefunded,
		status: "needs_response", created: s.Now().Unix()}
	s.st.disputes[d.id] = d
	ch.disputed = true
	s.emit("charge.dispute.created", s.renderDispute(d, nil), nil, ch.customer, true)
	s.Faults.Record("POST /v1/disputes", "dispute "+d.id+" on "+chargeID)
	return d.id
}

// CloseDispute closes a dispute as won or lost (charge.dispute.closed).
func (s *Server) CloseDispute(disputeID string, won bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.st.disputes[disputeID]
	if d == nil {
		panic("stripetest: no such dispute " + disputeID)
	}
	d.status = "lost"
	if won {
		d.status = "won"
	}
	s.emit("charge.dispute.closed", s.renderDispute(d, nil), nil, s.st.charges[d.charge].customer, true)
	s.Faults.Record("POST /v1/disputes/{id}/close", "dispute "+disputeID+" "+d.status)
}

// LatestCharge returns the charge that last tried to pay a subscription's latest invoice ("" when the
// invoice had no payment, like a trial's).
func (s *Server) LatestCharge(subID string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	inv := s.st.invoices[s.mustSub(subID).latestInvoice]
	if inv == nil || len(inv.payments) == 0 {
		return ""
	}
	ip := s.st.inpays[inv.payments[len(inv.payments)-1]]
	return s.st.intents[ip.intent].latestCharge
}

// SubscriptionStatus returns a subscription's status.
func (s *Server) SubscriptionStatus(subID string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mustSub(subID).status
}
