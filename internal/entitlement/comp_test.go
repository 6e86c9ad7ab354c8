package entitlement

import (
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"pgregory.net/rapid"
)

func TestComputeComps(t *testing.T) {
	t.Parallel()
	granted := now.Add(-10 * day)
	active := Subscription{ID: "sub_1", Status: "active", Created: now.Add(-40 * day), Items: []Item{proItem(now.Add(20 * day))}}
	canceling := active
	canceling.CancelAtPeriodEnd = true
	refunded := Subscription{ID: "sub_2", Status: "active", Created: now.Add(-40 * day), Items: []Item{proItem(now.Add(20 * day))},
		LatestCharges: []Charge{charge(1000)}}
	tests := []struct {
		name       string
		b          Billing
		want       want
		source     string
		groups     []int64
		tags       []int64
		nextChange time.Time
		explain    string // a part of the explanation
	}{
		{
			name:    "open-ended comp grants the plan at stage comp with the active tag",
			b:       Billing{Comps: []Comp{{ID: 7, PlanID: "pro", Granted: granted}}},
			want:    want{entitled: true, stage: StageComp, reason: "comp"},
			source:  "comp:7",
			groups:  []int64{11, 12},
			tags:    []int64{102},
			explain: "without payment",
		},
		{
			name:       "comp with an end grants until it and changes then",
			b:          Billing{Comps: []Comp{{ID: 7, PlanID: "pro", Granted: granted, Until: now.Add(5 * day)}}},
			want:       want{entitled: true, stage: StageComp, reason: "comp", until: now.Add(5 * day)},
			source:     "comp:7",
			groups:     []int64{11, 12},
			tags:       []int64{102},
			nextChange: now.Add(5 * day),
			explain:    "until 8 Nov 2026",
		},
		{
			name:    "ended comp grants nothing",
			b:       Billing{Comps: []Comp{{ID: 7, PlanID: "pro", Granted: granted, Until: now}}},
			want:    want{stage: StageNone, reason: "comp_ended"},
			explain: "ended on 3 Nov 2026",
		},
		{
			name: "revoked comp grants nothing, even before its end",
			b:    Billing{Comps: []Comp{{ID: 7, PlanID: "pro", Granted: granted, Until: now.Add(5 * day), Revoked: now.Add(time.Hour)}}},
			want: want{stage: StageNone, reason: "never_purchased"},
		},
		{
			name: "comp of a plan the config does not name grants nothing",
			b:    Billing{Comps: []Comp{{ID: 7, PlanID: "gold", Granted: granted}}},
			want: want{stage: StageNone, reason: "never_purchased"},
		},
		{
			name:   "an active subscription beats an open-ended comp: paid is told as paid",
			b:      Billing{Customers: withSubs(active).Customers, Comps: []Comp{{ID: 7, PlanID: "pro", Granted: granted}}},
			want:   want{entitled: true, stage: StageActive, reason: "subscription_active"},
			source: "sub_1",
			groups: []int64{11, 12},
			tags:   []int64{102},
		},
		{
			name:   "an open-ended comp outlasts a canceling subscription",
			b:      Billing{Customers: withSubs(canceling).Customers, Comps: []Comp{{ID: 7, PlanID: "pro", Granted: granted}}},
			want:   want{entitled: true, stage: StageComp, reason: "comp"},
			source: "comp:7",
			groups: []int64{11, 12},
			tags:   []int64{102},
		},
		{
			name:       "a canceling subscription that outlasts the comp decides",
			b:          Billing{Customers: withSubs(canceling).Customers, Comps: []Comp{{ID: 7, PlanID: "pro", Granted: granted, Until: now.Add(2 * day)}}},
			want:       want{entitled: true, stage: StageCanceling, reason: "cancel_scheduled", until: now.Add(20 * day)},
			source:     "sub_1",
			groups:     []int64{11, 12},
			tags:       []int64{103},
			nextChange: now.Add(20 * day),
		},
		{
			name:   "a comp keeps access after a refund",
			b:      Billing{Customers: withSubs(refunded).Customers, Comps: []Comp{{ID: 7, PlanID: "pro", Granted: granted}}},
			want:   want{entitled: true, stage: StageComp, reason: "comp"},
			source: "comp:7",
			groups: []int64{11, 12},
			tags:   []int64{102},
		},
		{
			name:   "an ended comp never hides Stripe's answer",
			b:      Billing{Customers: withSubs(refunded).Customers, Comps: []Comp{{ID: 7, PlanID: "pro", Granted: granted, Until: now.Add(-day)}}},
			want:   want{stage: StageRefunded, reason: "full_refund"},
			source: "sub_2",
			tags:   []int64{107},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := Compute(tt.b, testPlans(), now)
			st := planState(t, d, "pro")
			check(t, st, tt.want)
			if st.Source != tt.source {
				t.Errorf("got source %q, want %q", st.Source, tt.source)
			}
			if !slices.Equal(d.AccessGroups, tt.groups) {
				t.Errorf("got access groups %v, want %v", d.AccessGroups, tt.groups)
			}
			if !slices.Equal(st.Tags, tt.tags) {
				t.Errorf("got tags %v, want %v", st.Tags, tt.tags)
			}
			if !d.NextChange.Equal(tt.nextChange) {
				t.Errorf("got next change %v, want %v", d.NextChange, tt.nextChange)
			}
			if !strings.Contains(st.Explanation, tt.explain) || strings.ContainsAny(st.Explanation, "@_") {
				t.Errorf("got explanation %q, want one holding %q and no ids", st.Explanation, tt.explain)
			}
		})
	}
}

func TestCompOnboardsLikeAPurchase(t *testing.T) {
	d := Compute(Billing{Comps: []Comp{{ID: 1, PlanID: "course", Granted: now}}}, testPlans(), now)
	want := []Enrollment{{PlanID: "course", SequenceID: 401, Kind: SequenceOnboarding}}
	if !reflect.DeepEqual(d.Sequences, want) {
		t.Errorf("got sequences %v, want %v", d.Sequences, want)
	}
}

func TestCompSourceTimes(t *testing.T) {
	b := Billing{Comps: []Comp{
		{ID: 1, PlanID: "pro", Granted: now.Add(-day), Until: now.Add(-time.Hour)},
		{ID: 2, PlanID: "pro", Granted: now.Add(-2 * day), Revoked: now.Add(-3 * time.Hour)},
		{ID: 3, PlanID: "pro", Granted: now.Add(-3 * day), Until: now.Add(day)},
	}}
	tests := []struct {
		source         string
		started, ended time.Time
	}{
		{"comp:1", now.Add(-day), now.Add(-time.Hour)},
		{"comp:2", now.Add(-2 * day), now.Add(-3 * time.Hour)},
		{"comp:3", now.Add(-3 * day), time.Time{}},
		{"comp:4", time.Time{}, time.Time{}},
	}
	for _, tt := range tests {
		if got := SourceStarted(b, tt.source); !got.Equal(tt.started) {
			t.Errorf("SourceStarted(%s): got %v, want %v", tt.source, got, tt.started)
		}
		if got := SourceEnded(b, tt.source, now); !got.Equal(tt.ended) {
			t.Errorf("SourceEnded(%s): got %v, want %v", tt.source, got, tt.ended)
		}
	}
}

// compsGen draws up to 3 comps of random plans (one the config does not name), some with an end on
// the instant grid, some revoked.
func compsGen() *rapid.Generator[[]Comp] {
	return rapid.Custom(func(t *rapid.T) []Comp {
		g := &gen{t: t}
		var cs []Comp
		for i := range rapid.IntRange(0, 3).Draw(t, "comps") {
			c := Comp{ID: int64(i + 1), PlanID: rapid.SampledFrom([]string{"pro", "course", "lifetime", "team", "gold"}).Draw(t, "plan"),
				Granted: now.Add(-30 * day), Until: g.instant("until")}
			if rapid.IntRange(0, 3).Draw(t, "revoked") == 0 {
				c.Revoked = g.instant("revoked_at")
				if c.Revoked.IsZero() {
					c.Revoked = now
				}
			}
			cs = append(cs, c)
		}
		return cs
	})
}

// inForce reports whether c grants its plan at at, by the rule stated independently of Compute.
func inForce(c Comp, at time.Time) bool {
	return c.Revoked.IsZero() && (c.Until.IsZero() || at.Before(c.Until))
}

// TestPropertyCompsAddExactlyTheirPlans checks that comps never remove what Stripe grants, and grant
// exactly the plans of the comps in force: never after a comp's end or its revocation.
func TestPropertyCompsAddExactlyTheirPlans(t *testing.T) {
	t.Parallel()
	plans := propPlans()
	rapid.Check(t, func(t *rapid.T) {
		b := billingGen().Draw(t, "billing")
		comps := compsGen().Draw(t, "comps")
		at := instantGen().Draw(t, "now")
		paid := Compute(b, plans, at)
		withComps := b
		withComps.Comps = comps
		d := Compute(withComps, plans, at)
		var want []int64
		want = append(want, paid.AccessGroups...)
		for i, p := range plans {
			paidState, st := paid.Plans[i], d.Plans[i]
			comped := slices.ContainsFunc(comps, func(c Comp) bool { return c.PlanID == p.ID && inForce(c, at) })
			if st.Entitled != (paidState.Entitled || comped) {
				t.Fatalf("plan %s: got entitled=%v (stage %s), want paid=%v or comped=%v", p.ID, st.Entitled, st.Stage, paidState.Entitled, comped)
			}
			if paidState.Entitled && !reflect.DeepEqual(st.AccessGroups, paidState.AccessGroups) {
				t.Fatalf("plan %s: a comp changed Stripe's groups %v to %v", p.ID, paidState.AccessGroups, st.AccessGroups)
			}
			if !st.Entitled && st.Stage != paidState.Stage {
				t.Fatalf("plan %s: without access got stage %s, want Stripe's %s: an ended comp hid it", p.ID, st.Stage, paidState.Stage)
			}
			if st.Stage == StageComp && (!comped || !strings.HasPrefix(st.Source, "comp:")) {
				t.Fatalf("plan %s: got stage comp from %q with no comp in force", p.ID, st.Source)
			}
			if comped {
				want = append(want, p.Circle.AccessGroups...)
			}
		}
		if want = set(want); !slices.Equal(d.AccessGroups, want) {
			t.Fatalf("got access groups %v, want Stripe's and the comps' in force %v", d.AccessGroups, want)
		}
		if !subset(paid.Tags, d.Tags) && !slices.ContainsFunc(d.Plans, func(s PlanState) bool { return s.Stage == StageComp }) {
			t.Fatalf("got tags %v without any comp in force, want Stripe's %v", d.Tags, paid.Tags)
		}
	})
}

// TestPropertyCompsNextChangeExact checks that NextChange, comps included, is the first instant the
// answer changes: a comp's end is scheduled.
func TestPropertyCompsNextChangeExact(t *testing.T) {
	t.Parallel()
	plans := propPlans()
	rapid.Check(t, func(t *rapid.T) {
		b := billingGen().Draw(t, "billing")
		b.Comps = compsGen().Draw(t, "comps")
		at := instantGen().Draw(t, "now")
		d := Compute(b, plans, at)
		for _, c := range b.Comps {
			if inForce(c, at) && !c.Until.IsZero() && (d.NextChange.IsZero() || d.NextChange.After(c.Until)) {
				// The comp's end changes the answer unless another source holds the plan as well.
				after := Compute(b, plans, c.Until)
				after.NextChange = d.NextChange
				if !reflect.DeepEqual(after, d) {
					t.Fatalf("comp %d ends at %v, changing the answer, but next change is %v", c.ID, c.Until, d.NextChange)
				}
			}
		}
		if d.NextChange.IsZero() {
			if got := Compute(b, plans, at.AddDate(100, 0, 0)); !reflect.DeepEqual(got, d) {
				t.Fatalf("no next change, but in 100 years got %+v, want %+v", got, d)
			}
			return
		}
		if got := Compute(b, plans, d.NextChange.Add(-1)); !reflect.DeepEqual(got, d) {
			t.Fatalf("just before the next change %v got %+v, want %+v", d.NextChange, got, d)
		}
		got := Compute(b, plans, d.NextChange)
		got.NextChange = d.NextChange
		if reflect.DeepEqual(got, d) {
			t.Fatalf("got the same answer at the next change %v", d.NextChange)
		}
	})
}

// TestPropertyCompsOrderIndependent checks that the order of comps does not matter.
func TestPropertyCompsOrderIndependent(t *testing.T) {
	t.Parallel()
	rapid.Check(t, func(t *rapid.T) {
		b := billingGen().Draw(t, "billing")
		b.Comps = compsGen().Draw(t, "comps")
		at := instantGen().Draw(t, "now")
		other := b
		other.Comps = permute(t, slices.Clone(b.Comps))
		if x, y := Compute(b, propPlans(), at), Compute(other, propPlans(), at); !reflect.DeepEqual(x, y) {
			t.Fatalf("comps in another order: got %+v, want %+v", y, x)
		}
	})
}
