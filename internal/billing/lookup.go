package billing

import (
	"context"
	"iter"
	"strings"
	"time"

	"github.com/stripe/stripe-go/v85"

	"github.com/membersync/membersync/internal/identity"
	"github.com/membersync/membersync/internal/provider"
)

// CustomerIDsByEmail returns the ids of the live customers whose email is email, newest first, through
// every page. Stripe's email filter is an exact, case-sensitive match: the email is looked up as given
// and, when different, in its normalized form (a customer stored as "Ann@Example.com" is only found
// when that spelling is given, as the webhook's customer object gives it).
func (r *Reader) CustomerIDsByEmail(ctx context.Context, email string) ([]string, error) {
	email = strings.TrimSpace(email)
	if email == "" {
		return nil, nil
	}
	ctx, tr := track(ctx)
	forms := []string{email}
	if n := identity.NormalizeEmail(email); n != email {
		forms = append(forms, n)
	}
	seen := map[string]bool{}
	var ids []string
	for _, f := range forms {
		p := &stripe.CustomerListParams{Email: stripe.String(f)}
		p.Limit = stripe.Int64(pageSize)
		for c, err := range r.sc.V1Customers.List(ctx, p).All(ctx) {
			if err != nil {
				return nil, tr.fail(err)
			}
			if c.Deleted || seen[c.ID] {
				continue
			}
			seen[c.ID] = true
			ids = append(ids, c.ID)
		}
	}
	return ids, nil
}

// CustomerExists reads customer id and reports whether Stripe has it and has not deleted it (a
// deleted customer is still retrievable, marked deleted). An unknown id is (false, false, nil);
// any other failure is the error.
func (r *Reader) CustomerExists(ctx context.Context, id string) (exists, deleted bool, err error) {
	ctx, tr := track(ctx)
	c, err := r.sc.V1Customers.Retrieve(ctx, id, nil)
	if err != nil {
		err = tr.fail(err)
		if provider.KindOf(err) == provider.NotFound {
			return false, false, nil
		}
		return false, false, err
	}
	return !c.Deleted, c.Deleted, nil
}

// Session is a Checkout Session as the post-checkout welcome page needs it.
type Session struct {
	ID            string // cs_…
	CustomerID    string // "" for a guest checkout
	CustomerEmail string // the email entered at checkout
	Mode          string // payment, subscription, setup
	Status        string // open, complete, expired
	PaymentStatus string // paid, unpaid, no_payment_required
}

// CheckoutSession reads a Checkout Session. The id comes from a URL, so anything that is not shaped
// like a session id is NotFound without a call.
func (r *Reader) CheckoutSession(ctx context.Context, id string) (Session, error) {
	if !validSessionID(id) {
		return Session{}, &provider.Error{Provider: "stripe", Operation: "get_checkout_session", Kind: provider.NotFound,
			Message: "not a Checkout Session id"}
	}
	ctx, tr := track(ctx)
	cs, err := r.sc.V1CheckoutSessions.Retrieve(ctx, id, nil)
	if err != nil {
		return Session{}, tr.fail(err)
	}
	s := Session{ID: cs.ID, Mode: string(cs.Mode), Status: string(cs.Status), PaymentStatus: string(cs.PaymentStatus),
		CustomerEmail: cs.CustomerEmail}
	if cs.Customer != nil {
		s.CustomerID = cs.Customer.ID
	}
	if cs.CustomerDetails != nil && cs.CustomerDetails.Email != "" {
		s.CustomerEmail = cs.CustomerDetails.Email
	}
	return s, nil
}

func validSessionID(id string) bool {
	if !strings.HasPrefix(id, "cs_") || len(id) > 255 {
		return false
	}
	for _, c := range id {
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// BillingPortalURL creates a billing portal session for a customer and returns its short-lived URL;
// the customer comes back to returnURL. It needs Write on Customer portal.
func (r *Reader) BillingPortalURL(ctx context.Context, customerID, returnURL string) (string, error) {
	ctx, tr := track(ctx)
	p := &stripe.BillingPortalSessionCreateParams{Customer: stripe.String(customerID)}
	if returnURL != "" {
		p.ReturnURL = stripe.String(returnURL)
	}
	ps, err := r.sc.V1BillingPortalSessions.Create(ctx, p)
	if err != nil {
		return "", tr.fail(err)
	}
	return ps.URL, nil
}

// ActiveSubscriptionCustomers yields, once each, the customers that have a subscription that is not
// canceled (Stripe's default subscription list: every status but canceled), through every page: the
// Stripe side of the drift sweep. Iteration stops at the first error, which is yielded.
func (r *Reader) ActiveSubscriptionCustomers(ctx context.Context) iter.Seq2[string, error] {
	return func(yield func(string, error) bool) {
		ctx, tr := track(ctx)
		p := &stripe.SubscriptionListParams{}
		p.Limit = stripe.Int64(pageSize)
		seen := map[string]bool{}
		for s, err := range r.sc.V1Subscriptions.List(ctx, p).All(ctx) {
			if err != nil {
				yield("", tr.fail(err))
				return
			}
			if s.Status == stripe.SubscriptionStatusCanceled || s.Customer == nil || seen[s.Customer.ID] {
				continue
			}
			seen[s.Customer.ID] = true
			if !yield(s.Customer.ID, nil) {
				return
			}
		}
	}
}

// PaidPaymentSessionCustomers yields, once each, the customers of paid Checkout Sessions in payment
// mode created since since (zero: all), through every page. Guest sessions (no customer) are
// skipped. Iteration stops at the first error, which is yielded.
func (r *Reader) PaidPaymentSessionCustomers(ctx context.Context, since time.Time) iter.Seq2[string, error] {
	return func(yield func(string, error) bool) {
		ctx, tr := track(ctx)
		p := &stripe.CheckoutSessionListParams{Status: stripe.String("complete")}
		p.Limit = stripe.Int64(pageSize)
		if !since.IsZero() {
			p.CreatedRange = &stripe.RangeQueryParams{GreaterThanOrEqual: since.Unix()}
		}
		seen := map[string]bool{}
		for cs, err := range r.sc.V1CheckoutSessions.List(ctx, p).All(ctx) {
			if err != nil {
				yield("", tr.fail(err))
				return
			}
			if cs.Mode != stripe.CheckoutSessionModePayment || cs.PaymentStatus != stripe.CheckoutSessionPaymentStatusPaid ||
				cs.Customer == nil || seen[cs.Customer.ID] {
				continue
			}
			seen[cs.Customer.ID] = true
			if !yield(cs.Customer.ID, nil) {
				return
			}
		}
	}
}
