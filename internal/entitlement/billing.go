package entitlement

import (
	"fmt"
	"time"
)

// Billing is one person's billing state as read from Stripe: every Stripe customer whose normalized
// email belongs to the person, and the comps an operator granted the person. It is the only input of
// Compute besides the plans and the clock.
type Billing struct {
	Customers []Customer
	// Comps are the person's comps, whatever their state (revoked and ended ones included).
	Comps []Comp `json:",omitempty"`
}

// Comp is a plan an operator granted a person without payment: an entitlement input beside Stripe.
// It grants the plan like an active purchase (the plan's access groups, its active tag and its
// onboarding sequence) from when it is stored until Until, unless it is revoked. A revocation takes
// effect whatever the clock says: a revoked comp grants nothing at any instant. A comp of a plan the
// config no longer names grants nothing.
type Comp struct {
	ID      int64
	PlanID  string
	Granted time.Time // when the operator granted it
	Until   time.Time // when it ends; zero: no end
	Revoked time.Time // when it was revoked; zero while it is not
}

// CompSource is the Source of a PlanState decided by the comp with the given id: "comp:ID".
func CompSource(id int64) string { return fmt.Sprintf("comp:%d", id) }

// Customer is one Stripe customer and what it bought.
type Customer struct {
	ID      string // cus_…
	Email   string // as Stripe holds it (not normalized)
	Name    string
	Deleted bool
	// Subscriptions holds every subscription of the customer, whatever its status (status=all).
	Subscriptions []Subscription
	// Purchases holds the paid one-time Checkout Sessions (mode=payment) of the customer.
	Purchases []Purchase
}

// Subscription is a Stripe subscription reduced to what entitlements depend on.
type Subscription struct {
	ID      string // sub_…
	Status  string // trialing, active, past_due, unpaid, canceled, incomplete, incomplete_expired, paused
	Created time.Time
	// CancelAtPeriodEnd is true when an active subscription will cancel at the end of its period.
	CancelAtPeriodEnd bool
	// CancelAt is when the subscription is scheduled to cancel (zero when not scheduled).
	CancelAt time.Time
	// EndedAt is when a canceled subscription ended (zero otherwise).
	EndedAt time.Time
	// TrialEnd is the end of the trial (zero when none).
	TrialEnd time.Time
	// Items are the subscription items: price, product and the item's current period end (basil+).
	Items []Item
	// FirstFailedPaymentAt is the first failed payment attempt of the current dunning run (the earliest
	// failed charge on the invoice that is still unpaid); zero when no payment is failing or it is unknown.
	FirstFailedPaymentAt time.Time
	// LatestCharges are the charges that paid the latest invoice, with their refunds and disputes: a full
	// refund or an open/lost dispute of the current period's payment revokes the subscription's access.
	LatestCharges []Charge
}

// Item is one priced line: a subscription item or a Checkout Session line item.
type Item struct {
	PriceID   string // price_…
	ProductID string // prod_…
	// CurrentPeriodStart is the start of the item's current billing period (subscription items only,
	// basil+). Compute uses it to date a failing payment when FirstFailedPaymentAt is unknown.
	CurrentPeriodStart time.Time
	// CurrentPeriodEnd is the end of the item's current billing period (subscription items only).
	CurrentPeriodEnd time.Time
}

// Purchase is a paid one-time Checkout Session (mode=payment).
type Purchase struct {
	SessionID string // cs_…
	// PaidAt is when the session completed (its creation time when completion is unknown).
	PaidAt time.Time
	Items  []Item
	// Charges are the charges behind the session's payment intent.
	Charges []Charge
}

// Charge is a Stripe charge with what happened to it afterwards.
type Charge struct {
	ID             string // ch_…
	Amount         int64  // in the smallest currency unit
	AmountRefunded int64
	Disputes       []Dispute
}

// Dispute is a chargeback on a charge.
type Dispute struct {
	ID      string // dp_…
	Status  string // warning_needs_response, warning_under_review, warning_closed, needs_response, under_review, won, lost
	Created time.Time
}
