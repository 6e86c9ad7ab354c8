package uptime

import (
	"context"
	"testing"
	"time"

	"github.com/membersync/membersync/internal/store"
	"github.com/membersync/membersync/internal/store/storetest"
)

// hourOf records n probes one a minute from start, the first ok of them succeeding, with latencies
// of 1 ms, 2 ms, …
func hourOf(t *testing.T, st *store.Store, target string, start time.Time, n, ok int) {
	t.Helper()
	for i := range n {
		r := store.UptimeResult{Target: target, At: start.Add(time.Duration(i) * time.Minute), OK: i < ok, TLSDays: 40 - i%3,
			Latency: time.Duration(i+1) * time.Millisecond}
		if !r.OK {
			r.Reason = "answered 503 Service Unavailable, expected 200"
		}
		if err := st.RecordUptime(context.Background(), r, store.UptimeState{Target: target, URL: "https://example.com/", TLSDaysWarn: 14}); err != nil {
			t.Fatal(err)
		}
	}
}

func day(d, h, m int) time.Time { return time.Date(2026, 3, d, h, m, 0, 0, time.UTC) }

// TestSummarizeExact computes the uptime over 24 h, 7 d and 30 d from a synthetic history whose
// figures are counted by hand, before any roll-up, with the roll-up boundary in the middle of the
// windows, and after the full roll-up and pruning: every stage must give the same exact figures.
func TestSummarizeExact(t *testing.T) {
	ctx := context.Background()
	for _, dialect := range storetest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			st := storetest.Open(t, dialect)
			now := day(10, 12, 30)
			// Window starts (the start of the hour d ago): 24 h → Mar 9 12:00, 7 d → Mar 3 12:00,
			// 30 d → Feb 8 12:00.
			feb8 := time.Date(2026, 2, 8, 0, 0, 0, 0, time.UTC)
			hourOf(t, st, "home", feb8.Add(11*time.Hour), 60, 0)  // before every window: never counted
			hourOf(t, st, "home", feb8.Add(12*time.Hour), 60, 30) // 30 d only
			hourOf(t, st, "home", day(5, 0, 0), 60, 60)           // 7 d and 30 d
			hourOf(t, st, "home", day(9, 11, 0), 60, 0)           // the hour before the 24 h window
			hourOf(t, st, "home", day(9, 12, 0), 60, 45)          // the 24 h window's first hour
			hourOf(t, st, "home", day(10, 11, 0), 60, 59)         // the last complete hour
			hourOf(t, st, "home", day(10, 12, 0), 31, 30)         // 12:00 … 12:30, not rolled up
			hourOf(t, st, "home", day(10, 12, 31), 1, 0)          // after now: not counted
			hourOf(t, st, "other", day(10, 12, 0), 10, 0)         // another target: not counted

			want := []Count{
				{OK: 45 + 59 + 30, Total: 60 + 60 + 31},            // 24 h: 134/151
				{OK: 60 + 0 + 45 + 59 + 30, Total: 60*4 + 31},      // 7 d: 194/271
				{OK: 30 + 60 + 0 + 45 + 59 + 30, Total: 60*5 + 31}, // 30 d: 224/331
			}
			check := func(stage string) {
				t.Helper()
				sum, err := Summarize(ctx, st, "home", now)
				if err != nil {
					t.Fatal(err)
				}
				for i, w := range want {
					if sum.Uptime[i] != w {
						t.Errorf("%s: %s window: got %d/%d, want %d/%d", stage, Windows[i], sum.Uptime[i].OK, sum.Uptime[i].Total, w.OK, w.Total)
					}
				}
				if got := sum.Uptime[0].Percent(); got != 100*134.0/151.0 {
					t.Errorf("%s: 24 h percent %v", stage, got)
				}
				if len(sum.Hours) != ChartHours {
					t.Fatalf("%s: %d chart hours, want %d", stage, len(sum.Hours), ChartHours)
				}
				first, prev, last := sum.Hours[0], sum.Hours[ChartHours-2], sum.Hours[ChartHours-1]
				if !first.Hour.Equal(day(9, 13, 0)) || first.Total != 0 {
					t.Errorf("%s: first chart hour %v %d/%d, want Mar 9 13:00 empty", stage, first.Hour, first.OK, first.Total)
				}
				if !prev.Hour.Equal(day(10, 11, 0)) || prev.OK != 59 || prev.Total != 60 || prev.LatencyP50 != 30*time.Millisecond ||
					prev.LatencyMax != 60*time.Millisecond || prev.TLSDays != 38 {
					t.Errorf("%s: hour 11:00: %+v, want 59/60, p50 30ms, max 60ms, 38 TLS days", stage, prev)
				}
				if !last.Hour.Equal(day(10, 12, 0)) || last.OK != 30 || last.Total != 31 || last.LatencyP50 != 16*time.Millisecond {
					t.Errorf("%s: hour 12:00: %+v, want 30/31, p50 16ms", stage, last)
				}
			}
			check("per-probe rows only")
			if err := Rollup(ctx, st, day(9, 12, 20)); err != nil { // rolls up the hours before Mar 9 12:00
				t.Fatal(err)
			}
			through, err := st.UptimeRolledThrough(ctx, "home")
			if err != nil || !through.Equal(day(9, 12, 0)) {
				t.Fatalf("rolled through %v (%v), want Mar 9 12:00", through, err)
			}
			check("rolled up to Mar 9 12:00")
			if err := Rollup(ctx, st, now); err != nil {
				t.Fatal(err)
			}
			if err := Rollup(ctx, st, now); err != nil { // again: nothing changes
				t.Fatal(err)
			}
			if err := st.PruneUptime(ctx, now.Add(-KeepResults), now.Add(-KeepHours)); err != nil {
				t.Fatal(err)
			}
			check("rolled up to Mar 10 12:00 and pruned")
			raw, err := st.UptimeResults(ctx, "home", time.Time{}, time.Time{})
			if err != nil {
				t.Fatal(err)
			}
			// Kept: Mar 9 11:00 onward (within 48 h), 60+60+60+31+1 rows.
			if len(raw) != 212 || !raw[0].At.Equal(day(9, 11, 0)) {
				t.Errorf("after pruning: %d probes from %v, want 212 from Mar 9 11:00", len(raw), raw[0].At)
			}
			if err := st.PruneUptime(ctx, now, now.Add(24*time.Hour)); err != nil { // everything old enough goes
				t.Fatal(err)
			}
			sum, err := Summarize(ctx, st, "home", now)
			if err != nil {
				t.Fatal(err)
			}
			if sum.Uptime[2] != (Count{OK: 30, Total: 31}) { // only the current hour's rows up to now are left
				t.Errorf("after pruning everything rolled up: %+v", sum.Uptime[2])
			}
		})
	}
}

func TestCountPercent(t *testing.T) {
	if p := (Count{}).Percent(); p != -1 {
		t.Errorf("no probes: %v, want -1", p)
	}
	if p := (Count{OK: 1, Total: 4}).Percent(); p != 25 {
		t.Errorf("1 of 4: %v", p)
	}
}
