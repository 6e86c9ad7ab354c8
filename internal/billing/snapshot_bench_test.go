package billing_test

import (
	"context"
	"testing"
	"time"

	"github.com/membersync/membersync/internal/billing"
	"github.com/membersync/membersync/internal/billing/stripetest"
	"github.com/membersync/membersync/internal/entitlement"
)

// benchLatency is how long the fake Stripe takes to answer each call in BenchmarkSnapshot: real
// Stripe answers in 150–400 ms.
const benchLatency = 200 * time.Millisecond

// BenchmarkSnapshot reads the snapshot of typical people from a fake Stripe answering every call
// in benchLatency, one call after another (the reading before issue 22), each customer before its
// lists, and fully concurrent (Snapshot). Besides ns/op it reports calls/op, the HTTP calls a
// snapshot makes, and round_trips/op, its time in units of the latency: the calls on its critical
// path.
//
//	go test -run '^$' -bench Snapshot ./internal/billing/
func BenchmarkSnapshot(b *testing.B) {
	people := []struct {
		name  string
		build func(srv *stripetest.Server, monthly, course string) []string
	}{
		{"new subscriber through checkout", func(srv *stripetest.Server, monthly, _ string) []string {
			cus := srv.CreateCustomer("new@example.com", "New")
			srv.SubscribeViaCheckout(cus, monthly, 0)
			return []string{cus}
		}},
		{"course buyer", func(srv *stripetest.Server, _, course string) []string {
			cus := srv.CreateCustomer("buyer@example.com", "")
			srv.Purchase(cus, course)
			return []string{cus}
		}},
		{"subscriber and buyer, two customers", func(srv *stripetest.Server, monthly, course string) []string {
			a := srv.CreateCustomer("two@example.com", "")
			c := srv.CreateCustomer("two@example.com", "")
			srv.Subscribe(a, monthly, 0)
			srv.Purchase(c, course)
			return []string{a, c}
		}},
		{"disputed purchase", func(srv *stripetest.Server, monthly, course string) []string {
			cus := srv.CreateCustomer("disputed@example.com", "")
			srv.Subscribe(cus, monthly, 0)
			_, ch := srv.Purchase(cus, course)
			srv.Dispute(ch)
			return []string{cus}
		}},
		{"deleted customer", func(srv *stripetest.Server, monthly, _ string) []string {
			cus := srv.CreateCustomer("gone@example.com", "")
			srv.Subscribe(cus, monthly, 0)
			srv.DeleteCustomer(cus)
			return []string{cus}
		}},
	}
	modes := []struct {
		name string
		read func(ctx context.Context, r *billing.Reader, ids ...string) (entitlement.Billing, error)
	}{
		{"sequential", func(ctx context.Context, r *billing.Reader, ids ...string) (entitlement.Billing, error) {
			return billing.SnapshotWith(ctx, r, 1, false, ids...)
		}},
		{"customer first", func(ctx context.Context, r *billing.Reader, ids ...string) (entitlement.Billing, error) {
			return billing.SnapshotWith(ctx, r, 4, true, ids...)
		}},
		{"concurrent", func(ctx context.Context, r *billing.Reader, ids ...string) (entitlement.Billing, error) {
			return r.Snapshot(ctx, ids...)
		}},
	}
	for _, p := range people {
		for _, m := range modes {
			b.Run(p.name+"/"+m.name, func(b *testing.B) {
				srv := stripetest.New(stripetest.Options{})
				defer srv.Close()
				monthly := srv.CreatePrice(srv.CreateProduct("Pro"), 2900, true)
				course := srv.CreatePrice(srv.CreateProduct("Course"), 29900, false)
				ids := p.build(srv, monthly, course)
				r := billing.NewReader(billing.Config{SecretKey: srv.SecretKey(), BaseURL: srv.URL})
				ctx := context.Background()
				if _, err := m.read(ctx, r, ids...); err != nil { // warm the connections
					b.Fatal(err)
				}
				srv.Faults.SetLatency(benchLatency)
				srv.Faults.ResetCalls()
				for b.Loop() {
					if _, err := m.read(ctx, r, ids...); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(srv.Faults.TotalCalls())/float64(b.N), "calls/op")
				b.ReportMetric(float64(b.Elapsed())/float64(benchLatency)/float64(b.N), "round_trips/op")
			})
		}
	}
}
