package alert_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/membersync/membersync/internal/alert"
	"github.com/membersync/membersync/internal/config"
	"github.com/membersync/membersync/internal/store"
	"github.com/membersync/membersync/internal/store/storetest"
)

func TestProjectMonth(t *testing.T) {
	march := func(day, hour int) time.Time { return time.Date(2026, 3, day, hour, 0, 0, 0, time.UTC) }
	tests := []struct {
		name string
		now  time.Time
		used int64
		want int64
	}{
		{"first hour: too early", march(1, 1), 100, -1},
		{"just under 1 % (7.44 h of 744)", march(1, 7), 100, -1},
		{"day 2, 10:00 (34 h of 744)", march(2, 10), 40, 875},
		{"mid-month", march(16, 12), 2500, 5000},
		{"last hour", march(31, 23), 4000, 4005},
		{"nothing used", march(10, 0), 0, 0},
		{"other time zone, same instant", march(2, 10).In(time.FixedZone("UTC-8", -8*3600)), 40, 875},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := alert.ProjectMonth(tt.used, alert.MonthElapsed(tt.now)); got != tt.want {
				t.Errorf("ProjectMonth(%d at %s): got %d, want %d", tt.used, tt.now, got, tt.want)
			}
		})
	}
}

func TestCircleQuotaSummary(t *testing.T) {
	tests := []struct {
		q    alert.CircleQuota
		want string
	}{
		{alert.CircleQuota{Used: 2050, Limit: 5000, Projected: 4100}, "Circle API: 2,050 of 5,000 requests this month (41 %), projected month-end 4,100"},
		{alert.CircleQuota{Used: 12, Limit: 5000, Projected: -1}, "Circle API: 12 of 5,000 requests this month (0.2 %), too early to project"},
		{alert.CircleQuota{Used: 1234567, Limit: 250000, Projected: 2000000}, "Circle API: 1,234,567 of 250,000 requests this month (494 %), projected month-end 2,000,000"},
		{alert.CircleQuota{Used: 7, Projected: 30}, "Circle API: 7 requests this month (no quota configured: circle.monthly_quota), projected month-end 30"},
	}
	for _, tt := range tests {
		if got := tt.q.Summary(); got != tt.want {
			t.Errorf("got %q, want %q", got, tt.want)
		}
	}
}

// TestCircleQuotaAlert: the projected (or actual) use of Circle's monthly quota reaching the
// threshold fires once; it resolves only when the projection falls a margin below the threshold,
// so that a pace right at the threshold does not fire and resolve by turns.
func TestCircleQuotaAlert(t *testing.T) {
	for _, dialect := range storetest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			ctx := context.Background()
			h := newHarness(t, dialect)
			use := func(n int64) {
				t.Helper()
				// Two credentials (a token rotated this month): their requests add up.
				for _, key := range []string{"circle:aaaa1111", "circle:bbbb2222"} {
					if err := h.st.AddBudgetUsage(ctx, key, store.Month(h.clk.Now()), n/2); err != nil {
						t.Fatal(err)
					}
				}
			}
			ev := h.evaluator()
			ev.CircleMonthlyQuota = 1000
			h.evaluate(ev)
			h.expect("")

			// Kit's requests are not Circle's.
			if err := h.st.AddBudgetUsage(ctx, "kit:cccc3333", store.Month(h.clk.Now()), 5000); err != nil {
				t.Fatal(err)
			}
			// 2 March 10:00 UTC, 34 of 744 hours into the month: 40 requests project 875.
			use(40)
			h.evaluate(ev)
			m := h.expect(alert.StatusFiring)
			if m.AlertID != alert.RuleCircleQuota || m.Title != "Circle API quota: 875 of 1,000 requests projected this month (88 %)" {
				t.Errorf("firing: %s %q", m.AlertID, m.Title)
			}
			for _, w := range []string{"40 Circle Admin API requests in March 2026", "about 875 by the month's end", "fires at 80 %",
				"reconcile.max_quota_share", "circle.monthly_quota to match", "Circle plan with a larger quota"} {
				if !strings.Contains(m.Detail, w) {
					t.Errorf("detail lacks %q: %s", w, m.Detail)
				}
			}
			if m.Link != publicURL+"/admin" {
				t.Errorf("link %s", m.Link)
			}
			h.clk.Advance(time.Minute)
			h.evaluate(ev)
			h.expect("") // once

			// 4 h 40 min later the projection is 770: under 80 % but within the margin, still firing.
			h.clk.Advance(4*time.Hour + 39*time.Minute)
			h.evaluate(ev)
			if m := h.expect(alert.StatusRepeat); !strings.Contains(m.Title, "770 of 1,000") {
				t.Errorf("repeat: %q", m.Title)
			}
			// At 16:00 it is 744 (74 %): resolved.
			h.clk.Set(time.Date(2026, 3, 2, 16, 0, 0, 0, time.UTC))
			h.evaluate(ev)
			h.expect(alert.StatusResolved)
			// Within the margin again, but not firing: it stays quiet until the threshold.
			use(2) // 42 requests project 781
			h.evaluate(ev)
			h.expect("")
			use(2) // 44 project 818
			h.evaluate(ev)
			h.expect(alert.StatusFiring)

			// A disabled rule, or no quota, resolves quietly and checks nothing.
			off := h.evaluator()
			off.CircleMonthlyQuota = 0
			h.clk.Advance(time.Minute)
			h.evaluate(off)
			h.expect("")
			if f := off.Firing(ctx); len(f) != 0 {
				t.Errorf("still firing without a quota: %+v", f)
			}
		})
	}
}

// TestCircleQuotaAlertOnUseBeforeProjecting: in the first hours of the month nothing is projected,
// but the use itself reaching the threshold fires.
func TestCircleQuotaAlertOnUseBeforeProjecting(t *testing.T) {
	h := newHarness(t, storetest.Dialects()[0])
	h.clk.Set(time.Date(2026, 4, 1, 3, 0, 0, 0, time.UTC))
	h.cfg.CircleQuota = config.CircleQuotaRule{Threshold: 0.5}
	ev := h.evaluator()
	ev.CircleMonthlyQuota = 5000
	if err := h.st.AddBudgetUsage(context.Background(), "circle:aaaa1111", "2026-04", 2400); err != nil {
		t.Fatal(err)
	}
	h.evaluate(ev)
	h.expect("") // 48 % used, too early to project
	if err := h.st.AddBudgetUsage(context.Background(), "circle:aaaa1111", "2026-04", 100); err != nil {
		t.Fatal(err)
	}
	h.evaluate(ev)
	m := h.expect(alert.StatusFiring)
	if m.Title != "Circle API quota: 2,500 of 5,000 requests used this month (50 %)" || strings.Contains(m.Detail, "pace") ||
		!strings.Contains(m.Detail, "fires at 50 %") {
		t.Errorf("firing: %q %s", m.Title, m.Detail)
	}
	// Last month's requests do not count in the new month.
	h.clk.Set(time.Date(2026, 5, 1, 3, 0, 0, 0, time.UTC))
	h.evaluate(ev)
	h.expect(alert.StatusResolved)
}
