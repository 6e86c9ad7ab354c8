package uptime

import (
	"context"
	"slices"
	"time"

	"github.com/membersync/membersync/internal/store"
)

// Windows are the spans the overview reports uptime over.
var Windows = []time.Duration{24 * time.Hour, 7 * 24 * time.Hour, 30 * 24 * time.Hour}

// ChartHours is how many hours the per-target chart shows.
const ChartHours = 24

// Count is probes that succeeded of probes made.
type Count struct {
	OK, Total int
}

// Percent is the share of successful probes in percent; -1 when there was none.
func (c Count) Percent() float64 {
	if c.Total == 0 {
		return -1
	}
	return 100 * float64(c.OK) / float64(c.Total)
}

// Summary is one target's figures at a moment.
type Summary struct {
	Target string
	// Uptime holds one Count per entry of Windows.
	Uptime []Count
	// Hours are the last ChartHours hours, oldest first, the current one last (Total 0 when the
	// target was not probed in an hour).
	Hours []store.UptimeHour
}

// WindowStart is where a window of d ending at now begins: the start of the hour d ago. The
// older part of a window is read from hourly roll-ups, so every window starts on an hour; it
// spans from d to d plus one hour.
func WindowStart(now time.Time, d time.Duration) time.Time {
	return now.Add(-d).UTC().Truncate(time.Hour)
}

// Summarize computes target's uptime over each of Windows and its last ChartHours hours at now,
// exactly: every probe made from a window's start up to now counts once, from the hourly roll-up
// for the hours rolled up and from the per-probe rows for the rest.
func Summarize(ctx context.Context, st *store.Store, target string, now time.Time) (Summary, error) {
	sum := Summary{Target: target, Uptime: make([]Count, len(Windows))}
	chartFrom := now.UTC().Truncate(time.Hour).Add(-(ChartHours - 1) * time.Hour)
	oldest := chartFrom
	for _, d := range Windows {
		if from := WindowStart(now, d); from.Before(oldest) {
			oldest = from
		}
	}
	through, err := st.UptimeRolledThrough(ctx, target)
	if err != nil {
		return sum, err
	}
	var hours []store.UptimeHour
	if through.After(oldest) {
		if hours, err = st.UptimeHours(ctx, target, oldest, through); err != nil {
			return sum, err
		}
	}
	rawFrom := oldest
	if through.After(rawFrom) {
		rawFrom = through
	}
	raw, err := st.UptimeResults(ctx, target, rawFrom, time.Time{})
	if err != nil {
		return sum, err
	}
	var kept []store.UptimeResult
	for _, r := range raw {
		if !r.At.After(now) {
			kept = append(kept, r)
		}
	}
	all := append(hours, rollHours(target, kept)...)
	for i, d := range Windows {
		from := WindowStart(now, d)
		for _, h := range all {
			if !h.Hour.Before(from) {
				sum.Uptime[i].OK += h.OK
				sum.Uptime[i].Total += h.Total
			}
		}
	}
	byHour := map[time.Time]store.UptimeHour{}
	for _, h := range all {
		byHour[h.Hour] = h
	}
	for i := range ChartHours {
		at := chartFrom.Add(time.Duration(i) * time.Hour)
		h, ok := byHour[at]
		if !ok {
			h = store.UptimeHour{Target: target, Hour: at, TLSDays: -1}
		}
		sum.Hours = append(sum.Hours, h)
	}
	return sum, nil
}

// rollHours groups probes (oldest first) by hour.
func rollHours(target string, rs []store.UptimeResult) []store.UptimeHour {
	var out []store.UptimeHour
	var lat []time.Duration
	flush := func() {
		if len(out) == 0 {
			return
		}
		h := &out[len(out)-1]
		h.LatencyP50 = median(lat)
		lat = lat[:0]
	}
	for _, r := range rs {
		at := r.At.UTC().Truncate(time.Hour)
		if len(out) == 0 || !out[len(out)-1].Hour.Equal(at) {
			flush()
			out = append(out, store.UptimeHour{Target: target, Hour: at, TLSDays: -1})
		}
		h := &out[len(out)-1]
		h.Total++
		if r.OK {
			h.OK++
		}
		h.LatencyMax = max(h.LatencyMax, r.Latency)
		lat = append(lat, r.Latency)
		if r.TLSDays >= 0 && (h.TLSDays < 0 || r.TLSDays < h.TLSDays) {
			h.TLSDays = r.TLSDays
		}
	}
	flush()
	return out
}

// median is the lower median (nearest rank) of ds, sorted in place.
func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	return ds[(len(ds)-1)/2]
}

// Rollup rolls every complete hour before now's hour that is not rolled up yet into the hourly
// table, for every target with per-probe rows.
func Rollup(ctx context.Context, st *store.Store, now time.Time) error {
	targets, err := st.UptimeTargets(ctx)
	if err != nil {
		return err
	}
	current := now.UTC().Truncate(time.Hour)
	for _, t := range targets {
		through, err := st.UptimeRolledThrough(ctx, t)
		if err != nil {
			return err
		}
		if !through.Before(current) {
			continue
		}
		rs, err := st.UptimeResults(ctx, t, through, current)
		if err != nil {
			return err
		}
		if err := st.AddUptimeHours(ctx, rollHours(t, rs)); err != nil {
			return err
		}
	}
	return nil
}
