package converge_test

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/membersync/membersync/internal/kit"
	"github.com/membersync/membersync/internal/kit/kittest"
	"github.com/membersync/membersync/internal/provider/providertest"
)

// Kit endpoints, as the fake counts them.
const (
	epUpsert   = "POST /v4/subscribers"
	epTag      = "POST /v4/tags/{tag_id}/subscribers"
	epSequence = "POST /v4/sequences/{id}/subscribers"
)

// kitMode is how the founder set Kit up: who enrolls onboarding, and whether membersync tags first.
type kitMode struct {
	name       string
	automation bool // kit.onboarding: automation, with the rule "pro-active added → Welcome to Pro" in Kit
	tagFirst   bool // kit.tag_first
}

var kitModes = []kitMode{
	{name: "api"},
	{name: "automation", automation: true},
	{name: "tag_first", tagFirst: true},
	{name: "automation+tag_first", automation: true, tagFirst: true},
}

// setKitMode gives the engine a Kit client in mode m and, for automation, sets up the rule in Kit.
func (e *env) setKitMode(m kitMode) {
	e.t.Helper()
	cfg := kit.Config{BaseURL: e.kit.URL, APIKey: kittest.DefaultAPIKey, RequestsPerMinute: 600_000, MaxRetries: -1, TagFirst: m.tagFirst}
	if m.automation {
		cfg.Onboarding = kit.OnboardingAutomation
		if !e.kit.AddRule(e.tagActive, e.seqOnboarding) {
			e.t.Fatal("the fake refused the rule")
		}
	}
	e.engine.Kit = kit.New(cfg)
}

// kitCalls returns the Kit calls per endpoint since the counters were last reset, and resets them.
func (e *env) kitCalls() map[string]int {
	calls := e.kit.Faults.AllCalls()
	e.kit.Faults.ResetCalls()
	return calls
}

// total sums calls.
func total(calls map[string]int) int {
	n := 0
	for _, v := range calls {
		n += v
	}
	return n
}

// The Kit calls a new purchase costs in each mode, for a buyer Kit does not know and for one already
// on the founder's list; every mode ends in the same Kit state (tag, onboarding enrolled once), a
// repeated sync costs nothing, and a second purchase by a linked buyer costs one call. The figures are
// the README's "Kit calls per purchase" table.
func TestKitCallsPerNewPurchase(t *testing.T) {
	t.Parallel()
	type want struct {
		newToKit, onList map[string]int
	}
	wants := map[string]want{
		"api": {
			newToKit: map[string]int{epUpsert: 1, epTag: 1, epSequence: 1},
			onList:   map[string]int{epUpsert: 1, epTag: 1, epSequence: 1},
		},
		"automation": {
			newToKit: map[string]int{epUpsert: 1, epTag: 1},
			onList:   map[string]int{epUpsert: 1, epTag: 1},
		},
		"tag_first": {
			newToKit: map[string]int{epTag: 2, epUpsert: 1, epSequence: 1},
			onList:   map[string]int{epTag: 1, epSequence: 1},
		},
		"automation+tag_first": {
			newToKit: map[string]int{epTag: 2, epUpsert: 1},
			onList:   map[string]int{epTag: 1},
		},
	}
	var (
		mu    sync.Mutex
		table []string // the figures, logged once every subtest is done
	)
	for _, m := range kitModes {
		for _, onList := range []bool{false, true} {
			name := fmt.Sprintf("%s/on_list=%v", m.name, onList)
			t.Run(name, func(t *testing.T) {
				forEachDialect(t, func(t *testing.T, e *env) {
					e.setKitMode(m)
					email := "buyer@example.test"
					if onList {
						e.kit.CreateSubscriber(email, "From the list")
					}
					cus := e.stripe.CreateCustomer(email, "Bea Buyer")
					e.stripe.Subscribe(cus, e.proPrice, 0)
					sent, first := e.deliver(0)
					pid := first.PersonID
					e.kitCalls()

					if out := e.sync(pid); !out.Converged {
						t.Fatalf("sync did not converge: %+v", out)
					}
					purchase := e.kitCalls()
					w := wants[m.name].newToKit
					if onList {
						w = wants[m.name].onList
					}
					if !maps.Equal(purchase, w) {
						t.Errorf("Kit calls for a new purchase %v, want %v", purchase, w)
					}
					sub, ok := e.kit.Subscriber(email)
					if !ok || e.person(pid).KitSubscriberID != sub.ID {
						t.Fatalf("person linked to Kit subscriber %d, Kit has %+v", e.person(pid).KitSubscriberID, sub)
					}
					if got := e.kit.TagsOf(email); !slices.Equal(got, []int64{e.tagActive}) {
						t.Errorf("tags %v, want [%d]", got, e.tagActive)
					}
					if got := e.kit.SequencesOf(email); !slices.Equal(got, []int64{e.seqOnboarding}) {
						t.Errorf("sequences %v, want [%d] (by membersync or by the Kit rule)", got, e.seqOnboarding)
					}
					if onList && sub.FirstName != "From the list" && m.tagFirst {
						t.Errorf("tag first renamed a subscriber already on the list to %q", sub.FirstName)
					}

					if out := e.sync(pid); !out.Converged || total(e.kitCalls()) != 0 {
						t.Errorf("a repeated sync called Kit (converged %v)", out.Converged)
					}
					e.stripe.Purchase(cus, e.coursePrice)
					e.deliver(sent)
					e.sync(pid)
					if got := e.kitCalls(); !maps.Equal(got, map[string]int{epTag: 1}) {
						t.Errorf("Kit calls for a second purchase by a linked buyer %v, want one tag", got)
					}
					if d := e.kit.DuplicateEntries(); len(d) != 0 {
						t.Errorf("duplicates in Kit: %v", d)
					}
					if strings.HasSuffix(t.Name(), "/sqlite") {
						mu.Lock()
						table = append(table, fmt.Sprintf("%-22s on list %-5v %d calls %v", m.name, onList, total(purchase), purchase))
						mu.Unlock()
					}
				})
			})
		}
	}
	t.Cleanup(func() { t.Logf("Kit calls per new purchase:\n%s", strings.Join(table, "\n")) })
}

// With kit.onboarding: automation, email still follows access: while Circle has not confirmed the
// grant, the plan's tag is not applied, so the Kit rule cannot start the onboarding sequence; once
// Circle confirms, the tag (and through the rule the sequence) follows, and membersync never calls
// the sequence endpoint.
func TestAutomationOnboardingWaitsForCircle(t *testing.T) {
	t.Parallel()
	for _, m := range kitModes {
		if !m.automation {
			continue
		}
		t.Run(m.name, func(t *testing.T) {
			forEachDialect(t, func(t *testing.T, e *env) {
				e.setKitMode(m)
				const email = "max@example.test"
				cus := e.stripe.CreateCustomer(email, "Max")
				e.stripe.Subscribe(cus, e.proPrice, 0)
				_, first := e.deliver(0)
				pid := first.PersonID

				e.circle.Faults.FailFor(time.Hour, providertest.Fault{Status: 503})
				if _, err := e.engine.Sync(e.ctx, pid, "event", 1); err == nil {
					t.Fatal("sync with Circle down: want a retry error")
				}
				if got := e.kit.TagsOf(email); len(got) > 0 {
					t.Errorf("Kit tags %v while Circle has not granted access", got)
				}
				if got := e.kit.SequencesOf(email); len(got) > 0 {
					t.Errorf("Kit sequences %v while Circle has not granted access", got)
				}

				e.circle.Faults.Heal()
				if out := e.sync(pid); !out.Converged {
					t.Fatalf("sync after Circle recovered did not converge: %+v", out)
				}
				if got := e.kit.SequencesOf(email); !slices.Equal(got, []int64{e.seqOnboarding}) {
					t.Errorf("sequences %v after the grant, want [%d] through the rule", got, e.seqOnboarding)
				}
				if got := e.kit.Faults.Calls(epSequence); got != 0 {
					t.Errorf("%d calls to the sequence endpoint; the Kit rule enrolls", got)
				}
				if !grantedBefore(e, email) {
					t.Error("the onboarding sequence started before the Circle grant")
				}
			})
		})
	}
}

// grantedBefore reports whether Circle's grant to the Pro group precedes the Kit rule's enrollment.
func grantedBefore(e *env, email string) bool {
	var granted, enrolled time.Time
	for _, m := range e.circle.Faults.Mutations() {
		if granted.IsZero() && strings.Contains(m.Detail, fmt.Sprintf("to access group %d", e.proGroup)) {
			granted = m.At
		}
	}
	sub, _ := e.kit.Subscriber(email)
	for _, m := range e.kit.Faults.Mutations() {
		if enrolled.IsZero() && m.Endpoint == "rule" && strings.Contains(m.Detail, fmt.Sprintf("add subscriber %d ", sub.ID)) {
			enrolled = m.At
		}
	}
	return !granted.IsZero() && !enrolled.IsZero() && !enrolled.Before(granted)
}

// With kit.tag_first, a tag Kit refuses after it created the subscriber still links the person (no
// second create on the next sync), opens a review item for that tag only, and lets the other Kit
// actions (here the onboarding sequence) go on.
func TestTagFirstFailureAfterCreateLinksTheSubscriber(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, e *env) {
		e.setKitMode(kitMode{name: "tag_first", tagFirst: true})
		const missingTag = 999_999 // a tag id the plan names and Kit does not have
		e.engine.Plans[0].Kit.Tags = map[string]int64{"active": missingTag}
		const email = "ivy@example.test"
		cus := e.stripe.CreateCustomer(email, "Ivy")
		e.stripe.Subscribe(cus, e.proPrice, 0)
		_, first := e.deliver(0)
		pid := first.PersonID
		e.kitCalls()

		if out := e.sync(pid); out.Converged {
			t.Fatal("sync converged with a tag Kit does not have")
		}
		if got, want := e.kitCalls(), map[string]int{epTag: 2, epUpsert: 1, epSequence: 1}; !maps.Equal(got, want) {
			t.Errorf("Kit calls %v, want %v", got, want)
		}
		sub, ok := e.kit.Subscriber(email)
		if !ok || e.person(pid).KitSubscriberID != sub.ID {
			t.Fatalf("person linked to %d, Kit has %+v: the created subscriber must be linked", e.person(pid).KitSubscriberID, sub)
		}
		keys, err := e.st.OpenActionKeys(e.ctx, pid)
		if err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprintf("kit:tag:%d", missingTag); !keys[want] || len(keys) != 1 {
			t.Errorf("open action keys %v, want only %s", keys, want)
		}
		if got := e.kit.SequencesOf(email); !slices.Equal(got, []int64{e.seqOnboarding}) {
			t.Errorf("sequences %v, want [%d]: the failed tag blocks only itself", got, e.seqOnboarding)
		}
		e.sync(pid)
		if got := e.kitCalls(); total(got) != 0 {
			t.Errorf("the next sync called Kit %v; the subscriber is linked and the tag waits on its review item", got)
		}
	})
}
