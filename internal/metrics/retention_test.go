package metrics

import (
	"log/slog"
	"strings"
	"testing"
)

// TestRetentionCounts exports what retention passes pruned, per kind, and reclaimed, summed.
func TestRetentionCounts(t *testing.T) {
	m := New(nil, nil, slog.New(slog.DiscardHandler))
	m.Retention(map[string]int64{"event_payloads": 500, "journal_calls": 20}, 4096)
	m.Retention(map[string]int64{"event_payloads": 7}, 0)
	body := scrape(t, m)
	for _, want := range []string{
		`membersync_retention_pruned_rows_total{kind="event_payloads"} 507`,
		`membersync_retention_pruned_rows_total{kind="journal_calls"} 20`,
		`membersync_retention_reclaimed_bytes_total 4096`,
	} {
		if !strings.Contains(body, want+"\n") {
			t.Errorf("scrape lacks %s", want)
		}
	}
}
