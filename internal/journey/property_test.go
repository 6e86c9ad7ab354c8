package journey_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/membersync/membersync/internal/entitlement"
	"github.com/membersync/membersync/internal/journey"
	"github.com/membersync/membersync/internal/store"
	"pgregory.net/rapid"
)

// The property draws random facts, consistent or not (a journal whose grants Circle no longer
// holds, review items of any kind and status, syncs of any result, events of any type, comps), and
// checks what a story may claim whatever happened.

// propNames names every group, tag and sequence with a token that appears nowhere else.
type propNames struct{}

func (propNames) AccessGroup(id int64) string { return fmt.Sprintf("Group-%d", id) }
func (propNames) Tag(id int64) string         { return fmt.Sprintf("Tag-%d", id) }
func (propNames) Sequence(id int64) string    { return fmt.Sprintf("Seq-%d", id) }
func (propNames) Price(id string) string      { return "Price-" + id }

var (
	propGroups  = []int64{11, 12}
	propTags    = []int64{21, 22, 23, 24}
	propActions = []struct{ action, target string }{
		{"circle:add_access_group", "access_group:%d"}, {"circle:remove_access_group", "access_group:%d"},
		{"kit:tag_subscriber", "tag:%d"}, {"kit:untag_subscriber", "tag:%d subscriber:9"},
		{"kit:add_to_sequence", "sequence:%d"}, {"circle:find_member", "member"}, {"stripe:list_subscriptions", "customer:cus_1"},
	}
	propResults     = []string{"ok", "ok", "ok", "transient", "permanent", "config", "rate_limited", "limit", "not_found"}
	propSyncResults = []string{"converged", "converged", "retry", "blocked", "failed", "merged", "kit_deferred"}
	propReasons     = []string{"event", "timer", "resync", "retry", "reconcile", "merge"}
	propEvents      = []string{"invoice.paid", "customer.subscription.created", "invoice.payment_failed", "charge.refunded",
		"customer.subscription.updated", "customer.subscription.deleted", "charge.dispute.created", "customer.updated", "invoice.upcoming"}
	propStages = []entitlement.Stage{entitlement.StageNone, entitlement.StageActive, entitlement.StageTrialing, entitlement.StageCanceling,
		entitlement.StagePastDue, entitlement.StageGraceExpired, entitlement.StageCanceled, entitlement.StageRefunded, entitlement.StageDisputed}
	propKinds = []string{"credentials", "action_failed", "sync_failing", "retries_exhausted", "email_conflict", "circle_member_limit", "unmapped_price"}
)

func drawFacts(t *rapid.T) journey.Facts {
	f := journey.Facts{Plans: testPlans(), Now: t0.Add(30 * 24 * time.Hour)}
	f.Person = store.Person{ID: 1, Email: "ada@example.com", Generation: 3}
	f.Person.SyncedGeneration = rapid.SampledFrom([]int64{3, 3, 2}).Draw(t, "synced")
	clock := t0
	tick := func(label string) time.Time {
		clock = clock.Add(time.Duration(rapid.IntRange(0, 5000).Draw(t, label)) * time.Millisecond)
		return clock
	}
	var id int64
	entry := func(e store.JournalEntry) {
		id++
		e.ID, e.PersonID = id, 1
		f.Journal = append(f.Journal, e)
	}
	for i := range rapid.IntRange(0, 8).Draw(t, "syncs") {
		for range rapid.IntRange(0, 3).Draw(t, fmt.Sprintf("events%d", i)) {
			f.Events = append(f.Events, store.Event{ID: fmt.Sprintf("evt_%d", len(f.Events)), PersonID: 1, State: store.EventProcessed,
				Type: rapid.SampledFrom(propEvents).Draw(t, "event"), ReceivedAt: tick("event_at")})
		}
		if rapid.IntRange(0, 4).Draw(t, "admin") == 0 {
			entry(store.JournalEntry{At: tick("admin_at"), Kind: "admin", Action: rapid.SampledFrom([]string{"resync", "comp", "revoke_comp", "replay"}).Draw(t, "admin_action"),
				Target: "pro", Detail: "by ann@ops.example.com: because"})
		}
		start := tick("start")
		for range rapid.IntRange(0, 5).Draw(t, fmt.Sprintf("calls%d", i)) {
			a := rapid.SampledFrom(propActions).Draw(t, "action")
			target := a.target
			if strings.Contains(target, "%d") {
				ids := propTags
				switch {
				case strings.HasPrefix(target, "access_group"):
					ids = propGroups
				case strings.HasPrefix(target, "sequence"):
					ids = []int64{31, 32}
				}
				target = fmt.Sprintf(target, rapid.SampledFrom(ids).Draw(t, "target"))
			}
			entry(store.JournalEntry{At: tick("call_at"), Kind: "call", Action: a.action, Target: target,
				Result: rapid.SampledFrom(propResults).Draw(t, "result"), Status: rapid.SampledFrom([]int{0, 200, 404, 422, 429, 503}).Draw(t, "status")})
		}
		if rapid.IntRange(0, 3).Draw(t, "review_entry") == 0 {
			entry(store.JournalEntry{At: tick("review_at"), Kind: "review", Action: rapid.SampledFrom(propKinds).Draw(t, "review_kind"), Target: "circle", Result: "opened"})
		}
		if rapid.IntRange(0, 9).Draw(t, "unfinished") > 0 {
			end := tick("end")
			result := rapid.SampledFrom(propSyncResults).Draw(t, "sync_result")
			action := "sync"
			switch {
			case result == "kit_deferred":
				entry(store.JournalEntry{At: end, Kind: "sync", Action: "kit", Result: "deferred"})
			case rapid.IntRange(0, 3).Draw(t, "kit_step") == 0:
				action = "kit" // a Kit step (converge.SyncKit)
			}
			entry(store.JournalEntry{At: end, Kind: "sync", Action: action, Target: rapid.SampledFrom(propReasons).Draw(t, "reason"),
				Result: result, Duration: end.Sub(start)})
		}
	}
	if rapid.IntRange(0, 5).Draw(t, "never_synced") > 0 {
		d := &entitlement.Desired{ManagedAccessGroups: propGroups, ManagedTags: propTags}
		for _, p := range f.Plans {
			st := rapid.SampledFrom(propStages).Draw(t, "stage_"+p.ID)
			entitled := false
			switch st {
			case entitlement.StageActive, entitlement.StageTrialing, entitlement.StageCanceling, entitlement.StagePastDue:
				entitled = true
			}
			ps := entitlement.PlanState{PlanID: p.ID, Stage: st, Entitled: entitled, Source: "sub_" + p.ID, Explanation: "The state in words."}
			if entitled {
				ps.AccessGroups = p.Circle.AccessGroups
				if rapid.Bool().Draw(t, "until") {
					ps.Until = f.Now.Add(72 * time.Hour)
				}
			}
			if tag, ok := p.Kit.Tags[string(st)]; ok {
				ps.Tags = []int64{tag}
			}
			d.Plans = append(d.Plans, ps)
			d.AccessGroups = append(d.AccessGroups, ps.AccessGroups...)
			d.Tags = append(d.Tags, ps.Tags...)
		}
		f.Desired = d
		f.Billing = &entitlement.Billing{Customers: []entitlement.Customer{{ID: "cus_1", Subscriptions: []entitlement.Subscription{
			{ID: "sub_pro", Status: "active", FirstFailedPaymentAt: t0, TrialEnd: f.Now.Add(time.Hour), Items: []entitlement.Item{{PriceID: "price_pro"}}},
			{ID: "sub_course", Status: "active", Items: []entitlement.Item{{PriceID: "price_course"}}},
		}}}}
	}
	if f.Desired != nil && rapid.Bool().Draw(t, "in_sync") {
		// Circle and Kit hold exactly what the plans want (the usual case).
		for _, g := range f.Desired.AccessGroups {
			f.Applied = append(f.Applied, store.Applied{PersonID: 1, Provider: "circle", Kind: "access_group", TargetID: g})
		}
		for _, tag := range f.Desired.Tags {
			f.Applied = append(f.Applied, store.Applied{PersonID: 1, Provider: "kit", Kind: "tag", TargetID: tag})
		}
	} else {
		f.Applied = drawApplied(t)
	}
	for i := range rapid.IntRange(0, 3).Draw(t, "reviews") {
		f.Reviews = append(f.Reviews, store.ReviewItem{ID: int64(i + 1), PersonID: 1, Kind: rapid.SampledFrom(propKinds).Draw(t, "kind"),
			ActionKey: rapid.SampledFrom([]string{"circle", "kit", "sync", "circle:add_access_group:11", "kit:tag:21"}).Draw(t, "key"),
			Status:    rapid.SampledFrom([]string{"open", "resolved"}).Draw(t, "status")})
	}
	if rapid.IntRange(0, 3).Draw(t, "sync_error") == 0 {
		f.Sync.Error = "circle find_member: transient (HTTP 503)"
	}
	if rapid.IntRange(0, 3).Draw(t, "comp") == 0 {
		f.Comps = []journey.Comp{{PlanID: "pro", By: "ann@ops.example.com", Reason: "speaker", At: t0}}
	}
	return f
}

// TestPropertyStoryClaimsOnlyWhatIsHeld: whatever happened, a story never claims access that the
// applied state does not hold, and never says "Nothing needs you" while a review item is open (or
// while Circle and Kit differ from the plans, a sync is pending or retrying).
func TestPropertyStoryClaimsOnlyWhatIsHeld(t *testing.T) {
	t.Parallel()
	rapid.Check(t, func(t *rapid.T) {
		f := drawFacts(t)
		s := journey.Tell(f, propNames{})
		text := s.String()
		held := map[int64]bool{}
		for _, a := range f.Applied {
			if a.Provider == "circle" {
				held[a.TargetID] = true
			}
		}
		open := slices.ContainsFunc(f.Reviews, func(r store.ReviewItem) bool { return r.Status == "open" })

		// 1. "Nothing needs you" only when nothing does.
		nothing := strings.Contains(text, "Nothing needs you")
		if nothing != s.Settled {
			t.Fatalf("says nothing needs you: %v, settled: %v\n%s", nothing, s.Settled, text)
		}
		if nothing && (open || f.Sync.Error != "" || f.Desired == nil || f.Person.SyncedGeneration < f.Person.Generation) {
			t.Fatalf("nothing needs you with an open review item %v, sync error %q, desired %v, pending %v:\n%s",
				open, f.Sync.Error, f.Desired != nil, f.Person.SyncedGeneration < f.Person.Generation, text)
		}
		if s.NeedsYou != open {
			t.Fatalf("needs you %v with an open review item %v", s.NeedsYou, open)
		}
		if nothing {
			for _, g := range f.Desired.AccessGroups {
				if !held[g] {
					t.Fatalf("nothing needs you, but group %d is desired and not held:\n%s", g, text)
				}
			}
		}

		// 2. A grant the story tells is held now, or the story tells its removal later, or says it
		// is not held now.
		for _, g := range propGroups {
			name := fmt.Sprintf("Group-%d", g)
			if held[g] {
				continue
			}
			for i := 0; ; {
				k := strings.Index(text[i:], "Circle access granted (")
				if k < 0 {
					break
				}
				k += i + len("Circle access granted (")
				end := strings.IndexByte(text[k:], ')') + k
				list := text[k:end]
				i = end
				for _, item := range strings.Split(list, "; ") {
					if strings.HasPrefix(item, name) && item != name+", not held now" && !removedAfter(text[end:], name) {
						t.Fatalf("claims %s granted, which Circle does not hold:\n%s", name, text)
					}
				}
			}
		}

		// 3. Present-tense access is claimed only for a plan whose every group Circle holds.
		for _, l := range s.Lines {
			if !strings.Contains(l.Text, "access kept") && !strings.Contains(l.Text, "Circle holds the access") {
				continue
			}
			for _, p := range f.Plans {
				if !strings.Contains(l.Text, p.Name) && f.Desired != nil && len(f.Plans) > 1 {
					continue
				}
				for _, g := range p.Circle.AccessGroups {
					if strings.Contains(l.Text, p.Name) && !held[g] {
						t.Fatalf("%q claims access to %s, whose group %d Circle does not hold", l.Text, p.Name, g)
					}
				}
			}
			if !strings.Contains(l.Text, "Pro membership") && !strings.Contains(l.Text, "Lifetime course") {
				// "Card failed on …; access kept …" names no plan only when one plan was bought: it
				// must be held.
				for _, ps := range f.Desired.Plans {
					if ps.Stage == entitlement.StagePastDue {
						for _, g := range ps.AccessGroups {
							if !held[g] {
								t.Fatalf("%q claims access to group %d, not held", l.Text, g)
							}
						}
					}
				}
			}
		}
		for _, l := range s.Lines {
			if strings.TrimSpace(l.Text) == "" {
				t.Fatalf("an empty sentence in %q", text)
			}
		}
	})
}

// drawApplied draws what Circle and Kit hold, regardless of the plans.
func drawApplied(t *rapid.T) []store.Applied {
	var applied []store.Applied
	for _, g := range propGroups {
		if rapid.Bool().Draw(t, fmt.Sprintf("holds_%d", g)) {
			applied = append(applied, store.Applied{PersonID: 1, Provider: "circle", Kind: "access_group", TargetID: g})
		}
	}
	for _, tag := range propTags {
		if rapid.Bool().Draw(t, fmt.Sprintf("tagged_%d", tag)) {
			applied = append(applied, store.Applied{PersonID: 1, Provider: "kit", Kind: "tag", TargetID: tag})
		}
	}
	return applied
}

func removedAfter(text, name string) bool {
	for i := 0; ; {
		k := strings.Index(text[i:], "Circle access removed (")
		if k < 0 {
			return false
		}
		k += i + len("Circle access removed (")
		end := strings.IndexByte(text[k:], ')') + k
		if slices.Contains(strings.Split(text[k:end], "; "), name) {
			return true
		}
		i = end
	}
}
