package entitlement

import (
	"testing"
	"time"
)

func TestPersonStage(t *testing.T) {
	ps := func(stage Stage, entitled bool) PlanState { return PlanState{Stage: stage, Entitled: entitled} }
	tests := []struct {
		name  string
		plans []PlanState
		want  Stage
	}{
		{"no plans", nil, StageNone},
		{"never bought", []PlanState{ps(StageNone, false), ps(StageNone, false)}, StageNone},
		{"one active plan", []PlanState{ps(StageNone, false), ps(StageActive, true)}, StageActive},
		{"active beats canceled", []PlanState{ps(StageCanceled, false), ps(StageActive, true)}, StageActive},
		{"active beats past due in grace", []PlanState{ps(StagePastDue, true), ps(StageActive, true)}, StageActive},
		{"trialing beats canceling", []PlanState{ps(StageCanceling, true), ps(StageTrialing, true)}, StageTrialing},
		{"canceling beats past due", []PlanState{ps(StagePastDue, true), ps(StageCanceling, true)}, StageCanceling},
		{"past due in grace beats any lapsed plan", []PlanState{ps(StageGraceExpired, false), ps(StagePastDue, true), ps(StageRefunded, false)}, StagePastDue},
		{"grace expired beats refunded", []PlanState{ps(StageRefunded, false), ps(StageGraceExpired, false)}, StageGraceExpired},
		{"refunded beats canceled", []PlanState{ps(StageCanceled, false), ps(StageRefunded, false)}, StageRefunded},
		{"canceled beats incomplete", []PlanState{ps(StageIncomplete, false), ps(StageCanceled, false)}, StageCanceled},
		{"disputed beats refunded", []PlanState{ps(StageRefunded, false), ps(StageDisputed, false)}, StageDisputed},
		{"expired course", []PlanState{ps(StageExpired, false)}, StageExpired},
		{"an unknown stage with access beats every lapsed plan", []PlanState{ps(StageCanceled, false), ps("bonus", true)}, "bonus"},
		{"an unknown stage with access ranks after the known ones", []PlanState{ps("bonus", true), ps(StagePastDue, true)}, StagePastDue},
		{"a comp beats a lapsed plan", []PlanState{ps(StageCanceled, false), ps(StageComp, true)}, StageComp},
		{"a paid plan beats a comp", []PlanState{ps(StageComp, true), ps(StageActive, true)}, StageActive},
		{"a comp beats a plan in its grace period", []PlanState{ps(StagePastDue, true), ps(StageComp, true)}, StageComp},
		{"an unknown lapsed stage ranks after the known lapsed ones", []PlanState{ps("comp_ended", false), ps(StageIncomplete, false)}, StageIncomplete},
		{"empty stage is ignored", []PlanState{ps("", false), ps(StagePaused, false)}, StagePaused},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := PersonStage(tt.plans); got != tt.want {
				t.Errorf("PersonStage: got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestStagesAreEveryStageButNone(t *testing.T) {
	got := Stages()
	if len(got) != 13 || got[0] != StageActive {
		t.Fatalf("Stages: %v", got)
	}
	seen := map[Stage]bool{}
	for _, s := range got {
		if s == StageNone || seen[s] {
			t.Errorf("Stages holds %q twice or holds none", s)
		}
		seen[s] = true
	}
	got[0] = "changed"
	if Stages()[0] != StageActive {
		t.Error("Stages returns its own slice: a caller changed the order")
	}
}

func TestSourceStartedAndEnded(t *testing.T) {
	created := now.Add(-40 * day)
	ended := now.Add(-2 * day)
	paid := now.Add(-5 * day)
	b := Billing{Customers: []Customer{
		{ID: "cus_1", Subscriptions: []Subscription{
			{ID: "sub_live", Status: "active", Created: created},
			{ID: "sub_ended", Status: "canceled", Created: created, EndedAt: ended},
			{ID: "sub_cancel_passed", Status: "active", Created: created, CancelAt: now.Add(-time.Hour)},
			{ID: "sub_cancel_ahead", Status: "active", Created: created, CancelAt: now.Add(time.Hour)},
		}},
		{ID: "cus_2", Purchases: []Purchase{{SessionID: "cs_1", PaidAt: paid}}},
	}}
	tests := []struct {
		source         string
		started, ended time.Time
	}{
		{"sub_live", created, time.Time{}},
		{"sub_ended", created, ended},
		{"sub_cancel_passed", created, now.Add(-time.Hour)},
		{"sub_cancel_ahead", created, time.Time{}},
		{"cs_1", paid, time.Time{}},
		{"sub_unknown", time.Time{}, time.Time{}},
		{"", time.Time{}, time.Time{}},
	}
	for _, tt := range tests {
		t.Run(tt.source, func(t *testing.T) {
			if got := SourceStarted(b, tt.source); !got.Equal(tt.started) {
				t.Errorf("SourceStarted: got %v, want %v", got, tt.started)
			}
			if got := SourceEnded(b, tt.source, now); !got.Equal(tt.ended) {
				t.Errorf("SourceEnded: got %v, want %v", got, tt.ended)
			}
		})
	}
}

// TestPersonStageOfComputedStates runs the rule on what Compute says of a customer who holds a
// canceled pro subscription and a refunded lifetime purchase, then buys a course.
func TestPersonStageOfComputedStates(t *testing.T) {
	b := Billing{Customers: []Customer{{ID: "cus_1",
		Subscriptions: []Subscription{{ID: "sub_1", Status: "canceled", Created: now.Add(-90 * day), EndedAt: now.Add(-day),
			Items: []Item{{PriceID: "price_pro_m"}}}},
		Purchases: []Purchase{{SessionID: "cs_life", PaidAt: now.Add(-30 * day), Items: []Item{{ProductID: "prod_life"}},
			Charges: []Charge{{ID: "ch_1", Amount: 9900, AmountRefunded: 9900}}}},
	}}}
	d := Compute(b, testPlans(), now)
	if got := PersonStage(d.Plans); got != StageRefunded {
		t.Errorf("before the course: got %q, want refunded (refunded ranks before canceled)", got)
	}
	b.Customers[0].Purchases = append(b.Customers[0].Purchases, Purchase{SessionID: "cs_course", PaidAt: now.Add(-time.Hour), Items: []Item{{PriceID: "price_course"}}})
	d = Compute(b, testPlans(), now)
	if got := PersonStage(d.Plans); got != StageActive {
		t.Errorf("after the course: got %q, want active", got)
	}
	pro, _ := d.Plan("pro")
	if got := SourceEnded(b, pro.Source, now); !got.Equal(now.Add(-day)) {
		t.Errorf("pro ended: got %v, want the subscription's EndedAt", got)
	}
	course, _ := d.Plan("course")
	if got := SourceStarted(b, course.Source); !got.Equal(now.Add(-time.Hour)) {
		t.Errorf("course started: got %v, want its payment", got)
	}
}
