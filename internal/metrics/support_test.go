package metrics

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// supportGauges adds the week's support messages to the database stand-in.
type supportGauges struct {
	gauges
	week map[string]int
}

func (g supportGauges) SupportCounts(_ context.Context, from time.Time, weeks int) ([]map[string]int, error) {
	if weeks != 1 || time.Since(from) < 7*24*time.Hour-time.Minute {
		return []map[string]int{{}}, nil // not the last 7 days: exports zeros, which the test refuses
	}
	return []map[string]int{g.week}, nil
}

// TestSupportVolume exports the last 7 days' support messages by category (every category, 0 when
// none) and counts the messages this process triaged.
func TestSupportVolume(t *testing.T) {
	m := New(supportGauges{week: map[string]int{"access": 7, "billing": 2}}, nil, slog.New(slog.DiscardHandler))
	m.SupportMessage("access", "imap")
	m.SupportMessage("access", "imap")
	m.SupportMessage("refund", "helpscout")
	body := scrape(t, m)
	for _, want := range []string{
		`membersync_support_messages_week{category="access"} 7`,
		`membersync_support_messages_week{category="billing"} 2`,
		`membersync_support_messages_week{category="welcome_email"} 0`,
		`membersync_support_messages_total{category="access",source="imap"} 2`,
		`membersync_support_messages_total{category="refund",source="helpscout"} 1`,
	} {
		if !strings.Contains(body, want+"\n") {
			t.Errorf("scrape lacks %s", want)
		}
	}
	var none *Metrics
	none.SupportMessage("access", "imap") // a nil *Metrics records nothing
}
