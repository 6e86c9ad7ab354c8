package billing

import (
	"bytes"
	"context"
	"encoding/json"
	"iter"
	"time"

	"github.com/stripe/stripe-go/v85"

	"github.com/membersync/membersync/internal/provider"
)

// Event is the envelope of a Stripe event as membersync stores it.
type Event struct {
	ID         string // evt_…
	Type       string
	CustomerID string // EventCustomerID of data.object ("" when the object names no customer)
	APIVersion string
	Created    time.Time
	Livemode   bool
	// PendingWebhooks is Stripe's pending_webhooks when the event was read: how many webhook endpoints
	// of the account have not yet acknowledged it.
	PendingWebhooks int
	// Raw is the whole event JSON as the API returned it, the same shape a webhook delivers.
	Raw json.RawMessage
}

// EventQuery selects events for Events.
type EventQuery struct {
	// CreatedGTE keeps events created at or after this instant (zero: no bound; Stripe keeps 30 days).
	CreatedGTE time.Time
	// Types keeps only these event types (at most 20; none means every type).
	Types []string
	// AfterID resumes after this event: only newer events are returned.
	AfterID string
}

// maxEventTypes is how many types[] Stripe accepts in one list call.
const maxEventTypes = 20

// Events yields the events matching q, oldest first, through every page. Stripe lists newest first;
// oldest first is what ending_before gives, from an anchor event. With AfterID that event is the
// anchor and each page costs one call. Without it the oldest matching event must be found first: one
// pass newest-first over the window, then the pass oldest-first, so a fresh backfill costs about twice
// the pages of a resumed one. An AfterID older than Stripe's 30 days answers NotFound. Iteration
// stops at the first error, which is yielded.
func (r *Reader) Events(ctx context.Context, q EventQuery) iter.Seq2[Event, error] {
	return func(yield func(Event, error) bool) {
		if len(q.Types) > maxEventTypes {
			yield(Event{}, &provider.Error{Provider: "stripe", Operation: "list_events", Kind: provider.Permanent,
				Message: "at most 20 event types can be listed at once"})
			return
		}
		ctx, tr := track(ctx)
		params := func() *stripe.EventListParams {
			p := &stripe.EventListParams{}
			p.Limit = stripe.Int64(pageSize)
			for _, t := range q.Types {
				p.Types = append(p.Types, stripe.String(t))
			}
			if !q.CreatedGTE.IsZero() {
				p.CreatedRange = &stripe.RangeQueryParams{GreaterThanOrEqual: q.CreatedGTE.Unix()}
			}
			return p
		}
		anchor := q.AfterID
		if anchor == "" {
			var oldest *stripe.Event
			for e, err := range r.sc.V1Events.List(ctx, params()).All(ctx) {
				if err != nil {
					yield(Event{}, tr.fail(err))
					return
				}
				oldest = e
			}
			if oldest == nil {
				return
			}
			if !yield(toEvent(oldest), nil) {
				return
			}
			anchor = oldest.ID
		}
		p := params()
		p.EndingBefore = stripe.String(anchor)
		for e, err := range r.sc.V1Events.List(ctx, p).All(ctx) {
			if err != nil {
				yield(Event{}, tr.fail(err))
				return
			}
			if !yield(toEvent(e), nil) {
				return
			}
		}
	}
}

// LatestEvent returns the newest event of the account; false when there is none (in 30 days).
func (r *Reader) LatestEvent(ctx context.Context) (Event, bool, error) {
	ctx, tr := track(ctx)
	p := &stripe.EventListParams{}
	p.Limit = stripe.Int64(1)
	p.Single = true
	for e, err := range r.sc.V1Events.List(ctx, p).All(ctx) {
		if err != nil {
			return Event{}, false, tr.fail(err)
		}
		return toEvent(e), true, nil
	}
	return Event{}, false, nil
}

// maxUndeliveredPage bounds the one page UndeliveredEvents reads.
const maxUndeliveredPage = 100

// UndeliveredEvents reads, with one list call, the events created from from to to (inclusive) that
// Stripe has not delivered to every webhook endpoint of the account, newest first, at most limit
// (1 to 100); more reports that Stripe had further pages, which are not read.
//
// It asks with delivery_success=false, which Stripe documents as "events which are still pending or
// have failed all delivery attempts to a webhook endpoint", and keeps only the events whose
// pending_webhooks is above 0 ("number of webhooks that haven't been successfully delivered").
// Stripe's documentation does not say whether an event whose retries ran out (after 3 days) still
// counts in pending_webhooks: either way only events Stripe still holds as undelivered are kept, and
// were the filter ignored, the pending_webhooks check alone would still keep the right ones of the
// page.
func (r *Reader) UndeliveredEvents(ctx context.Context, from, to time.Time, limit int) (events []Event, more bool, err error) {
	ctx, tr := track(ctx)
	p := &stripe.EventListParams{DeliverySuccess: stripe.Bool(false)}
	p.Limit = stripe.Int64(int64(min(max(limit, 1), maxUndeliveredPage)))
	p.Single = true
	p.CreatedRange = &stripe.RangeQueryParams{GreaterThanOrEqual: from.Unix(), LesserThanOrEqual: to.Unix()}
	list := r.sc.V1Events.List(ctx, p)
	for e, err := range list.All(ctx) {
		if err != nil {
			return nil, false, tr.fail(err)
		}
		if e.PendingWebhooks > 0 {
			events = append(events, toEvent(e))
		}
	}
	return events, list.Meta().HasMore, nil
}

func toEvent(e *stripe.Event) Event {
	ev := Event{ID: e.ID, Type: string(e.Type), APIVersion: e.APIVersion, Created: unix(e.Created), Livemode: e.Livemode,
		PendingWebhooks: int(e.PendingWebhooks)}
	if e.LastResponse != nil {
		ev.Raw = bytes.Clone(e.LastResponse.RawJSON)
	}
	if e.Data != nil {
		ev.CustomerID = EventCustomerID(e.Data.Raw)
	}
	return ev
}

// EventCustomerID returns the customer an event's data.object concerns: its "customer" field, an id
// or an expanded object, or its "id" when the object is a customer. A whole event is accepted too
// (its data.object is used). Disputes and refunds name no customer, only a charge, and invoice
// payments only an invoice: for them it returns "", and Reader.EventCustomer resolves them.
func EventCustomerID(raw json.RawMessage) string {
	var o struct {
		Object   string          `json:"object"`
		ID       string          `json:"id"`
		Customer json.RawMessage `json:"customer"`
		Data     struct {
			Object json.RawMessage `json:"object"`
		} `json:"data"`
	}
	if err := json.Unmarshal(raw, &o); err != nil {
		return ""
	}
	switch o.Object {
	case "event":
		return EventCustomerID(o.Data.Object)
	case "customer":
		return o.ID
	}
	return idOf(o.Customer)
}

// idOf reads an expandable field: an id string, or an object's id.
func idOf(raw json.RawMessage) string {
	if len(raw) == 0 || string(raw) == "null" {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var v struct {
		ID string `json:"id"`
	}
	_ = json.Unmarshal(raw, &v)
	return v.ID
}

// EventCustomer is EventCustomerID that also resolves, with one call, the objects that name no
// customer: a dispute or refund through its charge (get_charge), an invoice payment through its
// invoice (get_invoice). It returns "" when the object concerns no customer (a guest's charge, a
// product).
func (r *Reader) EventCustomer(ctx context.Context, raw json.RawMessage) (string, error) {
	if id := EventCustomerID(raw); id != "" {
		return id, nil
	}
	var o struct {
		Object  string          `json:"object"`
		Charge  json.RawMessage `json:"charge"`
		Invoice json.RawMessage `json:"invoice"`
		Data    struct {
			Object json.RawMessage `json:"object"`
		} `json:"data"`
	}
	if err := json.Unmarshal(raw, &o); err != nil {
		return "", nil
	}
	if o.Object == "event" {
		return r.EventCustomer(ctx, o.Data.Object)
	}
	ctx, tr := track(ctx)
	var cust *stripe.Customer
	switch id := idOf(o.Charge); {
	case (o.Object == "dispute" || o.Object == "refund") && id != "":
		c, err := r.sc.V1Charges.Retrieve(ctx, id, nil)
		if err != nil {
			return "", tr.fail(err)
		}
		cust = c.Customer
	case o.Object == "invoice_payment" && idOf(o.Invoice) != "":
		inv, err := r.sc.V1Invoices.Retrieve(ctx, idOf(o.Invoice), nil)
		if err != nil {
			return "", tr.fail(err)
		}
		cust = inv.Customer
	}
	if cust == nil {
		return "", nil
	}
	return cust.ID, nil
}
