package journey_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/membersync/membersync/internal/entitlement"
	"github.com/membersync/membersync/internal/journey"
	"github.com/membersync/membersync/internal/store"
	"github.com/membersync/membersync/internal/store/storetest"
)

func TestLoadAndWriteText(t *testing.T) {
	t.Parallel()
	for _, dialect := range storetest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			st := storetest.Open(t, dialect)
			t0 := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
			clock := t0
			st.Now = func() time.Time { return clock }
			var res store.IngestResult
			if err := st.InTx(ctx, func(tx *store.Tx) error {
				var err error
				res, err = tx.IngestEvent(ctx, store.Event{ID: "evt_1", Type: "invoice.paid", CustomerID: "cus_1", Actionable: true, Created: t0, Payload: []byte(`{}`)})
				return err
			}); err != nil {
				t.Fatal(err)
			}
			pid := res.PersonID
			if err := st.SetIdentity(ctx, pid, "ada@example.com", "Ada"); err != nil {
				t.Fatal(err)
			}
			d := entitlement.Desired{Plans: []entitlement.PlanState{
				{PlanID: "pro", Entitled: true, Stage: entitlement.StageActive, Explanation: "The subscription is active."},
				{PlanID: "basic", Stage: entitlement.StageNone},
			}, NextChange: t0.Add(72 * time.Hour)}
			dj, _ := json.Marshal(d)
			clock = t0.Add(2 * time.Second)
			if err := st.SaveSyncResult(ctx, pid, string(dj), d.NextChange, ""); err != nil {
				t.Fatal(err)
			}
			// Journal entries written out of order come back in time order, events among them.
			for _, e := range []store.JournalEntry{
				{At: t0.Add(2 * time.Second), Kind: "sync", Action: "sync", Target: "event", Result: "converged", Duration: 1500 * time.Millisecond},
				{At: t0.Add(time.Second), Kind: "call", Action: "circle:add_access_group", Target: "11", Result: "ok", Status: 200, Attempt: 2, Duration: 80 * time.Millisecond},
			} {
				e.PersonID = pid
				if err := st.AppendJournal(ctx, e); err != nil {
					t.Fatal(err)
				}
			}
			if err := st.RecordApplied(ctx, store.Applied{PersonID: pid, Provider: store.ProviderCircle, Kind: store.KindAccessGroup, TargetID: 11, Email: "ada@example.com"}); err != nil {
				t.Fatal(err)
			}
			if _, err := st.OpenReview(ctx, store.ReviewItem{PersonID: pid, Kind: "action_failed", ActionKey: "kit:tag:21", Reason: "Kit refused", LastError: "422"}); err != nil {
				t.Fatal(err)
			}

			j, err := journey.Load(ctx, st, pid)
			if err != nil {
				t.Fatal(err)
			}
			var kinds []string
			for _, s := range j.Steps {
				kinds = append(kinds, s.Kind)
			}
			if got := strings.Join(kinds, ","); got != "event,call,sync" {
				t.Errorf("steps: got %s, want event,call,sync", got)
			}
			if j.Steps[0].EventID != "evt_1" || j.Steps[1].Result != "ok 200 (attempt 2) 80ms" {
				t.Errorf("steps: %+v", j.Steps)
			}
			if j.State() != "sync pending" {
				t.Errorf("state: got %q", j.State())
			}
			var b bytes.Buffer
			if err := j.WriteText(&b); err != nil {
				t.Fatal(err)
			}
			out := b.String()
			for _, want := range []string{
				"Person 1  ada@example.com  Ada",
				"Stripe customers: cus_1",
				"State: sync pending (last sync 2025-03-01 12:00:02 UTC)",
				"pro  active  access  The subscription is active.",
				"Next change by the clock: 2025-03-04 12:00:00 UTC",
				"circle access_group 11  (ada@example.com",
				"action_failed kit:tag:21: Kit refused (422)",
				"circle:add_access_group 11",
				"converged 1.5s",
			} {
				if !strings.Contains(out, want) {
					t.Errorf("output lacks %q:\n%s", want, out)
				}
			}
			if strings.Contains(out, "basic") {
				t.Errorf("a plan never bought is listed:\n%s", out)
			}
			if _, err := journey.Load(ctx, st, 999); err == nil {
				t.Error("a missing person: want an error")
			}
		})
	}
}

// TestLoadTellsTheStory: Load reads what the story needs (events, the retry date of the latest
// failed invoice, the journal, the billing snapshot) from a real store.
func TestLoadTellsTheStory(t *testing.T) {
	t.Parallel()
	for _, dialect := range storetest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			st := storetest.Open(t, dialect)
			clock := t0
			st.Now = func() time.Time { return clock }
			fail := t0.Add(44 * time.Hour)
			var pid int64
			for _, ev := range []store.Event{
				{ID: "evt_1", Type: "invoice.paid", Created: t0, Payload: []byte(`{"id":"evt_1"}`)},
				{ID: "evt_2", Type: "invoice.payment_failed", Created: fail,
					Payload: []byte(fmt.Sprintf(`{"id":"evt_2","data":{"object":{"next_payment_attempt":%d}}}`, fail.Add(48*time.Hour).Unix()))},
			} {
				clock = ev.Created
				ev.CustomerID, ev.Actionable = "cus_1", true
				if err := st.InTx(ctx, func(tx *store.Tx) error {
					res, err := tx.IngestEvent(ctx, ev)
					pid = res.PersonID
					return err
				}); err != nil {
					t.Fatal(err)
				}
				if ev.ID == "evt_1" {
					for _, e := range []store.JournalEntry{
						{At: t0.Add(400 * time.Millisecond), Kind: "call", Action: "circle:add_access_group", Target: "access_group:11", Result: "ok", Status: 201},
						{At: t0.Add(time.Second), Kind: "sync", Action: "sync", Target: "event", Result: "converged", Duration: 900 * time.Millisecond},
					} {
						e.PersonID = pid
						if err := st.AppendJournal(ctx, e); err != nil {
							t.Fatal(err)
						}
					}
				}
			}
			b, _ := json.Marshal(entitlement.Billing{Customers: []entitlement.Customer{{ID: "cus_1", Subscriptions: []entitlement.Subscription{
				{ID: "sub_1", Status: "past_due", FirstFailedPaymentAt: fail, Items: []entitlement.Item{{PriceID: "price_pro"}}}}}}})
			if err := st.SaveBilling(ctx, pid, string(b)); err != nil {
				t.Fatal(err)
			}
			d, _ := json.Marshal(entitlement.Desired{Plans: []entitlement.PlanState{{PlanID: "pro", Entitled: true, Stage: entitlement.StagePastDue,
				Source: "sub_1", Until: fail.Add(72 * time.Hour), AccessGroups: []int64{11}}}, AccessGroups: []int64{11}, ManagedAccessGroups: []int64{11, 12}})
			if err := st.SaveSyncResult(ctx, pid, string(d), time.Time{}, ""); err != nil {
				t.Fatal(err)
			}
			if err := st.RecordApplied(ctx, store.Applied{PersonID: pid, Provider: store.ProviderCircle, Kind: store.KindAccessGroup, TargetID: 11, Email: "ada@example.com"}); err != nil {
				t.Fatal(err)
			}
			j, err := journey.Load(ctx, st, pid)
			if err != nil {
				t.Fatal(err)
			}
			if len(j.Events) != 2 || len(j.Events[0].Payload) != 0 || len(j.Events[1].Payload) == 0 || len(j.Journal) != 2 || j.Billing == nil {
				t.Fatalf("loaded %d events (payloads %d, %d bytes), %d journal entries, billing %v",
					len(j.Events), len(j.Events[0].Payload), len(j.Events[1].Payload), len(j.Journal), j.Billing != nil)
			}
			got := j.Story(testPlans(), testNames{}, fail.Add(time.Hour)).String()
			want := "Paid Pro (€29/month) on 3 Dec 14:02 → Circle access granted (Pro members) 0.4 s later. " +
				"Card failed on 5 Dec 10:02, after the last sync. " +
				"Card failed on 5 Dec; access kept until 8 Dec (grace); Stripe retries on 7 Dec. A sync is on its way."
			if got != want {
				t.Errorf("story:\n %s\nwant\n %s", got, want)
			}
		})
	}
}
