package entitlement

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/membersync/membersync/internal/plan"
)

// now is the instant most tests run at: 3 Nov 2026 15:04 UTC.
var now = time.Date(2026, 11, 3, 15, 4, 0, 0, time.UTC)

const day = 24 * time.Hour

// testPlans is the plan set of the tests:
//   - pro: a subscription (prices or product), default grace, a tag for every stage, both sequences;
//   - course: a one-time purchase with 365 days of access, a few tags, an onboarding sequence;
//   - lifetime: a one-time purchase for life, revoked by any refund, sharing group 11 with pro;
//   - team: a subscription mapped by product only, with a 24 h grace period and no tags.
func testPlans() []plan.Plan {
	return []plan.Plan{
		{
			ID:     "pro",
			Stripe: plan.Stripe{Prices: []string{"price_pro_m", "price_pro_y"}, Products: []string{"prod_pro"}},
			Circle: plan.Circle{AccessGroups: []int64{12, 11}},
			Kit: plan.Kit{
				Tags: map[string]int64{
					"trialing": 101, "active": 102, "canceling": 103, "past_due": 104, "grace_expired": 105,
					"canceled": 106, "refunded": 107, "disputed": 108, "unpaid": 109, "incomplete": 110, "paused": 111,
				},
				OnboardingSequence: 201,
				RetentionSequence:  202,
			},
		},
		{
			ID:             "course",
			Stripe:         plan.Stripe{Prices: []string{"price_course"}, Products: []string{"prod_course"}},
			Circle:         plan.Circle{AccessGroups: []int64{21}},
			Kit:            plan.Kit{Tags: map[string]int64{"active": 301, "expired": 302, "refunded": 303}, OnboardingSequence: 401},
			AccessDuration: plan.Duration(365 * day),
		},
		{
			ID:                    "lifetime",
			Stripe:                plan.Stripe{Products: []string{"prod_life"}},
			Circle:                plan.Circle{AccessGroups: []int64{31, 11}},
			Kit:                   plan.Kit{Tags: map[string]int64{"active": 501, "refunded": 502}},
			RevokeOnPartialRefund: true,
		},
		{
			ID:          "team",
			Stripe:      plan.Stripe{Products: []string{"prod_team"}},
			Circle:      plan.Circle{AccessGroups: []int64{41}},
			GracePeriod: plan.Duration(24 * time.Hour),
		},
	}
}

// proItem is a monthly pro item whose current period ends at end.
func proItem(end time.Time) Item {
	return Item{PriceID: "price_pro_m", ProductID: "prod_pro", CurrentPeriodStart: end.AddDate(0, -1, 0), CurrentPeriodEnd: end}
}

// withSubs is one customer holding subs.
func withSubs(subs ...Subscription) Billing {
	return Billing{Customers: []Customer{{ID: "cus_1", Email: "a@example.com", Subscriptions: subs}}}
}

// withPurchases is one customer holding purchases.
func withPurchases(purchases ...Purchase) Billing {
	return Billing{Customers: []Customer{{ID: "cus_1", Email: "a@example.com", Purchases: purchases}}}
}

// planState is the state of plan id in Compute's answer; it fails the test if the plan is missing.
func planState(t *testing.T, d Desired, id string) PlanState {
	t.Helper()
	st, ok := d.Plan(id)
	if !ok {
		t.Fatalf("Plan(%q) not found", id)
	}
	return st
}

// want is the part of a PlanState most tests check.
type want struct {
	entitled bool
	stage    Stage
	reason   string
	until    time.Time
}

func check(t *testing.T, st PlanState, w want) {
	t.Helper()
	if st.Entitled != w.entitled || st.Stage != w.stage || st.Reason != w.reason || !st.Until.Equal(w.until) {
		t.Errorf("got entitled=%v stage=%s reason=%s until=%v (%s), want entitled=%v stage=%s reason=%s until=%v",
			st.Entitled, st.Stage, st.Reason, st.Until, st.Explanation, w.entitled, w.stage, w.reason, w.until)
	}
}

func TestComputeSubscriptionStatuses(t *testing.T) {
	t.Parallel()
	periodEnd := now.Add(10 * day)
	tests := []struct {
		name string
		sub  Subscription
		at   time.Time
		want want
	}{
		{"trialing is entitled",
			Subscription{Status: "trialing", TrialEnd: now.Add(5 * day), Items: []Item{proItem(periodEnd)}},
			now, want{true, StageTrialing, "subscription_trialing", time.Time{}}},
		{"trialing past its trial end stays trialing as Stripe says",
			Subscription{Status: "trialing", TrialEnd: now.Add(-day), Items: []Item{proItem(periodEnd)}},
			now, want{true, StageTrialing, "subscription_trialing", time.Time{}}},
		{"active is entitled and open-ended",
			Subscription{Status: "active", Items: []Item{proItem(periodEnd)}},
			now, want{true, StageActive, "subscription_active", time.Time{}}},
		{"cancel at period end before the period end is canceling",
			Subscription{Status: "active", CancelAtPeriodEnd: true, Items: []Item{proItem(periodEnd)}},
			now, want{true, StageCanceling, "cancel_scheduled", periodEnd}},
		{"cancel at period end 1ns before the period end is canceling",
			Subscription{Status: "active", CancelAtPeriodEnd: true, Items: []Item{proItem(periodEnd)}},
			periodEnd.Add(-1), want{true, StageCanceling, "cancel_scheduled", periodEnd}},
		{"cancel at period end exactly at the period end is canceled",
			Subscription{Status: "active", CancelAtPeriodEnd: true, Items: []Item{proItem(periodEnd)}},
			periodEnd, want{false, StageCanceled, "cancellation_effective", time.Time{}}},
		{"cancel at period end after the period end is canceled before Stripe says so",
			Subscription{Status: "active", CancelAtPeriodEnd: true, Items: []Item{proItem(periodEnd)}},
			periodEnd.Add(day), want{false, StageCanceled, "cancellation_effective", time.Time{}}},
		{"cancel_at in the future is canceling until then",
			Subscription{Status: "active", CancelAt: now.Add(3 * day), Items: []Item{proItem(periodEnd)}},
			now, want{true, StageCanceling, "cancel_scheduled", now.Add(3 * day)}},
		{"cancel_at in the past is canceled",
			Subscription{Status: "active", CancelAt: now.Add(-time.Hour), Items: []Item{proItem(periodEnd)}},
			now, want{false, StageCanceled, "cancellation_effective", time.Time{}}},
		{"the earlier of cancel_at and the period end wins",
			Subscription{Status: "active", CancelAtPeriodEnd: true, CancelAt: now.Add(2 * day), Items: []Item{proItem(periodEnd)}},
			now, want{true, StageCanceling, "cancel_scheduled", now.Add(2 * day)}},
		{"cancel at period end with an unknown period end lasts until Stripe cancels",
			Subscription{Status: "active", CancelAtPeriodEnd: true, Items: []Item{{PriceID: "price_pro_m"}}},
			now, want{true, StageCanceling, "cancel_scheduled", time.Time{}}},
		{"trialing set to cancel is canceling",
			Subscription{Status: "trialing", CancelAtPeriodEnd: true, TrialEnd: periodEnd, Items: []Item{proItem(periodEnd)}},
			now, want{true, StageCanceling, "cancel_scheduled", periodEnd}},
		{"unpaid is not entitled",
			Subscription{Status: "unpaid", Items: []Item{proItem(periodEnd)}},
			now, want{false, StageUnpaid, "subscription_unpaid", time.Time{}}},
		{"canceled is not entitled",
			Subscription{Status: "canceled", EndedAt: now.Add(-day), Items: []Item{proItem(periodEnd)}},
			now, want{false, StageCanceled, "subscription_canceled", time.Time{}}},
		{"incomplete is not entitled",
			Subscription{Status: "incomplete", Items: []Item{proItem(periodEnd)}},
			now, want{false, StageIncomplete, "subscription_incomplete", time.Time{}}},
		{"incomplete_expired is stage incomplete",
			Subscription{Status: "incomplete_expired", Items: []Item{proItem(periodEnd)}},
			now, want{false, StageIncomplete, "subscription_incomplete_expired", time.Time{}}},
		{"paused is not entitled",
			Subscription{Status: "paused", Items: []Item{proItem(periodEnd)}},
			now, want{false, StagePaused, "subscription_paused", time.Time{}}},
		{"an unknown status is not entitled",
			Subscription{Status: "frobnicated", Items: []Item{proItem(periodEnd)}},
			now, want{false, StageIncomplete, "unknown_status", time.Time{}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.sub.ID, tt.sub.Created = "sub_1", now.AddDate(0, -3, 0)
			d := Compute(withSubs(tt.sub), testPlans(), tt.at)
			st := planState(t, d, "pro")
			check(t, st, tt.want)
			if st.Source != "sub_1" {
				t.Errorf("got source %q, want sub_1", st.Source)
			}
			var wantGroups []int64
			if tt.want.entitled {
				wantGroups = []int64{11, 12}
			}
			if !reflect.DeepEqual(d.AccessGroups, wantGroups) {
				t.Errorf("got access groups %v, want %v", d.AccessGroups, wantGroups)
			}
		})
	}
}

func TestComputeGracePeriod(t *testing.T) {
	t.Parallel()
	failed := now.Add(-time.Hour)
	periodStart := now.Add(-2 * day)
	tests := []struct {
		name string
		plan string
		sub  Subscription
		at   time.Time
		want want
	}{
		{"past_due within the default 72h grace is entitled",
			"pro", Subscription{FirstFailedPaymentAt: failed, Items: []Item{proItem(now.Add(day))}},
			now, want{true, StagePastDue, "in_grace_period", failed.Add(72 * time.Hour)}},
		{"past_due 1ns before the grace end is entitled",
			"pro", Subscription{FirstFailedPaymentAt: failed, Items: []Item{proItem(now.Add(day))}},
			failed.Add(72*time.Hour - 1), want{true, StagePastDue, "in_grace_period", failed.Add(72 * time.Hour)}},
		{"past_due exactly at the grace end is grace_expired",
			"pro", Subscription{FirstFailedPaymentAt: failed, Items: []Item{proItem(now.Add(day))}},
			failed.Add(72 * time.Hour), want{false, StageGraceExpired, "grace_expired", time.Time{}}},
		{"past_due after the grace end is grace_expired",
			"pro", Subscription{FirstFailedPaymentAt: failed, Items: []Item{proItem(now.Add(day))}},
			failed.Add(10 * day), want{false, StageGraceExpired, "grace_expired", time.Time{}}},
		{"the plan's own grace period applies",
			"team", Subscription{FirstFailedPaymentAt: failed, Items: []Item{{ProductID: "prod_team"}}},
			now, want{true, StagePastDue, "in_grace_period", failed.Add(24 * time.Hour)}},
		{"the plan's own grace period ends",
			"team", Subscription{FirstFailedPaymentAt: failed, Items: []Item{{ProductID: "prod_team"}}},
			failed.Add(24 * time.Hour), want{false, StageGraceExpired, "grace_expired", time.Time{}}},
		{"an unknown first failure counts from the current period start",
			"pro", Subscription{Items: []Item{{PriceID: "price_pro_m", CurrentPeriodStart: periodStart, CurrentPeriodEnd: periodStart.AddDate(0, 1, 0)}}},
			now, want{true, StagePastDue, "in_grace_period", periodStart.Add(72 * time.Hour)}},
		{"an unknown first failure counts from the latest period start of any item",
			"pro", Subscription{Created: now.AddDate(-1, 0, 0), Items: []Item{
				{PriceID: "price_pro_m", CurrentPeriodStart: periodStart.Add(-time.Hour)},
				{PriceID: "price_x", CurrentPeriodStart: periodStart},
			}},
			now, want{true, StagePastDue, "in_grace_period", periodStart.Add(72 * time.Hour)}},
		{"an unknown first failure from an old period start is grace_expired",
			"pro", Subscription{Items: []Item{{PriceID: "price_pro_m", CurrentPeriodStart: now.Add(-80 * time.Hour)}}},
			now, want{false, StageGraceExpired, "grace_expired", time.Time{}}},
		{"an unknown first failure and no period counts from the creation",
			"pro", Subscription{Created: now.Add(-time.Hour), Items: []Item{{PriceID: "price_pro_m"}}},
			now, want{true, StagePastDue, "in_grace_period", now.Add(71 * time.Hour)}},
		{"nothing known gives no grace",
			"pro", Subscription{Items: []Item{{PriceID: "price_pro_m"}}},
			now, want{false, StageGraceExpired, "grace_start_unknown", time.Time{}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.sub.ID, tt.sub.Status = "sub_1", "past_due"
			d := Compute(withSubs(tt.sub), testPlans(), tt.at)
			check(t, planState(t, d, tt.plan), tt.want)
		})
	}
}

func TestComputeExplanation(t *testing.T) {
	t.Parallel()
	failed := time.Date(2026, 11, 3, 15, 4, 0, 0, time.UTC)
	sub := Subscription{ID: "sub_1", Status: "past_due", FirstFailedPaymentAt: failed, Items: []Item{proItem(failed.Add(30 * day))}}
	got := planState(t, Compute(withSubs(sub), testPlans(), failed.Add(time.Hour)), "pro").Explanation
	want := "Payment failed on 3 Nov 2026 15:04 UTC; access continues until 6 Nov 2026 15:04 UTC while Stripe retries."
	if got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

// charge is a paid charge of 1000 with refunded and the disputes of the given statuses.
func charge(refunded int64, disputes ...string) Charge {
	c := Charge{ID: "ch_1", Amount: 1000, AmountRefunded: refunded}
	for _, s := range disputes {
		c.Disputes = append(c.Disputes, Dispute{ID: "dp_" + s, Status: s, Created: now.Add(-day)})
	}
	return c
}

func TestComputeRefundsAndDisputes(t *testing.T) {
	t.Parallel()
	active := want{true, StageActive, "subscription_active", time.Time{}}
	refunded := want{false, StageRefunded, "full_refund", time.Time{}}
	open := want{false, StageDisputed, "dispute_open", time.Time{}}
	lost := want{false, StageDisputed, "dispute_lost", time.Time{}}
	tests := []struct {
		name    string
		charges []Charge
		want    want
	}{
		{"no refund", []Charge{charge(0)}, active},
		{"partial refund keeps access", []Charge{charge(500)}, active},
		{"full refund revokes", []Charge{charge(1000)}, refunded},
		{"refund above the amount revokes", []Charge{charge(1500)}, refunded},
		{"full refund of one of two charges revokes", []Charge{charge(0), charge(1000)}, refunded},
		{"zero-amount charge is no refund", []Charge{{ID: "ch_0"}}, active},
		{"dispute warning_needs_response revokes", []Charge{charge(0, "warning_needs_response")}, open},
		{"dispute warning_under_review revokes", []Charge{charge(0, "warning_under_review")}, open},
		{"dispute needs_response revokes", []Charge{charge(0, "needs_response")}, open},
		{"dispute under_review revokes", []Charge{charge(0, "under_review")}, open},
		{"dispute lost revokes", []Charge{charge(0, "lost")}, lost},
		{"dispute won restores", []Charge{charge(0, "won")}, want{true, StageActive, "dispute_won", time.Time{}}},
		{"dispute warning_closed is as if none", []Charge{charge(0, "warning_closed")}, active},
		{"dispute prevented is as if none", []Charge{charge(0, "prevented")}, active},
		{"dispute of unknown status counts as open", []Charge{charge(0, "mystery")}, open},
		{"lost beats open", []Charge{charge(0, "needs_response", "lost")}, lost},
		{"won does not outweigh another open dispute", []Charge{charge(0, "won"), charge(0, "under_review")}, open},
		{"won does not outweigh a lost dispute", []Charge{charge(0, "won"), charge(0, "lost")}, lost},
		{"a dispute beats a refund", []Charge{charge(1000, "lost")}, lost},
	}
	for _, tt := range tests {
		t.Run("subscription/"+tt.name, func(t *testing.T) {
			sub := Subscription{ID: "sub_1", Status: "active", Items: []Item{proItem(now.Add(day))}, LatestCharges: tt.charges}
			check(t, planState(t, Compute(withSubs(sub), testPlans(), now), "pro"), tt.want)
		})
	}

	lifetime := want{true, StageActive, "lifetime_purchase", time.Time{}}
	courseActive := want{true, StageActive, "purchase_active", now.Add(-day).Add(365 * day)}
	purchaseTests := []struct {
		name    string
		plan    string
		charges []Charge
		want    want
	}{
		{"partial refund keeps access", "course", []Charge{charge(1)}, courseActive},
		{"partial refund revokes when the plan says so", "lifetime", []Charge{charge(1)},
			want{false, StageRefunded, "partial_refund", time.Time{}}},
		{"full refund revokes", "lifetime", []Charge{charge(1000)}, want{false, StageRefunded, "full_refund", time.Time{}}},
		{"full refund revokes a timed purchase", "course", []Charge{charge(1000)}, want{false, StageRefunded, "full_refund", time.Time{}}},
		{"open dispute revokes", "lifetime", []Charge{charge(0, "needs_response")}, open},
		{"warning dispute revokes", "lifetime", []Charge{charge(0, "warning_under_review")}, open},
		{"lost dispute revokes", "lifetime", []Charge{charge(0, "lost")}, lost},
		{"won dispute restores", "lifetime", []Charge{charge(0, "won")}, want{true, StageActive, "dispute_won", time.Time{}}},
		{"warning_closed is as if none", "lifetime", []Charge{charge(0, "warning_closed")}, lifetime},
	}
	for _, tt := range purchaseTests {
		t.Run("purchase/"+tt.name, func(t *testing.T) {
			p := Purchase{SessionID: "cs_1", PaidAt: now.Add(-day), Charges: tt.charges,
				Items: []Item{{PriceID: "price_course", ProductID: "prod_course"}, {PriceID: "price_life", ProductID: "prod_life"}}}
			check(t, planState(t, Compute(withPurchases(p), testPlans(), now), tt.plan), tt.want)
		})
	}
}

func TestComputePurchases(t *testing.T) {
	t.Parallel()
	paid := now.Add(-10 * day)
	expiry := paid.Add(365 * day)
	tests := []struct {
		name string
		plan string
		at   time.Time
		want want
	}{
		{"lifetime purchase is open-ended", "lifetime", now, want{true, StageActive, "lifetime_purchase", time.Time{}}},
		{"lifetime purchase never expires", "lifetime", now.AddDate(50, 0, 0), want{true, StageActive, "lifetime_purchase", time.Time{}}},
		{"timed purchase lasts its duration", "course", now, want{true, StageActive, "purchase_active", expiry}},
		{"timed purchase 1ns before expiry", "course", expiry.Add(-1), want{true, StageActive, "purchase_active", expiry}},
		{"timed purchase at expiry is expired", "course", expiry, want{false, StageExpired, "access_expired", time.Time{}}},
		{"purchase paid after now (clock skew) is entitled", "course", paid.Add(-time.Minute), want{true, StageActive, "purchase_active", expiry}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := Purchase{SessionID: "cs_1", PaidAt: paid, Charges: []Charge{charge(0)},
				Items: []Item{{PriceID: "price_course"}, {ProductID: "prod_life"}}}
			check(t, planState(t, Compute(withPurchases(p), testPlans(), tt.at), tt.plan), tt.want)
		})
	}
}

func TestComputeUnion(t *testing.T) {
	t.Parallel()
	end := now.Add(5 * day)
	tests := []struct {
		name       string
		billing    Billing
		want       want
		wantSource string
		wantGroups []int64
	}{
		{
			name: "an active subscription of a second customer wins over a canceled one",
			billing: Billing{Customers: []Customer{
				{ID: "cus_a", Subscriptions: []Subscription{{ID: "sub_a", Status: "canceled", Items: []Item{proItem(end)}}}},
				{ID: "cus_b", Subscriptions: []Subscription{{ID: "sub_b", Status: "active", Items: []Item{proItem(end)}}}},
			}},
			want:       want{true, StageActive, "subscription_active", time.Time{}},
			wantSource: "sub_b",
			wantGroups: []int64{11, 12},
		},
		{
			name: "open-ended beats a later finite end",
			billing: withSubs(
				Subscription{ID: "sub_a", Status: "active", CancelAtPeriodEnd: true, Items: []Item{proItem(end.AddDate(1, 0, 0))}},
				Subscription{ID: "sub_b", Status: "active", Items: []Item{proItem(end)}},
			),
			want:       want{true, StageActive, "subscription_active", time.Time{}},
			wantSource: "sub_b",
			wantGroups: []int64{11, 12},
		},
		{
			name: "among entitled sources the latest end wins",
			billing: withSubs(
				Subscription{ID: "sub_a", Status: "active", CancelAtPeriodEnd: true, Items: []Item{proItem(end.Add(day))}},
				Subscription{ID: "sub_b", Status: "past_due", FirstFailedPaymentAt: now, Items: []Item{proItem(end)}},
			),
			want:       want{true, StageCanceling, "cancel_scheduled", end.Add(day)},
			wantSource: "sub_a",
			wantGroups: []int64{11, 12},
		},
		{
			name: "among sources without access the most recent wins",
			billing: withSubs(
				Subscription{ID: "sub_a", Status: "canceled", Created: now.AddDate(-1, 0, 0), Items: []Item{proItem(end)}},
				Subscription{ID: "sub_b", Status: "active", Created: now.AddDate(0, -1, 0), Items: []Item{proItem(end)}, LatestCharges: []Charge{charge(1000)}},
			),
			want:       want{false, StageRefunded, "full_refund", time.Time{}},
			wantSource: "sub_b",
		},
		{
			name: "a tie goes to the smaller source id",
			billing: withSubs(
				Subscription{ID: "sub_b", Status: "active", Items: []Item{proItem(end)}},
				Subscription{ID: "sub_a", Status: "trialing", Items: []Item{proItem(end)}},
			),
			want:       want{true, StageTrialing, "subscription_trialing", time.Time{}},
			wantSource: "sub_a",
			wantGroups: []int64{11, 12},
		},
		{
			name: "a deleted customer contributes nothing",
			billing: Billing{Customers: []Customer{{
				ID: "cus_gone", Deleted: true,
				Subscriptions: []Subscription{{ID: "sub_a", Status: "active", Items: []Item{proItem(end), {PriceID: "price_unknown"}}}},
				Purchases:     []Purchase{{SessionID: "cs_a", PaidAt: now, Items: []Item{{ProductID: "prod_life"}}}},
			}}},
			want: want{false, StageNone, "never_purchased", time.Time{}},
		},
		{
			name: "groups of several plans are merged and deduplicated",
			billing: Billing{Customers: []Customer{
				{ID: "cus_a", Subscriptions: []Subscription{{ID: "sub_a", Status: "active", Items: []Item{proItem(end)}}}},
				{ID: "cus_b", Purchases: []Purchase{{SessionID: "cs_b", PaidAt: now, Items: []Item{{ProductID: "prod_life"}}}}},
			}},
			want:       want{true, StageActive, "subscription_active", time.Time{}},
			wantSource: "sub_a",
			wantGroups: []int64{11, 12, 31},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := Compute(tt.billing, testPlans(), now)
			st := planState(t, d, "pro")
			check(t, st, tt.want)
			if st.Source != tt.wantSource {
				t.Errorf("got source %q, want %q", st.Source, tt.wantSource)
			}
			if !reflect.DeepEqual(d.AccessGroups, tt.wantGroups) {
				t.Errorf("got access groups %v, want %v", d.AccessGroups, tt.wantGroups)
			}
			if len(d.Reviews) != 0 {
				t.Errorf("got reviews %v, want none", d.Reviews)
			}
		})
	}
}

func TestComputeReviews(t *testing.T) {
	t.Parallel()
	unknown := Item{PriceID: "price_x", ProductID: "prod_x"}
	tests := []struct {
		name        string
		billing     Billing
		wantReviews []Review
		wantPro     Stage
		wantGroups  []int64
	}{
		{
			name:    "unmapped price on an active subscription",
			billing: withSubs(Subscription{ID: "sub_1", Status: "active", Items: []Item{unknown}}),
			wantReviews: []Review{{Kind: ReviewUnmappedPrice, Source: "sub_1",
				Detail: "price price_x (product prod_x) maps to no plan; no access is granted"}},
			wantPro: StageNone,
		},
		{
			name:    "unmapped price on a past_due subscription",
			billing: withSubs(Subscription{ID: "sub_1", Status: "past_due", Items: []Item{unknown}}),
			wantReviews: []Review{{Kind: ReviewUnmappedPrice, Source: "sub_1",
				Detail: "price price_x (product prod_x) maps to no plan; no access is granted"}},
			wantPro: StageNone,
		},
		{
			name:    "unmapped price on a canceled subscription is not reviewed",
			billing: withSubs(Subscription{ID: "sub_1", Status: "canceled", Items: []Item{unknown}}),
			wantPro: StageNone,
		},
		{
			name:    "unmapped price on a purchase",
			billing: withPurchases(Purchase{SessionID: "cs_1", PaidAt: now, Items: []Item{unknown}}),
			wantReviews: []Review{{Kind: ReviewUnmappedPrice, Source: "cs_1",
				Detail: "price price_x (product prod_x) maps to no plan; no access is granted"}},
			wantPro: StageNone,
		},
		{
			name: "a mapped item beside an unmapped one still grants its plan",
			billing: withSubs(Subscription{ID: "sub_1", Status: "active",
				Items: []Item{proItem(now.Add(day)), unknown}}),
			wantReviews: []Review{{Kind: ReviewUnmappedPrice, Source: "sub_1",
				Detail: "price price_x (product prod_x) maps to no plan; no access is granted"}},
			wantPro:    StageActive,
			wantGroups: []int64{11, 12},
		},
		{
			name: "a price of one plan with the product of another uses the price's plan",
			billing: withSubs(Subscription{ID: "sub_1", Status: "active",
				Items: []Item{{PriceID: "price_pro_y", ProductID: "prod_team"}}}),
			wantReviews: []Review{{Kind: ReviewConflictingData, Source: "sub_1",
				Detail: `price price_pro_y maps to plan "pro" but its product prod_team maps to "team"; using "pro"`}},
			wantPro:    StageActive,
			wantGroups: []int64{11, 12},
		},
		{
			name:       "a product alone maps",
			billing:    withSubs(Subscription{ID: "sub_1", Status: "active", Items: []Item{{PriceID: "price_new", ProductID: "prod_pro"}}}),
			wantPro:    StageActive,
			wantGroups: []int64{11, 12},
		},
		{
			name: "an unknown dispute status is reviewed",
			billing: withSubs(Subscription{ID: "sub_1", Status: "active", Items: []Item{proItem(now.Add(day))},
				LatestCharges: []Charge{charge(0, "mystery")}}),
			wantReviews: []Review{{Kind: ReviewUnknownStatus, Source: "sub_1",
				Detail: `dispute dp_mystery on charge ch_1 has unknown status "mystery"; treated as open`}},
			wantPro: StageDisputed,
		},
		{
			name:    "an unknown subscription status is reviewed",
			billing: withSubs(Subscription{ID: "sub_1", Status: "frobnicated", Items: []Item{proItem(now.Add(day))}}),
			wantReviews: []Review{{Kind: ReviewUnknownStatus, Source: "sub_1",
				Detail: `subscription status "frobnicated" is unknown; no access is granted`}},
			wantPro: StageIncomplete,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := Compute(tt.billing, testPlans(), now)
			if !reflect.DeepEqual(d.Reviews, tt.wantReviews) {
				t.Errorf("got reviews %#v, want %#v", d.Reviews, tt.wantReviews)
			}
			if got := planState(t, d, "pro").Stage; got != tt.wantPro {
				t.Errorf("got pro stage %s, want %s", got, tt.wantPro)
			}
			if !reflect.DeepEqual(d.AccessGroups, tt.wantGroups) {
				t.Errorf("got access groups %v, want %v", d.AccessGroups, tt.wantGroups)
			}
		})
	}
}

func TestComputeTagsAndSequences(t *testing.T) {
	t.Parallel()
	end := now.Add(5 * day)
	tests := []struct {
		name    string
		billing Billing
		tags    []int64
		seqs    []Enrollment
	}{
		{"never bought has no tags and no sequences", Billing{}, nil, nil},
		{"trialing", withSubs(Subscription{ID: "sub_1", Status: "trialing", Items: []Item{proItem(end)}}),
			[]int64{101}, []Enrollment{{"pro", 201, SequenceOnboarding}}},
		{"active", withSubs(Subscription{ID: "sub_1", Status: "active", Items: []Item{proItem(end)}}),
			[]int64{102}, []Enrollment{{"pro", 201, SequenceOnboarding}}},
		{"canceling gets onboarding and retention",
			withSubs(Subscription{ID: "sub_1", Status: "active", CancelAtPeriodEnd: true, Items: []Item{proItem(end)}}),
			[]int64{103}, []Enrollment{{"pro", 201, SequenceOnboarding}, {"pro", 202, SequenceRetention}}},
		{"past_due", withSubs(Subscription{ID: "sub_1", Status: "past_due", FirstFailedPaymentAt: now, Items: []Item{proItem(end)}}),
			[]int64{104}, []Enrollment{{"pro", 201, SequenceOnboarding}}},
		{"grace_expired", withSubs(Subscription{ID: "sub_1", Status: "past_due", FirstFailedPaymentAt: now.Add(-10 * day), Items: []Item{proItem(end)}}),
			[]int64{105}, nil},
		{"canceled gets retention", withSubs(Subscription{ID: "sub_1", Status: "canceled", Items: []Item{proItem(end)}}),
			[]int64{106}, []Enrollment{{"pro", 202, SequenceRetention}}},
		{"refunded", withSubs(Subscription{ID: "sub_1", Status: "active", Items: []Item{proItem(end)}, LatestCharges: []Charge{charge(1000)}}),
			[]int64{107}, nil},
		{"disputed", withSubs(Subscription{ID: "sub_1", Status: "active", Items: []Item{proItem(end)}, LatestCharges: []Charge{charge(0, "lost")}}),
			[]int64{108}, nil},
		{"unpaid", withSubs(Subscription{ID: "sub_1", Status: "unpaid", Items: []Item{proItem(end)}}), []int64{109}, nil},
		{"incomplete", withSubs(Subscription{ID: "sub_1", Status: "incomplete", Items: []Item{proItem(end)}}), []int64{110}, nil},
		{"paused", withSubs(Subscription{ID: "sub_1", Status: "paused", Items: []Item{proItem(end)}}), []int64{111}, nil},
		{"expired purchase", withPurchases(Purchase{SessionID: "cs_1", PaidAt: now.AddDate(-2, 0, 0), Items: []Item{{PriceID: "price_course"}}}),
			[]int64{302}, nil},
		{"a stage the plan maps no tag for adds none", withSubs(Subscription{ID: "sub_1", Status: "active", Items: []Item{{ProductID: "prod_team"}}}),
			nil, nil},
		{"tags and sequences of several plans",
			Billing{Customers: []Customer{
				{ID: "cus_a", Subscriptions: []Subscription{{ID: "sub_1", Status: "canceled", Items: []Item{proItem(end)}}}},
				{ID: "cus_b", Purchases: []Purchase{{SessionID: "cs_1", PaidAt: now, Items: []Item{{PriceID: "price_course"}, {ProductID: "prod_life"}}}}},
			}},
			[]int64{106, 301, 501}, []Enrollment{{"pro", 202, SequenceRetention}, {"course", 401, SequenceOnboarding}}},
	}
	wantManaged := []int64{101, 102, 103, 104, 105, 106, 107, 108, 109, 110, 111, 301, 302, 303, 501, 502}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := Compute(tt.billing, testPlans(), now)
			if !reflect.DeepEqual(d.Tags, tt.tags) {
				t.Errorf("got tags %v, want %v", d.Tags, tt.tags)
			}
			if !reflect.DeepEqual(d.Sequences, tt.seqs) {
				t.Errorf("got sequences %v, want %v", d.Sequences, tt.seqs)
			}
			if !reflect.DeepEqual(d.ManagedTags, wantManaged) {
				t.Errorf("got managed tags %v, want %v", d.ManagedTags, wantManaged)
			}
			if want := []int64{11, 12, 21, 31, 41}; !reflect.DeepEqual(d.ManagedAccessGroups, want) {
				t.Errorf("got managed access groups %v, want %v", d.ManagedAccessGroups, want)
			}
		})
	}
}

func TestComputeNextChange(t *testing.T) {
	t.Parallel()
	end := now.Add(5 * day)
	failed := now.Add(-time.Hour)
	tests := []struct {
		name    string
		billing Billing
		want    time.Time
	}{
		{"nothing bought", Billing{}, time.Time{}},
		{"active renews by itself", withSubs(Subscription{ID: "sub_1", Status: "active", Items: []Item{proItem(end)}}), time.Time{}},
		{"trialing waits for Stripe", withSubs(Subscription{ID: "sub_1", Status: "trialing", TrialEnd: end, Items: []Item{proItem(end)}}), time.Time{}},
		{"canceling ends at the period end",
			withSubs(Subscription{ID: "sub_1", Status: "active", CancelAtPeriodEnd: true, Items: []Item{proItem(end)}}), end},
		{"cancel_at", withSubs(Subscription{ID: "sub_1", Status: "active", CancelAt: now.Add(time.Hour), Items: []Item{proItem(end)}}), now.Add(time.Hour)},
		{"a passed cancellation changes no more",
			withSubs(Subscription{ID: "sub_1", Status: "active", CancelAt: now.Add(-time.Hour), Items: []Item{proItem(end)}}), time.Time{}},
		{"grace end", withSubs(Subscription{ID: "sub_1", Status: "past_due", FirstFailedPaymentAt: failed, Items: []Item{proItem(end)}}),
			failed.Add(72 * time.Hour)},
		{"one-time access expiry", withPurchases(Purchase{SessionID: "cs_1", PaidAt: now, Items: []Item{{PriceID: "price_course"}}}),
			now.Add(365 * day)},
		{"the earliest over plans",
			Billing{Customers: []Customer{
				{ID: "cus_a", Subscriptions: []Subscription{{ID: "sub_1", Status: "past_due", FirstFailedPaymentAt: failed, Items: []Item{proItem(end)}}}},
				{ID: "cus_b", Purchases: []Purchase{{SessionID: "cs_1", PaidAt: now, Items: []Item{{PriceID: "price_course"}}}}},
			}},
			failed.Add(72 * time.Hour)},
		{"a boundary of a source that does not decide is skipped",
			withSubs(
				Subscription{ID: "sub_1", Status: "active", Items: []Item{proItem(end)}},
				Subscription{ID: "sub_2", Status: "active", CancelAtPeriodEnd: true, Items: []Item{proItem(end)}},
			),
			time.Time{}},
		{"an expired grace does not start again at a period boundary",
			withSubs(Subscription{ID: "sub_1", Status: "past_due", Items: []Item{{PriceID: "price_pro_m",
				CurrentPeriodStart: now.Add(-100 * time.Hour), CurrentPeriodEnd: now.Add(time.Hour)}}}),
			time.Time{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := Compute(tt.billing, testPlans(), now)
			if !d.NextChange.Equal(tt.want) {
				t.Fatalf("got next change %v, want %v", d.NextChange, tt.want)
			}
			if tt.want.IsZero() {
				return
			}
			before := Compute(tt.billing, testPlans(), tt.want.Add(-1))
			if !reflect.DeepEqual(before, d) {
				t.Errorf("got a different answer 1ns before the next change:\n%+v\nwant\n%+v", before, d)
			}
			after := Compute(tt.billing, testPlans(), tt.want)
			after.NextChange = d.NextChange
			if reflect.DeepEqual(after, d) {
				t.Errorf("got the same answer at the next change, want a different one")
			}
		})
	}
}

func TestComputeExplanationsNameNoIDs(t *testing.T) {
	t.Parallel()
	b := Billing{Customers: []Customer{{ID: "cus_1", Email: "a@example.com", Subscriptions: []Subscription{
		{ID: "sub_1", Status: "past_due", FirstFailedPaymentAt: now, Items: []Item{proItem(now.Add(day))}},
		{ID: "sub_2", Status: "active", Items: []Item{{ProductID: "prod_team"}}, LatestCharges: []Charge{charge(0, "lost")}},
	}, Purchases: []Purchase{{SessionID: "cs_1", PaidAt: now, Items: []Item{{PriceID: "price_course"}, {ProductID: "prod_life"}}}}}}}
	for _, st := range Compute(b, testPlans(), now).Plans {
		for _, bad := range []string{"@", "cus_", "sub_", "cs_", "price_", "prod_", "ch_", "dp_"} {
			if strings.Contains(st.Explanation, bad) {
				t.Errorf("plan %s: got explanation %q, want no %q in it", st.PlanID, st.Explanation, bad)
			}
		}
		if st.Explanation == "" {
			t.Errorf("plan %s: got an empty explanation", st.PlanID)
		}
	}
}

func TestDesiredPlan(t *testing.T) {
	t.Parallel()
	d := Compute(Billing{}, testPlans(), now)
	tests := []struct {
		id     string
		wantOK bool
	}{
		{"pro", true},
		{"team", true},
		{"missing", false},
	}
	for _, tt := range tests {
		t.Run(tt.id, func(t *testing.T) {
			st, ok := d.Plan(tt.id)
			if ok != tt.wantOK {
				t.Fatalf("got ok=%v, want %v", ok, tt.wantOK)
			}
			if ok && (st.PlanID != tt.id || st.Stage != StageNone || st.Reason != "never_purchased") {
				t.Errorf("got %+v, want a never-purchased state of %q", st, tt.id)
			}
		})
	}
}
