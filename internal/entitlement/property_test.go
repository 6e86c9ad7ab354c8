package entitlement

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/membersync/membersync/internal/plan"
	"pgregory.net/rapid"
)

// The properties run rapid's default number of cases (100 each; -rapid.checks=N changes it) over random
// billing: up to 4 customers (some deleted), each with up to 3 subscriptions of random status and up to
// 2 purchases, items mapped, conflicting or unmapped, charges with partial or full refunds and disputes of
// every status, and instants on a 12-hour grid around now so that boundaries often coincide.

// propPlans is testPlans with a 10-day course, so that expiries fall within the generated time range.
func propPlans() []plan.Plan {
	plans := testPlans()
	for i := range plans {
		if plans[i].ID == "course" {
			plans[i].AccessDuration = plan.Duration(10 * day)
		}
	}
	return plans
}

var (
	genPrices    = []string{"", "price_pro_m", "price_pro_y", "price_course", "price_x", "price_y"}
	genProducts  = []string{"", "prod_pro", "prod_course", "prod_life", "prod_team", "prod_x"}
	genStatuses  = []string{"trialing", "active", "active", "active", "past_due", "past_due", "unpaid", "canceled", "incomplete", "incomplete_expired", "paused", "frobnicated"}
	genDisputes  = []string{"warning_needs_response", "warning_under_review", "warning_closed", "needs_response", "under_review", "won", "lost", "prevented", "mystery"}
	mappedPrices = []string{"price_pro_m", "price_pro_y", "price_course"}
	mappedProds  = []string{"prod_pro", "prod_course", "prod_life", "prod_team"}
)

// gen draws billing parts; n numbers the ids so that they are unique within one Billing.
type gen struct {
	t *rapid.T
	n int
}

func (g *gen) id(prefix string) string {
	g.n++
	return fmt.Sprintf("%s%03d", prefix, g.n)
}

// instant is zero one time in five, else a point on a 12-hour grid within 30 days of now.
func (g *gen) instant(label string) time.Time {
	if rapid.IntRange(0, 4).Draw(g.t, label+"_zero") == 0 {
		return time.Time{}
	}
	return now.Add(time.Duration(rapid.IntRange(-60, 60).Draw(g.t, label)) * 12 * time.Hour)
}

func (g *gen) item(subscription bool) Item {
	it := Item{
		PriceID:   rapid.SampledFrom(genPrices).Draw(g.t, "price"),
		ProductID: rapid.SampledFrom(genProducts).Draw(g.t, "product"),
	}
	if subscription {
		it.CurrentPeriodStart = g.instant("period_start")
		it.CurrentPeriodEnd = g.instant("period_end")
	}
	return it
}

func (g *gen) charge() Charge {
	c := Charge{ID: g.id("ch_"), Amount: rapid.SampledFrom([]int64{0, 1000, 1000, 1000}).Draw(g.t, "amount")}
	c.AmountRefunded = rapid.SampledFrom([]int64{0, 0, 0, 0, 1, 500, 1000, 1500}).Draw(g.t, "refunded")
	for range rapid.SampledFrom([]int{0, 0, 0, 0, 1, 2}).Draw(g.t, "disputes") {
		c.Disputes = append(c.Disputes, g.dispute())
	}
	return c
}

func (g *gen) dispute() Dispute {
	return Dispute{ID: g.id("dp_"), Status: rapid.SampledFrom(genDisputes).Draw(g.t, "dispute"), Created: g.instant("dispute_created")}
}

func (g *gen) subscription() Subscription {
	s := Subscription{
		ID:                   g.id("sub_"),
		Status:               rapid.SampledFrom(genStatuses).Draw(g.t, "status"),
		Created:              g.instant("created"),
		CancelAtPeriodEnd:    rapid.Bool().Draw(g.t, "cancel_at_period_end"),
		CancelAt:             g.instant("cancel_at"),
		EndedAt:              g.instant("ended_at"),
		TrialEnd:             g.instant("trial_end"),
		FirstFailedPaymentAt: g.instant("first_failed"),
	}
	for range rapid.IntRange(0, 3).Draw(g.t, "items") {
		s.Items = append(s.Items, g.item(true))
	}
	for range rapid.IntRange(0, 2).Draw(g.t, "charges") {
		s.LatestCharges = append(s.LatestCharges, g.charge())
	}
	return s
}

func (g *gen) purchase() Purchase {
	p := Purchase{SessionID: g.id("cs_"), PaidAt: g.instant("paid_at")}
	for range rapid.IntRange(0, 2).Draw(g.t, "items") {
		p.Items = append(p.Items, g.item(false))
	}
	for range rapid.IntRange(0, 2).Draw(g.t, "charges") {
		p.Charges = append(p.Charges, g.charge())
	}
	return p
}

func (g *gen) customer() Customer {
	c := Customer{ID: g.id("cus_"), Email: "a@example.com", Deleted: rapid.IntRange(0, 9).Draw(g.t, "deleted") == 0}
	for range rapid.IntRange(0, 3).Draw(g.t, "subscriptions") {
		c.Subscriptions = append(c.Subscriptions, g.subscription())
	}
	for range rapid.IntRange(0, 2).Draw(g.t, "purchases") {
		c.Purchases = append(c.Purchases, g.purchase())
	}
	return c
}

func billingGen() *rapid.Generator[Billing] {
	return rapid.Custom(func(t *rapid.T) Billing {
		g := &gen{t: t}
		var b Billing
		for range rapid.IntRange(0, 4).Draw(t, "customers") {
			b.Customers = append(b.Customers, g.customer())
		}
		return b
	})
}

// instantGen draws the evaluation instant: on the grid, or off it by some seconds.
func instantGen() *rapid.Generator[time.Time] {
	return rapid.Custom(func(t *rapid.T) time.Time {
		at := now.Add(time.Duration(rapid.IntRange(-60, 60).Draw(t, "at")) * 12 * time.Hour)
		return at.Add(time.Duration(rapid.SampledFrom([]int{0, 0, -1, 1, 3600}).Draw(t, "jitter")) * time.Second)
	})
}

// cloneBilling returns a deep copy of b.
func cloneBilling(b Billing) Billing {
	b.Customers = slices.Clone(b.Customers)
	for i := range b.Customers {
		c := &b.Customers[i]
		c.Subscriptions = slices.Clone(c.Subscriptions)
		for j := range c.Subscriptions {
			s := &c.Subscriptions[j]
			s.Items = slices.Clone(s.Items)
			s.LatestCharges = cloneCharges(s.LatestCharges)
		}
		c.Purchases = slices.Clone(c.Purchases)
		for j := range c.Purchases {
			p := &c.Purchases[j]
			p.Items = slices.Clone(p.Items)
			p.Charges = cloneCharges(p.Charges)
		}
	}
	return b
}

func cloneCharges(cs []Charge) []Charge {
	cs = slices.Clone(cs)
	for i := range cs {
		cs[i].Disputes = slices.Clone(cs[i].Disputes)
	}
	return cs
}

func permute[E any](t *rapid.T, s []E) []E {
	if len(s) < 2 {
		return s
	}
	return rapid.Permutation(s).Draw(t, "permutation")
}

// shuffled returns a deep copy of b with every slice in a random order.
func shuffled(t *rapid.T, b Billing) Billing {
	b = cloneBilling(b)
	b.Customers = permute(t, b.Customers)
	for i := range b.Customers {
		c := &b.Customers[i]
		c.Subscriptions = permute(t, c.Subscriptions)
		for j := range c.Subscriptions {
			s := &c.Subscriptions[j]
			s.Items = permute(t, s.Items)
			s.LatestCharges = shuffledCharges(t, s.LatestCharges)
		}
		c.Purchases = permute(t, c.Purchases)
		for j := range c.Purchases {
			p := &c.Purchases[j]
			p.Items = permute(t, p.Items)
			p.Charges = shuffledCharges(t, p.Charges)
		}
	}
	return b
}

func shuffledCharges(t *rapid.T, cs []Charge) []Charge {
	cs = permute(t, cs)
	for i := range cs {
		cs[i].Disputes = permute(t, cs[i].Disputes)
	}
	return cs
}

// chargeLists returns a pointer to every charge list of b: each subscription's and each purchase's.
func chargeLists(b *Billing) []*[]Charge {
	var lists []*[]Charge
	for i := range b.Customers {
		c := &b.Customers[i]
		for j := range c.Subscriptions {
			lists = append(lists, &c.Subscriptions[j].LatestCharges)
		}
		for j := range c.Purchases {
			lists = append(lists, &c.Purchases[j].Charges)
		}
	}
	return lists
}

// subset reports whether every element of the sorted a is in the sorted b.
func subset(a, b []int64) bool {
	for _, x := range a {
		if _, ok := slices.BinarySearch(b, x); !ok {
			return false
		}
	}
	return true
}

func TestPropertyDeterministic(t *testing.T) {
	t.Parallel()
	rapid.Check(t, func(t *rapid.T) {
		b := billingGen().Draw(t, "billing")
		at := instantGen().Draw(t, "now")
		orig := cloneBilling(b)
		got, again := Compute(b, propPlans(), at), Compute(b, propPlans(), at)
		if !reflect.DeepEqual(got, again) {
			t.Fatalf("got %+v, then %+v", got, again)
		}
		if !reflect.DeepEqual(b, orig) {
			t.Fatalf("Compute changed its input")
		}
	})
}

func TestPropertyOrderIndependent(t *testing.T) {
	t.Parallel()
	rapid.Check(t, func(t *rapid.T) {
		b := billingGen().Draw(t, "billing")
		at := instantGen().Draw(t, "now")
		want := Compute(b, propPlans(), at)
		got := Compute(shuffled(t, b), propPlans(), at)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("got %+v for the shuffled billing, want %+v", got, want)
		}
	})
}

func TestPropertyRefundOrDisputeNeverAddsAccess(t *testing.T) {
	t.Parallel()
	rapid.Check(t, func(t *rapid.T) {
		b := billingGen().Draw(t, "billing")
		at := instantGen().Draw(t, "now")
		before := Compute(b, propPlans(), at)

		changed := cloneBilling(b)
		lists := chargeLists(&changed)
		if len(lists) == 0 {
			t.Skip("no subscription or purchase")
		}
		list := lists[rapid.IntRange(0, len(lists)-1).Draw(t, "source")]
		if len(*list) == 0 || rapid.IntRange(0, 3).Draw(t, "new_charge") == 0 {
			*list = append(*list, Charge{ID: "ch_new", Amount: 1000})
		}
		c := &(*list)[rapid.IntRange(0, len(*list)-1).Draw(t, "charge")]
		if rapid.Bool().Draw(t, "refund") {
			c.AmountRefunded += rapid.Int64Range(1, 1500).Draw(t, "amount")
		} else {
			c.Disputes = append(c.Disputes, Dispute{ID: "dp_new", Status: rapid.SampledFrom(genDisputes).Draw(t, "status")})
		}
		after := Compute(changed, propPlans(), at)
		if !subset(after.AccessGroups, before.AccessGroups) {
			t.Fatalf("got access groups %v after a refund or dispute, want a subset of %v", after.AccessGroups, before.AccessGroups)
		}
	})
}

func TestPropertyPurchaseNeverRemovesAccess(t *testing.T) {
	t.Parallel()
	rapid.Check(t, func(t *rapid.T) {
		b := billingGen().Draw(t, "billing")
		at := instantGen().Draw(t, "now")
		before := Compute(b, propPlans(), at)

		g := &gen{t: t, n: 900}
		p := Purchase{SessionID: g.id("cs_"), PaidAt: g.instant("paid_at"), Charges: []Charge{{ID: "ch_new", Amount: 1000}}}
		for range rapid.IntRange(1, 3).Draw(t, "items") {
			it := Item{PriceID: rapid.SampledFrom(mappedPrices).Draw(t, "price")}
			if rapid.Bool().Draw(t, "by_product") {
				it = Item{PriceID: rapid.SampledFrom(genPrices).Draw(t, "price"), ProductID: rapid.SampledFrom(mappedProds).Draw(t, "product")}
			}
			p.Items = append(p.Items, it)
		}
		changed := cloneBilling(b)
		if k := rapid.IntRange(0, len(changed.Customers)).Draw(t, "customer"); k < len(changed.Customers) {
			changed.Customers[k].Purchases = append(changed.Customers[k].Purchases, p)
		} else {
			changed.Customers = append(changed.Customers, Customer{ID: "cus_new", Purchases: []Purchase{p}})
		}
		after := Compute(changed, propPlans(), at)
		if !subset(before.AccessGroups, after.AccessGroups) {
			t.Fatalf("got access groups %v after a purchase, want a superset of %v", after.AccessGroups, before.AccessGroups)
		}
		for i, st := range before.Plans {
			if st.Entitled && !after.Plans[i].Entitled {
				t.Fatalf("plan %s: got not entitled after a purchase, want entitled as before", st.PlanID)
			}
		}
	})
}

func TestPropertyUnionOfCustomers(t *testing.T) {
	t.Parallel()
	rapid.Check(t, func(t *rapid.T) {
		b := billingGen().Draw(t, "billing")
		at := instantGen().Draw(t, "now")
		k := rapid.IntRange(0, len(b.Customers)).Draw(t, "split")
		x, y := Billing{Customers: b.Customers[:k]}, Billing{Customers: b.Customers[k:]}
		xy := Compute(Billing{Customers: slices.Concat(x.Customers, y.Customers)}, propPlans(), at)
		yx := Compute(Billing{Customers: slices.Concat(y.Customers, x.Customers)}, propPlans(), at)
		if !reflect.DeepEqual(xy, yx) {
			t.Fatalf("got %+v for x+y and %+v for y+x", xy, yx)
		}
		dx, dy := Compute(x, propPlans(), at), Compute(y, propPlans(), at)
		if want := set(slices.Concat(dx.AccessGroups, dy.AccessGroups)); !reflect.DeepEqual(xy.AccessGroups, want) {
			t.Fatalf("got access groups %v for the union, want %v", xy.AccessGroups, want)
		}
		for i, st := range xy.Plans {
			if want := dx.Plans[i].Entitled || dy.Plans[i].Entitled; st.Entitled != want {
				t.Fatalf("plan %s: got entitled=%v for the union, want %v", st.PlanID, st.Entitled, want)
			}
		}
		wantReviews := slices.Concat(dx.Reviews, dy.Reviews)
		slices.SortFunc(wantReviews, func(a, b Review) int {
			return strings.Compare(a.Kind+"\x00"+a.Source+"\x00"+a.Detail, b.Kind+"\x00"+b.Source+"\x00"+b.Detail)
		})
		wantReviews = slices.Compact(wantReviews)
		if !reflect.DeepEqual(xy.Reviews, wantReviews) {
			t.Fatalf("got reviews %v for the union, want %v", xy.Reviews, wantReviews)
		}
	})
}

func TestPropertyNextChangeExact(t *testing.T) {
	t.Parallel()
	rapid.Check(t, func(t *rapid.T) {
		b := billingGen().Draw(t, "billing")
		at := instantGen().Draw(t, "now")
		d := Compute(b, propPlans(), at)
		if d.NextChange.IsZero() {
			for _, later := range []time.Time{at.Add(time.Duration(rapid.IntRange(1, 200).Draw(t, "later")) * 12 * time.Hour), at.AddDate(100, 0, 0)} {
				if got := Compute(b, propPlans(), later); !reflect.DeepEqual(got, d) {
					t.Fatalf("no next change, but at %v got %+v, want %+v", later, got, d)
				}
			}
			return
		}
		if !d.NextChange.After(at) {
			t.Fatalf("got next change %v, want after now %v", d.NextChange, at)
		}
		span := d.NextChange.Sub(at)
		within := at.Add(time.Duration(rapid.Int64Range(0, int64(span)-1).Draw(t, "within")))
		for _, x := range []time.Time{d.NextChange.Add(-1), within} {
			if got := Compute(b, propPlans(), x); !reflect.DeepEqual(got, d) {
				t.Fatalf("at %v, before the next change %v, got %+v, want %+v", x, d.NextChange, got, d)
			}
		}
		got := Compute(b, propPlans(), d.NextChange)
		got.NextChange = d.NextChange
		if reflect.DeepEqual(got, d) {
			t.Fatalf("got the same answer at the next change %v, want a different one", d.NextChange)
		}
	})
}

func TestPropertyConsistent(t *testing.T) {
	t.Parallel()
	plans := propPlans()
	rapid.Check(t, func(t *rapid.T) {
		b := billingGen().Draw(t, "billing")
		at := instantGen().Draw(t, "now")
		d := Compute(b, plans, at)
		if len(d.Plans) != len(plans) {
			t.Fatalf("got %d plan states, want %d", len(d.Plans), len(plans))
		}
		var groups, tags []int64
		for i, st := range d.Plans {
			if st.PlanID != plans[i].ID {
				t.Fatalf("got plan %q at %d, want %q", st.PlanID, i, plans[i].ID)
			}
			if st.Entitled != (len(st.AccessGroups) > 0) {
				t.Fatalf("plan %s: got entitled=%v with access groups %v", st.PlanID, st.Entitled, st.AccessGroups)
			}
			if (st.Stage == StageNone) != (st.Source == "") {
				t.Fatalf("plan %s: got stage %s with source %q", st.PlanID, st.Stage, st.Source)
			}
			if st.Entitled && st.Stage != StageTrialing && st.Stage != StageActive && st.Stage != StageCanceling && st.Stage != StagePastDue {
				t.Fatalf("plan %s: got entitled at stage %s", st.PlanID, st.Stage)
			}
			if st.Explanation == "" || strings.ContainsAny(st.Explanation, "@_") {
				t.Fatalf("plan %s: got explanation %q, want a sentence without ids or emails", st.PlanID, st.Explanation)
			}
			groups = append(groups, st.AccessGroups...)
			tags = append(tags, st.Tags...)
		}
		if !reflect.DeepEqual(d.AccessGroups, set(groups)) {
			t.Fatalf("got access groups %v, want the union of the plans' %v", d.AccessGroups, set(groups))
		}
		if !reflect.DeepEqual(d.Tags, set(tags)) {
			t.Fatalf("got tags %v, want the union of the plans' %v", d.Tags, set(tags))
		}
		if !subset(d.Tags, d.ManagedTags) {
			t.Fatalf("got tags %v, want a subset of the managed tags %v", d.Tags, d.ManagedTags)
		}
		if !subset(d.AccessGroups, d.ManagedAccessGroups) {
			t.Fatalf("got access groups %v, want a subset of the managed groups %v", d.AccessGroups, d.ManagedAccessGroups)
		}
		for _, e := range d.Sequences {
			st, _ := d.Plan(e.PlanID)
			if e.Kind == SequenceOnboarding && !st.Entitled || e.Kind == SequenceRetention && st.Stage != StageCanceling && st.Stage != StageCanceled {
				t.Fatalf("got enrollment %+v for plan state %+v", e, st)
			}
		}
	})
}
