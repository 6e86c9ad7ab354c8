package support

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/membersync/membersync/internal/store"
)

// This file holds the weekly volume: counts per category per ISO week (the overview's chart), the
// last 7 days against the trailing four weeks (the support_spike alert and /metrics), and the
// seed's acceptance check: access-related messages this week against the baseline week, with the
// 70 % reduction target.
//
// "This week" is the last 7 days, not the ISO week under way: on a Monday the ISO week holds a
// few hours and would show a reduction that is not there. The chart, which shows history, uses
// ISO weeks (Monday 00:00 UTC).

// Week is one week's message counts by category.
type Week struct {
	Start  time.Time      `json:"start"` // Monday 00:00 UTC for an ISO week
	Label  string         `json:"label"` // "2026-W49"
	Counts map[string]int `json:"counts"`
	// Partial is true for the week under way.
	Partial bool `json:"partial,omitempty"`
}

// Total is every message of the week.
func (w Week) Total() int {
	n := 0
	for _, c := range w.Counts {
		n += c
	}
	return n
}

// AccessRelated is the week's access and welcome-email messages.
func (w Week) AccessRelated() int { return w.Counts[CategoryAccess] + w.Counts[CategoryWelcomeEmail] }

// WeekStart returns the Monday 00:00 UTC starting t's ISO week.
func WeekStart(t time.Time) time.Time {
	t = t.UTC()
	d := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
	off := (int(d.Weekday()) + 6) % 7 // Monday 0 … Sunday 6
	return d.AddDate(0, 0, -off)
}

// weekLabel is the ISO week of start, "2026-W49".
func weekLabel(start time.Time) string {
	y, w := start.ISOWeek()
	return fmt.Sprintf("%d-W%02d", y, w)
}

// Weekly returns the counts of the n ISO weeks up to and including now's, oldest first.
func Weekly(ctx context.Context, st *store.Store, now time.Time, n int) ([]Week, error) {
	from := WeekStart(now).AddDate(0, 0, -7*(n-1))
	counts, err := st.SupportCounts(ctx, from, n)
	if err != nil {
		return nil, err
	}
	out := make([]Week, n)
	for i := range out {
		start := from.AddDate(0, 0, 7*i)
		out[i] = Week{Start: start, Label: weekLabel(start), Counts: counts[i], Partial: i == n-1}
	}
	return out, nil
}

// recentWindows returns the counts of the last 5 seven-day windows, the last ending at now
// (inclusive), oldest first: four trailing weeks, then this week.
func recentWindows(ctx context.Context, st *store.Store, now time.Time) ([]map[string]int, time.Time, error) {
	from := now.Add(-5*7*24*time.Hour + time.Microsecond) // windows end at now, inclusive
	counts, err := st.SupportCounts(ctx, from, 5)
	return counts, from, err
}

// ThisWeek returns the last 7 days' counts by category (every category present, 0 when none).
func ThisWeek(ctx context.Context, st *store.Store, now time.Time) (map[string]int, error) {
	counts, err := st.SupportCounts(ctx, now.Add(-7*24*time.Hour+time.Microsecond), 1) // (now − 7 days, now]
	if err != nil {
		return nil, err
	}
	out := map[string]int{}
	for _, c := range Categories {
		out[c] = counts[0][c]
	}
	return out, nil
}

// DefaultSpikeFactor is support.spike_factor when the config gives none.
const DefaultSpikeFactor = 2.0

// SpikeMinimum is the fewest messages of a category in a week that can be a spike: two messages
// after a quiet month are twice nothing, not a fire.
const SpikeMinimum = 5

// SpikeCategories are the categories the support_spike alert watches.
var SpikeCategories = []string{CategoryAccess, CategoryBilling}

// Spike is a category whose last 7 days exceed the trailing four weeks' median by the factor.
type Spike struct {
	Category string
	ThisWeek int
	Median   float64 // of the trailing weeks that count (see Spikes)
	Weeks    int     // how many trailing weeks the median is of
	Factor   float64
}

// Spikes returns the SpikeCategories whose last 7 days hold more than factor × the median of the
// four 7-day windows before, and at least SpikeMinimum messages. Windows that ended before
// membersync was installed and hold no message are left out of the median (no one was counting
// then); with fewer than two windows left there is no history to compare with and no spike.
func Spikes(ctx context.Context, st *store.Store, now time.Time, factor float64) ([]Spike, error) {
	if factor <= 0 {
		factor = DefaultSpikeFactor
	}
	counts, from, err := recentWindows(ctx, st, now)
	if err != nil {
		return nil, err
	}
	installed, err := st.InstalledAt(ctx)
	if err != nil {
		return nil, err
	}
	var out []Spike
	for _, cat := range SpikeCategories {
		var trailing []float64
		for i := range 4 {
			end := from.Add(time.Duration(i+1) * 7 * 24 * time.Hour)
			if end.Before(installed) && counts[i][cat] == 0 && total(counts[i]) == 0 {
				continue
			}
			trailing = append(trailing, float64(counts[i][cat]))
		}
		if len(trailing) < 2 {
			continue
		}
		m := median(trailing)
		n := counts[4][cat]
		if n >= SpikeMinimum && float64(n) > m*factor {
			out = append(out, Spike{Category: cat, ThisWeek: n, Median: m, Weeks: len(trailing), Factor: factor})
		}
	}
	return out, nil
}

func total(m map[string]int) int {
	n := 0
	for _, c := range m {
		n += c
	}
	return n
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// ReductionTarget is the seed's acceptance criterion: access-related messages drop by at least 70 %.
const ReductionTarget = 0.70

// Baseline is the access-related message count of the week before membersync went live.
type Baseline struct {
	Known bool `json:"known"`
	Count int  `json:"count"`
	// Source says where it comes from: "config" (support.baseline), "week before go-live" (messages
	// dated in the 7 days before installation, as a mailbox read at first start finds them), or
	// "first week" (the first 7 days after installation, when nothing older was found).
	Source string `json:"source"`
	// Provisional is true while the baseline week is not over: Count may still grow.
	Provisional bool `json:"provisional,omitempty"`
	// Until is when a provisional baseline is recorded for good.
	Until time.Time `json:"until,omitzero"`
}

// BaselineOf returns the baseline: configured when above 0; else the one recorded in the
// database; else, once the first week after installation is over, it records and returns the
// week before installation (when the mailbox history held any access-related message) or else the
// first week after. Recording makes it stable: pruned or re-read messages never move it.
func BaselineOf(ctx context.Context, st *store.Store, configured int, now time.Time) (Baseline, error) {
	if configured > 0 {
		return Baseline{Known: true, Count: configured, Source: "config"}, nil
	}
	if n, ok, err := st.SupportBaseline(ctx); err != nil || ok {
		return Baseline{Known: ok, Count: n, Source: "recorded"}, err
	}
	live, err := st.InstalledAt(ctx)
	if err != nil {
		return Baseline{}, err
	}
	week := 7 * 24 * time.Hour
	before, err := accessBetween(ctx, st, live.Add(-week), live)
	if err != nil {
		return Baseline{}, err
	}
	b := Baseline{Known: before > 0, Count: before, Source: "week before go-live", Until: live.Add(week)}
	if before == 0 {
		first, err := accessBetween(ctx, st, live, live.Add(week))
		if err != nil {
			return Baseline{}, err
		}
		b = Baseline{Known: first > 0, Count: first, Source: "first week", Until: live.Add(week)}
	}
	if now.Before(b.Until) {
		b.Provisional = true
		return b, nil
	}
	n, err := st.RecordSupportBaseline(ctx, b.Count)
	if err != nil {
		return Baseline{}, err
	}
	return Baseline{Known: true, Count: n, Source: b.Source}, nil
}

func accessBetween(ctx context.Context, st *store.Store, from, to time.Time) (int, error) {
	n := 0
	for _, c := range []string{CategoryAccess, CategoryWelcomeEmail} {
		k, err := st.SupportCountBetween(ctx, c, from, to)
		if err != nil {
			return 0, err
		}
		n += k
	}
	return n, nil
}

// Acceptance is the seed's check: access-related messages in the last 7 days against the baseline.
type Acceptance struct {
	ThisWeek int      `json:"this_week"`
	Baseline Baseline `json:"baseline"`
	// Reduction is 1 − ThisWeek/Baseline.Count (negative when volume grew); 0 without a baseline.
	Reduction float64 `json:"reduction"`
	Target    float64 `json:"target"`
	Met       bool    `json:"met"`
}

// AcceptanceOf computes the acceptance check at now.
func AcceptanceOf(ctx context.Context, st *store.Store, configuredBaseline int, now time.Time) (Acceptance, error) {
	b, err := BaselineOf(ctx, st, configuredBaseline, now)
	if err != nil {
		return Acceptance{}, err
	}
	n, err := accessBetween(ctx, st, now.Add(-7*24*time.Hour), now.Add(time.Microsecond))
	if err != nil {
		return Acceptance{}, err
	}
	a := Acceptance{ThisWeek: n, Baseline: b, Target: ReductionTarget}
	if b.Known && b.Count > 0 {
		a.Reduction = 1 - float64(n)/float64(b.Count)
		a.Met = !b.Provisional && a.Reduction >= ReductionTarget
	}
	return a, nil
}
