package alert_test

import (
	"context"
	"testing"
	"time"

	"github.com/membersync/membersync/internal/alert"
	"github.com/membersync/membersync/internal/store"
	"github.com/membersync/membersync/internal/store/storetest"
)

// circleOutage journals four syncs of person pid failing on Circle, a minute apart, the last one
// a minute before at.
func circleOutage(h *harness, pid int64, at time.Time) {
	for i := range 4 {
		end := at.Add(-time.Duration(4-i) * time.Minute)
		journal(h.t, h.st, store.JournalEntry{PersonID: pid, At: end.Add(-time.Second), Kind: "call", Action: "circle:add_access_group", Result: "transient",
			Detail: "circle add_access_group: transient (HTTP 503)"})
		journal(h.t, h.st, store.JournalEntry{PersonID: pid, At: end, Kind: "sync", Action: "sync", Result: "retry", Duration: 5 * time.Second})
	}
}

// TestRecoveredIsNotFailing: an outage a retry recovered resolves its alerts at the next pass,
// not an hour later, and the events that waited through it do not fire the time-to-converge
// alert afterwards; a sync still failing keeps the alert firing.
func TestRecoveredIsNotFailing(t *testing.T) {
	for _, d := range storetest.Dialects() {
		t.Run(d, func(t *testing.T) {
			h := newHarness(t, d)
			ctx := context.Background()
			// An event arrives as Circle goes down; its syncs fail four times.
			h.clk.Set(t0.Add(-6 * time.Minute))
			res := ingest(h.t, h.st, "evt_outage", "cus_A", t0.Add(-6*time.Minute))
			h.clk.Set(t0)
			circleOutage(h, res.PersonID, t0)
			ev := h.evaluator()
			h.evaluate(ev)
			// Both see it: four failed syncs on Circle, and an event waiting six minutes.
			for _, rule := range []string{alert.RuleCircleFailures, alert.RuleConvergeP95} {
				if firing(ev, rule) == nil {
					t.Fatalf("during the outage %s does not fire", rule)
				}
			}
			h.slack.Take()
			h.hook.Take()
			h.smtp.Take()

			// Circle is back: the fifth attempt converges. The next pass resolves what fired.
			journal(h.t, h.st, store.JournalEntry{PersonID: res.PersonID, At: t0.Add(30 * time.Second), Kind: "sync", Action: "sync", Result: "converged", Duration: time.Second})
			h.clk.Set(t0.Add(time.Minute))
			h.evaluate(ev)
			for _, f := range ev.Firing(ctx) {
				t.Errorf("after the retry converged, %s still fires: %s", f.ID, f.Title)
			}
			states, err := h.st.AlertStates(ctx, false)
			if err != nil {
				t.Fatal(err)
			}
			resolved := 0
			for _, s := range states {
				if s.Firing || !s.ResolvedAt.Equal(t0.Add(time.Minute)) {
					t.Errorf("%s: %+v, want resolved at the pass after the recovery", s.ID, s)
				}
				resolved++
			}
			if resolved != 2 {
				t.Errorf("%d alerts resolved, want circle_failures and converge_p95", resolved)
			}
			if hook := h.hook.Take(); len(hook) != 2 {
				t.Errorf("%d resolved messages, want 2", len(hook))
			}
		})
	}
}

// TestStillFailingKeepsFiring: the same outage without a recovery keeps the alert firing, and a
// person who recovered beside one who did not leaves the alert to the one still failing.
func TestStillFailingKeepsFiring(t *testing.T) {
	h := newHarness(t, storetest.Dialects()[0])
	circleOutage(h, 1, t0)
	circleOutage(h, 2, t0)
	journal(h.t, h.st, store.JournalEntry{PersonID: 2, At: t0.Add(-10 * time.Second), Kind: "sync", Action: "sync", Result: "converged", Duration: time.Second})
	ev := h.evaluator()
	h.evaluate(ev)
	m := h.expect(alert.StatusFiring)
	if m.Rule != alert.RuleCircleFailures || m.Affected != 1 || m.Link != publicURL+"/admin/people/1" {
		t.Fatalf("firing: %+v, want circle_failures about person 1 alone", m)
	}
	h.clk.Set(t0.Add(5 * time.Minute))
	h.evaluate(ev)
	h.expect("")
	if f := firing(ev, alert.RuleCircleFailures); f == nil {
		t.Error("the alert resolved while person 1 still fails")
	}
}
