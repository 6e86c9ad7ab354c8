package main

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/membersync/membersync/internal/billing/stripetest"
	"github.com/membersync/membersync/internal/kit"
	"github.com/membersync/membersync/internal/provider/providertest"
)

// BenchmarkConverge measures, over real HTTP, the time from a new subscriber's webhooks leaving the
// fake Stripe to the Circle grant landing in the fake Circle and to the Kit onboarding enrollment
// landing in the fake Kit (p50/p95/p99), the provider calls per new purchase and per duplicate
// delivery, against instant fakes and fakes answering every call — Stripe's too — in 200 ms. Buyers
// come one at a time, paced so that Kit's rate limit never holds one back (the launch-day benchmark,
// cmd/launchday, measures the opposite). With
// latency, grant-round-trips is the grant's p50 in units of that latency: the sequential round
// trips on the path from the webhook to access.
//
//	go test -run '^$' -bench Converge -benchtime 100x ./cmd/membersync
func BenchmarkConverge(b *testing.B) {
	for _, latency := range []time.Duration{0, 200 * time.Millisecond} {
		b.Run(fmt.Sprintf("latency=%s", latency), func(b *testing.B) {
			w := newWorld(b, worldOptions{})
			w.stripe.Faults.SetLatency(latency)
			w.circle.Faults.SetLatency(latency)
			w.kit.Faults.SetLatency(latency)
			var grants, onboards []time.Duration
			var circleCalls, kitCalls, stripeCalls, dupCalls int
			b.ResetTimer()
			for i := range b.N {
				email := fmt.Sprintf("bench%d@example.com", i)
				w.stripe.Faults.SetLatency(0) // setting the scene is not part of the measure
				cus := w.stripe.CreateCustomer(email, "Bench")
				w.stripe.Subscribe(cus, w.proPrice, 0)
				w.stripe.Faults.SetLatency(latency)
				c0, k0, s0 := w.circle.Faults.TotalCalls(), w.kit.Faults.TotalCalls(), w.stripe.Faults.TotalCalls()
				cm, km := len(w.circle.Faults.Mutations()), len(w.kit.Faults.Mutations())
				start := time.Now()
				w.deliver(stripetest.DeliveryOptions{})
				w.settle()
				if d, ok := firstMutation(w.circle.Faults.Mutations()[cm:], fmt.Sprintf("to access group %d", w.proGroup), start); ok {
					grants = append(grants, d)
				}
				if d, ok := firstMutation(w.kit.Faults.Mutations()[km:], fmt.Sprintf("to sequence %d", w.seqOnboarding), start); ok {
					onboards = append(onboards, d)
				}
				circleCalls += w.circle.Faults.TotalCalls() - c0
				kitCalls += w.kit.Faults.TotalCalls() - k0
				stripeCalls += w.stripe.Faults.TotalCalls() - s0
				c1, k1 := w.circle.Faults.TotalCalls(), w.kit.Faults.TotalCalls()
				w.rewindLast() // the same events again: a duplicate delivery
				w.deliver(stripetest.DeliveryOptions{})
				w.settle()
				dupCalls += w.circle.Faults.TotalCalls() - c1 + w.kit.Faults.TotalCalls() - k1
				// One buyer at a time, as on an ordinary day: let Kit's budget (the world's 100 a
				// minute) refill what this purchase spent, so that no onboarding waits on the
				// previous buyers' calls. The wait is outside the measure.
				b.StopTimer()
				time.Sleep(time.Duration(w.kit.Faults.TotalCalls()-k0) * kit.Rate(100).Interval())
				b.StartTimer()
			}
			b.StopTimer()
			if len(grants) != b.N || len(onboards) != b.N {
				b.Fatalf("%d grants and %d onboardings seen for %d subscribers", len(grants), len(onboards), b.N)
			}
			reportQuantiles(b, "grant", grants)
			reportQuantiles(b, "onboard", onboards)
			if latency > 0 {
				b.ReportMetric(float64(quantile(grants, 50))/float64(latency), "grant-round-trips")
			}
			b.ReportMetric(float64(stripeCalls)/float64(b.N), "stripe-calls/purchase")
			b.ReportMetric(float64(circleCalls)/float64(b.N), "circle-calls/purchase")
			b.ReportMetric(float64(kitCalls)/float64(b.N), "kit-calls/purchase")
			b.ReportMetric(float64(dupCalls)/float64(b.N), "calls/duplicate")
		})
	}
}

// firstMutation returns how long after start the first mutation whose detail contains what landed.
func firstMutation(ms []providertest.Mutation, what string, start time.Time) (time.Duration, bool) {
	for _, m := range ms {
		if strings.Contains(m.Detail, what) {
			return m.At.Sub(start), true
		}
	}
	return 0, false
}

// quantile returns the q-th percentile of ds (sorted in place).
func quantile(ds []time.Duration, q int) time.Duration {
	slices.Sort(ds)
	return ds[min(len(ds)*q/100, len(ds)-1)]
}

func reportQuantiles(b *testing.B, name string, ds []time.Duration) {
	for _, q := range []int{50, 95, 99} {
		b.ReportMetric(float64(quantile(ds, q).Microseconds())/1000, fmt.Sprintf("%s-p%d-ms", name, q))
	}
}
