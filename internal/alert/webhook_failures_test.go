package alert_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/membersync/membersync/internal/alert"
	"github.com/membersync/membersync/internal/billing"
	"github.com/membersync/membersync/internal/store/storetest"
)

// TestForgedSignaturesDoNotPageTheFounder posts nothing Stripe signed: a stranger's flood of
// well-formed wrong signatures, counted through alert.Refusals and flushed as the webhook handler's
// counts are. The counts reach the store (the overview shows them), and nobody is paged.
func TestForgedSignaturesDoNotPageTheFounder(t *testing.T) {
	for _, d := range storetest.Dialects() {
		t.Run(d, func(t *testing.T) {
			h := newHarness(t, d)
			ev := h.evaluator()
			for _, at := range []time.Time{t0, t0.Add(time.Minute), t0.Add(6 * time.Minute)} {
				h.clk.Set(at)
				for range 500 {
					h.refusals.Record("bad_signature")
				}
				h.evaluate(ev) // flushes the counts first
				h.expect("")
			}
			counts, _, err := h.st.WebhookRefusalCounts(context.Background(), t0.Add(-time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			if counts["bad_signature"] != 1500 {
				t.Errorf("stored bad_signature refusals: got %d, want 1500 (flushed by each pass)", counts["bad_signature"])
			}
			if f := ev.Firing(context.Background()); len(f) != 0 {
				t.Errorf("Firing after 1500 forged signatures: %+v, want none", f)
			}
			hist, err := h.st.AlertNotifications(context.Background(), 10)
			if err != nil {
				t.Fatal(err)
			}
			if len(hist) != 0 {
				t.Errorf("notifications: %+v, want none", hist)
			}
		})
	}
}

// TestUndeliveredStripeEventsFireWebhookFailures fires the webhook-failures alert on Stripe's own
// record: events the fake Stripe holds with pending_webhooks above 0 for longer than pending_for.
// It says how many and since when through the real receivers, asks Stripe at most once every five
// minutes, and resolves once Stripe reports the events delivered.
func TestUndeliveredStripeEventsFireWebhookFailures(t *testing.T) {
	for _, d := range storetest.Dialects() {
		t.Run(d, func(t *testing.T) {
			h := newHarness(t, d)
			fake := fakeStripe(h)
			ev := h.evaluator()
			// Three events Stripe could not deliver, the oldest 25 minutes old, and one a minute old
			// (Stripe's retries may still get it through).
			for i, ago := range []time.Duration{25, 20, 12, 1} {
				h.clk.Set(t0.Add(-ago * time.Minute))
				fake.CreateCustomer("member"+string(rune('a'+i))+"@example.com", "")
			}
			// membersync got one of them anyway (another endpoint may be the one failing): said so.
			held := fake.Events()[1]
			h.clk.Set(held.Created)
			ingest(t, h.st, held.ID, held.CustomerID, held.Created)
			h.clk.Set(t0)
			h.evaluate(ev)
			m := h.expect(alert.StatusFiring)
			if m.AlertID != alert.RuleWebhookFailures || m.Title != "Stripe could not deliver 3 events to its webhook endpoints" ||
				!m.Since.Equal(t0.Add(-25*time.Minute)) || m.Link != publicURL+"/admin/events" || m.Affected != -1 {
				t.Errorf("firing message: %s %q since %v link %s affected %d; want %s, 3 events since %v",
					m.AlertID, m.Title, m.Since, m.Link, m.Affected, alert.RuleWebhookFailures, t0.Add(-25*time.Minute))
			}
			for _, want := range []string{"lists 3 events", "was created 2026-03-02 09:35 UTC", "membersync holds 1 of them already", "Developers → Webhooks"} {
				if !strings.Contains(m.Detail, want) {
					t.Errorf("detail %q lacks %q", m.Detail, want)
				}
			}
			if strings.Contains(m.Detail, "@example.com") {
				t.Errorf("detail %q carries an email", m.Detail)
			}

			// Stripe delivers them all; the next read (five minutes after the last) sees it.
			h.clk.Set(t0.Add(time.Minute))
			h.evaluate(ev)
			h.expect("")
			ackAll(t, fake)
			h.clk.Set(t0.Add(4 * time.Minute))
			h.evaluate(ev)
			h.expect("") // the read of t0 stands until t0+5m
			h.clk.Set(t0.Add(5 * time.Minute))
			h.evaluate(ev)
			if r := h.expect(alert.StatusResolved); r.AlertID != alert.RuleWebhookFailures {
				t.Errorf("resolved %s, want %s", r.AlertID, alert.RuleWebhookFailures)
			}
			if n := fake.Faults.Calls("GET /v1/events"); n != 2 {
				t.Errorf("Stripe list calls over four passes in five minutes: %d, want 2", n)
			}
		})
	}
}

// TestStripeCredentialsErrorDoesNotFireWebhookFailures reads Stripe with a key it rejects: the rule
// cannot be checked, which is reported, and neither fires nor resolves the alert.
func TestStripeCredentialsErrorDoesNotFireWebhookFailures(t *testing.T) {
	for _, d := range storetest.Dialects() {
		t.Run(d, func(t *testing.T) {
			h := newHarness(t, d)
			fake := fakeStripe(h)
			h.clk.Set(t0.Add(-time.Hour))
			fake.CreateCustomer("a@example.com", "")
			h.clk.Set(t0)
			ev := h.evaluator()
			ev.Stripe = billing.NewReader(billing.Config{SecretKey: "sk_test_revoked", BaseURL: fake.URL, Now: h.clk.Now})
			err := ev.Evaluate(context.Background())
			if err == nil || !strings.Contains(err.Error(), "rule "+alert.RuleWebhookFailures) || !strings.Contains(err.Error(), "STRIPE_SECRET_KEY") {
				t.Errorf("Evaluate with a rejected key: %v, want the webhook_failures rule reported unchecked", err)
			}
			h.expect("")
			if f := ev.Firing(context.Background()); len(f) != 0 {
				t.Errorf("Firing: %+v, want none", f)
			}

			// Firing with a good key, then the key is rejected: the alert stays as it is.
			good := h.evaluator()
			h.evaluate(good)
			h.expect(alert.StatusFiring)
			h.clk.Set(t0.Add(10 * time.Minute))
			ackAll(t, fake)
			if err := ev.Evaluate(context.Background()); err == nil {
				t.Error("Evaluate with a rejected key: no error")
			}
			h.expect("")
			if firing(ev, alert.RuleWebhookFailures) == nil {
				t.Error("webhook_failures resolved on a pass that could not read Stripe")
			}
		})
	}
}
