package journey_test

import (
	"strings"
	"testing"
	"time"

	"github.com/membersync/membersync/internal/journey"
	"github.com/membersync/membersync/internal/store"
)

func TestCaused(t *testing.T) {
	t.Parallel()
	recovered := func() *history {
		h := newHistory().event("customer.subscription.created", t0).
			call(at("300ms"), "circle:find_member", "member", "transient", 503).
			sync(at("1s"), 900*time.Millisecond, "event", "retry")
		h.event("invoice.paid", at("500ms")) // arrives during the first, failing sync
		return h.call(at("3m200ms"), "circle:add_access_group", "access_group:11", "ok", 201).
			call(at("3m400ms"), "kit:tag_subscriber", "tag:21", "ok", 201).
			sync(at("3m500ms"), 500*time.Millisecond, "event", "converged")
	}
	for _, tc := range []struct {
		name  string
		h     *history
		event int // index into h.f.Events
		edit  func(*store.Event)
		want  []string
		// entries are the raw journal entries under the words: "kind action result", in order.
		entries string
	}{
		{
			name: "an event type membersync ignores",
			h:    newHistory().event("invoice.upcoming", t0),
			edit: func(ev *store.Event) { ev.State = store.EventIgnored },
			want: []string{"membersync does not act on invoice.upcoming events: it was stored for the record and changed nothing."},
		},
		{
			name: "an event waiting for its customer",
			h:    newHistory().event("charge.dispute.created", t0),
			edit: func(ev *store.Event) { ev.State, ev.PersonID = store.EventUnresolved, 0 },
			want: []string{"It names no Stripe customer (a refund or a dispute names only its charge): membersync asks Stripe whose it is, then syncs that person."},
		},
		{
			name: "a payment that granted access",
			h:    newHistory().paidPro(t0),
			want: []string{
				"The sync that covered it ran at 3 Dec 14:02:00 (0.1 s after it arrived, for 1.5 s): Circle access granted (Pro members, not held now), then tagged pro-active and enrolled in Onboarding.",
				"Circle and Kit matched Stripe 1.6 s after it arrived.",
			},
			entries: "call stripe:list_subscriptions ok, call circle:find_member ok, call circle:create_member ok, call circle:add_access_group ok, " +
				"call kit:upsert_subscriber ok, call kit:tag_subscriber ok, call kit:add_to_sequence ok, sync sync converged",
		},
		{
			name:    "a failing sync, then its retry",
			h:       recovered(),
			event:   0,
			entries: "call circle:find_member transient, sync sync retry, call circle:add_access_group ok, call kit:tag_subscriber ok, sync sync converged",
			want: []string{
				"The sync that covered it ran at 3 Dec 14:02:00 (0.1 s after it arrived, for 0.9 s): Circle was down (HTTP 503); the sync failed and retries.",
				"Its retry ran at 3 Dec 14:05:00 (3 min after it arrived, for 0.5 s): Circle access granted (Pro members, not held now), then tagged pro-active.",
				"Circle and Kit matched Stripe 3 min after it arrived.",
			},
		},
		{
			name:    "an event that arrived mid-sync",
			h:       recovered(),
			event:   1,
			entries: "call circle:add_access_group ok, call kit:tag_subscriber ok, sync sync converged",
			want: []string{
				"It arrived during a sync that had started 0.4 s earlier: Circle was down (HTTP 503); the sync failed and retries.",
				"The sync that covered it ran at 3 Dec 14:05:00 (2 min after it arrived, for 0.5 s): Circle access granted (Pro members, not held now), then tagged pro-active.",
				"Circle and Kit matched Stripe 3 min after it arrived.",
			},
		},
		{
			name: "no sync yet",
			h: func() *history {
				h := newHistory().event("invoice.paid", t0)
				h.f.Person.Generation, h.f.Person.SyncedGeneration = 2, 1
				return h
			}(),
			want: []string{"No sync has started since it arrived; one is queued."},
		},
		{
			name: "a replay by an operator",
			h: func() *history {
				h := newHistory().event("invoice.paid", t0).
					call(at("200ms"), "circle:add_access_group", "access_group:11", "ok", 201).
					sync(at("300ms"), 200*time.Millisecond, "event", "blocked")
				return h.entry(store.JournalEntry{At: at("1h"), Kind: "admin", Action: "replay", Target: "evt_1", EventID: "evt_1", Result: "queued", Detail: "by bob@ops.example.com"})
			}(),
			want: []string{
				"Event replayed by bob@ops.example.com on 3 Dec 15:02.",
				"The sync that covered it ran at 3 Dec 14:02:00 (0.1 s after it arrived, for 0.2 s): Circle access granted (Pro members, not held now).",
				"Some changes wait on a review item (see the person's page).",
			},
			entries: "call circle:add_access_group ok, sync sync blocked",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ev := tc.h.f.Events[tc.event]
			if tc.edit != nil {
				tc.edit(&ev)
			}
			eff := journey.Caused(ev, tc.h.f, testNames{})
			var got []string
			for _, l := range eff.Lines {
				got = append(got, l.Text)
			}
			var entries []string
			for _, s := range eff.Steps {
				action, _, _ := strings.Cut(s.What, " ")
				result, _, _ := strings.Cut(s.Result, " ")
				entries = append(entries, s.Kind+" "+action+" "+result)
			}
			if strings.Join(entries, ", ") != tc.entries {
				t.Errorf("entries: %s\nwant %s", strings.Join(entries, ", "), tc.entries)
			}
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("caused:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(tc.want, "\n  "))
			}
		})
	}
}
