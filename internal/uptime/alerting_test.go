package uptime

import (
	"testing"
	"time"

	"github.com/membersync/membersync/internal/config"
	"github.com/membersync/membersync/internal/store"
)

// play runs the outcomes ('u' up, 'd' down), one a minute, through d and counts the transitions
// into alerting (pages) and out of it (resolutions).
func play(d Damping, outcomes string) (fired, resolved int, last store.UptimeState) {
	t := config.UptimeTarget{Name: "home", URL: "https://example.com/"}
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	var s store.UptimeState
	for i, o := range outcomes {
		r := store.UptimeResult{Target: "home", At: at.Add(time.Duration(i) * time.Minute), OK: o == 'u', TLSDays: -1}
		if !r.OK {
			r.Reason = "answered 503 Service Unavailable, expected 200"
		}
		next := d.Next(s, t, r)
		switch {
		case next.Alerting && !s.Alerting:
			fired++
		case !next.Alerting && s.Alerting:
			resolved++
		}
		s = next
	}
	return fired, resolved, s
}

func TestDamping(t *testing.T) {
	def := Damping{} // the defaults: 3 failures, 2 recoveries, 4 changes within 10 probes
	for _, tc := range []struct {
		name            string
		d               Damping
		outcomes        string
		fired, resolved int
		alerting        bool
		kind            string
	}{
		{"always up", def, "uuuuuuuuuu", 0, 0, false, ""},
		{"one blip", def, "uuuduuuuuu", 0, 0, false, ""},
		{"two failures are not three", def, "uuudduuuuu", 0, 0, false, ""},
		{"down three intervals fires once, recovers once", def, "uuuudddduuuuu", 1, 1, false, ""},
		{"still down", def, "uuudddddd", 1, 0, true, KindDown},
		{"one success is not a recovery", def, "uuuddddu", 1, 0, true, KindDown},
		{"flapping 10 intervals pages at most once", def, "udududududu", 1, 0, true, KindFlapping},
		{"flapping then steady resolves once", def, "ududududud" + "uuuuuuuuuu", 1, 1, false, ""},
		{"down, recovered, down again: two pages", def, "uuddduuddd", 2, 1, true, KindDown},
		{"a third outage soon after is held as flapping", def, "uudddu" + "uddd" + "uu" + "ddd" + "uu", 2, 1, true, KindFlapping},
		{"failures_before_alert 1", Damping{Failures: 1}, "uudu", 1, 0, true, KindDown},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fired, resolved, s := play(tc.d, tc.outcomes)
			if fired != tc.fired || resolved != tc.resolved {
				t.Errorf("%s: fired %d, resolved %d; want %d and %d", tc.outcomes, fired, resolved, tc.fired, tc.resolved)
			}
			if s.Alerting != tc.alerting || s.AlertKind != tc.kind {
				t.Errorf("%s: alerting %v (%q); want %v (%q)", tc.outcomes, s.Alerting, s.AlertKind, tc.alerting, tc.kind)
			}
		})
	}
}

func TestDampingState(t *testing.T) {
	_, _, s := play(Damping{}, "uuuuddd")
	if s.FailStreak != 3 || s.OKStreak != 0 || s.History != "uuuuddd" {
		t.Errorf("streaks %d/%d history %q", s.FailStreak, s.OKStreak, s.History)
	}
	start := time.Date(2026, 3, 1, 12, 4, 0, 0, time.UTC) // the first failure of the streak
	if !s.AlertSince.Equal(start) || !s.ChangedAt.Equal(start) {
		t.Errorf("alert since %v, changed at %v; want %v", s.AlertSince, s.ChangedAt, start)
	}
	if s.AlertReason != "answered 503 Service Unavailable, expected 200" {
		t.Errorf("reason %q", s.AlertReason)
	}
	_, _, s = play(Damping{FlapWindow: 5}, "uuuuuuuuuuuu")
	if s.History != "uuuuu" {
		t.Errorf("history %q, want the last 5", s.History)
	}
}

func TestChanges(t *testing.T) {
	for in, want := range map[string]int{"": 0, "u": 0, "uu": 0, "ud": 1, "udu": 2, "uuddu": 2, "ududud": 5} {
		if got := Changes(in); got != want {
			t.Errorf("Changes(%q) = %d, want %d", in, got, want)
		}
	}
}
