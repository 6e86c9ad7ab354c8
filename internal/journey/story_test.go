package journey_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/membersync/membersync/internal/entitlement"
	"github.com/membersync/membersync/internal/journey"
	"github.com/membersync/membersync/internal/plan"
	"github.com/membersync/membersync/internal/store"
)

// testNames is the catalog of the founder's names the stories are told with.
type testNames struct{}

var (
	groupNames = map[int64]string{11: "Pro members", 12: "Course"}
	tagNames   = map[int64]string{21: "pro-active", 22: "pro-past-due", 23: "pro-canceled", 24: "course-buyer"}
	seqNames   = map[int64]string{31: "Onboarding", 32: "Win-back"}
	priceNames = map[string]string{"price_pro": "Pro (€29/month)", "price_course": "Course (€199)"}
)

func (testNames) AccessGroup(id int64) string { return nameOr(groupNames[id], "access group", id) }
func (testNames) Tag(id int64) string         { return nameOr(tagNames[id], "tag", id) }
func (testNames) Sequence(id int64) string    { return nameOr(seqNames[id], "sequence", id) }
func (testNames) Price(id string) string {
	if n, ok := priceNames[id]; ok {
		return n
	}
	return "price " + id
}

func nameOr(name, kind string, id int64) string {
	if name != "" {
		return name
	}
	return fmt.Sprintf("%s %d", kind, id)
}

func testPlans() []plan.Plan {
	return []plan.Plan{
		{ID: "pro", Name: "Pro membership", Stripe: plan.Stripe{Prices: []string{"price_pro"}},
			Circle: plan.Circle{AccessGroups: []int64{11}},
			Kit: plan.Kit{Tags: map[string]int64{"active": 21, "trialing": 21, "past_due": 22, "canceling": 23, "canceled": 23, "grace_expired": 23},
				OnboardingSequence: 31, RetentionSequence: 32},
			GracePeriod: plan.Duration(72 * time.Hour)},
		{ID: "course", Name: "Lifetime course", Stripe: plan.Stripe{Prices: []string{"price_course"}},
			Circle: plan.Circle{AccessGroups: []int64{12}}, Kit: plan.Kit{Tags: map[string]int64{"active": 24}}},
	}
}

// t0 is 3 Dec 14:02 UTC, the instant the stories start.
var t0 = time.Date(2025, 12, 3, 14, 2, 0, 0, time.UTC)

func at(d string) time.Time {
	dur, err := time.ParseDuration(d)
	if err != nil {
		panic(err)
	}
	return t0.Add(dur)
}

// history builds one person's facts as the inbox, the sync engine and the admin write them.
type history struct {
	f  journey.Facts
	id int64
	n  int
}

func newHistory() *history {
	h := &history{}
	h.f.Plans = testPlans()
	h.f.Now = at("1h")
	h.f.Person = store.Person{ID: 1, Email: "ada@example.com", Generation: 1, SyncedGeneration: 1}
	return h
}

func (h *history) event(typ string, when time.Time) *history {
	h.n++
	h.f.Events = append(h.f.Events, store.Event{ID: fmt.Sprintf("evt_%d", h.n), Type: typ, ReceivedAt: when, PersonID: 1, State: store.EventProcessed})
	return h
}

func (h *history) entry(e store.JournalEntry) *history {
	h.id++
	e.ID, e.PersonID = h.id, 1
	h.f.Journal = append(h.f.Journal, e)
	return h
}

// call records one provider call; result "ok" or a provider.Kind's name.
func (h *history) call(when time.Time, action, target, result string, status int) *history {
	return h.entry(store.JournalEntry{At: when, Kind: "call", Action: action, Target: target, Result: result, Status: status, Attempt: 1})
}

// sync records the end of a sync that ran for d.
func (h *history) sync(end time.Time, d time.Duration, reason, result string) *history {
	return h.entry(store.JournalEntry{At: end, Kind: "sync", Action: "sync", Target: reason, Result: result, Duration: d})
}

// paidPro is a new Pro subscriber: the payment's events, then one sync that grants Circle access
// 0.4 s later and, 1.1 s after that, the Kit tag and onboarding.
func (h *history) paidPro(start time.Time) *history {
	ms := func(n int) time.Time { return start.Add(time.Duration(n) * time.Millisecond) }
	return h.event("customer.subscription.created", start).event("invoice.paid", ms(100)).
		call(ms(150), "stripe:list_subscriptions", "customer:cus_1", "ok", 200).
		call(ms(300), "circle:find_member", "member", "ok", 404).
		call(ms(350), "circle:create_member", "member", "ok", 201).
		call(ms(400), "circle:add_access_group", "access_group:11", "ok", 201).
		call(ms(1450), "kit:upsert_subscriber", "email:ab12", "ok", 201).
		call(ms(1500), "kit:tag_subscriber", "tag:21", "ok", 201).
		call(ms(1520), "kit:add_to_sequence", "sequence:31", "ok", 201).
		sync(ms(1600), 1500*time.Millisecond, "event", "converged")
}

func (h *history) billing(sub entitlement.Subscription) *history {
	sub.Items = []entitlement.Item{{PriceID: "price_pro"}}
	h.f.Billing = &entitlement.Billing{Customers: []entitlement.Customer{{ID: "cus_1", Subscriptions: []entitlement.Subscription{sub}}}}
	return h
}

func (h *history) desired(plans ...entitlement.PlanState) *history {
	d := &entitlement.Desired{ManagedAccessGroups: []int64{11, 12}, ManagedTags: []int64{21, 22, 23, 24}}
	for _, id := range []string{"pro", "course"} {
		ps := entitlement.PlanState{PlanID: id, Stage: entitlement.StageNone}
		for _, p := range plans {
			if p.PlanID == id {
				ps = p
			}
		}
		d.Plans = append(d.Plans, ps)
		d.AccessGroups = append(d.AccessGroups, ps.AccessGroups...)
		d.Tags = append(d.Tags, ps.Tags...)
	}
	h.f.Desired = d
	return h
}

func (h *history) holds(provider, kind string, ids ...int64) *history {
	for _, id := range ids {
		h.f.Applied = append(h.f.Applied, store.Applied{PersonID: 1, Provider: provider, Kind: kind, TargetID: id, Email: "ada@example.com"})
	}
	return h
}

func (h *history) review(it store.ReviewItem) *history {
	it.PersonID, it.Status = 1, "open"
	h.f.Reviews = append(h.f.Reviews, it)
	return h
}

var (
	proActive = entitlement.PlanState{PlanID: "pro", Entitled: true, Stage: entitlement.StageActive, Source: "sub_1",
		AccessGroups: []int64{11}, Tags: []int64{21}}
	courseActive = entitlement.PlanState{PlanID: "course", Entitled: true, Stage: entitlement.StageActive, Source: "cs_1",
		AccessGroups: []int64{12}, Tags: []int64{24}}
)

func TestTell(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		h    *history
		want []string // the story's sentences
		// settled and needsYou are Story.Settled and Story.NeedsYou.
		settled, needsYou bool
	}{
		{
			name: "a new subscriber",
			h: newHistory().paidPro(t0).billing(entitlement.Subscription{ID: "sub_1", Status: "active"}).desired(proActive).
				holds("circle", "access_group", 11).holds("kit", "tag", 21).holds("kit", "sequence", 31),
			want: []string{
				"Paid Pro (€29/month) on 3 Dec 14:02 → Circle access granted (Pro members) 0.4 s later → tagged pro-active and enrolled in Onboarding 1.1 s later.",
				"Nothing needs you.",
			},
			settled: true,
		},
		{
			name: "past due, within the grace period",
			h: func() *history {
				h := newHistory().paidPro(t0)
				fail := at("44h") // 5 Dec 10:02
				h.event("charge.failed", fail).event("invoice.payment_failed", fail.Add(5*time.Millisecond)).
					event("customer.subscription.updated", fail.Add(8*time.Millisecond)).
					call(fail.Add(200*time.Millisecond), "kit:untag_subscriber", "tag:21 subscriber:9", "ok", 204).
					call(fail.Add(210*time.Millisecond), "kit:tag_subscriber", "tag:22", "ok", 201).
					sync(fail.Add(250*time.Millisecond), 230*time.Millisecond, "event", "converged")
				next := fail.Add(48 * time.Hour).Unix()
				h.f.Events[3].Payload = []byte(fmt.Sprintf(`{"id":"evt_4","type":"invoice.payment_failed","data":{"object":{"id":"in_2","next_payment_attempt":%d,"parent":{"subscription_details":{"subscription":"sub_1"}}}}}`, next))
				h.f.Now = fail.Add(24 * time.Hour)
				ps := entitlement.PlanState{PlanID: "pro", Entitled: true, Stage: entitlement.StagePastDue, Source: "sub_1", Until: fail.Add(72 * time.Hour),
					AccessGroups: []int64{11}, Tags: []int64{22}}
				return h.billing(entitlement.Subscription{ID: "sub_1", Status: "past_due", FirstFailedPaymentAt: fail}).desired(ps).
					holds("circle", "access_group", 11).holds("kit", "tag", 22).holds("kit", "sequence", 31)
			}(),
			want: []string{
				"Paid Pro (€29/month) on 3 Dec 14:02 → Circle access granted (Pro members) 0.4 s later → tagged pro-active and enrolled in Onboarding 1.1 s later.",
				"Card failed on 5 Dec 10:02 → tagged pro-past-due and untagged pro-active 0.2 s later.",
				"Card failed on 5 Dec; access kept until 8 Dec (grace); Stripe retries on 7 Dec.",
				"Nothing needs you.",
			},
			settled: true,
		},
		{
			name: "a refunded course",
			h: func() *history {
				h := newHistory().event("checkout.session.completed", t0).
					call(at("300ms"), "circle:add_access_group", "access_group:12", "ok", 201).
					call(at("500ms"), "kit:tag_subscriber", "tag:24", "ok", 201).
					sync(at("600ms"), 550*time.Millisecond, "event", "converged")
				refund := at("44h")
				h.event("charge.refunded", refund).
					call(refund.Add(300*time.Millisecond), "circle:remove_access_group", "access_group:12", "ok", 200).
					call(refund.Add(350*time.Millisecond), "kit:untag_subscriber", "tag:24 subscriber:9", "ok", 204).
					sync(refund.Add(400*time.Millisecond), 380*time.Millisecond, "event", "converged")
				h.f.Billing = &entitlement.Billing{Customers: []entitlement.Customer{{ID: "cus_1", Purchases: []entitlement.Purchase{
					{SessionID: "cs_1", PaidAt: t0, Items: []entitlement.Item{{PriceID: "price_course"}}}}}}}
				return h.desired(entitlement.PlanState{PlanID: "course", Stage: entitlement.StageRefunded, Source: "cs_1",
					Explanation: "The payment was refunded in full, so access is revoked."})
			}(),
			want: []string{
				"Paid Course (€199) on 3 Dec 14:02 → Circle access granted (Course) 0.3 s later → tagged course-buyer 0.2 s later.",
				"Refunded on 5 Dec 10:02 → Circle access removed (Course) 0.3 s later → untagged course-buyer 0.05 s later.",
				"Nothing needs you.",
			},
			settled: true,
		},
		{
			name: "Circle down, then recovered by the retry",
			h: func() *history {
				h := newHistory().event("customer.subscription.created", t0).event("invoice.paid", at("50ms")).
					call(at("300ms"), "circle:find_member", "member", "transient", 503).
					call(at("900ms"), "circle:find_member", "member", "transient", 503).
					sync(at("1s"), 950*time.Millisecond, "event", "retry")
				h.call(at("3m"), "circle:find_member", "member", "ok", 404).
					call(at("3m100ms"), "circle:create_member", "member", "ok", 201).
					call(at("3m200ms"), "circle:add_access_group", "access_group:11", "ok", 201).
					call(at("3m400ms"), "kit:tag_subscriber", "tag:21", "ok", 201).
					call(at("3m420ms"), "kit:add_to_sequence", "sequence:31", "ok", 201).
					sync(at("3m500ms"), 500*time.Millisecond, "event", "converged")
				return h.billing(entitlement.Subscription{ID: "sub_1", Status: "active"}).desired(proActive).
					holds("circle", "access_group", 11).holds("kit", "tag", 21).holds("kit", "sequence", 31)
			}(),
			want: []string{
				"Paid Pro (€29/month) on 3 Dec 14:02 → Circle was down (HTTP 503) at 14:02; membersync retried: Circle access granted (Pro members) at 14:05 (2 min later) → tagged pro-active and enrolled in Onboarding 0.2 s later.",
				"Nothing needs you.",
			},
			settled: true,
		},
		{
			name: "Circle still failing, with a review item",
			h: func() *history {
				h := newHistory().event("customer.subscription.created", t0).event("invoice.paid", at("50ms"))
				for i, start := range []string{"0s", "1m", "5m"} {
					s := at(start)
					h.call(s.Add(300*time.Millisecond), "circle:find_member", "member", "transient", 503).
						sync(s.Add(time.Second), 900*time.Millisecond, "event", "retry")
					if i == 2 {
						h.entry(store.JournalEntry{At: s.Add(time.Second + time.Millisecond), Kind: "review", Action: "sync_failing", Target: "sync", Result: "opened"})
					}
				}
				h.f.Person.Generation = 2
				h.f.Sync.Error = "circle find_member: transient (HTTP 503): Service unavailable"
				return h.billing(entitlement.Subscription{ID: "sub_1", Status: "active"}).desired(proActive).
					review(store.ReviewItem{ID: 12, Kind: "sync_failing", ActionKey: "sync", Reason: "the sync has failed 3 times and keeps retrying"})
			}(),
			want: []string{
				"Paid Pro (€29/month) on 3 Dec 14:02 → Circle grant failing since 3 Dec 14:02 (HTTP 503): review item #12 — nothing to do while a provider is down: membersync keeps retrying and closes this item once a sync succeeds. If the error below persists, fix its cause and press Retry.",
				"This needs you.",
			},
			needsYou: true,
		},
		{
			name: "Circle refuses the grant for good",
			h: func() *history {
				h := newHistory().event("invoice.paid", t0).
					call(at("300ms"), "circle:add_access_group", "access_group:11", "permanent", 422).
					entry(store.JournalEntry{At: at("310ms"), Kind: "review", Action: "action_failed", Target: "circle:add_access_group:11", Result: "opened"}).
					sync(at("400ms"), 350*time.Millisecond, "event", "blocked")
				return h.billing(entitlement.Subscription{ID: "sub_1", Status: "active"}).desired(proActive).
					review(store.ReviewItem{ID: 5, Kind: "action_failed", ActionKey: "circle:add_access_group:11", LastError: "422"})
			}(),
			want: []string{
				"Paid Pro (€29/month) on 3 Dec 14:02 → Circle grant failing since 3 Dec 14:02 (refused, HTTP 422): review item #5 — check it in Circle (does it still exist? is the email valid?) and in the plan mapping, then press Retry.",
				"This needs you.",
			},
			needsYou: true,
		},
		{
			name: "Kit's step handed to its own job while Kit's rate limit is spent",
			h: func() *history {
				h := newHistory().event("customer.subscription.created", t0).event("invoice.paid", at("50ms")).
					call(at("400ms"), "circle:add_access_group", "access_group:11", "ok", 201).
					call(at("450ms"), "kit:upsert_subscriber", "email:ab12", "rate_limited", 429).
					entry(store.JournalEntry{At: at("460ms"), Kind: "sync", Action: "kit", Result: "deferred", Detail: "Kit's rate limit is spent; its step runs in 2s in its own job"}).
					sync(at("470ms"), 400*time.Millisecond, "event", "kit_deferred")
				h.call(at("4s"), "kit:upsert_subscriber", "email:ab12", "rate_limited", 429).
					entry(store.JournalEntry{At: at("4s10ms"), Kind: "sync", Action: "kit", Result: "retry", Duration: 12 * time.Millisecond})
				h.call(at("6s"), "kit:upsert_subscriber", "email:ab12", "ok", 201).
					call(at("6s100ms"), "kit:tag_subscriber", "tag:21", "ok", 201).
					call(at("6s110ms"), "kit:add_to_sequence", "sequence:31", "ok", 201).
					entry(store.JournalEntry{At: at("6s200ms"), Kind: "sync", Action: "kit", Result: "converged", Duration: 200 * time.Millisecond})
				return h.billing(entitlement.Subscription{ID: "sub_1", Status: "active"}).desired(proActive).
					holds("circle", "access_group", 11).holds("kit", "tag", 21).holds("kit", "sequence", 31)
			}(),
			want: []string{
				"Paid Pro (€29/month) on 3 Dec 14:02 → Circle access granted (Pro members) 0.4 s later → Kit asked membersync to slow down at 14:02; membersync retried: tagged pro-active and enrolled in Onboarding at 14:02 (5.7 s later).",
				"Nothing needs you.",
			},
			settled: true,
		},
		{
			name: "set to cancel",
			h: func() *history {
				h := newHistory().paidPro(t0)
				c := at("30h")
				h.event("customer.subscription.updated", c).
					call(c.Add(200*time.Millisecond), "kit:untag_subscriber", "tag:21 subscriber:9", "ok", 204).
					call(c.Add(210*time.Millisecond), "kit:tag_subscriber", "tag:23", "ok", 201).
					call(c.Add(220*time.Millisecond), "kit:add_to_sequence", "sequence:32", "ok", 201).
					sync(c.Add(300*time.Millisecond), 290*time.Millisecond, "event", "converged")
				h.f.Now = c.Add(time.Hour)
				ps := entitlement.PlanState{PlanID: "pro", Entitled: true, Stage: entitlement.StageCanceling, Source: "sub_1",
					Until: time.Date(2026, 1, 3, 14, 2, 0, 0, time.UTC), AccessGroups: []int64{11}, Tags: []int64{23}}
				return h.billing(entitlement.Subscription{ID: "sub_1", Status: "active", CancelAtPeriodEnd: true}).desired(ps).
					holds("circle", "access_group", 11).holds("kit", "tag", 23).holds("kit", "sequence", 31, 32)
			}(),
			want: []string{
				"Paid Pro (€29/month) on 3 Dec 14:02 → Circle access granted (Pro members) 0.4 s later → tagged pro-active and enrolled in Onboarding 1.1 s later.",
				"Set Pro membership to cancel on 4 Dec 20:02 → tagged pro-canceled, untagged pro-active and enrolled in Win-back 0.2 s later.",
				"Pro membership is set to cancel: access kept until 3 Jan 2026.",
				"Nothing needs you.",
			},
			settled: true,
		},
		{
			name: "a free trial",
			h: newHistory().paidPro(t0).billing(entitlement.Subscription{ID: "sub_1", Status: "trialing", TrialEnd: at("336h")}).
				desired(entitlement.PlanState{PlanID: "pro", Entitled: true, Stage: entitlement.StageTrialing, Source: "sub_1",
					AccessGroups: []int64{11}, Tags: []int64{21}}).
				holds("circle", "access_group", 11).holds("kit", "tag", 21).holds("kit", "sequence", 31),
			want: []string{
				"Started a free trial of Pro membership on 3 Dec 14:02 → Circle access granted (Pro members) 0.4 s later → tagged pro-active and enrolled in Onboarding 1.1 s later.",
				"Free trial of Pro membership until 17 Dec.",
				"Nothing needs you.",
			},
			settled: true,
		},
		{
			name: "the grace period ends by the clock",
			h: func() *history {
				h := newHistory().paidPro(t0)
				fail := at("44h")
				h.event("invoice.payment_failed", fail).
					call(fail.Add(200*time.Millisecond), "kit:untag_subscriber", "tag:21 subscriber:9", "ok", 204).
					call(fail.Add(210*time.Millisecond), "kit:tag_subscriber", "tag:22", "ok", 201).
					sync(fail.Add(250*time.Millisecond), 230*time.Millisecond, "event", "converged")
				end := fail.Add(72*time.Hour + time.Second)
				h.call(end.Add(100*time.Millisecond), "circle:remove_access_group", "access_group:11", "ok", 200).
					call(end.Add(150*time.Millisecond), "kit:untag_subscriber", "tag:22 subscriber:9", "ok", 204).
					call(end.Add(160*time.Millisecond), "kit:tag_subscriber", "tag:23", "ok", 201).
					sync(end.Add(200*time.Millisecond), 200*time.Millisecond, "timer", "converged")
				h.f.Now = end.Add(time.Hour)
				return h.billing(entitlement.Subscription{ID: "sub_1", Status: "past_due", FirstFailedPaymentAt: fail}).
					desired(entitlement.PlanState{PlanID: "pro", Stage: entitlement.StageGraceExpired, Source: "sub_1", Tags: []int64{23}}).
					holds("kit", "tag", 23).holds("kit", "sequence", 31)
			}(),
			want: []string{
				"Paid Pro (€29/month) on 3 Dec 14:02 → Circle access granted (Pro members) 0.4 s later → tagged pro-active and enrolled in Onboarding 1.1 s later.",
				"Card failed on 5 Dec 10:02 → tagged pro-past-due and untagged pro-active 0.2 s later.",
				"The grace period of Pro membership ended on 8 Dec 10:02 → Circle access removed (Pro members) 0.1 s later → tagged pro-canceled and untagged pro-past-due 0.05 s later.",
				"Nothing needs you.",
			},
			settled: true,
		},
		{
			name: "a comp by an operator",
			h: func() *history {
				h := newHistory().
					entry(store.JournalEntry{At: t0, Kind: "admin", Action: "comp", Target: "pro", Result: "granted", Detail: "by ann@ops.example.com: speaker at the meetup"}).
					call(at("400ms"), "circle:add_access_group", "access_group:11", "ok", 201).
					call(at("1500ms"), "kit:tag_subscriber", "tag:21", "ok", 201).
					sync(at("1600ms"), 1500*time.Millisecond, "resync", "converged")
				h.f.Comps = []journey.Comp{{PlanID: "pro", By: "ann@ops.example.com", Reason: "speaker at the meetup", At: t0,
					Until: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}}
				return h.desired(entitlement.PlanState{PlanID: "pro", Entitled: true, Stage: entitlement.StageActive, Source: "comp",
					AccessGroups: []int64{11}, Tags: []int64{21}}).holds("circle", "access_group", 11).holds("kit", "tag", 21)
			}(),
			want: []string{
				"Comped Pro membership by ann@ops.example.com on 3 Dec 14:02 → Circle access granted (Pro members) 0.4 s later → tagged pro-active 1.1 s later.",
				"Pro membership is a comp by ann@ops.example.com (speaker at the meetup), until 1 Jan 2026.",
				"Nothing needs you.",
			},
			settled: true,
		},
		{
			name: "access granted, then lost behind membersync's back",
			h: newHistory().paidPro(t0).billing(entitlement.Subscription{ID: "sub_1", Status: "active"}).desired(proActive).
				holds("kit", "tag", 21).holds("kit", "sequence", 31),
			want: []string{
				"Paid Pro (€29/month) on 3 Dec 14:02 → Circle access granted (Pro members, not held now) 0.4 s later → tagged pro-active and enrolled in Onboarding 1.1 s later.",
				"Circle and Kit differ from the plans (Pro members missing); a resync fixes it.",
			},
		},
		{
			name: "events stored, not synced yet",
			h: func() *history {
				h := newHistory().event("customer.created", t0).event("invoice.paid", at("100ms"))
				h.f.Person.Generation, h.f.Person.SyncedGeneration = 1, 0
				return h
			}(),
			want: []string{
				"Paid on 3 Dec 14:02.",
				"Not synced yet: the first sync reads Stripe, then grants what was bought.",
			},
		},
		{
			name: "names unknown: kinds and ids",
			h: newHistory().paidPro(t0).billing(entitlement.Subscription{ID: "sub_1", Status: "active"}).desired(proActive).
				holds("circle", "access_group", 11).holds("kit", "tag", 21).holds("kit", "sequence", 31),
			want: []string{
				"Paid Pro membership on 3 Dec 14:02 → Circle access granted (access group 11) 0.4 s later → Kit tag 21 added and enrolled in Kit sequence 31 1.1 s later.",
				"Nothing needs you.",
			},
			settled: true,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var s journey.Story
			if strings.HasPrefix(tc.name, "names unknown") {
				s = journey.Tell(tc.h.f, nil)
			} else {
				s = journey.Tell(tc.h.f, testNames{})
			}
			var got []string
			for _, l := range s.Lines {
				got = append(got, l.Text)
			}
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("story:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(tc.want, "\n  "))
			}
			if s.Settled != tc.settled || s.NeedsYou != tc.needsYou {
				t.Errorf("settled %v, needs you %v; want %v, %v", s.Settled, s.NeedsYou, tc.settled, tc.needsYou)
			}
		})
	}
}

// TestTellKeepsTheLatestChanges: a long history tells its last changes and counts the others.
func TestTellKeepsTheLatestChanges(t *testing.T) {
	t.Parallel()
	h := newHistory()
	for i := range 6 {
		s := t0.Add(time.Duration(i) * 24 * time.Hour)
		typ, action, target := "invoice.paid", "kit:tag_subscriber", "tag:21"
		if i%2 == 1 {
			typ, action, target = "invoice.payment_failed", "kit:untag_subscriber", "tag:21 subscriber:9"
		}
		h.event(typ, s).call(s.Add(100*time.Millisecond), action, target, "ok", 201).sync(s.Add(200*time.Millisecond), 150*time.Millisecond, "event", "converged")
	}
	h.f.Now = t0.Add(7 * 24 * time.Hour)
	s := journey.Tell(h.desired(entitlement.PlanState{PlanID: "pro", Entitled: true, Stage: entitlement.StageActive, Source: "sub_1"}).f, testNames{})
	if len(s.Lines) != 6 || s.Lines[0].Text != "(2 earlier changes are on the timeline.)" {
		t.Fatalf("story: %q", s.String())
	}
	if !strings.HasPrefix(s.Lines[1].Text, "Payment went through on 5 Dec 14:02 → tagged pro-active") ||
		!strings.HasPrefix(s.Lines[4].Text, "Card failed on 8 Dec 14:02 → untagged pro-active") {
		t.Errorf("story: %q", s.String())
	}
}
