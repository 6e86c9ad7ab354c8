package main

import (
	"net/http"
	"strings"
	"testing"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/membersync/membersync/internal/billing/stripetest"
)

// TestMetricsAfterEndToEndRun scrapes /metrics after a purchase, a duplicate and a forged delivery
// and checks the exposition parses and counts what happened, with bounded labels.
func TestMetricsAfterEndToEndRun(t *testing.T) {
	w := newWorld(t, worldOptions{})
	cus := w.stripe.CreateCustomer("kim@example.com", "Kim")
	w.stripe.Subscribe(cus, w.proPrice, 0)
	w.deliver(stripetest.DeliveryOptions{Duplicate: true})
	w.settle()
	forged, _ := http.Post(w.url+"/webhooks/stripe", "application/json", strings.NewReader(`{"id":"evt_x"}`))
	forged.Body.Close()

	resp, err := http.Get(w.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("/metrics without the token: %d, want 401", resp.StatusCode)
	}
	req, _ := http.NewRequest("GET", w.url+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+w.envs["MEMBERSYNC_METRICS_TOKEN"])
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("exposition does not parse: %v", err)
	}
	value := func(name string, labels map[string]string) float64 {
		mf := families[name]
		if mf == nil {
			t.Fatalf("metric %s missing", name)
		}
		sum := 0.0
	next:
		for _, m := range mf.Metric {
			for k, v := range labels {
				found := false
				for _, lp := range m.Label {
					if lp.GetName() == k && lp.GetValue() == v {
						found = true
					}
				}
				if !found {
					continue next
				}
			}
			switch {
			case m.Counter != nil:
				sum += m.Counter.GetValue()
			case m.Gauge != nil:
				sum += m.Gauge.GetValue()
			case m.Histogram != nil:
				sum += float64(m.Histogram.GetSampleCount())
			}
		}
		return sum
	}
	events := len(w.stripe.Events())
	checks := []struct {
		name   string
		labels map[string]string
		want   func(float64) bool
		what   string
	}{
		{"membersync_webhook_requests_total", map[string]string{"result": "duplicate"}, func(v float64) bool { return int(v) == events }, "one duplicate per event"},
		{"membersync_webhook_requests_total", map[string]string{"result": "bad_signature"}, func(v float64) bool { return v == 1 }, "the forged delivery"},
		{"membersync_webhook_ack_seconds", nil, func(v float64) bool { return int(v) == 2*events+1 }, "every delivery timed"},
		{"membersync_sync_runs_total", map[string]string{"outcome": "converged"}, func(v float64) bool { return v >= 1 }, "at least one converged sync"},
		{"membersync_time_to_converge_seconds", nil, func(v float64) bool { return v >= 1 }, "converge times observed"},
		{"membersync_provider_calls_total", map[string]string{"provider": "circle", "status": "2xx"}, func(v float64) bool { return v >= 2 }, "Circle calls"},
		{"membersync_provider_calls_total", map[string]string{"provider": "kit"}, func(v float64) bool { return v >= 2 }, "Kit calls"},
		{"membersync_provider_calls_total", map[string]string{"provider": "stripe"}, func(v float64) bool { return v >= 1 }, "Stripe reads"},
		{"membersync_queue_depth", nil, func(v float64) bool { return v == 0 }, "an idle queue"},
		{"membersync_review_items_open", nil, func(v float64) bool { return v == 0 }, "no review items"},
		{"membersync_provider_calls_this_month", map[string]string{"provider": "circle"}, func(v float64) bool { return v >= 2 }, "Circle's monthly count"},
	}
	for _, c := range checks {
		if got := value(c.name, c.labels); !c.want(got) {
			t.Errorf("%s%v = %v: want %s", c.name, c.labels, got, c.what)
		}
	}
	// Bounded labels: no email, no Stripe or person id anywhere in a label value.
	for name, mf := range families {
		for _, m := range mf.Metric {
			for _, lp := range m.Label {
				v := lp.GetValue()
				if strings.Contains(v, "@") || strings.Contains(v, "cus_") || strings.Contains(v, "evt_") || !model.LabelValue(v).IsValid() {
					t.Errorf("%s has an unbounded label %s=%q", name, lp.GetName(), v)
				}
			}
		}
	}
}
