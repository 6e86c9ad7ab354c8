package metrics

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// gauges is a database stand-in: fixed figures, and Circle's requests by month.
type gauges struct{ circle map[string]int64 }

func (gauges) QueueStats(context.Context) (int, time.Duration, error) { return 0, 0, nil }
func (gauges) OpenReviewCount(context.Context) (int, error)           { return 0, nil }
func (gauges) ProviderCallsSince(context.Context, time.Time) (map[string]int, error) {
	return map[string]int{}, nil
}
func (gauges) ReviewShare(context.Context, time.Time) (int, int, error) { return 0, 0, nil }
func (g gauges) BudgetUsage(_ context.Context, prefix, month string) (int64, error) {
	if prefix != "circle:" {
		return 0, nil
	}
	return g.circle[month], nil
}

func scrape(t *testing.T, m *Metrics) string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	return rec.Body.String()
}

// TestCircleQuotaGauges exports this month's Circle requests and, once set, the quota.
func TestCircleQuotaGauges(t *testing.T) {
	month := time.Now().UTC().Format("2006-01")
	m := New(gauges{circle: map[string]int64{month: 1234, "2000-01": 99}}, nil, slog.New(slog.DiscardHandler))
	body := scrape(t, m)
	if !strings.Contains(body, "\nmembersync_circle_quota_used 1234\n") {
		t.Errorf("scrape lacks membersync_circle_quota_used 1234:\n%s", body)
	}
	if strings.Contains(body, "membersync_circle_quota_limit ") {
		t.Errorf("quota exported before it was set")
	}
	m.SetCircleQuota(5000)
	if body := scrape(t, m); !strings.Contains(body, "\nmembersync_circle_quota_limit 5000\n") {
		t.Errorf("scrape lacks membersync_circle_quota_limit 5000:\n%s", body)
	}
	var none *Metrics
	none.SetCircleQuota(1) // a nil *Metrics records nothing
}
