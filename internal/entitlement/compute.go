package entitlement

import (
	"cmp"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/membersync/membersync/internal/plan"
)

// DefaultGracePeriod is how long a past_due subscription keeps access when its plan sets no grace period.
const DefaultGracePeriod = 72 * time.Hour

// Compute returns what Circle and Kit should reflect for the person whose billing is b, under the plan
// mapping plans, at the instant now. It is pure: no I/O, no clock but now, and the answer does not depend
// on the order of customers, subscriptions, purchases, items, charges or disputes.
//
// For each plan it evaluates every source (a subscription or one-time purchase of a non-deleted customer
// with an item mapping to the plan) and keeps the best: an entitled source beats one that is not; among
// entitled ones the latest Until wins (open-ended first), a Stripe source before a comp at the same
// Until; among the rest the most recently started (subscription created, purchase paid); ties go to
// the smaller source id.
//
// A comp (Billing.Comps) is one more source of its plan: it grants the plan at stage "comp" until its
// Until (NextChange then), and a revoked or ended comp is no source at all, so a comp only ever adds
// access and never outlives its end or its revocation. A comp's plan takes the plan's active tag.
//
// An item maps to a plan by its price, else by its product; when the mapping claims it for several plans
// the price's plan (else the first in config order) is used and a conflicting_data review is raised,
// whatever the status. An unmapped item raises an unmapped_price review on a trialing, active or past_due
// subscription and on any purchase. Deleted customers contribute nothing, reviews included.
func Compute(b Billing, plans []plan.Plan, now time.Time) Desired {
	now = canon(now)
	in := collect(b, plans)
	d := in.evaluate(now)
	d.NextChange = in.nextChange(now, d)
	return d
}

// input is a Billing reduced to what the clock cannot change: each plan's sources and the reviews.
type input struct {
	plans   []plan.Plan
	sources [][]source // indexed like plans
	reviews []Review
}

// source is one subscription or one purchase, seen from one plan.
type source struct {
	sub      *Subscription // exactly one of sub, purchase and comp is set
	purchase *Purchase
	comp     *Comp
	items    []Item // the source's items that map to the plan
}

func collect(b Billing, plans []plan.Plan) input {
	m := newMapping(plans)
	in := input{plans: plans, sources: make([][]source, len(plans))}
	var reviews []Review
	add := func(byPlan map[int][]Item, s source) {
		for _, i := range slices.Sorted(maps.Keys(byPlan)) {
			s.items = byPlan[i]
			in.sources[i] = append(in.sources[i], s)
		}
	}
	for _, c := range b.Customers {
		if c.Deleted {
			continue // Stripe cancels a deleted customer's subscriptions
		}
		for i := range c.Subscriptions {
			s := &c.Subscriptions[i]
			byPlan, rs := m.assign(s.ID, s.Items, paying(s.Status))
			reviews = append(reviews, rs...)
			if !knownStatus(s.Status) {
				reviews = append(reviews, Review{
					Kind:   ReviewUnknownStatus,
					Detail: fmt.Sprintf("subscription status %q is unknown; no access is granted", s.Status),
					Source: s.ID,
				})
			}
			reviews = append(reviews, disputeReviews(s.ID, s.LatestCharges)...)
			add(byPlan, source{sub: s})
		}
		for i := range c.Purchases {
			p := &c.Purchases[i]
			byPlan, rs := m.assign(p.SessionID, p.Items, true)
			reviews = append(reviews, rs...)
			reviews = append(reviews, disputeReviews(p.SessionID, p.Charges)...)
			add(byPlan, source{purchase: p})
		}
	}
	for i := range b.Comps {
		c := &b.Comps[i]
		if !c.Revoked.IsZero() {
			continue // a revocation is final, whatever the clock says
		}
		for pi, p := range plans {
			if p.ID == c.PlanID {
				in.sources[pi] = append(in.sources[pi], source{comp: c})
				break
			}
		}
	}
	slices.SortFunc(reviews, func(a, b Review) int {
		return cmp.Or(cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Source, b.Source), cmp.Compare(a.Detail, b.Detail))
	})
	in.reviews = slices.Compact(reviews)
	return in
}

// paying reports whether a subscription status means money is (or should be) flowing, so that an item
// no plan maps deserves a review.
func paying(status string) bool {
	return status == "trialing" || status == "active" || status == "past_due"
}

func knownStatus(status string) bool {
	switch status {
	case "trialing", "active", "past_due", "unpaid", "canceled", "incomplete", "incomplete_expired", "paused":
		return true
	}
	return false
}

func disputeReviews(sourceID string, charges []Charge) []Review {
	var rs []Review
	for _, c := range charges {
		for _, d := range c.Disputes {
			if disputeStatus(d.Status) == disputeUnknown {
				rs = append(rs, Review{
					Kind:   ReviewUnknownStatus,
					Detail: fmt.Sprintf("dispute %s on charge %s has unknown status %q; treated as open", d.ID, c.ID, d.Status),
					Source: sourceID,
				})
			}
		}
	}
	return rs
}

// mapping finds the plan of an item: by price first, then by product.
type mapping struct {
	plans     []plan.Plan
	byPrice   map[string][]int // plan indexes in config order
	byProduct map[string][]int
}

func newMapping(plans []plan.Plan) mapping {
	m := mapping{plans: plans, byPrice: map[string][]int{}, byProduct: map[string][]int{}}
	index := func(to map[string][]int, ids []string, plan int) {
		for _, id := range ids {
			if id != "" && !slices.Contains(to[id], plan) {
				to[id] = append(to[id], plan)
			}
		}
	}
	for i, p := range plans {
		index(m.byPrice, p.Stripe.Prices, i)
		index(m.byProduct, p.Stripe.Products, i)
	}
	return m
}

// plan returns the index of the plan an item maps to (-1 for none) and, when the mapping claims the item
// for more than one plan, a description of the conflict. A price mapping wins over a product mapping;
// among several plans, the first in config order wins.
func (m mapping) plan(it Item) (int, string) {
	var prices, products []int
	if it.PriceID != "" {
		prices = m.byPrice[it.PriceID]
	}
	if it.ProductID != "" {
		products = m.byProduct[it.ProductID]
	}
	switch {
	case len(prices) > 1:
		return prices[0], fmt.Sprintf("price %s is mapped by plans %s; using %q",
			it.PriceID, m.names(prices), m.plans[prices[0]].ID)
	case len(prices) == 1:
		for _, p := range products {
			if p != prices[0] {
				return prices[0], fmt.Sprintf("price %s maps to plan %q but its product %s maps to %s; using %q",
					it.PriceID, m.plans[prices[0]].ID, it.ProductID, m.names(products), m.plans[prices[0]].ID)
			}
		}
		return prices[0], ""
	case len(products) > 1:
		return products[0], fmt.Sprintf("product %s is mapped by plans %s; using %q",
			it.ProductID, m.names(products), m.plans[products[0]].ID)
	case len(products) == 1:
		return products[0], ""
	}
	return -1, ""
}

func (m mapping) names(idx []int) string {
	ids := make([]string, len(idx))
	for i, p := range idx {
		ids[i] = fmt.Sprintf("%q", m.plans[p].ID)
	}
	return strings.Join(ids, ", ")
}

// assign groups a source's items by plan and returns the reviews they raise: every conflicting mapping,
// and every unmapped item when reviewUnmapped is set.
func (m mapping) assign(sourceID string, items []Item, reviewUnmapped bool) (map[int][]Item, []Review) {
	byPlan := map[int][]Item{}
	var rs []Review
	for _, it := range items {
		p, conflict := m.plan(it)
		if conflict != "" {
			rs = append(rs, Review{Kind: ReviewConflictingData, Detail: conflict, Source: sourceID})
		}
		if p < 0 {
			if reviewUnmapped {
				rs = append(rs, Review{
					Kind:   ReviewUnmappedPrice,
					Detail: fmt.Sprintf("price %s (product %s) maps to no plan; no access is granted", it.PriceID, it.ProductID),
					Source: sourceID,
				})
			}
			continue
		}
		byPlan[p] = append(byPlan[p], it)
	}
	return byPlan, rs
}

// evaluate computes the answer at now, without NextChange.
func (in input) evaluate(now time.Time) Desired {
	d := Desired{Plans: make([]PlanState, len(in.plans)), Reviews: in.reviews}
	var groups, managedGroups, tags, managedTags []int64
	for i, p := range in.plans {
		st := PlanState{
			Stage:       StageNone,
			Reason:      "never_purchased",
			Explanation: "No purchase of this plan was found.",
		}
		var best verdict
		var ended *Comp // the comp of the plan that ended last, when no other source counts
		n := 0
		for _, s := range in.sources[i] {
			v := s.eval(p, now)
			if s.comp != nil && !v.state.Entitled {
				if ended == nil || s.comp.Until.After(ended.Until) {
					ended = s.comp
				}
				continue // an ended comp is no source: it never hides what Stripe says
			}
			if n == 0 || compareVerdicts(v, best) < 0 {
				best = v
			}
			n++
		}
		bought := n > 0
		switch {
		case bought:
			st = best.state
		case ended != nil:
			st.Reason = "comp_ended"
			st.Explanation = fmt.Sprintf("A comp of this plan ended on %s.", date(ended.Until))
		}
		st.PlanID = p.ID

		planGroups := set(p.Circle.AccessGroups)
		managedGroups = append(managedGroups, planGroups...)
		if st.Entitled && len(planGroups) > 0 {
			st.AccessGroups = planGroups
			groups = append(groups, planGroups...)
		}
		for _, t := range p.Kit.Tags {
			managedTags = append(managedTags, t)
		}
		if t, ok := p.Kit.Tags[tagStage(st.Stage)]; ok && st.Stage != StageNone && t != 0 {
			st.Tags = []int64{t}
			tags = append(tags, t)
		}
		if st.Entitled && p.Kit.OnboardingSequence != 0 {
			d.Sequences = append(d.Sequences, Enrollment{PlanID: p.ID, SequenceID: p.Kit.OnboardingSequence, Kind: SequenceOnboarding})
		}
		if bought && (st.Stage == StageCanceling || st.Stage == StageCanceled) && p.Kit.RetentionSequence != 0 {
			d.Sequences = append(d.Sequences, Enrollment{PlanID: p.ID, SequenceID: p.Kit.RetentionSequence, Kind: SequenceRetention})
		}
		d.Plans[i] = st
	}
	d.AccessGroups = set(groups)
	d.ManagedAccessGroups = set(managedGroups)
	d.Tags = set(tags)
	d.ManagedTags = set(managedTags)
	return d
}

// nextChange returns the first boundary after now at which the answer differs from at, or zero. Every
// source's state is constant between its boundaries, so trying them in order is exact: a boundary of a
// source that does not decide its plan (or that changes nothing visible) is skipped.
func (in input) nextChange(now time.Time, at Desired) time.Time {
	var candidates []time.Time
	for i, p := range in.plans {
		for _, s := range in.sources[i] {
			for _, t := range s.boundaries(p) {
				if t.After(now) {
					candidates = append(candidates, canon(t))
				}
			}
		}
	}
	slices.SortFunc(candidates, time.Time.Compare)
	for _, t := range slices.Compact(candidates) {
		if !reflect.DeepEqual(in.evaluate(t), at) {
			return t
		}
	}
	return time.Time{}
}

// verdict is one source's state for one plan.
type verdict struct {
	state PlanState
	// since is when the source started (subscription created, purchase paid): the recency that orders
	// sources that do not entitle.
	since time.Time
}

// compareVerdicts orders verdicts best first; it is a total order on distinct states, so the choice does
// not depend on the order sources were seen in.
func compareVerdicts(a, b verdict) int {
	if a.state.Entitled != b.state.Entitled {
		if a.state.Entitled {
			return -1
		}
		return 1
	}
	if a.state.Entitled {
		if az, bz := a.state.Until.IsZero(), b.state.Until.IsZero(); az != bz {
			if az {
				return -1
			}
			return 1
		}
		if c := b.state.Until.Compare(a.state.Until); c != 0 {
			return c
		}
		// Paid beats comped: the person's stage says what Stripe says while both grant the same.
		if ac, bc := a.state.Stage == StageComp, b.state.Stage == StageComp; ac != bc {
			if bc {
				return -1
			}
			return 1
		}
	} else if c := b.since.Compare(a.since); c != 0 {
		return c
	}
	return cmp.Or(
		cmp.Compare(a.state.Source, b.state.Source),
		cmp.Compare(a.state.Stage, b.state.Stage),
		cmp.Compare(a.state.Reason, b.state.Reason),
		a.state.Until.Compare(b.state.Until),
		cmp.Compare(a.state.Explanation, b.state.Explanation),
	)
}

// tagStage is the key of plan.Kit.Tags that marks stage: a comp takes the active tag, as it grants
// the plan like an active purchase.
func tagStage(stage Stage) string {
	if stage == StageComp {
		return string(StageActive)
	}
	return string(stage)
}

// set returns the sorted, deduplicated non-zero ids of ids, or nil.
func set(ids []int64) []int64 {
	var out []int64
	for _, id := range ids {
		if id != 0 {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// canon strips t of its monotonic reading and location so that equal instants compare equal with
// reflect.DeepEqual.
func canon(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.Round(0).UTC()
}
