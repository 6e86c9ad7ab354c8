package billing_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v85"
	"github.com/stripe/stripe-go/v85/webhook"

	"github.com/membersync/membersync/internal/billing"
	"github.com/membersync/membersync/internal/billing/stripetest"
	"github.com/membersync/membersync/internal/entitlement"
	"github.com/membersync/membersync/internal/provider"
	"github.com/membersync/membersync/internal/provider/providertest"
)

var start = time.Date(2026, 4, 1, 12, 0, 0, 0, time.UTC)

const day = 24 * time.Hour

// calls records what the Observer saw.
type calls struct {
	mu  sync.Mutex
	all []provider.Call
}

func (c *calls) observe(call provider.Call) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.all = append(c.all, call)
}

func (c *calls) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.all = nil
}

// ops returns the operations of the calls, sorted: a snapshot's concurrent calls end in any order.
func (c *calls) ops() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, call := range c.all {
		out = append(out, call.Operation)
	}
	slices.Sort(out)
	return out
}

type env struct {
	srv     *stripetest.Server
	r       *billing.Reader
	calls   *calls
	monthly string // price_… of a $29 monthly plan
	course  string // price_… of a $299 one-time course
	pro     string // prod_… of the plan
	crs     string // prod_… of the course
}

func newEnv(t *testing.T, opts stripetest.Options) *env {
	t.Helper()
	if opts.Now == nil {
		opts.Now = func() time.Time { return start }
	}
	srv := stripetest.New(opts)
	t.Cleanup(srv.Close)
	e := &env{srv: srv, calls: &calls{}}
	e.r = e.reader(srv.SecretKey())
	e.pro = srv.CreateProduct("Pro membership")
	e.monthly = srv.CreatePrice(e.pro, 2900, true)
	e.crs = srv.CreateProduct("Course")
	e.course = srv.CreatePrice(e.crs, 29900, false)
	return e
}

func (e *env) reader(key string) *billing.Reader {
	return billing.NewReader(billing.Config{SecretKey: key, BaseURL: e.srv.URL, Observer: e.calls.observe, Now: e.srv.Now})
}

func (e *env) snapshot(t *testing.T, ids ...string) entitlement.Billing {
	t.Helper()
	e.calls.reset()
	b, err := e.r.Snapshot(context.Background(), ids...)
	if err != nil {
		t.Fatalf("Snapshot(%v): %v", ids, err)
	}
	return b
}

// one returns the only subscription of the only customer.
func one(t *testing.T, b entitlement.Billing) entitlement.Subscription {
	t.Helper()
	if len(b.Customers) != 1 || len(b.Customers[0].Subscriptions) != 1 {
		t.Fatalf("want one customer with one subscription, got %+v", b)
	}
	return b.Customers[0].Subscriptions[0]
}

func TestSnapshotSubscriber(t *testing.T) {
	t.Parallel()
	e := newEnv(t, stripetest.Options{})
	cus := e.srv.CreateCustomer("Ann.Lee@example.com", "Ann Lee")
	sub := e.srv.Subscribe(cus, e.monthly, 0)

	b := e.snapshot(t, cus, cus, "")
	c := b.Customers[0]
	if c.ID != cus || c.Email != "Ann.Lee@example.com" || c.Name != "Ann Lee" || c.Deleted || len(c.Purchases) != 0 {
		t.Errorf("customer = %+v", c)
	}
	s := one(t, b)
	want := entitlement.Subscription{ID: sub, Status: "active", Created: start,
		Items:         []entitlement.Item{{PriceID: e.monthly, ProductID: e.pro, CurrentPeriodStart: start, CurrentPeriodEnd: start.AddDate(0, 1, 0)}},
		LatestCharges: []entitlement.Charge{{ID: e.srv.LatestCharge(sub), Amount: 2900}}}
	if !equalSub(s, want) {
		t.Errorf("subscription =\n%+v\nwant\n%+v", s, want)
	}
	if got, want := e.calls.ops(), []string{"get_customer", "list_charges", "list_checkout_sessions", "list_subscriptions"}; !slices.Equal(got, want) {
		t.Errorf("calls = %v, want %v", got, want)
	}
}

func equalSub(a, b entitlement.Subscription) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}

func TestSnapshotTrialing(t *testing.T) {
	t.Parallel()
	e := newEnv(t, stripetest.Options{})
	cus := e.srv.CreateCustomer("t@example.com", "")
	e.srv.Subscribe(cus, e.monthly, 14)
	s := one(t, e.snapshot(t, cus))
	if s.Status != "trialing" || !s.TrialEnd.Equal(start.Add(14*day)) || !s.Items[0].CurrentPeriodEnd.Equal(start.Add(14*day)) ||
		len(s.LatestCharges) != 0 || !s.FirstFailedPaymentAt.IsZero() {
		t.Errorf("trial subscription = %+v", s)
	}
	if n := len(e.calls.ops()); n != 3 {
		t.Errorf("a trial snapshot made %d calls (%v), want 3", n, e.calls.ops())
	}

	// The trial ends and the first payment fails.
	e.srv.Advance(14 * day)
	e.srv.FailPayment(s.ID)
	s = one(t, e.snapshot(t, cus))
	if s.Status != "past_due" || !s.FirstFailedPaymentAt.Equal(start.Add(14*day)) {
		t.Errorf("after the trial's failed payment: %+v", s)
	}
}

func TestSnapshotPastDueAndRecovery(t *testing.T) {
	t.Parallel()
	e := newEnv(t, stripetest.Options{})
	cus := e.srv.CreateCustomer("p@example.com", "")
	sub := e.srv.Subscribe(cus, e.monthly, 0)

	e.srv.Advance(31 * day)
	first := e.srv.Now()
	e.srv.FailPayment(sub)
	e.srv.Advance(3 * day)
	e.srv.FailPayment(sub)
	e.srv.Advance(2 * day)
	e.srv.FailPayment(sub)

	s := one(t, e.snapshot(t, cus))
	if s.Status != "past_due" {
		t.Errorf("status %q, want past_due", s.Status)
	}
	if !s.FirstFailedPaymentAt.Equal(first) {
		t.Errorf("FirstFailedPaymentAt = %v, want the first failed attempt %v", s.FirstFailedPaymentAt, first)
	}
	if len(s.LatestCharges) != 0 {
		t.Errorf("LatestCharges = %+v, want none while the latest invoice is unpaid", s.LatestCharges)
	}
	if got := s.Items[0].CurrentPeriodEnd; !got.Equal(start.AddDate(0, 2, 0)) {
		t.Errorf("period end %v, want the renewed period's %v", got, start.AddDate(0, 2, 0))
	}

	e.srv.RecoverPayment(sub)
	s = one(t, e.snapshot(t, cus))
	if s.Status != "active" || !s.FirstFailedPaymentAt.IsZero() {
		t.Errorf("after recovery: status %q, FirstFailedPaymentAt %v; want active and zero", s.Status, s.FirstFailedPaymentAt)
	}
	if len(s.LatestCharges) != 1 || s.LatestCharges[0].ID != e.srv.LatestCharge(sub) || s.LatestCharges[0].Amount != 2900 {
		t.Errorf("after recovery: LatestCharges = %+v, want only the succeeded charge %s", s.LatestCharges, e.srv.LatestCharge(sub))
	}

	// The next renewal fails again: a new dunning run starts from its own first failure.
	e.srv.Advance(30 * day)
	second := e.srv.Now()
	e.srv.FailPayment(sub)
	if s = one(t, e.snapshot(t, cus)); !s.FirstFailedPaymentAt.Equal(second) {
		t.Errorf("second dunning run: FirstFailedPaymentAt = %v, want %v", s.FirstFailedPaymentAt, second)
	}
	e.srv.ExpireUnpaid(sub)
	if s = one(t, e.snapshot(t, cus)); s.Status != "canceled" || s.EndedAt.IsZero() {
		t.Errorf("retries exhausted: %+v, want canceled with EndedAt", s)
	}
}

func TestSnapshotUnpaid(t *testing.T) {
	t.Parallel()
	e := newEnv(t, stripetest.Options{UnpaidWhenRetriesExhausted: true})
	cus := e.srv.CreateCustomer("u@example.com", "")
	sub := e.srv.Subscribe(cus, e.monthly, 0)
	e.srv.FailPayment(sub)
	e.srv.ExpireUnpaid(sub)
	if s := one(t, e.snapshot(t, cus)); s.Status != "unpaid" {
		t.Errorf("status %q, want unpaid", s.Status)
	}
	if ops := e.calls.ops(); slices.Contains(ops, "list_charges") {
		t.Errorf("an unpaid subscription's charges were read: %v", ops)
	}
}

func TestSnapshotCancelAtPeriodEnd(t *testing.T) {
	t.Parallel()
	e := newEnv(t, stripetest.Options{})
	cus := e.srv.CreateCustomer("c@example.com", "")
	sub := e.srv.Subscribe(cus, e.monthly, 0)
	e.srv.Advance(5 * day)
	e.srv.CancelAtPeriodEnd(sub)
	s := one(t, e.snapshot(t, cus))
	end := start.AddDate(0, 1, 0)
	if s.Status != "active" || !s.CancelAtPeriodEnd || !s.CancelAt.Equal(end) || !s.EndedAt.IsZero() {
		t.Errorf("canceling subscription = %+v, want active, cancel at %v", s, end)
	}
	e.srv.Advance(end.Sub(e.srv.Now()))
	e.srv.Renew(sub)
	if s = one(t, e.snapshot(t, cus)); s.Status != "canceled" || !s.EndedAt.Equal(end) {
		t.Errorf("after the period: %+v, want canceled, ended %v", s, end)
	}
	e.srv.CancelNow(e.srv.Subscribe(cus, e.monthly, 0))
	b := e.snapshot(t, cus)
	if n := len(b.Customers[0].Subscriptions); n != 2 {
		t.Errorf("%d subscriptions, want both canceled ones (status=all)", n)
	}
}

func TestSnapshotPurchaseRefunds(t *testing.T) {
	t.Parallel()
	e := newEnv(t, stripetest.Options{})
	cus := e.srv.CreateCustomer("b@example.com", "")
	e.srv.Advance(time.Hour)
	sess, ch := e.srv.Purchase(cus, e.course)

	b := e.snapshot(t, cus)
	want := []entitlement.Purchase{{SessionID: sess, PaidAt: start.Add(time.Hour),
		Items: []entitlement.Item{{PriceID: e.course, ProductID: e.crs}}, Charges: []entitlement.Charge{{ID: ch, Amount: 29900}}}}
	if got := b.Customers[0].Purchases; !equalJSON(got, want) {
		t.Errorf("purchases = %+v, want %+v", got, want)
	}
	if got, want := e.calls.ops(), []string{"get_customer", "list_checkout_sessions", "list_subscriptions"}; !slices.Equal(got, want) {
		t.Errorf("calls = %v, want %v", got, want)
	}

	e.srv.Refund(ch, 10000)
	if c := e.snapshot(t, cus).Customers[0].Purchases[0].Charges[0]; c.AmountRefunded != 10000 || c.Amount != 29900 {
		t.Errorf("after a partial refund: %+v", c)
	}
	e.srv.Refund(ch, 0)
	if c := e.snapshot(t, cus).Customers[0].Purchases[0].Charges[0]; c.AmountRefunded != 29900 {
		t.Errorf("after a full refund: %+v", c)
	}
	// A subscription session and an unrelated customer's purchase are not this customer's purchases.
	e.srv.SubscribeViaCheckout(cus, e.monthly, 0)
	e.srv.Purchase(e.srv.CreateCustomer("other@example.com", ""), e.course)
	if n := len(e.snapshot(t, cus).Customers[0].Purchases); n != 1 {
		t.Errorf("%d purchases, want 1", n)
	}
}

func equalJSON(a, b any) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}

func TestSnapshotDisputes(t *testing.T) {
	t.Parallel()
	e := newEnv(t, stripetest.Options{})
	cus := e.srv.CreateCustomer("d@example.com", "")
	_, won := e.srv.Purchase(cus, e.course)
	_, lost := e.srv.Purchase(cus, e.course)
	sub := e.srv.Subscribe(cus, e.monthly, 0)

	disputes := func(b entitlement.Billing) map[string][]entitlement.Dispute {
		m := map[string][]entitlement.Dispute{}
		for _, p := range b.Customers[0].Purchases {
			for _, c := range p.Charges {
				m[c.ID] = c.Disputes
			}
		}
		for _, c := range b.Customers[0].Subscriptions[0].LatestCharges {
			m[c.ID] = c.Disputes
		}
		return m
	}
	if d := disputes(e.snapshot(t, cus)); len(d[won])+len(d[lost]) != 0 {
		t.Errorf("disputes before any: %v", d)
	}
	if ops := e.calls.ops(); slices.Contains(ops, "list_disputes") {
		t.Errorf("disputes listed for undisputed charges: %v", ops)
	}

	e.srv.Advance(time.Hour)
	dpWon := e.srv.Dispute(won)
	dpLost := e.srv.Dispute(lost)
	dpSub := e.srv.Dispute(e.srv.LatestCharge(sub))
	d := disputes(e.snapshot(t, cus))
	for ch, id := range map[string]string{won: dpWon, lost: dpLost, e.srv.LatestCharge(sub): dpSub} {
		if len(d[ch]) != 1 || d[ch][0].ID != id || d[ch][0].Status != "needs_response" || !d[ch][0].Created.Equal(start.Add(time.Hour)) {
			t.Errorf("open dispute on %s = %+v, want %s needs_response", ch, d[ch], id)
		}
	}

	e.srv.CloseDispute(dpWon, true)
	e.srv.CloseDispute(dpLost, false)
	d = disputes(e.snapshot(t, cus))
	if d[won][0].Status != "won" || d[lost][0].Status != "lost" {
		t.Errorf("closed disputes: won %+v, lost %+v", d[won], d[lost])
	}
}

func TestSnapshotWithoutNestedExpansions(t *testing.T) {
	t.Parallel()
	e := newEnv(t, stripetest.Options{RefuseExpand: []string{"data.latest_invoice.payments", "data.payment_intent.latest_charge"}})
	cus := e.srv.CreateCustomer("x@example.com", "")
	paying := e.srv.Subscribe(cus, e.monthly, 0)
	failing := e.srv.Subscribe(cus, e.monthly, 0)
	e.srv.Advance(31 * day)
	failedAt := e.srv.Now()
	e.srv.FailPayment(failing)
	e.srv.Advance(day)
	e.srv.FailPayment(failing)
	sess, ch := e.srv.Purchase(cus, e.course)
	e.srv.Refund(ch, 500)
	dp := e.srv.Dispute(ch)

	b := e.snapshot(t, cus)
	for _, s := range b.Customers[0].Subscriptions {
		switch s.ID {
		case paying:
			if len(s.LatestCharges) != 1 || s.LatestCharges[0].ID != e.srv.LatestCharge(paying) {
				t.Errorf("paying subscription's charges = %+v", s.LatestCharges)
			}
		case failing:
			if !s.FirstFailedPaymentAt.Equal(failedAt) {
				t.Errorf("FirstFailedPaymentAt = %v, want %v", s.FirstFailedPaymentAt, failedAt)
			}
		}
	}
	want := []entitlement.Purchase{{SessionID: sess, PaidAt: failedAt.Add(day),
		Items:   []entitlement.Item{{PriceID: e.course, ProductID: e.crs}},
		Charges: []entitlement.Charge{{ID: ch, Amount: 29900, AmountRefunded: 500, Disputes: []entitlement.Dispute{{ID: dp, Status: "needs_response", Created: failedAt.Add(day)}}}}}}
	if got := b.Customers[0].Purchases; !equalJSON(got, want) {
		t.Errorf("purchases = %+v\nwant %+v", got, want)
	}
	for _, op := range []string{"list_invoice_payments", "list_checkout_session_line_items"} {
		if !slices.Contains(e.calls.ops(), op) {
			t.Errorf("no %s call in the fallback: %v", op, e.calls.ops())
		}
	}
}

func TestCustomerIDsByEmail(t *testing.T) {
	t.Parallel()
	e := newEnv(t, stripetest.Options{MaxPageSize: 2})
	a := e.srv.CreateCustomer("sam@example.com", "Sam")
	b := e.srv.CreateCustomer("sam@example.com", "Sam again")
	c := e.srv.CreateCustomer("sam@example.com", "")
	e.srv.CreateCustomer("sam+other@example.com", "")
	gone := e.srv.CreateCustomer("sam@example.com", "")
	e.srv.DeleteCustomer(gone)

	e.calls.reset()
	got, err := e.r.CustomerIDsByEmail(context.Background(), " Sam@Example.com ")
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(got)
	want := []string{a, b, c}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("CustomerIDsByEmail = %v, want %v", got, want)
	}
	for _, call := range e.calls.all {
		if strings.Contains(call.Target, "@") || strings.Contains(strings.ToLower(call.Target), "sam") {
			t.Errorf("call target %q shows the email", call.Target)
		}
	}
	// Pages of 2 for the form as given (none) and the normalized form (3 customers).
	if n := len(e.calls.all); n != 3 {
		t.Errorf("%d calls (%v), want 3: one for the form as given, two pages for the normalized one", n, e.calls.ops())
	}
	if got, _ := e.r.CustomerIDsByEmail(context.Background(), "nobody@example.com"); len(got) != 0 {
		t.Errorf("unknown email: %v", got)
	}
}

func TestSnapshotDeletedCustomer(t *testing.T) {
	t.Parallel()
	e := newEnv(t, stripetest.Options{})
	cus := e.srv.CreateCustomer("gone@example.com", "Gone")
	e.srv.Subscribe(cus, e.monthly, 0)
	e.srv.DeleteCustomer(cus)
	b := e.snapshot(t, cus)
	if c := b.Customers[0]; c.ID != cus || !c.Deleted || len(c.Subscriptions) != 0 {
		t.Errorf("deleted customer = %+v", c)
	}
	// The lists are read beside the customer (or canceled before they start) and discarded.
	if ops := e.calls.ops(); len(ops) == 0 || ops[0] != "get_customer" ||
		len(slices.DeleteFunc(ops[1:], func(op string) bool { return op == "list_subscriptions" || op == "list_checkout_sessions" })) != 0 {
		t.Errorf("calls for a deleted customer %v, want get_customer and at most its two lists", e.calls.ops())
	}
}

func TestSnapshotManyCustomers(t *testing.T) {
	t.Parallel()
	e := newEnv(t, stripetest.Options{})
	a := e.srv.CreateCustomer("same@example.com", "")
	b := e.srv.CreateCustomer("same@example.com", "")
	e.srv.Subscribe(a, e.monthly, 0)
	e.srv.Purchase(b, e.course)
	got := e.snapshot(t, a, b)
	if len(got.Customers) != 2 || got.Customers[0].ID != a || got.Customers[1].ID != b ||
		len(got.Customers[0].Subscriptions) != 1 || len(got.Customers[1].Purchases) != 1 {
		t.Errorf("snapshot of two customers = %+v", got)
	}
}

func TestSnapshotPagesEveryList(t *testing.T) {
	t.Parallel()
	t.Run("150 subscriptions", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, stripetest.Options{})
		cus := e.srv.CreateCustomer("many@example.com", "")
		for range 150 {
			e.srv.CancelNow(e.srv.Subscribe(cus, e.monthly, 0))
		}
		e.srv.Faults.ResetCalls()
		b := e.snapshot(t, cus)
		if n := len(b.Customers[0].Subscriptions); n != 150 {
			t.Errorf("%d subscriptions, want 150", n)
		}
		if n := e.srv.Faults.Calls("GET /v1/subscriptions"); n != 2 {
			t.Errorf("%d subscription pages, want 2 of 100", n)
		}
	})
	t.Run("small pages", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, stripetest.Options{MaxPageSize: 2})
		cus, subs, sess, items, failedAt := pagedCustomer(e)

		e.srv.Faults.ResetCalls()
		b := e.snapshot(t, cus)
		c := b.Customers[0]
		if len(c.Subscriptions) != 3 || len(c.Purchases) != 3 {
			t.Fatalf("%d subscriptions and %d purchases, want 3 and 3", len(c.Subscriptions), len(c.Purchases))
		}
		for _, s := range c.Subscriptions {
			if s.ID == subs[0] && !s.FirstFailedPaymentAt.Equal(failedAt) {
				t.Errorf("FirstFailedPaymentAt over 5 attempts in pages of 2 = %v, want %v", s.FirstFailedPaymentAt, failedAt)
			}
		}
		for _, p := range c.Purchases {
			if p.SessionID != sess {
				continue
			}
			var prices []string
			for _, it := range p.Items {
				prices = append(prices, it.PriceID)
			}
			if !slices.Equal(prices, items) {
				t.Errorf("line items %v, want all three in order", prices)
			}
			if len(p.Charges) != 1 || len(p.Charges[0].Disputes) != 1 {
				t.Errorf("charges %+v, want one disputed charge", p.Charges)
			}
		}
		for ep, min := range map[string]int{
			"GET /v1/subscriptions":                     2,
			"GET /v1/charges":                           3, // 5 failed attempts of one intent, plus 2 paid intents
			"GET /v1/checkout/sessions":                 2,
			"GET /v1/checkout/sessions/{id}/line_items": 2,
		} {
			if n := e.srv.Faults.Calls(ep); n < min {
				t.Errorf("%s called %d times, want at least %d (paging)", ep, n, min)
			}
		}
	})
}

func TestEvents(t *testing.T) {
	t.Parallel()
	e := newEnv(t, stripetest.Options{MaxPageSize: 3})
	ctx := context.Background()
	cus := e.srv.CreateCustomer("ev@example.com", "")
	sub := e.srv.Subscribe(cus, e.monthly, 0)
	e.srv.Advance(31 * day)
	e.srv.FailPayment(sub)
	e.srv.RecoverPayment(sub)
	_, ch := e.srv.Purchase(cus, e.course)
	e.srv.Refund(ch, 0)
	all := e.srv.Events()

	collect := func(q billing.EventQuery) []billing.Event {
		t.Helper()
		var out []billing.Event
		for ev, err := range e.r.Events(ctx, q) {
			if err != nil {
				t.Fatalf("Events(%+v): %v", q, err)
			}
			out = append(out, ev)
		}
		return out
	}
	ids := func(evs []billing.Event) []string {
		var out []string
		for _, ev := range evs {
			out = append(out, ev.ID)
		}
		return out
	}
	wantIDs := func(keep func(stripetest.Event) bool) []string {
		var out []string
		for _, ev := range all {
			if keep(ev) {
				out = append(out, ev.ID)
			}
		}
		return out
	}

	got := collect(billing.EventQuery{})
	if want := wantIDs(func(stripetest.Event) bool { return true }); !slices.Equal(ids(got), want) {
		t.Fatalf("all events oldest first:\n got %v\nwant %v", ids(got), want)
	}
	first := got[0]
	if first.APIVersion != stripetest.APIVersion || first.Livemode || first.Created.IsZero() || len(first.Raw) == 0 {
		t.Errorf("event envelope = %+v", first)
	}
	var raw struct {
		ID, Object string
	}
	if err := json.Unmarshal(got[len(got)-1].Raw, &raw); err != nil || raw.ID != got[len(got)-1].ID || raw.Object != "event" {
		t.Errorf("Raw is not the event JSON: %s", got[len(got)-1].Raw)
	}
	for _, ev := range got {
		want := ""
		for _, a := range all {
			if a.ID == ev.ID && a.Type != "refund.created" && a.Type != "invoice_payment.paid" {
				want = a.CustomerID
			}
		}
		if ev.CustomerID != want {
			t.Errorf("%s %s: CustomerID %q, want %q", ev.ID, ev.Type, ev.CustomerID, want)
		}
	}

	types := []string{"invoice.paid", "invoice.payment_failed", "charge.refunded"}
	got = collect(billing.EventQuery{Types: types})
	if want := wantIDs(func(ev stripetest.Event) bool { return slices.Contains(types, ev.Type) }); !slices.Equal(ids(got), want) {
		t.Errorf("types filter:\n got %v\nwant %v", ids(got), want)
	}

	after := all[len(all)/2].ID
	got = collect(billing.EventQuery{AfterID: after})
	if want := ids(collect(billing.EventQuery{}))[len(all)/2+1:]; !slices.Equal(ids(got), want) {
		t.Errorf("resume after %s:\n got %v\nwant %v", after, ids(got), want)
	}

	since := start.Add(31 * day)
	got = collect(billing.EventQuery{CreatedGTE: since})
	if want := wantIDs(func(ev stripetest.Event) bool { return !ev.Created.Before(since) }); !slices.Equal(ids(got), want) || len(want) == 0 {
		t.Errorf("CreatedGTE:\n got %v\nwant %v", ids(got), want)
	}

	latest, ok, err := e.r.LatestEvent(ctx)
	if err != nil || !ok || latest.ID != all[len(all)-1].ID {
		t.Errorf("LatestEvent = %v %v %v, want %s", latest.ID, ok, err, all[len(all)-1].ID)
	}
	n := 0 // stopping early is allowed
	for range e.r.Events(ctx, billing.EventQuery{}) {
		if n++; n == 2 {
			break
		}
	}
	if n != 2 {
		t.Errorf("stopped after %d events, want 2", n)
	}

	tooMany := make([]string, 21)
	for _, err := range e.r.Events(ctx, billing.EventQuery{Types: tooMany}) {
		if provider.KindOf(err) != provider.Permanent {
			t.Errorf("21 types: %v, want a Permanent error", err)
		}
	}
	for _, err := range e.r.Events(ctx, billing.EventQuery{AfterID: "evt_gone"}) {
		if provider.KindOf(err) != provider.NotFound {
			t.Errorf("unknown AfterID: %v, want NotFound", err)
		}
	}
}

func TestLatestEventEmpty(t *testing.T) {
	t.Parallel()
	srv := stripetest.New(stripetest.Options{})
	defer srv.Close()
	r := billing.NewReader(billing.Config{SecretKey: srv.SecretKey(), BaseURL: srv.URL})
	if _, ok, err := r.LatestEvent(context.Background()); ok || err != nil {
		t.Errorf("LatestEvent on an empty account = %v, %v", ok, err)
	}
}

func TestErrors(t *testing.T) {
	t.Parallel()
	codes := func() []string {
		var out []string
		for _, p := range billing.Permissions() {
			out = append(out, p.Code)
		}
		return out
	}
	without := func(code string) []string {
		return slices.DeleteFunc(codes(), func(c string) bool { return c == code })
	}
	e := newEnv(t, stripetest.Options{RestrictedKeys: map[string][]string{
		"rk_test_all":     codes(),
		"rk_test_nosubs":  without("rak_subscription_read"),
		"rk_test_noinv":   without("rak_invoice_read"),
		"rk_test_nopi":    without("rak_payment_intent_read"),
		"rk_test_noevent": without("rak_event_read"),
	}})
	ctx := context.Background()
	cus := e.srv.CreateCustomer("err@example.com", "")
	sub := e.srv.Subscribe(cus, e.monthly, 0)
	_, ch := e.srv.Purchase(cus, e.course)
	e.srv.Dispute(ch)
	e.srv.Dispute(e.srv.LatestCharge(sub))

	t.Run("restricted key with the documented permissions", func(t *testing.T) {
		r := e.reader("rk_test_all")
		if _, err := r.Snapshot(ctx, cus); err != nil {
			t.Errorf("Snapshot: %v", err)
		}
		if _, err := r.CustomerIDsByEmail(ctx, "err@example.com"); err != nil {
			t.Errorf("CustomerIDsByEmail: %v", err)
		}
		for _, err := range r.Events(ctx, billing.EventQuery{}) {
			if err != nil {
				t.Errorf("Events: %v", err)
			}
		}
		if _, err := r.BillingPortalURL(ctx, cus, "https://example.com/status"); err != nil {
			t.Errorf("BillingPortalURL: %v", err)
		}
	})

	check := func(t *testing.T, err error, kind provider.Kind, status int, msg string) {
		t.Helper()
		var pe *provider.Error
		if !errors.As(err, &pe) {
			t.Fatalf("error %v (%T), want a *provider.Error", err, err)
		}
		if pe.Provider != "stripe" || pe.Kind != kind || pe.Status != status || !strings.Contains(pe.Message, msg) || pe.Operation == "" {
			t.Errorf("error = %#v\nwant kind %v, status %d, message containing %q", pe, kind, status, msg)
		}
	}
	for _, tc := range []struct {
		key, msg string
	}{
		{"rk_test_nosubs", "the restricted key needs Read on Subscriptions"},
		{"rk_test_noinv", "the restricted key needs Read on Invoices"},
		{"rk_test_nopi", "the restricted key needs Read on PaymentIntents"},
	} {
		t.Run("403 "+tc.key, func(t *testing.T) {
			_, err := e.reader(tc.key).Snapshot(ctx, cus)
			check(t, err, provider.Config, 403, tc.msg)
		})
	}
	t.Run("403 events", func(t *testing.T) {
		_, _, err := e.reader("rk_test_noevent").LatestEvent(ctx)
		check(t, err, provider.Config, 403, "Read on Events")
	})
	t.Run("401", func(t *testing.T) {
		_, err := e.reader("sk_test_wrong").Snapshot(ctx, cus)
		check(t, err, provider.Config, 401, "Invalid API Key")
	})
	t.Run("404", func(t *testing.T) {
		_, err := e.r.Snapshot(ctx, "cus_missing")
		check(t, err, provider.NotFound, 404, "No such customer")
		_, err = e.r.CheckoutSession(ctx, "cs_test_missing")
		check(t, err, provider.NotFound, 404, "No such checkout.session")
	})
	t.Run("429", func(t *testing.T) {
		e.srv.Faults.FailNext(1, providertest.Fault{Status: 429})
		_, err := e.r.Snapshot(ctx, cus)
		check(t, err, provider.RateLimited, 429, "rate limit")
	})
	t.Run("429 while the other reads wait", func(t *testing.T) {
		// One call a second: the first read sent gets the 429 and pauses the budget for 5 s; the
		// reads waiting for their second wake into the pause and are refused locally. Whichever read
		// went first, the snapshot reports Stripe's 429, not a local refusal it caused (CI once saw
		// get_customer's refusal win over the subscription list's 429).
		r := billing.NewReader(billing.Config{SecretKey: e.srv.SecretKey(), BaseURL: e.srv.URL,
			RequestsPerMinute: 60, RateLimitWindow: 5 * time.Second, Now: e.srv.Now})
		e.srv.Faults.FailNext(1, providertest.Fault{Status: 429})
		_, err := r.Snapshot(ctx, cus)
		check(t, err, provider.RateLimited, 429, "rate limit")
	})
	t.Run("500 mid-snapshot", func(t *testing.T) {
		// The customer answers; the subscription list fails.
		_, err := e.failing(t, "GET /v1/subscriptions").Snapshot(ctx, cus)
		check(t, err, provider.Transient, 500, "injected failure")
		if pe := (*provider.Error)(nil); errors.As(err, &pe) && pe.Operation != "list_subscriptions" {
			t.Errorf("failed operation %q, want list_subscriptions", pe.Operation)
		}
	})
	t.Run("502 without JSON", func(t *testing.T) {
		e.srv.Faults.FailNext(1, providertest.Fault{Status: 502, Body: "<html>Bad Gateway</html>",
			Header: http.Header{"Content-Type": {"text/html"}}})
		_, err := e.r.Snapshot(ctx, cus)
		check(t, err, provider.Transient, 502, "Bad Gateway")
	})
	t.Run("outage then heal", func(t *testing.T) {
		e.srv.Faults.FailFor(time.Hour, providertest.Fault{Status: 503})
		_, err := e.r.Snapshot(ctx, cus)
		check(t, err, provider.Transient, 503, "")
		e.srv.Faults.Heal()
		if _, err := e.r.Snapshot(ctx, cus); err != nil {
			t.Errorf("after Heal: %v", err)
		}
	})
	t.Run("transport", func(t *testing.T) {
		dead := stripetest.New(stripetest.Options{})
		url := dead.URL
		dead.Close()
		r := billing.NewReader(billing.Config{SecretKey: "sk_test_membersync", BaseURL: url})
		_, err := r.Snapshot(ctx, cus)
		check(t, err, provider.Transient, 0, "")
		if !provider.Retryable(err) {
			t.Errorf("transport error not retryable: %v", err)
		}
	})
	t.Run("no retries in stripe-go", func(t *testing.T) {
		e.srv.Faults.ResetCalls()
		e.srv.Faults.FailNext(1, providertest.Fault{Status: 500, Body: "oops", Header: http.Header{"Content-Type": {"text/plain"}}})
		_, err := e.r.Snapshot(ctx, cus)
		if err == nil {
			t.Fatal("want an error")
		}
		// The first call to arrive fails: the customer or one of its lists, read at most once each
		// (the others may be canceled before they arrive).
		for ep, op := range map[string]string{"GET /v1/customers/{id}": "get_customer", "GET /v1/subscriptions": "list_subscriptions",
			"GET /v1/checkout/sessions": "list_checkout_sessions"} {
			n := e.srv.Faults.Calls(ep)
			var pe *provider.Error
			if failed := errors.As(err, &pe) && pe.Operation == op; n > 1 || failed && n != 1 {
				t.Errorf("%s called %d times after a non-JSON 500 (failed: %v), want at most once (no hidden retry)", ep, n, failed)
			}
		}
	})
}

func TestObserver(t *testing.T) {
	t.Parallel()
	e := newEnv(t, stripetest.Options{})
	cus := e.srv.CreateCustomer("obs@example.com", "")
	e.srv.Subscribe(cus, e.monthly, 0)
	e.snapshot(t, cus)
	e.calls.mu.Lock()
	got := append([]provider.Call(nil), e.calls.all...)
	e.calls.mu.Unlock()
	slices.SortFunc(got, func(a, b provider.Call) int { return strings.Compare(a.Operation, b.Operation) })
	want := []struct{ op, target, path string }{
		{"get_customer", "customer:" + cus, "/v1/customers/" + cus},
		{"list_charges", "payment_intent:", "/v1/charges"},
		{"list_checkout_sessions", "customer:" + cus, "/v1/checkout/sessions"},
		{"list_subscriptions", "customer:" + cus, "/v1/subscriptions"},
	}
	if len(got) != len(want) {
		t.Fatalf("observed %d calls, want %d", len(got), len(want))
	}
	for i, w := range want {
		c := got[i]
		if c.Provider != "stripe" || c.Operation != w.op || !strings.HasPrefix(c.Target, w.target) || c.Path != w.path ||
			c.Method != "GET" || c.Status != 200 || c.Attempt != 1 || c.Err != nil || !c.Started.Equal(start) {
			t.Errorf("call %d = %+v, want %s %s %s", i, c, w.op, w.target, w.path)
		}
	}

	journal := &calls{}
	if _, err := e.r.Snapshot(provider.WithObserver(context.Background(), journal.observe), cus); err != nil {
		t.Fatal(err)
	}
	if got := journal.ops(); len(got) != 4 || got[0] != "get_customer" {
		t.Errorf("the context's observer saw %v, want the 4 calls of the snapshot", got)
	}

	e.calls.reset()
	e.srv.Faults.FailNext(1, providertest.Fault{Status: 429})
	_, _ = e.r.Snapshot(context.Background(), cus)
	e.calls.mu.Lock()
	if i := slices.IndexFunc(e.calls.all, func(c provider.Call) bool { return c.Status == 429 }); i < 0 || provider.KindOf(e.calls.all[i].Err) != provider.RateLimited {
		t.Errorf("failed call not observed as RateLimited: %+v", e.calls.all)
	}
	e.calls.mu.Unlock()

	e.calls.reset()
	url, err := e.r.BillingPortalURL(context.Background(), cus, "https://example.com/status")
	if err != nil || !strings.HasPrefix(url, e.srv.URL+"/p/session/bps_") {
		t.Errorf("BillingPortalURL = %q, %v", url, err)
	}
	if c := e.calls.all[0]; c.Operation != "create_billing_portal_session" || c.Method != "POST" || c.Target != "customer:"+cus {
		t.Errorf("portal call observed as %+v", c)
	}
	resp, err := http.Get(url)
	if err != nil || resp.StatusCode != 200 {
		t.Errorf("portal page: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
}

func TestCheckoutSession(t *testing.T) {
	t.Parallel()
	e := newEnv(t, stripetest.Options{})
	ctx := context.Background()
	cus := e.srv.CreateCustomer("Welcome@Example.com", "W")
	sess, _ := e.srv.SubscribeViaCheckout(cus, e.monthly, 0)
	got, err := e.r.CheckoutSession(ctx, sess)
	want := billing.Session{ID: sess, CustomerID: cus, CustomerEmail: "Welcome@Example.com", Mode: "subscription", Status: "complete", PaymentStatus: "paid"}
	if err != nil || got != want {
		t.Errorf("CheckoutSession = %+v, %v; want %+v", got, err, want)
	}
	trial, _ := e.srv.SubscribeViaCheckout(cus, e.monthly, 7)
	if got, _ := e.r.CheckoutSession(ctx, trial); got.PaymentStatus != "no_payment_required" {
		t.Errorf("trial session payment status %q", got.PaymentStatus)
	}
	pay, _ := e.srv.Purchase(cus, e.course)
	if got, _ := e.r.CheckoutSession(ctx, pay); got.Mode != "payment" || got.PaymentStatus != "paid" {
		t.Errorf("purchase session = %+v", got)
	}
	e.calls.reset()
	for _, bad := range []string{"", "cus_123", "cs_test_../../v1/customers", "cs_test_a?b=c"} {
		if _, err := e.r.CheckoutSession(ctx, bad); provider.KindOf(err) != provider.NotFound {
			t.Errorf("CheckoutSession(%q) = %v, want NotFound", bad, err)
		}
	}
	if n := len(e.calls.ops()); n != 0 {
		t.Errorf("malformed session ids made %d calls", n)
	}
}

func TestSweepLists(t *testing.T) {
	t.Parallel()
	e := newEnv(t, stripetest.Options{MaxPageSize: 2})
	ctx := context.Background()
	var active []string
	for i := range 5 {
		c := e.srv.CreateCustomer("s@example.com", "")
		s := e.srv.Subscribe(c, e.monthly, 0)
		e.srv.Subscribe(c, e.monthly, 0) // a second one: the customer is yielded once
		if i == 2 {
			e.srv.CancelNow(s)
			e.srv.DeleteCustomer(c)
			continue
		}
		active = append(active, c)
	}
	var got []string
	for id, err := range e.r.ActiveSubscriptionCustomers(ctx) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, id)
	}
	slices.Sort(got)
	slices.Sort(active)
	if !slices.Equal(got, active) {
		t.Errorf("ActiveSubscriptionCustomers = %v, want %v", got, active)
	}

	old := e.srv.CreateCustomer("old@example.com", "")
	e.srv.Purchase(old, e.course)
	e.srv.Advance(10 * day)
	since := e.srv.Now()
	var buyers []string
	for range 3 {
		c := e.srv.CreateCustomer("buyer@example.com", "")
		e.srv.Purchase(c, e.course)
		e.srv.Purchase(c, e.course)
		buyers = append(buyers, c)
	}
	e.srv.SubscribeViaCheckout(e.srv.CreateCustomer("subscriber@example.com", ""), e.monthly, 0)
	got = nil
	for id, err := range e.r.PaidPaymentSessionCustomers(ctx, since) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, id)
	}
	slices.Sort(got)
	slices.Sort(buyers)
	if !slices.Equal(got, buyers) {
		t.Errorf("PaidPaymentSessionCustomers = %v, want %v", got, buyers)
	}

	e.srv.Faults.FailNext(1, providertest.Fault{Status: 500})
	for _, err := range e.r.ActiveSubscriptionCustomers(ctx) {
		if provider.KindOf(err) != provider.Transient {
			t.Errorf("error yielded as %v", err)
		}
	}
}

func TestEventCustomerID(t *testing.T) {
	t.Parallel()
	for file, want := range map[string]string{
		"checkout.session.completed.json":    "cus_U7pLq2Xr8sNt4v",
		"customer.subscription.updated.json": "cus_TzR4m8KpQ1wLx2",
		"invoice.payment_failed.json":        "cus_SdP0vB6nHq3Ka9",
		"charge.refunded.json":               "cus_U7pLq2Xr8sNt4v",
		"charge.dispute.created.json":        "", // a dispute names only its charge
	} {
		b, err := os.ReadFile(filepath.Join("testdata", file))
		if err != nil {
			t.Fatal(err)
		}
		var ev struct {
			APIVersion string `json:"api_version"`
			Data       struct {
				Object json.RawMessage `json:"object"`
			} `json:"data"`
		}
		if err := json.Unmarshal(b, &ev); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		if ev.APIVersion != "2026-03-25.dahlia" {
			t.Errorf("%s: api_version %q", file, ev.APIVersion)
		}
		signed := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: b, Secret: "whsec_fixture"})
		sev, err := webhook.ConstructEvent(b, signed.Header, "whsec_fixture")
		if err != nil {
			t.Errorf("%s: stripe-go ConstructEvent: %v", file, err)
		}
		var obj any
		switch sev.Data.Object["object"] {
		case "checkout.session":
			obj = &stripe.CheckoutSession{}
		case "subscription":
			obj = &stripe.Subscription{}
		case "invoice":
			obj = &stripe.Invoice{}
		case "charge":
			obj = &stripe.Charge{}
		case "dispute":
			obj = &stripe.Dispute{}
		}
		if obj == nil {
			t.Errorf("%s: unexpected object %v", file, sev.Data.Object["object"])
		} else if err := json.Unmarshal(sev.Data.Raw, obj); err != nil {
			t.Errorf("%s: decoding data.object into %T: %v", file, obj, err)
		}
		if got := billing.EventCustomerID(ev.Data.Object); got != want {
			t.Errorf("EventCustomerID(%s data.object) = %q, want %q", file, got, want)
		}
		if got := billing.EventCustomerID(b); got != want {
			t.Errorf("EventCustomerID(%s whole event) = %q, want %q", file, got, want)
		}
	}
	for raw, want := range map[string]string{
		`{"object":"customer","id":"cus_1"}`:                                 "cus_1",
		`{"object":"invoice","customer":{"id":"cus_2","object":"customer"}}`: "cus_2",
		`{"object":"checkout.session","customer":null}`:                      "",
		`{"object":"product","id":"prod_1"}`:                                 "",
		`not json`:                                                           "",
	} {
		if got := billing.EventCustomerID(json.RawMessage(raw)); got != want {
			t.Errorf("EventCustomerID(%s) = %q, want %q", raw, got, want)
		}
	}
}

func TestEventCustomerResolvesCharges(t *testing.T) {
	t.Parallel()
	e := newEnv(t, stripetest.Options{})
	cus := e.srv.CreateCustomer("x@example.com", "")
	_, ch := e.srv.Purchase(cus, e.course)
	e.srv.Dispute(ch)
	e.srv.Refund(ch, 100)
	e.srv.Subscribe(cus, e.monthly, 0)
	ctx := context.Background()
	for _, ev := range e.srv.Events() {
		if ev.CustomerID == "" {
			continue
		}
		got, err := e.r.EventCustomer(ctx, json.RawMessage(ev.JSON))
		if err != nil || got != cus {
			t.Errorf("EventCustomer(%s) = %q, %v; want %s", ev.Type, got, err, cus)
		}
	}
}

// TestUndeliveredEvents reads Stripe's own record of undelivered events: one list call with
// delivery_success=false and a created range, the events still pending newest first, and whether
// Stripe had more. A rejected key comes back as a config error.
func TestUndeliveredEvents(t *testing.T) {
	t.Parallel()
	e := newEnv(t, stripetest.Options{})
	ctx := context.Background()
	cus := e.srv.CreateCustomer("late@example.com", "")
	e.srv.Advance(time.Hour)
	e.srv.Subscribe(cus, e.monthly, 0)
	e.srv.Advance(time.Hour)
	e.srv.CreateCustomer("new@example.com", "")
	all := e.srv.Events()
	if len(all) < 4 {
		t.Fatalf("scenario made %d events, want 4 or more", len(all))
	}
	hs := newAckServer(t)
	// The first event is acknowledged; the others stay pending.
	e.srv.Deliver(ctx, hs, stripetest.Bodies(all[:1]), stripetest.DeliveryOptions{})

	e.calls.reset()
	got, more, err := e.r.UndeliveredEvents(ctx, start, start.Add(90*time.Minute), 100)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, ev := range got {
		ids = append(ids, ev.ID)
		if ev.PendingWebhooks != 1 {
			t.Errorf("%s: PendingWebhooks %d, want 1", ev.ID, ev.PendingWebhooks)
		}
	}
	var want []string
	for i := len(all) - 1; i >= 1; i-- {
		if !all[i].Created.After(start.Add(90 * time.Minute)) {
			want = append(want, all[i].ID)
		}
	}
	if !slices.Equal(ids, want) || more {
		t.Errorf("undelivered in the range: got %v (more %v), want %v newest first", ids, more, want)
	}
	if ops := e.calls.ops(); len(ops) != 1 {
		t.Errorf("calls: %v, want one list call", ops)
	}

	got, more, err = e.r.UndeliveredEvents(ctx, start, start.Add(3*time.Hour), 1)
	if err != nil || len(got) != 1 || got[0].ID != all[len(all)-1].ID || !more {
		t.Errorf("limit 1: %v more %v err %v, want the newest and more", got, more, err)
	}

	_, _, err = e.reader("sk_test_revoked").UndeliveredEvents(ctx, start, start.Add(time.Hour), 10)
	if provider.KindOf(err) != provider.Config {
		t.Errorf("rejected key: %v (kind %v), want a config error", err, provider.KindOf(err))
	}
}

// newAckServer returns the URL of a webhook endpoint that acknowledges every delivery.
func newAckServer(t *testing.T) string {
	t.Helper()
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	t.Cleanup(hs.Close)
	return hs.URL
}

// pagedCustomer sets up a customer whose state spans several pages at MaxPageSize 2: three
// subscriptions, five failed payments of the first, three purchases (one of three items) and a
// dispute. It returns the customer, the subscriptions, the three-item session and its prices in
// order, and when the first payment failed.
func pagedCustomer(e *env) (cus string, subs []string, sess string, items []string, failedAt time.Time) {
	cus = e.srv.CreateCustomer("pages@example.com", "")
	for range 3 {
		subs = append(subs, e.srv.Subscribe(cus, e.monthly, 0))
	}
	e.srv.Advance(31 * day)
	failedAt = e.srv.Now()
	for i := range 5 {
		e.srv.FailPayment(subs[0])
		if i == 0 {
			e.srv.Advance(day)
		}
	}
	other := e.srv.CreatePrice(e.srv.CreateProduct("Workbook"), 1900, false)
	third := e.srv.CreatePrice(e.srv.CreateProduct("Templates"), 900, false)
	sess, ch := e.srv.PurchaseItems(cus, e.course, other, third)
	e.srv.Purchase(cus, other)
	e.srv.Purchase(cus, third)
	e.srv.Dispute(ch)
	return cus, subs, sess, []string{e.course, other, third}, failedAt
}
