package billing_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/membersync/membersync/internal/billing"
	"github.com/membersync/membersync/internal/billing/stripetest"
	"github.com/membersync/membersync/internal/entitlement"
	"github.com/membersync/membersync/internal/provider"
	"github.com/membersync/membersync/internal/provider/providertest"
)

// fixture is the Stripe state of a snapshot test: the fake's options and what the Control API does
// to it, returning the customer ids to read (duplicates and empty ids included where the test did).
type fixture struct {
	name  string
	opts  stripetest.Options
	build func(e *env) []string
}

// fixtures are the Stripe states the snapshot tests of billing_test.go build, each at the moment
// it reads them.
func fixtures() []fixture {
	return []fixture{
		{"subscriber, duplicate and empty ids", stripetest.Options{}, func(e *env) []string {
			cus := e.srv.CreateCustomer("Ann.Lee@example.com", "Ann Lee")
			e.srv.Subscribe(cus, e.monthly, 0)
			return []string{cus, cus, ""}
		}},
		{"subscriber through checkout", stripetest.Options{}, func(e *env) []string {
			cus := e.srv.CreateCustomer("new@example.com", "New Buyer")
			e.srv.SubscribeViaCheckout(cus, e.monthly, 0)
			return []string{cus}
		}},
		{"trialing", stripetest.Options{}, func(e *env) []string {
			cus := e.srv.CreateCustomer("t@example.com", "")
			e.srv.Subscribe(cus, e.monthly, 14)
			return []string{cus}
		}},
		{"trial ended, payment failed", stripetest.Options{}, func(e *env) []string {
			cus := e.srv.CreateCustomer("t@example.com", "")
			sub := e.srv.Subscribe(cus, e.monthly, 14)
			e.srv.Advance(14 * day)
			e.srv.FailPayment(sub)
			return []string{cus}
		}},
		{"past due after three attempts", stripetest.Options{}, func(e *env) []string {
			cus := e.srv.CreateCustomer("p@example.com", "")
			sub := e.srv.Subscribe(cus, e.monthly, 0)
			e.srv.Advance(31 * day)
			e.srv.FailPayment(sub)
			e.srv.Advance(3 * day)
			e.srv.FailPayment(sub)
			e.srv.Advance(2 * day)
			e.srv.FailPayment(sub)
			return []string{cus}
		}},
		{"recovered, then failing again", stripetest.Options{}, func(e *env) []string {
			cus := e.srv.CreateCustomer("p@example.com", "")
			sub := e.srv.Subscribe(cus, e.monthly, 0)
			e.srv.Advance(31 * day)
			e.srv.FailPayment(sub)
			e.srv.RecoverPayment(sub)
			e.srv.Advance(30 * day)
			e.srv.FailPayment(sub)
			return []string{cus}
		}},
		{"retries exhausted, canceled", stripetest.Options{}, func(e *env) []string {
			cus := e.srv.CreateCustomer("p@example.com", "")
			sub := e.srv.Subscribe(cus, e.monthly, 0)
			e.srv.FailPayment(sub)
			e.srv.ExpireUnpaid(sub)
			return []string{cus}
		}},
		{"unpaid", stripetest.Options{UnpaidWhenRetriesExhausted: true}, func(e *env) []string {
			cus := e.srv.CreateCustomer("u@example.com", "")
			sub := e.srv.Subscribe(cus, e.monthly, 0)
			e.srv.FailPayment(sub)
			e.srv.ExpireUnpaid(sub)
			return []string{cus}
		}},
		{"cancel at period end, then canceled twice", stripetest.Options{}, func(e *env) []string {
			cus := e.srv.CreateCustomer("c@example.com", "")
			sub := e.srv.Subscribe(cus, e.monthly, 0)
			e.srv.Advance(5 * day)
			e.srv.CancelAtPeriodEnd(sub)
			e.srv.Advance(start.AddDate(0, 1, 0).Sub(e.srv.Now()))
			e.srv.Renew(sub)
			e.srv.CancelNow(e.srv.Subscribe(cus, e.monthly, 0))
			e.srv.CancelAtPeriodEnd(e.srv.Subscribe(cus, e.monthly, 0))
			return []string{cus}
		}},
		{"purchases, refunds, a subscription session, another buyer", stripetest.Options{}, func(e *env) []string {
			cus := e.srv.CreateCustomer("b@example.com", "")
			e.srv.Advance(time.Hour)
			_, ch := e.srv.Purchase(cus, e.course)
			e.srv.Refund(ch, 10000)
			_, ch2 := e.srv.Purchase(cus, e.course)
			e.srv.Refund(ch2, 0)
			e.srv.SubscribeViaCheckout(cus, e.monthly, 0)
			e.srv.Purchase(e.srv.CreateCustomer("other@example.com", ""), e.course)
			return []string{cus}
		}},
		{"disputes open and closed", stripetest.Options{}, func(e *env) []string {
			cus := e.srv.CreateCustomer("d@example.com", "")
			_, won := e.srv.Purchase(cus, e.course)
			_, lost := e.srv.Purchase(cus, e.course)
			_, open := e.srv.Purchase(cus, e.course)
			sub := e.srv.Subscribe(cus, e.monthly, 0)
			e.srv.Advance(time.Hour)
			e.srv.CloseDispute(e.srv.Dispute(won), true)
			e.srv.CloseDispute(e.srv.Dispute(lost), false)
			e.srv.Dispute(open)
			e.srv.Dispute(e.srv.LatestCharge(sub))
			return []string{cus}
		}},
		{"without nested expansions", stripetest.Options{RefuseExpand: []string{"data.latest_invoice.payments", "data.payment_intent.latest_charge"}}, func(e *env) []string {
			return richCustomers(e)
		}},
		{"two customers with one email", stripetest.Options{}, func(e *env) []string {
			a := e.srv.CreateCustomer("same@example.com", "")
			b := e.srv.CreateCustomer("same@example.com", "")
			e.srv.Subscribe(a, e.monthly, 0)
			e.srv.Purchase(b, e.course)
			return []string{a, b}
		}},
		{"deleted customer", stripetest.Options{}, func(e *env) []string {
			cus := e.srv.CreateCustomer("gone@example.com", "Gone")
			e.srv.Subscribe(cus, e.monthly, 0)
			e.srv.Purchase(cus, e.course)
			e.srv.DeleteCustomer(cus)
			return []string{cus}
		}},
		{"a deleted customer beside live ones", stripetest.Options{}, func(e *env) []string {
			ids := richCustomers(e)
			gone := e.srv.CreateCustomer("rich@example.com", "")
			e.srv.Subscribe(gone, e.monthly, 0)
			e.srv.DeleteCustomer(gone)
			return append([]string{gone}, ids...)
		}},
		{"150 subscriptions", stripetest.Options{}, func(e *env) []string {
			cus := e.srv.CreateCustomer("many@example.com", "")
			for range 150 {
				e.srv.CancelNow(e.srv.Subscribe(cus, e.monthly, 0))
			}
			for range 3 {
				e.srv.Subscribe(cus, e.monthly, 0)
			}
			return []string{cus}
		}},
		{"small pages", stripetest.Options{MaxPageSize: 2}, func(e *env) []string {
			cus, _, _, _, _ := pagedCustomer(e)
			return []string{cus}
		}},
		{"restricted key's fixture", stripetest.Options{}, func(e *env) []string {
			cus := e.srv.CreateCustomer("err@example.com", "")
			sub := e.srv.Subscribe(cus, e.monthly, 0)
			_, ch := e.srv.Purchase(cus, e.course)
			e.srv.Dispute(ch)
			e.srv.Dispute(e.srv.LatestCharge(sub))
			return []string{cus}
		}},
		{"no customers", stripetest.Options{}, func(e *env) []string { return []string{"", ""} }},
	}
}

// richCustomers makes two customers with one email who between them call every endpoint a snapshot
// reads with the fake's options: a paying and a failing subscription, a trial, refunded and disputed
// purchases, one with several line items.
func richCustomers(e *env) []string {
	a := e.srv.CreateCustomer("rich@example.com", "Rich")
	b := e.srv.CreateCustomer("rich@example.com", "Rich again")
	paying := e.srv.Subscribe(a, e.monthly, 0)
	failing := e.srv.Subscribe(a, e.monthly, 0)
	e.srv.Subscribe(b, e.monthly, 30)
	e.srv.Advance(31 * day)
	e.srv.FailPayment(failing)
	e.srv.Advance(day)
	e.srv.FailPayment(failing)
	other := e.srv.CreatePrice(e.srv.CreateProduct("Workbook"), 1900, false)
	_, ch := e.srv.PurchaseItems(a, e.course, other)
	e.srv.Refund(ch, 500)
	e.srv.Dispute(ch)
	_, ch2 := e.srv.Purchase(b, e.course)
	e.srv.Dispute(ch2)
	e.srv.Dispute(e.srv.LatestCharge(paying))
	return []string{a, b}
}

// TestParallelSnapshotEqualsSequential reads every fixture one call after another (the sequential
// reading), customer first with its lists concurrent, and fully concurrent (Snapshot, several
// times), and wants the same snapshot each time: same customers, subscriptions and purchases in the
// same order. The concurrent readings make the same calls, but for the lists of a deleted customer,
// which Snapshot reads beside it and discards (or cancels before they start, when they wait for a
// slot until the customer answers).
func TestParallelSnapshotEqualsSequential(t *testing.T) {
	t.Parallel()
	for _, fx := range fixtures() {
		t.Run(fx.name, func(t *testing.T) {
			t.Parallel()
			e := newFastEnv(t, fx.opts)
			ids := fx.build(e)
			ctx := context.Background()

			e.srv.Faults.ResetCalls()
			want, err := billing.SnapshotWith(ctx, e.r, 1, false, ids...)
			if err != nil {
				t.Fatalf("sequential snapshot: %v", err)
			}
			seqCalls := e.srv.Faults.AllCalls()
			deleted := 0
			for _, c := range want.Customers {
				if c.Deleted {
					deleted++
				}
			}
			// A deleted customer's two lists may or may not reach the fake, and one canceled
			// before its answer may reach it late, counted with the next reading's calls.
			parCalls := func(calls map[string]int) bool {
				for _, ep := range []string{"GET /v1/subscriptions", "GET /v1/checkout/sessions"} {
					if n := calls[ep]; deleted > 0 && n >= seqCalls[ep] && n <= seqCalls[ep]+2*deleted {
						calls[ep] = seqCalls[ep]
					}
					if calls[ep] == 0 {
						delete(calls, ep)
					}
				}
				return maps.Equal(calls, seqCalls)
			}
			sameCalls := func(calls map[string]int) bool { return maps.Equal(calls, seqCalls) }

			for _, tc := range []struct {
				name  string
				read  func() (entitlement.Billing, error)
				calls func(map[string]int) bool
			}{
				{"customer first", func() (entitlement.Billing, error) { return billing.SnapshotWith(ctx, e.r, 4, true, ids...) }, sameCalls},
				{"Snapshot", func() (entitlement.Billing, error) { return e.r.Snapshot(ctx, ids...) }, parCalls},
				{"Snapshot again", func() (entitlement.Billing, error) { return e.r.Snapshot(ctx, ids...) }, parCalls},
				{"one call at a time per customer, two customers at once", func() (entitlement.Billing, error) {
					return billing.SnapshotWith(ctx, e.r, 2, false, ids...)
				}, parCalls},
			} {
				e.srv.Faults.ResetCalls()
				got, err := tc.read()
				if err != nil {
					t.Fatalf("%s: %v", tc.name, err)
				}
				if !reflect.DeepEqual(got, want) {
					gj, _ := json.MarshalIndent(got, "", " ")
					wj, _ := json.MarshalIndent(want, "", " ")
					t.Errorf("%s =\n%s\nwant the sequential\n%s", tc.name, gj, wj)
				}
				if calls := e.srv.Faults.AllCalls(); !tc.calls(maps.Clone(calls)) {
					t.Errorf("%s made calls %v, want those of the sequential reading %v (deleted customers: %d)", tc.name, calls, seqCalls, deleted)
				}
			}
		})
	}
}

// TestSnapshotMissingCustomer: an unknown customer fails the concurrent snapshot as it fails the
// sequential one, with get_customer's NotFound, not the 400 its lists answer.
func TestSnapshotMissingCustomer(t *testing.T) {
	t.Parallel()
	e := newFastEnv(t, stripetest.Options{})
	live := e.srv.CreateCustomer("live@example.com", "")
	e.srv.Subscribe(live, e.monthly, 0)
	for _, concurrency := range []int{1, 4} {
		for _, ids := range [][]string{{"cus_missing"}, {live, "cus_missing"}, {"cus_missing", live}} {
			b, err := billing.SnapshotWith(context.Background(), e.r, concurrency, false, ids...)
			var pe *provider.Error
			if !errors.As(err, &pe) || pe.Kind != provider.NotFound || pe.Status != 404 || pe.Operation != "get_customer" {
				t.Errorf("concurrency %d, %v: error %#v, want get_customer's NotFound", concurrency, ids, err)
			}
			if !reflect.DeepEqual(b, entitlement.Billing{}) {
				t.Errorf("concurrency %d, %v: partial snapshot %+v", concurrency, ids, b)
			}
		}
	}
}

// proxy puts a handler in front of the fake: the Reader it returns calls the proxy, which answers
// what route says for the requests it takes and passes the others to the fake.
func (e *env) proxy(t *testing.T, route func(mux *http.ServeMux)) *billing.Reader {
	t.Helper()
	mux := http.NewServeMux()
	route(mux)
	mux.Handle("/", e.srv.Handler())
	ps := httptest.NewServer(mux)
	t.Cleanup(ps.Close)
	return billing.NewReader(billing.Config{SecretKey: e.srv.SecretKey(), BaseURL: ps.URL, Observer: e.calls.observe, Now: e.srv.Now,
		RequestsPerMinute: unthrottled})
}

// unthrottled is a request budget these tests never wait for: they read the same state many times.
const unthrottled = 600_000

// newFastEnv is newEnv whose Reader's budget is unthrottled.
func newFastEnv(t *testing.T, opts stripetest.Options) *env {
	t.Helper()
	e := newEnv(t, opts)
	e.r = billing.NewReader(billing.Config{SecretKey: e.srv.SecretKey(), BaseURL: e.srv.URL, Observer: e.calls.observe, Now: e.srv.Now,
		RequestsPerMinute: unthrottled})
	return e
}

// failing is a proxied Reader whose calls to endpoint (a route pattern of the fake, such as
// "GET /v1/charges") all answer a Stripe 500 naming the endpoint, through fault injection of its
// own. The fake counts the calls that reach it.
func (e *env) failing(t *testing.T, endpoint string) *billing.Reader {
	t.Helper()
	faults := &providertest.Faults{}
	faults.FailFor(time.Hour, providertest.Fault{Status: 500,
		Body: fmt.Sprintf(`{"error":{"type":"api_error","message":"injected failure of %s"}}`, endpoint)})
	return e.proxy(t, func(mux *http.ServeMux) { mux.Handle(endpoint, faults.Wrap(endpoint, e.srv.Handler())) })
}

// operation is the Reader's name of a call to a route pattern of the fake.
var operation = map[string]string{
	"GET /v1/customers/{id}":                    "get_customer",
	"GET /v1/subscriptions":                     "list_subscriptions",
	"GET /v1/subscription_items":                "list_subscription_items",
	"GET /v1/invoices/{id}":                     "get_invoice",
	"GET /v1/invoice_payments":                  "list_invoice_payments",
	"GET /v1/charges":                           "list_charges",
	"GET /v1/charges/{id}":                      "get_charge",
	"GET /v1/disputes":                          "list_disputes",
	"GET /v1/checkout/sessions":                 "list_checkout_sessions",
	"GET /v1/checkout/sessions/{id}/line_items": "list_checkout_session_line_items",
}

// TestSnapshotFailsOnAnyRead fails, one at a time, every endpoint a snapshot of two customers
// reads, and wants the whole snapshot to fail with that read's classified error and no partial
// result, concurrently as sequentially: the sync retries it whole.
func TestSnapshotFailsOnAnyRead(t *testing.T) {
	t.Parallel()
	for _, opts := range []stripetest.Options{
		{},
		{RefuseExpand: []string{"data.latest_invoice.payments", "data.payment_intent.latest_charge"}},
	} {
		t.Run(fmt.Sprintf("refused expansions %v", opts.RefuseExpand), func(t *testing.T) {
			t.Parallel()
			e := newFastEnv(t, opts)
			ids := richCustomers(e)
			e.srv.Faults.ResetCalls()
			if _, err := e.r.Snapshot(context.Background(), ids...); err != nil {
				t.Fatal(err)
			}
			endpoints := e.srv.Faults.Endpoints()
			want := []string{"GET /v1/charges", "GET /v1/checkout/sessions", "GET /v1/customers/{id}", "GET /v1/disputes", "GET /v1/subscriptions"}
			if opts.RefuseExpand != nil {
				want = append(want, "GET /v1/checkout/sessions/{id}/line_items", "GET /v1/invoice_payments")
				slices.Sort(want)
			}
			if !slices.Equal(endpoints, want) {
				t.Fatalf("the fixture reads %v, want %v", endpoints, want)
			}
			for _, endpoint := range endpoints {
				r := e.failing(t, endpoint)
				for _, concurrency := range []int{1, 2, 4} {
					b, err := billing.SnapshotWith(context.Background(), r, concurrency, false, ids...)
					var pe *provider.Error
					if !errors.As(err, &pe) {
						t.Errorf("%s failing, concurrency %d: error %v (%T), want a *provider.Error", endpoint, concurrency, err, err)
						continue
					}
					if pe.Provider != "stripe" || pe.Operation != operation[endpoint] || pe.Kind != provider.Transient || pe.Status != 500 ||
						!strings.Contains(pe.Message, "injected failure of "+endpoint) || !provider.Retryable(err) {
						t.Errorf("%s failing, concurrency %d: error %#v, want the classified 500 of %s", endpoint, concurrency, pe, operation[endpoint])
					}
					if !reflect.DeepEqual(b, entitlement.Billing{}) {
						t.Errorf("%s failing, concurrency %d: partial snapshot %+v", endpoint, concurrency, b)
					}
				}
			}
		})
	}
}

// TestSnapshotFailureCancelsTheOtherReads: a read that would never answer is canceled by another
// read's failure (were it not, Snapshot would not return and the test would time out), and the
// error is the failed read's, not the cancellation's.
func TestSnapshotFailureCancelsTheOtherReads(t *testing.T) {
	t.Parallel()
	e := newFastEnv(t, stripetest.Options{})
	a := e.srv.CreateCustomer("a@example.com", "")
	b := e.srv.CreateCustomer("b@example.com", "")
	e.srv.Subscribe(a, e.monthly, 0)
	e.srv.Purchase(b, e.course)
	hang := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
	for _, tc := range []struct {
		name, fail, hang string
		ids              []string
	}{
		{"a list fails, the other list hangs", "GET /v1/checkout/sessions", "GET /v1/subscriptions", []string{a}},
		{"a list fails, the other customer's lists hang", "GET /v1/subscriptions", "GET /v1/checkout/sessions", []string{a, b}},
		{"the charges fail, the lists hang", "GET /v1/charges", "GET /v1/checkout/sessions", []string{a, b}},
		{"the records fail, the lists hang", "GET /v1/customers/{id}", "GET /v1/subscriptions", []string{a, b}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			faults := &providertest.Faults{}
			faults.FailFor(time.Hour, providertest.Fault{Status: 500, Body: `{"error":{"type":"api_error","message":"injected"}}`})
			r := e.proxy(t, func(mux *http.ServeMux) {
				mux.Handle(tc.fail, faults.Wrap(tc.fail, e.srv.Handler()))
				mux.Handle(tc.hang, hang)
			})
			_, err := r.Snapshot(context.Background(), tc.ids...)
			var pe *provider.Error
			if !errors.As(err, &pe) || pe.Operation != operation[tc.fail] || pe.Status != 500 || errors.Is(err, context.Canceled) {
				t.Errorf("error %#v, want the 500 of %s", err, operation[tc.fail])
			}
		})
	}
}
