package status

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/membersync/membersync/internal/config"
	"github.com/membersync/membersync/internal/entitlement"
	"github.com/membersync/membersync/internal/store"
)

func TestAssess(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	plans := []config.Plan{{ID: "pro", Name: "Pro membership"}, {ID: "course", Name: "Lifetime course"}}
	email := "ada@example.com"
	desired := func(ps ...entitlement.PlanState) string {
		b, err := json.Marshal(entitlement.Desired{Plans: ps})
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	active := entitlement.PlanState{PlanID: "pro", Entitled: true, Stage: entitlement.StageActive, Source: "sub_1", AccessGroups: []int64{11}}
	course := entitlement.PlanState{PlanID: "course", Entitled: true, Stage: entitlement.StageActive, Source: "cs_1", AccessGroups: []int64{12}}
	pastDue := entitlement.PlanState{PlanID: "pro", Entitled: true, Stage: entitlement.StagePastDue, Source: "sub_1", AccessGroups: []int64{11}, Until: now.Add(48 * time.Hour)}
	canceling := entitlement.PlanState{PlanID: "pro", Entitled: true, Stage: entitlement.StageCanceling, Source: "sub_1", AccessGroups: []int64{11}, Until: time.Date(2026, 3, 20, 0, 0, 0, 0, time.UTC)}
	canceled := entitlement.PlanState{PlanID: "pro", Stage: entitlement.StageCanceled, Source: "sub_1"}
	refunded := entitlement.PlanState{PlanID: "course", Stage: entitlement.StageRefunded, Source: "cs_1"}
	none := entitlement.PlanState{PlanID: "course", Stage: entitlement.StageNone}
	granted := func(groups ...int64) []store.Applied {
		var out []store.Applied
		for _, g := range groups {
			out = append(out, store.Applied{Provider: store.ProviderCircle, Kind: store.KindAccessGroup, TargetID: g, Email: email})
		}
		return out
	}
	synced := store.Person{Email: email, Generation: 3, SyncedGeneration: 3}
	pending := store.Person{Email: email, Generation: 4, SyncedGeneration: 3}
	noticed := now.Add(-20 * time.Minute)

	cases := []struct {
		name    string
		snap    snapshot
		state   string
		labels  string // the plans' labels, in order
		access  string // the plans' access, in order
		trouble string // provider/kind of the trouble, "" for none
		message string // a part of the message
	}{
		{name: "never synced", snap: snapshot{Person: store.Person{Generation: 1}},
			state: stateSettingUp, message: "adding you to the community"},
		{name: "entitled, access not confirmed yet", snap: snapshot{Person: pending, Sync: store.SyncState{Desired: desired(active, none)}},
			state: stateSettingUp, labels: "Active", access: "setting_up"},
		{name: "ready", snap: snapshot{Person: synced, Sync: store.SyncState{Desired: desired(active, none)}, Applied: granted(11)},
			state: stateReady, labels: "Active", access: "ready", message: "a•••@example.com"},
		{name: "granted to another email does not count", snap: snapshot{Person: synced, Sync: store.SyncState{Desired: desired(active, none)},
			Applied: []store.Applied{{Provider: store.ProviderCircle, Kind: store.KindAccessGroup, TargetID: 11, Email: "old@example.com"}}},
			state: stateSettingUp, labels: "Active", access: "setting_up"},
		{name: "two plans, one confirmed", snap: snapshot{Person: synced, Sync: store.SyncState{Desired: desired(active, course)}, Applied: granted(11)},
			state: stateSettingUp, labels: "Active,Active", access: "ready,setting_up"},
		{name: "two plans, both confirmed", snap: snapshot{Person: synced, Sync: store.SyncState{Desired: desired(active, course)}, Applied: granted(11, 12)},
			state: stateReady, labels: "Active,Active", access: "ready,ready"},
		{name: "past due in grace", snap: snapshot{Person: synced, Sync: store.SyncState{Desired: desired(pastDue)}, Applied: granted(11)},
			state: stateAction, labels: "Payment failed", access: "ready", message: "payment did not go through"},
		{name: "canceling keeps access", snap: snapshot{Person: synced, Sync: store.SyncState{Desired: desired(canceling)}, Applied: granted(11)},
			state: stateReady, labels: "Ending", access: "ready"},
		{name: "canceled and refunded", snap: snapshot{Person: synced, Sync: store.SyncState{Desired: desired(canceled, refunded)}},
			state: stateEnded, labels: "Ended,Refunded", access: ",", message: "no community access"},
		{name: "circle failing", snap: snapshot{Person: pending, Sync: store.SyncState{Desired: desired(active), Error: "circle create_member: unavailable (HTTP 503)", SyncedAt: now}},
			state: stateTrouble, labels: "Active", access: "setting_up", trouble: "Circle/outage", message: "Circle, where the community lives, is not answering"},
		{name: "circle failing with a review item", snap: snapshot{Person: pending, Sync: store.SyncState{Desired: desired(active), Error: "circle create_member: unavailable (HTTP 503)", SyncedAt: now},
			Reviews: []store.ReviewItem{{Kind: "sync_failing", ActionKey: "sync", LastError: "circle create_member: unavailable (HTTP 503)", CreatedAt: noticed}}},
			state: stateTrouble, labels: "Active", access: "setting_up", trouble: "Circle/outage"},
		{name: "circle member limit", snap: snapshot{Person: pending, Sync: store.SyncState{Desired: desired(active), SyncedAt: now,
			Error: `circle create_member: limit (HTTP 403): Circle's daily limit on new members is reached; membersync tries again after 00:00 UTC`},
			Reviews: []store.ReviewItem{{Kind: "circle_member_limit", ActionKey: "circle", LastError: "circle create_member: limit (HTTP 403): …", CreatedAt: noticed}}},
			state: stateTrouble, labels: "Active", access: "setting_up", trouble: "Circle/limit", message: "Circle, where the community lives, is not accepting new members right now"},
		{name: "circle member limit, item resolved by hand while the job waits", snap: snapshot{Person: pending, Sync: store.SyncState{Desired: desired(active), SyncedAt: now,
			Error: `circle create_member: limit (HTTP 403): the community reached its Circle plan's member cap`}},
			state: stateTrouble, labels: "Active", access: "setting_up", trouble: "Circle/limit", message: "will appear automatically as soon as Circle accepts it"},
		{name: "a grant that cannot succeed", snap: snapshot{Person: synced, Sync: store.SyncState{Desired: desired(active)},
			Reviews: []store.ReviewItem{{Kind: "action_failed", ActionKey: "circle:add_access_group:11", CreatedAt: noticed}}},
			state: stateTrouble, labels: "Active", access: "setting_up", trouble: "Circle/stuck", message: "finish setting up your access in Circle"},
		{name: "stripe failing before the first sync", snap: snapshot{Person: pending,
			Reviews: []store.ReviewItem{{Kind: "sync_failing", ActionKey: "sync", LastError: "stripe get_customer: unavailable", CreatedAt: noticed}}},
			state: stateTrouble, trouble: "Stripe/outage", message: "Stripe, our payment provider"},
		{name: "unmapped price", snap: snapshot{Person: synced, Sync: store.SyncState{Desired: desired(none)},
			Reviews: []store.ReviewItem{{Kind: "unmapped_price", ActionKey: "cs_9", CreatedAt: noticed}}},
			state: stateTrouble, trouble: "/review", message: "quick check by a person"},
		{name: "kit failing does not hold access up", snap: snapshot{Person: pending, Sync: store.SyncState{Desired: desired(active), Error: "kit tag_subscriber: unavailable"}, Applied: granted(11)},
			state: stateReady, labels: "Active", access: "ready"},
		{name: "circle trouble after access is ready is not shown", snap: snapshot{Person: synced, Sync: store.SyncState{Desired: desired(active)}, Applied: granted(11),
			Reviews: []store.ReviewItem{{Kind: "action_failed", ActionKey: "circle:remove_access_group:12", CreatedAt: noticed}}},
			state: stateReady, labels: "Active", access: "ready"},
		{name: "payment comes before trouble", snap: snapshot{Person: pending, Sync: store.SyncState{Desired: desired(pastDue), Error: "circle create_member: unavailable"}},
			state: stateAction, labels: "Payment failed", access: "setting_up", trouble: "Circle/outage"},
		{name: "nothing bought", snap: snapshot{Person: synced, Sync: store.SyncState{Desired: desired(none)}},
			state: stateEnded, message: "no purchase on record"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v := assess(c.snap, plans, now)
			if v.State != c.state {
				t.Errorf("state = %s, want %s", v.State, c.state)
			}
			var labels, access []string
			for _, p := range v.Plans {
				labels = append(labels, p.Label)
				access = append(access, p.Access)
			}
			if got := strings.Join(labels, ","); got != c.labels {
				t.Errorf("labels = %q, want %q", got, c.labels)
			}
			if got := strings.Join(access, ","); got != c.access {
				t.Errorf("access = %q, want %q", got, c.access)
			}
			tr := ""
			if v.Trouble != nil {
				tr = v.Trouble.Provider + "/" + v.Trouble.Kind
			}
			if tr != c.trouble {
				t.Errorf("trouble = %q, want %q", tr, c.trouble)
			}
			if !strings.Contains(v.Message, c.message) {
				t.Errorf("message %q does not say %q", v.Message, c.message)
			}
			if v.Title == "" || v.Message == "" {
				t.Errorf("empty words: %q / %q", v.Title, v.Message)
			}
			for _, p := range v.Plans {
				for _, leak := range []string{"sub_", "cs_", "cus_", email} {
					if strings.Contains(p.Detail+p.Label+p.Name, leak) {
						t.Errorf("plan words reveal %q: %+v", leak, p)
					}
				}
			}
		})
	}
}

func TestTroubleNoticedAndAlerted(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	early, late := now.Add(-time.Hour), now.Add(-time.Minute)
	cases := []struct {
		name    string
		snap    snapshot
		since   time.Time
		alerted bool
	}{
		{"sync error only: noticed at the failed sync, nobody alerted",
			snapshot{Sync: store.SyncState{Error: "circle x: unavailable", SyncedAt: late}}, late, false},
		{"review item: noticed when it opened, alerted",
			snapshot{Sync: store.SyncState{Error: "circle x: unavailable", SyncedAt: late},
				Reviews: []store.ReviewItem{{Kind: "sync_failing", ActionKey: "sync", LastError: "circle x: unavailable", CreatedAt: early}}}, early, true},
		{"a review item about Kit says nothing about Circle's trouble",
			snapshot{Sync: store.SyncState{Error: "circle x: unavailable", SyncedAt: late},
				Reviews: []store.ReviewItem{{Kind: "action_failed", ActionKey: "kit:tag:5", CreatedAt: early}}}, late, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tr, _ := findTrouble(c.snap)
			if tr == nil {
				t.Fatal("no trouble found")
			}
			if !tr.Since.Equal(c.since) || tr.Alerted != c.alerted {
				t.Errorf("since %s alerted %v; want %s %v", tr.Since, tr.Alerted, c.since, c.alerted)
			}
		})
	}
}

func TestMaskEmail(t *testing.T) {
	for in, want := range map[string]string{
		"ada@example.com": "a•••@example.com",
		"é@example.com":   "é•••@example.com",
		"":                "",
		"no-at-sign":      "",
		"@example.com":    "",
	} {
		if got := maskEmail(in); got != want {
			t.Errorf("maskEmail(%q) = %q, want %q", in, got, want)
		}
	}
}
