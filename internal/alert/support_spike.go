package alert

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/membersync/membersync/internal/support"
)

// RuleSupportSpike fires while the support messages about access or billing of the last 7 days
// exceed the median of the four weeks before by the factor support.spike_factor (and number at
// least support.SpikeMinimum): a launch that broke checkout or Circle shows in the inbox first.
// It resolves when the week's count falls back under the threshold.
const RuleSupportSpike = "support_spike"

// supportSpike reports the categories whose week is a spike, as one alert.
func (e *Evaluator) supportSpike(ctx context.Context, now time.Time) ([]finding, error) {
	spikes, err := support.Spikes(ctx, e.Store, now, e.SupportSpikeFactor)
	if err != nil {
		return nil, err
	}
	if len(spikes) == 0 {
		return nil, nil
	}
	var parts, cats []string
	affected := 0
	for _, s := range spikes {
		word := strings.ReplaceAll(s.Category, "_", " ")
		cats = append(cats, word)
		parts = append(parts, fmt.Sprintf("%d %s messages in the last 7 days against a median of %.1f over the %d weeks before (alert above %.1f×)",
			s.ThisWeek, word, s.Median, s.Weeks, s.Factor))
		affected += s.ThisWeek
	}
	return []finding{{
		title: "Support messages about " + strings.Join(cats, " and ") + " spiked",
		detail: upperFirst(strings.Join(parts, "; ")) + ". Read the diagnoses on the Support page: when most name the same failing grant or " +
			"review item, fixing that one cause answers them all.",
		since:    now.Add(-7 * 24 * time.Hour),
		affected: affected,
		link:     e.link("/admin/support"),
	}}, nil
}
