package main

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/membersync/membersync/internal/billing/stripetest"
)

// BenchmarkConverge measures, over real HTTP, the time from a new subscriber's webhooks leaving the
// fake Stripe to the Circle grant landing in the fake Circle (p50/p95), and the provider calls per new
// purchase and per duplicate delivery, against instant fakes and fakes answering in 200 ms:
//
//	go test -run '^$' -bench Converge -benchtime 100x ./cmd/membersync
func BenchmarkConverge(b *testing.B) {
	for _, latency := range []time.Duration{0, 200 * time.Millisecond} {
		b.Run(fmt.Sprintf("latency=%s", latency), func(b *testing.B) {
			w := newWorld(b, worldOptions{})
			w.circle.Faults.SetLatency(latency)
			w.kit.Faults.SetLatency(latency)
			var grants []time.Duration
			var circleCalls, kitCalls, dupCalls int
			b.ResetTimer()
			for i := range b.N {
				email := fmt.Sprintf("bench%d@example.com", i)
				cus := w.stripe.CreateCustomer(email, "Bench")
				w.stripe.Subscribe(cus, w.proPrice, 0)
				c0, k0 := w.circle.Faults.TotalCalls(), w.kit.Faults.TotalCalls()
				muts := len(w.circle.Faults.Mutations())
				start := time.Now()
				w.deliver(stripetest.DeliveryOptions{})
				w.settle()
				for _, m := range w.circle.Faults.Mutations()[muts:] {
					if strings.Contains(m.Detail, fmt.Sprintf("to access group %d", w.proGroup)) {
						grants = append(grants, m.At.Sub(start))
						break
					}
				}
				circleCalls += w.circle.Faults.TotalCalls() - c0
				kitCalls += w.kit.Faults.TotalCalls() - k0
				c1, k1 := w.circle.Faults.TotalCalls(), w.kit.Faults.TotalCalls()
				w.rewindLast() // the same events again: a duplicate delivery
				w.deliver(stripetest.DeliveryOptions{})
				w.settle()
				dupCalls += w.circle.Faults.TotalCalls() - c1 + w.kit.Faults.TotalCalls() - k1
			}
			b.StopTimer()
			if len(grants) != b.N {
				b.Fatalf("%d grants seen for %d subscribers", len(grants), b.N)
			}
			slices.Sort(grants)
			b.ReportMetric(float64(grants[len(grants)/2].Microseconds())/1000, "grant-p50-ms")
			b.ReportMetric(float64(grants[len(grants)*95/100].Microseconds())/1000, "grant-p95-ms")
			b.ReportMetric(float64(circleCalls)/float64(b.N), "circle-calls/purchase")
			b.ReportMetric(float64(kitCalls)/float64(b.N), "kit-calls/purchase")
			b.ReportMetric(float64(dupCalls)/float64(b.N), "calls/duplicate")
		})
	}
}
