package entitlement_test

import (
	"fmt"
	"time"

	"github.com/membersync/membersync/internal/entitlement"
	"github.com/membersync/membersync/internal/plan"
)

// proPlan is a monthly membership: one Stripe price grants Circle access group 11, and three lifecycle
// stages have a Kit tag each.
var proPlan = plan.Plan{
	ID:     "pro",
	Stripe: plan.Stripe{Prices: []string{"price_pro_monthly"}},
	Circle: plan.Circle{AccessGroups: []int64{11}},
	Kit:    plan.Kit{Tags: map[string]int64{"active": 101, "past_due": 104, "grace_expired": 105}},
}

// An active subscription entitles the person to its plan: the plan's access groups, and the Kit tag of
// the plan's stage out of all the tags the plans manage.
func ExampleCompute() {
	now := time.Date(2026, 5, 10, 12, 0, 0, 0, time.UTC)
	billing := entitlement.Billing{Customers: []entitlement.Customer{{
		ID:    "cus_1",
		Email: "ada@example.com",
		Subscriptions: []entitlement.Subscription{{
			ID:      "sub_1",
			Status:  "active",
			Created: now.AddDate(0, -2, 0),
			Items: []entitlement.Item{{
				PriceID:            "price_pro_monthly",
				CurrentPeriodStart: now.AddDate(0, 0, -9),
				CurrentPeriodEnd:   now.AddDate(0, 0, 22),
			}},
		}},
	}}}

	d := entitlement.Compute(billing, []plan.Plan{proPlan}, now)
	pro, _ := d.Plan("pro")
	fmt.Println("entitled:", pro.Entitled, pro.Stage, pro.Reason, "from", pro.Source)
	fmt.Println("access groups:", d.AccessGroups)
	fmt.Println("tags:", d.Tags, "of managed", d.ManagedTags)
	// Output:
	// entitled: true active subscription_active from sub_1
	// access groups: [11]
	// tags: [101] of managed [101 104 105]
}

// A subscription whose payment fails keeps access for the plan's grace period (72 hours by default),
// counted from the first failed payment; Compute says when that ends so that a sync can be scheduled
// for that instant.
func ExampleCompute_pastDue() {
	now := time.Date(2026, 5, 10, 12, 0, 0, 0, time.UTC)
	failed := now.Add(-24 * time.Hour)
	billing := entitlement.Billing{Customers: []entitlement.Customer{{
		ID: "cus_1",
		Subscriptions: []entitlement.Subscription{{
			ID:                   "sub_1",
			Status:               "past_due",
			Created:              now.AddDate(0, -2, 0),
			FirstFailedPaymentAt: failed,
			Items:                []entitlement.Item{{PriceID: "price_pro_monthly", CurrentPeriodStart: failed, CurrentPeriodEnd: failed.AddDate(0, 1, 0)}},
		}},
	}}}

	plans := []plan.Plan{proPlan}
	d := entitlement.Compute(billing, plans, now)
	pro, _ := d.Plan("pro")
	fmt.Println("now:", pro.Entitled, pro.Stage, d.AccessGroups, d.Tags)
	fmt.Println(pro.Explanation)
	fmt.Println("next change:", d.NextChange.Format(time.DateTime))

	d = entitlement.Compute(billing, plans, d.NextChange)
	pro, _ = d.Plan("pro")
	fmt.Println("then:", pro.Entitled, pro.Stage, d.AccessGroups, d.Tags)
	// Output:
	// now: true past_due [11] [104]
	// Payment failed on 9 May 2026 12:00 UTC; access continues until 12 May 2026 12:00 UTC while Stripe retries.
	// next change: 2026-05-12 12:00:00
	// then: false grace_expired [] [105]
}
