package admin

import (
	"context"
	"math"
	"strconv"
	"time"

	"github.com/membersync/membersync/internal/alert"
	"github.com/membersync/membersync/internal/config"
)

// circleQuotaNote is this month's use of Circle's monthly request quota, on the overview.
type circleQuotaNote struct {
	alert.CircleQuota
	// Threshold is the share of the quota, used or projected, that fires the circle_quota alert.
	Threshold float64
	// Warn: the use or the projection reaches the threshold; Over: the use reached the quota.
	Warn, Over bool
}

// Value is the tile's figure: the share of the quota used, or the requests without a quota.
func (n *circleQuotaNote) Value() string {
	if n.Limit <= 0 {
		return strconv.FormatInt(n.Used, 10)
	}
	return strconv.FormatFloat(math.Round(n.Percent()), 'f', 0, 64) + " %"
}

// ThresholdPercent is the alert's threshold in percent.
func (n *circleQuotaNote) ThresholdPercent() string {
	return strconv.FormatFloat(math.Round(100*n.Threshold), 'f', 0, 64) + " %"
}

// loadCircleQuota reads this month's Circle requests, counted across instances; nil when they
// cannot be read.
func (h *Handler) loadCircleQuota(ctx context.Context, now time.Time) *circleQuotaNote {
	q, err := alert.ReadCircleQuota(ctx, h.st, h.cfg.Circle.MonthlyQuota, now)
	if err != nil {
		h.log.Warn("overview: reading Circle's monthly requests", "err", err)
		return nil
	}
	n := &circleQuotaNote{CircleQuota: q, Threshold: h.cfg.Alerts.CircleQuota.Threshold}
	if !(n.Threshold > 0 && n.Threshold <= 1) {
		n.Threshold = config.DefaultCircleQuotaThreshold
	}
	n.Warn = q.Reaches(n.Threshold)
	n.Over = q.Limit > 0 && q.Used >= int64(q.Limit)
	return n
}

// circleQuotaJSON is the overview API's "circle_quota".
type circleQuotaJSON struct {
	Month   string  `json:"month"`
	Used    int64   `json:"used"`
	Limit   int     `json:"limit"`   // 0: no quota configured (circle.monthly_quota)
	Percent float64 `json:"percent"` // of the quota used, one decimal
	// MonthElapsed is the share of the UTC month passed, from 0 to 1.
	MonthElapsed float64 `json:"month_elapsed"`
	// ProjectedMonthEnd is the linear projection of the use to the month's end; null before 1 % of
	// the month has passed.
	ProjectedMonthEnd *int64   `json:"projected_month_end"`
	ProjectedPercent  *float64 `json:"projected_percent"`
	// AlertThreshold is the share of the quota, used or projected, that fires circle_quota.
	AlertThreshold float64 `json:"alert_threshold"`
	Warn           bool    `json:"warn"`
	Summary        string  `json:"summary"`
}

func (n *circleQuotaNote) json() *circleQuotaJSON {
	if n == nil {
		return nil
	}
	round := func(f float64, places float64) float64 { p := math.Pow(10, places); return math.Round(f*p) / p }
	out := &circleQuotaJSON{Month: n.Month, Used: n.Used, Limit: n.Limit, Percent: round(n.Percent(), 1),
		MonthElapsed: round(n.Elapsed, 4), AlertThreshold: n.Threshold, Warn: n.Warn, Summary: n.Summary()}
	if n.Projected >= 0 {
		p := n.Projected
		out.ProjectedMonthEnd = &p
		if pp := n.ProjectedPercent(); pp >= 0 {
			pp = round(pp, 1)
			out.ProjectedPercent = &pp
		}
	}
	return out
}
