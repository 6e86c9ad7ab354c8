package admin

import (
	"context"
	"encoding/json"
	"html"
	"strings"
	"testing"
	"time"

	"github.com/membersync/membersync/internal/store"
	"github.com/membersync/membersync/internal/store/storetest"
)

// TestOverviewShowsCircleQuota: the overview and its API show this month's Circle requests,
// counted across instances and credentials, against the plan's quota with a linear projection to
// the month's end, and name it a concern once it reaches the alert's threshold.
func TestOverviewShowsCircleQuota(t *testing.T) {
	for _, dialect := range storetest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			f := newFixture(t, dialect)
			f.h.cfg.Circle.MonthlyQuota = 5000
			c := f.login(RoleViewer)
			quota := func() (page string, q circleQuotaJSON, concerns []string) {
				t.Helper()
				_, page = c.get("/admin")
				_, body := c.get("/api/v1/overview")
				var out struct {
					CircleQuota *circleQuotaJSON `json:"circle_quota"`
					Concerns    []string         `json:"concerns"`
				}
				if err := json.Unmarshal([]byte(body), &out); err != nil || out.CircleQuota == nil {
					t.Fatalf("overview JSON without circle_quota (%v): %s", err, body)
				}
				return html.UnescapeString(page), *out.CircleQuota, out.Concerns
			}

			// 1 March 12:00 UTC: 12 of 744 hours into the month.
			page, q, _ := quota()
			if want := "Circle API: 0 of 5,000 requests this month (0.0 %), projected month-end 0 · alert at 80 %"; !strings.Contains(page, want) {
				t.Errorf("overview lacks %q", want)
			}
			if q.Used != 0 || q.Limit != 5000 || q.Month != "2025-03" || q.ProjectedMonthEnd == nil || *q.ProjectedMonthEnd != 0 || q.Warn {
				t.Errorf("circle_quota: %+v", q)
			}

			ctx := context.Background()
			for key, n := range map[string]int64{"circle:aaaa1111": 60, "circle:bbbb2222": 40, "kit:cccc3333": 900} {
				if err := f.st.AddBudgetUsage(ctx, key, store.Month(f.clock.Now()), n); err != nil {
					t.Fatal(err)
				}
			}
			page, q, concerns := quota()
			want := "Circle API: 100 of 5,000 requests this month (2.0 %), projected month-end 6,200"
			if !strings.Contains(page, want) || !strings.Contains(page, `class="tile warn" id="circle-quota"`) {
				t.Errorf("overview lacks %q in a warning tile", want)
			}
			if q.Used != 100 || q.Percent != 2 || q.ProjectedMonthEnd == nil || *q.ProjectedMonthEnd != 6200 ||
				q.ProjectedPercent == nil || *q.ProjectedPercent != 124 || !q.Warn || q.AlertThreshold != 0.8 || q.Summary != want {
				t.Errorf("circle_quota: %+v", q)
			}
			if len(concerns) == 0 || !strings.Contains(strings.Join(concerns, "\n"), want+": at or past the alert threshold of 80 %") {
				t.Errorf("concerns lack the quota: %q", concerns)
			}

			// A new month starts from nothing, and is too young to project.
			f.clock.Set(time.Date(2025, 4, 1, 2, 0, 0, 0, time.UTC))
			c = f.login(RoleViewer) // the session has expired meanwhile
			page, q, _ = quota()
			if want := "Circle API: 0 of 5,000 requests this month (0.0 %), too early to project"; !strings.Contains(page, want) {
				t.Errorf("overview lacks %q", want)
			}
			if q.Month != "2025-04" || q.Used != 0 || q.ProjectedMonthEnd != nil || q.ProjectedPercent != nil {
				t.Errorf("circle_quota in April: %+v", q)
			}
		})
	}
}
