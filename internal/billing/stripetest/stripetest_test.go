package stripetest_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v85"
	"github.com/stripe/stripe-go/v85/webhook"

	"github.com/membersync/membersync/internal/billing/stripetest"
	"github.com/membersync/membersync/internal/provider/providertest"
)

var start = time.Date(2026, 4, 1, 12, 0, 0, 0, time.UTC)

func newServer(t *testing.T, opts stripetest.Options) *stripetest.Server {
	t.Helper()
	if opts.Now == nil {
		opts.Now = func() time.Time { return start }
	}
	srv := stripetest.New(opts)
	t.Cleanup(srv.Close)
	return srv
}

// scenario drives every Control API method once or more.
func scenario(srv *stripetest.Server) {
	prod := srv.CreateProduct("Pro membership")
	monthly := srv.CreatePrice(prod, 2900, true)
	course := srv.CreatePrice(srv.CreateProduct("Course"), 29900, false)
	ann := srv.CreateCustomer("ann@example.com", "Ann")
	bob := srv.CreateCustomer("bob@example.com", "Bob")
	_, sub := srv.SubscribeViaCheckout(ann, monthly, 0)
	trial := srv.Subscribe(bob, monthly, 14)
	srv.Advance(31 * 24 * time.Hour)
	srv.Renew(sub)
	srv.FailPayment(trial)
	srv.Advance(72 * time.Hour)
	srv.FailPayment(trial)
	srv.RecoverPayment(trial)
	srv.CancelAtPeriodEnd(sub)
	srv.Renew(sub)
	_, ch := srv.Purchase(ann, course)
	srv.Refund(ch, 1000)
	srv.Refund(ch, 0)
	_, ch2 := srv.Purchase(bob, course)
	dp := srv.Dispute(ch2)
	srv.CloseDispute(dp, false)
	srv.FailPayment(trial)
	srv.ExpireUnpaid(trial)
	srv.ChangeEmail(bob, "robert@example.com")
	srv.DeleteCustomer(ann)
}

// TestEventsUnmarshalIntoStripeGo checks every recorded event against stripe-go: the envelope, the
// API version check of webhook.ConstructEvent, and data.object decoded into its stripe-go type.
func TestEventsUnmarshalIntoStripeGo(t *testing.T) {
	t.Parallel()
	srv := newServer(t, stripetest.Options{})
	scenario(srv)
	events := srv.Events()
	if len(events) < 40 {
		t.Fatalf("got %d events, want the scenario's 40 or more", len(events))
	}
	seen := map[string]bool{}
	for _, e := range events {
		seen[e.Type] = true
		signed := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: e.JSON, Secret: "whsec_x"})
		ev, err := webhook.ConstructEvent(e.JSON, signed.Header, "whsec_x")
		if err != nil {
			t.Fatalf("%s %s: ConstructEvent: %v", e.ID, e.Type, err)
		}
		if ev.ID != e.ID || string(ev.Type) != e.Type || ev.APIVersion != stripe.APIVersion || ev.Livemode || ev.Created != e.Created.Unix() {
			t.Errorf("%s: envelope %+v does not match %+v", e.ID, ev, e)
		}
		obj, _ := ev.Data.Object["object"].(string)
		var id string
		var err2 error
		switch obj {
		case "customer":
			var v stripe.Customer
			err2 = json.Unmarshal(ev.Data.Raw, &v)
			id = v.ID
		case "product":
			var v stripe.Product
			err2 = json.Unmarshal(ev.Data.Raw, &v)
			id = v.ID
		case "price":
			var v stripe.Price
			err2 = json.Unmarshal(ev.Data.Raw, &v)
			id = v.ID
		case "subscription":
			var v stripe.Subscription
			err2 = json.Unmarshal(ev.Data.Raw, &v)
			id = v.ID
			if err2 == nil && (v.Items == nil || len(v.Items.Data) == 0 || v.Items.Data[0].CurrentPeriodEnd == 0 || v.Items.Data[0].Price.Product.ID == "") {
				t.Errorf("%s: subscription items lack period end or product: %+v", e.ID, v.Items)
			}
		case "invoice":
			var v stripe.Invoice
			err2 = json.Unmarshal(ev.Data.Raw, &v)
			id = v.ID
			if err2 == nil && (v.Parent == nil || v.Parent.SubscriptionDetails == nil || v.Parent.SubscriptionDetails.Subscription.ID == "") {
				t.Errorf("%s: invoice has no parent subscription", e.ID)
			}
		case "invoice_payment":
			var v stripe.InvoicePayment
			err2 = json.Unmarshal(ev.Data.Raw, &v)
			id = v.ID
			if err2 == nil && (v.Payment == nil || v.Payment.PaymentIntent == nil || v.Payment.PaymentIntent.ID == "") {
				t.Errorf("%s: invoice payment has no payment intent", e.ID)
			}
		case "payment_intent":
			var v stripe.PaymentIntent
			err2 = json.Unmarshal(ev.Data.Raw, &v)
			id = v.ID
		case "charge":
			var v stripe.Charge
			err2 = json.Unmarshal(ev.Data.Raw, &v)
			id = v.ID
		case "refund":
			var v stripe.Refund
			err2 = json.Unmarshal(ev.Data.Raw, &v)
			id = v.ID
		case "dispute":
			var v stripe.Dispute
			err2 = json.Unmarshal(ev.Data.Raw, &v)
			id = v.ID
		case "checkout.session":
			var v stripe.CheckoutSession
			err2 = json.Unmarshal(ev.Data.Raw, &v)
			id = v.ID
		default:
			t.Errorf("%s: unexpected object %q", e.ID, obj)
			continue
		}
		if err2 != nil || id == "" {
			t.Errorf("%s (%s): decoding %s: id %q, %v", e.ID, e.Type, obj, id, err2)
		}
		if strings.HasSuffix(e.Type, ".updated") && len(ev.Data.PreviousAttributes) == 0 {
			t.Errorf("%s (%s): no previous_attributes", e.ID, e.Type)
		}
	}
	for _, want := range []string{
		"customer.created", "customer.updated", "customer.deleted", "customer.subscription.created",
		"customer.subscription.updated", "customer.subscription.deleted", "invoice.paid", "invoice.payment_failed",
		"invoice_payment.paid", "payment_intent.succeeded", "payment_intent.payment_failed", "charge.succeeded",
		"charge.failed", "charge.refunded", "refund.created", "charge.dispute.created", "charge.dispute.closed",
		"checkout.session.completed",
	} {
		if !seen[want] {
			t.Errorf("no %s event in the scenario", want)
		}
	}
}

func TestPreviousAttributes(t *testing.T) {
	t.Parallel()
	srv := newServer(t, stripetest.Options{})
	c := srv.CreateCustomer("old@example.com", "Ann")
	srv.ChangeEmail(c, "new@example.com")
	sub := srv.Subscribe(c, srv.CreatePrice(srv.CreateProduct("Pro"), 2900, true), 0)
	srv.CancelAtPeriodEnd(sub)
	var gotEmail, gotCancel bool
	for _, e := range srv.Events() {
		var ev stripe.Event
		if err := json.Unmarshal(e.JSON, &ev); err != nil {
			t.Fatal(err)
		}
		switch e.Type {
		case "customer.updated":
			gotEmail = true
			if ev.Data.PreviousAttributes["email"] != "old@example.com" || ev.Data.Object["email"] != "new@example.com" {
				t.Errorf("customer.updated: previous %v, object email %v", ev.Data.PreviousAttributes, ev.Data.Object["email"])
			}
		case "customer.subscription.updated":
			gotCancel = true
			if ev.Data.PreviousAttributes["cancel_at_period_end"] != false || ev.Data.Object["cancel_at_period_end"] != true {
				t.Errorf("subscription.updated: previous %v", ev.Data.PreviousAttributes)
			}
			if _, ok := ev.Data.PreviousAttributes["cancel_at"]; !ok {
				t.Errorf("subscription.updated: previous_attributes lacks cancel_at: %v", ev.Data.PreviousAttributes)
			}
		}
	}
	if !gotEmail || !gotCancel {
		t.Errorf("got customer.updated %v, customer.subscription.updated %v; want both", gotEmail, gotCancel)
	}
}

// receiver is a webhook endpoint that verifies signatures with stripe-go.
type receiver struct {
	secret string
	mu     sync.Mutex
	got    []string // event ids, in arrival order
	status int      // answer; 0 means 200
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	if err := webhook.ValidatePayloadWithTolerance(body, r.Header.Get("Stripe-Signature"), rc.secret, 5*time.Minute); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var e struct{ ID string }
	_ = json.Unmarshal(body, &e)
	rc.mu.Lock()
	rc.got = append(rc.got, e.ID)
	status := rc.status
	rc.mu.Unlock()
	if status != 0 {
		w.WriteHeader(status)
	}
}

func TestDeliver(t *testing.T) {
	t.Parallel()
	srv := newServer(t, stripetest.Options{WebhookSecret: "whsec_test_secret"})
	scenario(srv)
	events := srv.Events()[:12]
	rc := &receiver{secret: "whsec_test_secret"}
	hs := httptest.NewServer(rc)
	defer hs.Close()
	ctx := context.Background()

	t.Run("in order", func(t *testing.T) {
		rc.got = nil
		res := srv.Deliver(ctx, hs.URL, stripetest.Bodies(events), stripetest.DeliveryOptions{})
		if len(res) != len(events) {
			t.Fatalf("got %d results, want %d", len(res), len(events))
		}
		for i, r := range res {
			if r.Status != 200 || r.Err != nil || r.EventID != events[i].ID || r.Attempt != 1 {
				t.Errorf("result %d = %+v, want 200 for %s", i, r, events[i].ID)
			}
			if rc.got[i] != events[i].ID {
				t.Errorf("arrival %d = %s, want %s", i, rc.got[i], events[i].ID)
			}
		}
	})
	t.Run("duplicated shuffled concurrent", func(t *testing.T) {
		rc.got = nil
		res := srv.Deliver(ctx, hs.URL, stripetest.Bodies(events), stripetest.DeliveryOptions{
			Duplicate: true, Shuffle: true, Seed: 7, Concurrency: 4, Delay: time.Millisecond})
		if len(res) != 2*len(events) {
			t.Fatalf("got %d results, want %d", len(res), 2*len(events))
		}
		count := map[string]int{}
		for _, r := range res {
			if r.Status != 200 {
				t.Errorf("result %+v, want 200", r)
			}
			count[r.EventID]++
		}
		for _, e := range events {
			if count[e.ID] != 2 {
				t.Errorf("%s sent %d times, want 2", e.ID, count[e.ID])
			}
		}
		again := srv.Deliver(ctx, hs.URL, stripetest.Bodies(events), stripetest.DeliveryOptions{Duplicate: true, Shuffle: true, Seed: 7})
		var a, b []string
		for i := range res {
			a, b = append(a, res[i].EventID), append(b, again[i].EventID)
		}
		if !slices.Equal(a, b) {
			t.Errorf("the same seed gave two orders")
		}
		if slices.Equal(a[:len(events)], func() []string {
			var ids []string
			for _, e := range events {
				ids = append(ids, e.ID)
			}
			return ids
		}()) {
			t.Errorf("shuffle kept the original order")
		}
	})
	t.Run("wrong secret", func(t *testing.T) {
		res := srv.Deliver(ctx, hs.URL, stripetest.Bodies(events[:1]), stripetest.DeliveryOptions{Secret: "whsec_other"})
		if res[0].Status != http.StatusBadRequest {
			t.Errorf("status %d, want 400 for a signature made with another secret", res[0].Status)
		}
	})
	t.Run("receiver status reported", func(t *testing.T) {
		rc.status = http.StatusServiceUnavailable
		defer func() { rc.status = 0 }()
		res := srv.Deliver(ctx, hs.URL, stripetest.Bodies(events[:2]), stripetest.DeliveryOptions{})
		for _, r := range res {
			if r.Status != http.StatusServiceUnavailable {
				t.Errorf("status %d, want 503", r.Status)
			}
		}
	})
}

func get(t *testing.T, srv *stripetest.Server, key, path string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, srv.URL+path, nil)
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		t.Fatalf("GET %s: decoding: %v", path, err)
	}
	return resp.StatusCode, m
}

func errorOf(m map[string]any) map[string]any {
	e, _ := m["error"].(map[string]any)
	return e
}

func TestAuthAndErrors(t *testing.T) {
	t.Parallel()
	srv := newServer(t, stripetest.Options{SecretKey: "sk_test_good", RestrictedKeys: map[string][]string{"rk_test_cust": {"rak_customer_read"}}})
	c := srv.CreateCustomer("ann@example.com", "Ann")

	if st, _ := get(t, srv, "sk_test_good", "/v1/customers/"+c); st != 200 {
		t.Errorf("good key: status %d", st)
	}
	st, m := get(t, srv, "sk_test_bad", "/v1/customers/"+c)
	if st != 401 || errorOf(m)["type"] != "invalid_request_error" || !strings.Contains(errorOf(m)["message"].(string), "Invalid API Key") {
		t.Errorf("bad key: %d %v", st, m)
	}
	if st, _ := get(t, srv, "", "/v1/customers/"+c); st != 401 {
		t.Errorf("no key: status %d, want 401", st)
	}
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/v1/customers/"+c, nil)
	req.SetBasicAuth("sk_test_good", "")
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Errorf("basic auth: %v %v", resp, err)
	}
	resp.Body.Close()

	if st, _ := get(t, srv, "rk_test_cust", "/v1/customers/"+c); st != 200 {
		t.Errorf("restricted key with customer read: status %d", st)
	}
	st, m = get(t, srv, "rk_test_cust", "/v1/subscriptions?customer="+c)
	if st != 403 || !strings.Contains(errorOf(m)["message"].(string), "'rak_subscription_read'") {
		t.Errorf("restricted key without subscription read: %d %v", st, m)
	}

	st, m = get(t, srv, "sk_test_good", "/v1/customers/cus_missing")
	if st != 404 || errorOf(m)["code"] != "resource_missing" {
		t.Errorf("missing customer: %d %v", st, m)
	}
	st, m = get(t, srv, "sk_test_good", "/v1/subscriptions?expand[0]=data.items")
	if st != 400 || !strings.Contains(errorOf(m)["message"].(string), "cannot be expanded") {
		t.Errorf("bad expand: %d %v", st, m)
	}
	if st, _ := get(t, srv, "sk_test_good", "/v1/subscriptions?expand[0]=data.latest_invoice.payments&expand[1]=data.customer"); st != 200 {
		t.Errorf("good expand: status %d", st)
	}
	if st, _ := get(t, srv, "sk_test_good", "/v1/customers?limit=101"); st != 400 {
		t.Errorf("limit 101: status %d, want 400", st)
	}
	if st, _ := get(t, srv, "sk_test_good", "/v1/nothing"); st != 404 {
		t.Errorf("unknown URL: status %d, want 404", st)
	}

	srv.Faults.FailNext(1, providertest.Fault{Status: 500})
	st, m = get(t, srv, "sk_test_good", "/v1/customers/"+c)
	if st != 500 || errorOf(m)["type"] != "api_error" {
		t.Errorf("injected 500: %d %v", st, m)
	}
	srv.Faults.FailNext(1, providertest.Fault{Status: 429})
	st, m = get(t, srv, "sk_test_good", "/v1/customers/"+c)
	if st != 429 || errorOf(m)["code"] != "rate_limit" {
		t.Errorf("injected 429: %d %v", st, m)
	}
	if n := srv.Faults.Calls("GET /v1/customers/{id}"); n < 8 {
		t.Errorf("counter for GET /v1/customers/{id} = %d, want every call counted", n)
	}
}

func TestListEvents(t *testing.T) {
	t.Parallel()
	srv := newServer(t, stripetest.Options{})
	scenario(srv)
	all := srv.Events()
	key := srv.SecretKey()

	_, m := get(t, srv, key, "/v1/events?limit=3")
	data := m["data"].([]any)
	if len(data) != 3 || m["has_more"] != true || m["object"] != "list" || m["url"] != "/v1/events" {
		t.Fatalf("first page: %v", m)
	}
	if id := data[0].(map[string]any)["id"]; id != all[len(all)-1].ID {
		t.Errorf("first event listed %v, want the newest %s", id, all[len(all)-1].ID)
	}
	_, m = get(t, srv, key, "/v1/events?limit=3&starting_after="+all[len(all)-3].ID)
	if id := m["data"].([]any)[0].(map[string]any)["id"]; id != all[len(all)-4].ID {
		t.Errorf("starting_after: got %v, want %s", id, all[len(all)-4].ID)
	}
	_, m = get(t, srv, key, "/v1/events?limit=2&ending_before="+all[0].ID)
	d := m["data"].([]any)
	if d[0].(map[string]any)["id"] != all[2].ID || d[1].(map[string]any)["id"] != all[1].ID || m["has_more"] != true {
		t.Errorf("ending_before: got %v, want %s then %s", d, all[2].ID, all[1].ID)
	}
	_, m = get(t, srv, key, "/v1/events?limit=100&types[0]=charge.refunded&types[1]=refund.created")
	if n := len(m["data"].([]any)); n != 4 {
		t.Errorf("types[]: %d events, want 4", n)
	}
	_, m = get(t, srv, key, "/v1/events?limit=100&type=charge.dispute.*")
	if n := len(m["data"].([]any)); n != 2 {
		t.Errorf("type wildcard: %d events, want 2", n)
	}
	if st, _ := get(t, srv, key, "/v1/events?type=a&types[0]=b"); st != 400 {
		t.Errorf("type with types: status %d, want 400", st)
	}
	cut := start.Add(24 * time.Hour).Unix()
	_, m = get(t, srv, key, "/v1/events?limit=100&created[lt]="+itoa(cut))
	for _, e := range m["data"].([]any) {
		if int64(e.(map[string]any)["created"].(float64)) >= cut {
			t.Errorf("created[lt] let through %v", e)
		}
	}
	st, ev := get(t, srv, key, "/v1/events/"+all[5].ID)
	if st != 200 || ev["id"] != all[5].ID {
		t.Errorf("get event: %d %v", st, ev["id"])
	}
}

func itoa(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}

func TestClock(t *testing.T) {
	t.Parallel()
	srv := newServer(t, stripetest.Options{})
	if !srv.Now().Equal(start) {
		t.Fatalf("Now = %v, want %v", srv.Now(), start)
	}
	srv.Advance(time.Hour)
	c := srv.CreateCustomer("a@example.com", "")
	ev := srv.Events()[0]
	if m := srv.Faults.Mutations(); len(m) != 1 || !m[0].At.Equal(start.Add(time.Hour)) || !strings.Contains(m[0].Detail, c) {
		t.Errorf("mutation log = %+v", m)
	}
	if !ev.Created.Equal(start.Add(time.Hour)) {
		t.Errorf("event created %v, want %v", ev.Created, start.Add(time.Hour))
	}
}

// TestPendingWebhooks follows Stripe's pending_webhooks through deliveries: an event is pending at its
// one endpoint until a delivery of it is answered 2xx, and delivery_success filters the list on it.
func TestPendingWebhooks(t *testing.T) {
	t.Parallel()
	srv := newServer(t, stripetest.Options{})
	scenario(srv)
	all := srv.Events()
	key := srv.SecretKey()
	rc := &receiver{secret: srv.WebhookSecret()}
	hs := httptest.NewServer(rc)
	defer hs.Close()
	ctx := context.Background()

	listed := func(query string) map[string]float64 {
		t.Helper()
		st, m := get(t, srv, key, "/v1/events?limit=100"+query)
		if st != 200 {
			t.Fatalf("GET /v1/events?%s: status %d %v", query, st, m)
		}
		out := map[string]float64{}
		for _, e := range m["data"].([]any) {
			o := e.(map[string]any)
			out[o["id"].(string)] = o["pending_webhooks"].(float64)
		}
		return out
	}
	for _, e := range all {
		if e.PendingWebhooks != 1 || !strings.Contains(string(e.JSON), `"pending_webhooks":1`) {
			t.Fatalf("undelivered %s: pending %d, JSON %s; want 1", e.ID, e.PendingWebhooks, e.JSON)
		}
	}
	if got := listed("&delivery_success=false"); len(got) != len(all) {
		t.Errorf("delivery_success=false before any delivery: %d events, want all %d", len(got), len(all))
	}

	// Refused (wrong secret, then a 503) and then acknowledged.
	srv.Deliver(ctx, hs.URL, stripetest.Bodies(all[:3]), stripetest.DeliveryOptions{Secret: "whsec_other"})
	rc.status = http.StatusServiceUnavailable
	srv.Deliver(ctx, hs.URL, stripetest.Bodies(all[:3]), stripetest.DeliveryOptions{})
	if got := listed("&delivery_success=false"); len(got) != len(all) {
		t.Errorf("after refused deliveries: %d pending, want all %d", len(got), len(all))
	}
	rc.status = 0
	srv.Deliver(ctx, hs.URL, stripetest.Bodies(all[:2]), stripetest.DeliveryOptions{})

	pending, done := listed("&delivery_success=false"), listed("&delivery_success=true")
	if len(pending) != len(all)-2 || len(done) != 2 {
		t.Fatalf("after 2 acknowledged: %d pending, %d delivered; want %d and 2", len(pending), len(done), len(all)-2)
	}
	for _, e := range all[:2] {
		if p, ok := done[e.ID]; !ok || p != 0 {
			t.Errorf("acknowledged %s: listed delivered %v with pending_webhooks %v, want 0", e.ID, ok, p)
		}
	}
	if p, ok := pending[all[2].ID]; !ok || p != 1 {
		t.Errorf("refused %s: listed pending %v with pending_webhooks %v, want 1", all[2].ID, ok, p)
	}
	if _, ev := get(t, srv, key, "/v1/events/"+all[0].ID); ev["pending_webhooks"] != 0.0 {
		t.Errorf("GET acknowledged event: pending_webhooks %v, want 0", ev["pending_webhooks"])
	}
	if e := srv.Events()[0]; e.PendingWebhooks != 0 || !strings.Contains(string(e.JSON), `"pending_webhooks":0`) {
		t.Errorf("Events()[0] after delivery: pending %d, JSON %s", e.PendingWebhooks, e.JSON)
	}
	if st, m := get(t, srv, key, "/v1/events?delivery_success=maybe"); st != 400 {
		t.Errorf("delivery_success=maybe: status %d %v, want 400", st, m)
	}
}
