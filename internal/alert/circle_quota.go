package alert

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/membersync/membersync/internal/config"
	"github.com/membersync/membersync/internal/store"
)

// RuleCircleQuota fires while Circle's monthly request quota is used, or projected to be used by
// the month's end, to the configured share (alerts.circle_quota.threshold) or beyond.
const RuleCircleQuota = "circle_quota"

// circleQuotaKeys is the prefix of the Circle credentials' budget keys ("circle:<fingerprint>").
const circleQuotaKeys = "circle:"

// MinProjectShare is the share of the month that must have passed before the month-end use is
// projected (about 7 hours): earlier, a few calls would project a large figure.
const MinProjectShare = 0.01

// circleQuotaMargin is how far (a share of the quota) below the threshold both the use and the
// projection must fall before a firing circle_quota alert resolves: the projection rises with each
// call and falls as time passes, so a pace right at the threshold would fire and resolve by turns.
const circleQuotaMargin = 0.05

// CircleQuota is this month's use of Circle's monthly request quota, as the admin overview shows it
// and the circle_quota rule judges it.
type CircleQuota struct {
	// Month is the UTC month counted, such as "2026-03".
	Month string
	// Used is the Circle requests made this month, counted across every instance and credential
	// (on SQLite the count reaches the database once a minute).
	Used int64
	// Limit is the plan's quota (circle.monthly_quota); 0 when none is configured.
	Limit int
	// Elapsed is the share of the month passed, from 0 to 1.
	Elapsed float64
	// Projected is the use at the end of the month at this month's pace so far (linear); -1 while
	// it is too early to project (before MinProjectShare of the month).
	Projected int64
}

// ReadCircleQuota reads this month's Circle requests from the store at now. limit is the plan's
// quota (circle.monthly_quota).
func ReadCircleQuota(ctx context.Context, st *store.Store, limit int, now time.Time) (CircleQuota, error) {
	q := CircleQuota{Month: store.Month(now), Limit: limit}
	used, err := st.BudgetUsage(ctx, circleQuotaKeys, q.Month)
	if err != nil {
		return q, err
	}
	q.Used = used
	q.Elapsed = MonthElapsed(now)
	q.Projected = ProjectMonth(used, q.Elapsed)
	return q, nil
}

// MonthElapsed returns the share of now's UTC month that has passed, from 0 to 1.
func MonthElapsed(now time.Time) float64 {
	now = now.UTC()
	start := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
	end := start.AddDate(0, 1, 0)
	return float64(now.Sub(start)) / float64(end.Sub(start))
}

// ProjectMonth returns the month-end use at the pace of used over the elapsed share of the month
// (linear), never less than used; -1 before MinProjectShare of the month.
func ProjectMonth(used int64, elapsed float64) int64 {
	if elapsed < MinProjectShare {
		return -1
	}
	return max(int64(math.Round(float64(used)/min(elapsed, 1))), used)
}

// Percent is the share of the quota used, in percent; 0 without a quota.
func (q CircleQuota) Percent() float64 { return percentOf(q.Used, q.Limit) }

// ProjectedPercent is the projected month-end use in percent of the quota; -1 while too early to
// project or without a quota.
func (q CircleQuota) ProjectedPercent() float64 {
	if q.Projected < 0 || q.Limit <= 0 {
		return -1
	}
	return percentOf(q.Projected, q.Limit)
}

// Reaches reports whether the use, or the projection, reaches share of the quota.
func (q CircleQuota) Reaches(share float64) bool {
	if q.Limit <= 0 {
		return false
	}
	at := share * float64(q.Limit)
	return float64(q.Used) >= at || (q.Projected >= 0 && float64(q.Projected) >= at)
}

// Summary says the figures in one line: "Circle API: 2,050 of 5,000 requests this month (41 %),
// projected month-end 4,100".
func (q CircleQuota) Summary() string {
	s := "Circle API: " + thousands(q.Used)
	if q.Limit > 0 {
		s += fmt.Sprintf(" of %s requests this month (%s %%)", thousands(int64(q.Limit)), pct(q.Percent()))
	} else {
		s += " requests this month (no quota configured: circle.monthly_quota)"
	}
	if q.Projected < 0 {
		return s + ", too early to project"
	}
	return s + ", projected month-end " + thousands(q.Projected)
}

func percentOf(n int64, limit int) float64 {
	if limit <= 0 {
		return 0
	}
	return 100 * float64(n) / float64(limit)
}

// pct formats a percentage with one decimal under 10 and none above.
func pct(p float64) string {
	if p < 10 {
		return fmt.Sprintf("%.1f", p)
	}
	return fmt.Sprintf("%.0f", p)
}

// thousands formats n with commas: 12,345.
func thousands(n int64) string {
	s := fmt.Sprint(n)
	if n < 0 {
		return s
	}
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// circleQuota fires while the month's Circle requests, or their projection to the month's end,
// reach the threshold share of the quota; once firing, it resolves only when both fall
// circleQuotaMargin below it.
func (e *Evaluator) circleQuota(ctx context.Context, now time.Time) ([]finding, error) {
	threshold := e.Config.CircleQuota.Threshold
	if !(threshold > 0 && threshold <= 1) {
		threshold = config.DefaultCircleQuotaThreshold
	}
	q, err := ReadCircleQuota(ctx, e.Store, e.CircleMonthlyQuota, now)
	if err != nil {
		return nil, err
	}
	if !q.Reaches(threshold) {
		if !q.Reaches(max(threshold-circleQuotaMargin, 0)) {
			return nil, nil
		}
		firing, err := e.firing(ctx, RuleCircleQuota)
		if err != nil || !firing {
			return nil, err
		}
	}
	title := fmt.Sprintf("Circle API quota: %s of %s requests used this month (%s %%)", thousands(q.Used), thousands(int64(q.Limit)), pct(q.Percent()))
	detail := fmt.Sprintf("membersync made %s Circle Admin API requests in %s (UTC) so far, %s %% of the plan's monthly quota of %s (circle.monthly_quota)",
		thousands(q.Used), monthName(now), pct(q.Percent()), thousands(int64(q.Limit)))
	if q.Projected >= 0 {
		title = fmt.Sprintf("Circle API quota: %s of %s requests projected this month (%s %%)", thousands(q.Projected), thousands(int64(q.Limit)), pct(q.ProjectedPercent()))
		detail += fmt.Sprintf("; at this month's pace it will make about %s by the month's end, %s %%", thousands(q.Projected), pct(q.ProjectedPercent()))
	}
	detail += fmt.Sprintf(" (the alert fires at %s %%). Circle does not document what happens past the quota: expect its calls to be refused, and access changes to wait, until the next month. "+
		"To spend less, lower the share the drift sweep may use (reconcile.max_quota_share, default 20 %%) or sweep less often (reconcile.interval), and look on the overview for failing syncs that retry; "+
		"a burst such as a launch or a backfill inflates the projection early in the month. If the use is what it must be, move to a Circle plan with a larger quota (Enterprise and Circle Plus: 30,000 a month) and set circle.monthly_quota to match.",
		pct(100*threshold))
	return []finding{{title: title, detail: detail, affected: -1, link: e.link(pageOverview)}}, nil
}

// firing reports whether the alert id is firing now.
func (e *Evaluator) firing(ctx context.Context, id string) (bool, error) {
	states, err := e.Store.AlertStates(ctx, true)
	if err != nil {
		return false, err
	}
	for _, s := range states {
		if s.ID == id {
			return true, nil
		}
	}
	return false, nil
}

// monthName names now's UTC month: "March 2026".
func monthName(now time.Time) string { return now.UTC().Format("January 2006") }
