package uptime

import (
	"fmt"
	"strings"
	"time"

	"github.com/membersync/membersync/internal/config"
	"github.com/membersync/membersync/internal/store"
)

// Alert kinds of a target's state.
const (
	KindDown     = "down"
	KindFlapping = "flapping"
)

// Damping turns single probes into an alert state that pages once per problem:
//
//   - a target goes down after Failures probes in a row fail, and comes back up after Recoveries
//     probes in a row succeed;
//   - a target whose outcome changed FlapChanges times or more within its last FlapWindow probes
//     is flapping: it alerts once (even if it never failed Failures times in a row), and a firing
//     alert resolves only once the target is up Recoveries times in a row and steady again: at
//     most FlapChanges-2 changes in the window (and at least 2, one outage and its recovery, so a
//     single outage is never held).
//
// So a page that fails every other minute pages once, not every few minutes, and stays firing
// until it has been steady for a while.
type Damping struct {
	Failures, Recoveries    int
	FlapWindow, FlapChanges int
}

func (d Damping) withDefaults() Damping {
	if d.Failures <= 0 {
		d.Failures = config.DefaultUptimeFailuresBeforeAlert
	}
	if d.Recoveries <= 0 {
		d.Recoveries = config.DefaultUptimeRecoveries
	}
	if d.FlapWindow <= 0 {
		d.FlapWindow = config.DefaultUptimeFlapWindow
	}
	if d.FlapChanges <= 0 {
		d.FlapChanges = config.DefaultUptimeFlapChanges
	}
	return d
}

// Changes counts the changes between up and down in a history ("uudu" has 2).
func Changes(history string) int {
	n := 0
	for i := 1; i < len(history); i++ {
		if history[i] != history[i-1] {
			n++
		}
	}
	return n
}

// Next returns the target's state after the probe r, given its state before (the zero state
// before the first probe). It is pure: the clock is r.At.
func (d Damping) Next(prev store.UptimeState, t config.UptimeTarget, r store.UptimeResult) store.UptimeState {
	d = d.withDefaults()
	s := prev
	s.Target, s.URL = t.Name, t.URL
	s.LastAt, s.OK, s.Status, s.Latency, s.TLSDays, s.Reason = r.At, r.OK, r.Status, r.Latency, r.TLSDays, r.Reason
	s.TLSDaysWarn = t.TLSDaysWarn
	if s.TLSDaysWarn == 0 {
		s.TLSDaysWarn = config.DefaultUptimeTLSDaysWarn
	}
	mark := byte('d')
	if r.OK {
		mark = 'u'
		s.OKStreak, s.FailStreak = prev.OKStreak+1, 0
	} else {
		s.FailStreak, s.OKStreak = prev.FailStreak+1, 0
	}
	if h := prev.History; h == "" || h[len(h)-1] != mark {
		s.ChangedAt = r.At
	}
	s.History = prev.History + string(mark)
	if len(s.History) > d.FlapWindow {
		s.History = s.History[len(s.History)-d.FlapWindow:]
	}
	changes := Changes(s.History)
	flapping := changes >= d.FlapChanges
	// steady is the hysteresis: a target starts flapping at FlapChanges changes and stops at two
	// fewer, or at two (one outage and its recovery, which must never hold an alert).
	steady := changes <= max(d.FlapChanges-2, 2)
	switch {
	case !prev.Alerting && s.FailStreak >= d.Failures:
		s.Alerting, s.AlertKind, s.AlertSince = true, KindDown, s.ChangedAt
		s.AlertReason = r.Reason
	case !prev.Alerting && flapping:
		s.Alerting, s.AlertKind, s.AlertSince = true, KindFlapping, r.At
		s.AlertReason = flapReason(s.History, changes, lastReason(prev, r))
	case prev.Alerting && s.OKStreak >= d.Recoveries && steady:
		s.Alerting, s.AlertKind, s.AlertSince, s.AlertReason = false, "", time.Time{}, ""
	case prev.Alerting:
		switch {
		case s.FailStreak >= d.Failures:
			s.AlertKind, s.AlertReason = KindDown, r.Reason
		case s.AlertKind == KindFlapping || s.OKStreak >= d.Recoveries:
			// Up again, but not steady yet: held as flapping.
			s.AlertKind, s.AlertReason = KindFlapping, flapReason(s.History, changes, lastReason(prev, r))
		case !r.OK:
			s.AlertReason = r.Reason
		}
	}
	return s
}

// lastReason is the latest failure's reason: this probe's, or the one before.
func lastReason(prev store.UptimeState, r store.UptimeResult) string {
	if !r.OK {
		return r.Reason
	}
	if !prev.OK {
		return prev.Reason
	}
	return prev.AlertReason
}

func flapReason(history string, changes int, last string) string {
	down := strings.Count(history, "d")
	s := fmt.Sprintf("it changed between up and down %d times in its last %d probes (%d failed)", changes, len(history), down)
	if last != "" && !strings.HasPrefix(last, "it changed between") {
		s += "; the last failure: " + last
	}
	return s
}
