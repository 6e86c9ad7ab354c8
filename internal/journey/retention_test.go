package journey_test

import (
	"strings"
	"testing"
	"time"

	"github.com/membersync/membersync/internal/journey"
	"github.com/membersync/membersync/internal/store"
)

// TestCausedAfterRetention: once retention pruned a sync's provider calls, what the event caused
// says that what the sync changed is no longer known, not that it had nothing to change.
func TestCausedAfterRetention(t *testing.T) {
	t.Parallel()
	const keep = 180 * 24 * time.Hour
	for _, tc := range []struct {
		name   string
		pruned store.PruneHorizon
		want   string
	}{
		{"calls never pruned", store.PruneHorizon{}, "nothing to change, Circle and Kit already matched"},
		{"calls pruned after the sync", store.PruneHorizon{Horizon: at("2s"), Keep: keep},
			"it converged; what it changed is no longer known (provider calls are pruned after 180 days, see retention)"},
		{"calls pruned before the sync", store.PruneHorizon{Horizon: at("-1h"), Keep: keep}, "nothing to change, Circle and Kit already matched"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// What is left of paidPro once its calls are pruned: the event and the sync's end.
			h := newHistory().event("invoice.paid", t0).sync(at("1500ms"), 1400*time.Millisecond, "event", "converged")
			h.f.CallsPruned = tc.pruned
			eff := journey.Caused(h.f.Events[0], h.f, testNames{})
			var lines []string
			for _, l := range eff.Lines {
				lines = append(lines, l.Text)
			}
			if got := strings.Join(lines, "\n"); !strings.Contains(got, tc.want) {
				t.Errorf("Caused says:\n%s\nwant it to contain %q", got, tc.want)
			}
		})
	}
}
