package billing_test

import (
	"testing"
	"time"

	"github.com/membersync/membersync/internal/billing/stripetest"
	"github.com/membersync/membersync/internal/entitlement"
	"github.com/membersync/membersync/internal/plan"
)

// TestGraceFromPeriodStart is the grace fallback of issue 17: a subscriber of a year whose renewal
// invoice is sent (collection_method=send_invoice) and goes overdue has no failed charge, so the
// failure is dated at the start of the unpaid period, which the reader fills from the subscription
// item's current_period_start. Grace counts from there, not from the subscription's creation.
func TestGraceFromPeriodStart(t *testing.T) {
	t.Parallel()
	e := newEnv(t, stripetest.Options{})
	cus := e.srv.CreateCustomer("long@example.com", "Long Timer")
	sub := e.srv.Subscribe(cus, e.monthly, 0)
	// The clock follows the monthly periods: each renewal happens as the previous period ends.
	for i := 1; i <= 12; i++ {
		e.srv.Advance(start.AddDate(0, i, 0).Sub(e.srv.Now()))
		e.srv.Renew(sub)
	}
	e.srv.SendInvoices(sub, 2)
	periodStart := start.AddDate(0, 13, 0)
	e.srv.Advance(periodStart.Sub(e.srv.Now()))
	e.srv.SendRenewalInvoice(sub)
	e.srv.Advance(2*day + time.Hour)
	e.srv.InvoiceOverdue(sub)

	s := one(t, e.snapshot(t, cus))
	if s.Status != "past_due" || !s.FirstFailedPaymentAt.IsZero() {
		t.Fatalf("status %q, FirstFailedPaymentAt %v; want past_due with no failed charge", s.Status, s.FirstFailedPaymentAt)
	}
	if got := s.Items[0].CurrentPeriodStart; !got.Equal(periodStart) {
		t.Fatalf("CurrentPeriodStart = %v, want the unpaid period's start %v", got, periodStart)
	}
	if s.Created.After(periodStart.AddDate(-1, 0, 0)) {
		t.Fatalf("Created = %v: the subscriber should be a year old", s.Created)
	}

	plans := []plan.Plan{{ID: "pro", Stripe: plan.Stripe{Prices: []string{e.monthly}}, Circle: plan.Circle{AccessGroups: []int64{11}}}}
	b := entitlement.Billing{Customers: []entitlement.Customer{{ID: cus, Email: "long@example.com", Subscriptions: []entitlement.Subscription{s}}}}
	graceEnd := periodStart.Add(entitlement.DefaultGracePeriod)
	for _, tc := range []struct {
		name   string
		now    time.Time
		access bool
		stage  entitlement.Stage
	}{
		{"just overdue", e.srv.Now(), true, entitlement.StagePastDue},
		{"grace almost over", graceEnd.Add(-time.Minute), true, entitlement.StagePastDue},
		{"grace over", graceEnd.Add(time.Minute), false, entitlement.StageGraceExpired},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := entitlement.Compute(b, plans, tc.now)
			if got := len(d.AccessGroups) == 1; got != tc.access {
				t.Errorf("access = %v (groups %v), want %v", got, d.AccessGroups, tc.access)
			}
			if len(d.Plans) != 1 || d.Plans[0].Stage != tc.stage {
				t.Errorf("plans = %+v, want stage %s", d.Plans, tc.stage)
			}
			if tc.access && !d.NextChange.Equal(graceEnd) {
				t.Errorf("NextChange = %v, want the grace end %v", d.NextChange, graceEnd)
			}
		})
	}
}
