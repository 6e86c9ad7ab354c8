package backfill

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/membersync/membersync/internal/inbox"
	"github.com/membersync/membersync/internal/store"
)

// DefaultQuiet is how long an event of Stripe's may go undelivered before the endpoint looks broken.
const DefaultQuiet = time.Hour

// deliverySlack is how long after an event's creation the deliveries of earlier events may still
// arrive: only a delivery later than that shows that the endpoint works.
const deliverySlack = time.Minute

// EndpointStatus compares Stripe's latest event with the latest webhook delivery.
type EndpointStatus struct {
	// LatestEventID, LatestEventType and LatestEventAt describe Stripe's newest event (empty when
	// the account has none in 30 days).
	LatestEventID   string    `json:"latest_event_id,omitempty"`
	LatestEventType string    `json:"latest_event_type,omitempty"`
	LatestEventAt   time.Time `json:"latest_event_at,omitzero"`
	// Received is true when that event was delivered to the webhook endpoint.
	Received bool `json:"received"`
	// LastWebhookAt is when the last webhook delivery was stored (zero: never).
	LastWebhookAt time.Time `json:"last_webhook_at,omitzero"`
	// Broken is true when Stripe has had an event for longer than the quiet period and no delivery
	// arrived since it was created.
	Broken bool `json:"broken"`
	// Reason says why, in a sentence for the alert.
	Reason string `json:"reason"`
}

// CheckEndpoint is the light periodic check behind "no webhook for N hours": one Stripe call for the
// latest event and two reads. The endpoint looks broken when Stripe's latest event is older than
// quiet (DefaultQuiet when zero), was not delivered, and no delivery at all arrived since it was
// created. An event of a type membersync does not act on is not judged (the endpoint may rightly not
// subscribe to it).
func (b *Backfiller) CheckEndpoint(ctx context.Context, quiet time.Duration) (EndpointStatus, error) {
	if quiet <= 0 {
		quiet = DefaultQuiet
	}
	var st EndpointStatus
	ev, ok, err := b.Stripe.LatestEvent(ctx)
	if err != nil {
		return st, fmt.Errorf("reading Stripe's latest event: %w", err)
	}
	if st.LastWebhookAt, err = b.Store.LatestWebhookAt(ctx); err != nil {
		return st, err
	}
	if !ok {
		st.Reason = "Stripe has no event in the last 30 days: nothing to compare"
		return st, nil
	}
	st.LatestEventID, st.LatestEventType, st.LatestEventAt = ev.ID, ev.Type, ev.Created
	src, err := b.Store.EventSource(ctx, ev.ID)
	switch {
	case err == nil && src == "webhook":
		st.Received = true
		st.Reason = "Stripe's latest event was delivered"
		return st, nil
	case err != nil && !errors.Is(err, store.ErrNotFound):
		return st, err
	}
	age := b.now().Sub(ev.Created)
	switch {
	case !inbox.Actionable(ev.Type):
		st.Reason = fmt.Sprintf("Stripe's latest event is a %s, which membersync does not act on (the endpoint may not subscribe to it): not judged", ev.Type)
	case age < quiet:
		st.Reason = fmt.Sprintf("Stripe's latest event is %s old, within the %s allowed for its delivery", age.Round(time.Second), quiet)
	case st.LastWebhookAt.After(ev.Created.Add(deliverySlack)):
		st.Reason = "webhooks arrived after Stripe's latest event was created (that event was not delivered: is its type enabled on the endpoint?)"
	default:
		st.Broken = true
		last, outage := "no webhook was ever received", age
		if !st.LastWebhookAt.IsZero() {
			last = "the last webhook arrived at " + st.LastWebhookAt.Format(time.RFC3339)
			outage = max(age, b.now().Sub(st.LastWebhookAt))
		}
		st.Reason = fmt.Sprintf("Stripe's latest event %s (%s) was created %s ago and was not delivered; %s: check the endpoint in Stripe's Dashboard, then run membersync backfill --since %s",
			ev.ID, ev.Type, age.Round(time.Minute), last, backfillWindow(outage))
	}
	return st, nil
}

// backfillWindow is a --since that covers an outage of age, with margin, within Stripe's 30 days.
func backfillWindow(age time.Duration) string {
	h := int((age+time.Hour-1)/time.Hour) + 1
	return fmt.Sprintf("%dh", min(h, int(MaxWindow/time.Hour)))
}
