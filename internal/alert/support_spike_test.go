package alert_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/membersync/membersync/internal/alert"
	"github.com/membersync/membersync/internal/store/storetest"
	"github.com/membersync/membersync/internal/support"
)

// The support_spike alert fires when this week's access messages exceed twice the median of the
// four weeks before, names the figures and links to the Support page, and resolves when the week
// quiets down.
func TestSupportSpike(t *testing.T) {
	t.Parallel()
	for _, d := range storetest.Dialects() {
		t.Run(d, func(t *testing.T) {
			h := newHarness(t, d)
			tr := &support.Triage{Store: h.st, Now: h.clk.Now}
			n := 0
			send := func(count int, body string, at time.Time) {
				for range count {
					n++
					if _, err := tr.Ingest(context.Background(), support.Message{Source: support.SourceWebhook,
						ExternalID: fmt.Sprint("m", n), From: "x@example.org", Body: body, ReceivedAt: at}); err != nil {
						t.Fatal(err)
					}
				}
			}
			week := 7 * 24 * time.Hour
			for i, c := range []int{3, 2, 4, 3} { // median 3
				send(c, "I can't log in", t0.Add(-time.Duration(5-i)*week+time.Hour))
			}
			send(6, "charged twice", t0.Add(-2*week)) // billing stays quiet this week
			send(7, "paid but cannot access", t0.Add(-time.Hour))

			ev := h.evaluator()
			ev.SupportSpikeFactor = 2
			h.clk.Set(t0)
			h.evaluate(ev)
			m := h.expect(alert.StatusFiring)
			if m.AlertID != alert.RuleSupportSpike || m.Affected != 7 || m.Link != publicURL+"/admin/support" {
				t.Errorf("firing %+v: want %s for 7 messages linking to the Support page", m, alert.RuleSupportSpike)
			}
			for _, want := range []string{"about access spiked", "7 access messages in the last 7 days against a median of 3.0", "2.0×"} {
				if !strings.Contains(m.Title+" "+m.Detail, want) {
					t.Errorf("message %q / %q lacks %q", m.Title, m.Detail, want)
				}
			}

			// Eight days on, the flood is out of the window.
			h.clk.Set(t0.Add(8 * 24 * time.Hour))
			h.evaluate(ev)
			if r := h.expect(alert.StatusResolved); r.AlertID != alert.RuleSupportSpike {
				t.Errorf("resolved %+v, want %s", r, alert.RuleSupportSpike)
			}

			// Factor 0 disables the rule.
			send(20, "no access", t0.Add(8*24*time.Hour-time.Hour))
			off := h.evaluator()
			h.evaluate(off)
			h.expect("")
		})
	}
}
