package converge_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/membersync/membersync/internal/billing"
	"github.com/membersync/membersync/internal/provider"
	"github.com/membersync/membersync/internal/provider/providertest"
)

// A known person's sync looks their email up beside the snapshot of their linked customers, and
// still reads a customer the lookup finds (one whose events never reached membersync): the person
// gets what that customer bought.
func TestSyncReadsTheCustomersFoundByEmail(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, e *env) {
		const email = "ona@example.test"
		first := e.stripe.CreateCustomer(email, "Ona")
		e.stripe.Subscribe(first, e.proPrice, 0)
		_, res := e.deliver(0)
		pid := res.PersonID
		e.sync(pid)

		// A second customer with the same email buys the course; its events are never delivered.
		second := e.stripe.CreateCustomer(email, "Ona")
		e.stripe.Purchase(second, e.coursePrice)
		e.stripe.Faults.ResetCalls()
		if out := e.sync(pid); !out.Converged {
			t.Fatalf("sync did not converge: %+v", out)
		}
		if n := e.stripe.Faults.Calls("GET /v1/customers"); n != 1 {
			t.Errorf("%d lookups by email, want 1", n)
		}
		if got := e.person(pid).CustomerIDs; !slices.Contains(got, first) || !slices.Contains(got, second) {
			t.Errorf("person's customers %v, want both %s and %s", got, first, second)
		}
		for _, g := range []int64{e.proGroup, e.courseGroup} {
			if got := e.circle.GroupMemberEmails(g); !slices.Contains(got, email) {
				t.Errorf("group %d members %v: want the person, entitled by both customers", g, got)
			}
		}
	})
}

// A Stripe error in the lookup by email or in any read of the snapshot beside it fails the whole
// sync (the worker retries it) with that read's error, and the person stays dirty.
func TestSyncFailsWhenAnyBillingReadFails(t *testing.T) {
	t.Parallel()
	for endpoint, op := range map[string]string{
		"GET /v1/customers":         "list_customers",
		"GET /v1/customers/{id}":    "get_customer",
		"GET /v1/subscriptions":     "list_subscriptions",
		"GET /v1/charges":           "list_charges",
		"GET /v1/checkout/sessions": "list_checkout_sessions",
	} {
		t.Run(op, func(t *testing.T) {
			t.Parallel()
			forEachDialect(t, func(t *testing.T, e *env) {
				const email = "pia@example.test"
				cus := e.stripe.CreateCustomer(email, "Pia")
				e.stripe.Subscribe(cus, e.proPrice, 0)
				sent, res := e.deliver(0)
				pid := res.PersonID
				e.sync(pid)
				e.stripe.Purchase(cus, e.coursePrice)
				e.deliver(sent)

				faults := &providertest.Faults{}
				faults.FailFor(time.Hour, providertest.Fault{Status: 500, Body: `{"error":{"type":"api_error","message":"injected"}}`})
				mux := http.NewServeMux()
				mux.Handle(endpoint, faults.Wrap(endpoint, e.stripe.Handler()))
				mux.Handle("/", e.stripe.Handler())
				proxy := httptest.NewServer(mux)
				t.Cleanup(proxy.Close)
				e.engine.Billing = billing.NewReader(billing.Config{SecretKey: e.stripe.SecretKey(), BaseURL: proxy.URL})

				_, err := e.engine.Sync(e.ctx, pid, "event", 1)
				var pe *provider.Error
				if !errors.As(err, &pe) || pe.Operation != op || pe.Status != 500 || !provider.Retryable(err) {
					t.Fatalf("sync with %s failing: error %v, want the retryable 500 of %s", endpoint, err, op)
				}
				if p := e.person(pid); p.SyncedGeneration == p.Generation {
					t.Errorf("person settled at generation %d by a sync that could not read billing", p.Generation)
				}
				if got := e.circle.GroupMemberEmails(e.courseGroup); slices.Contains(got, email) {
					t.Errorf("course granted by a sync that could not read billing: %v", got)
				}
			})
		})
	}
}
