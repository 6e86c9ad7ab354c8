package support

import (
	"fmt"
	"testing"
	"time"
)

func TestWeekStart(t *testing.T) {
	for in, want := range map[string]string{
		"2026-12-06T23:59:00Z": "2026-11-30", // a Sunday belongs to the week that began on Monday
		"2026-12-07T00:00:00Z": "2026-12-07",
		"2026-12-09T12:00:00Z": "2026-12-07",
		"2027-01-01T08:00:00Z": "2026-12-28", // ISO week 2026-W53
	} {
		at, _ := time.Parse(time.RFC3339, in)
		if got := WeekStart(at).Format("2006-01-02"); got != want {
			t.Errorf("WeekStart(%s) = %s, want %s", in, got, want)
		}
	}
	if got := weekLabel(time.Date(2026, 12, 28, 0, 0, 0, 0, time.UTC)); got != "2026-W53" {
		t.Errorf("label %s, want 2026-W53", got)
	}
}

// messages ingests n messages of the category received at at (distinct external ids).
func (f *fixture) messages(n int, body string, at time.Time) {
	f.t.Helper()
	for range n {
		f.ingest(Message{Source: SourceWebhook, ExternalID: fmt.Sprintf("m%d-%d", at.UnixMicro(), f.seq()), From: "x@example.org", Body: body, ReceivedAt: at})
	}
}

// seq numbers the messages a test ingests.
func (f *fixture) seq() int {
	f.n++
	return f.n
}

func TestWeeklyCounts(t *testing.T) {
	forEachDialect(t, func(t *testing.T, f *fixture) {
		f.now = time.Date(2026, 12, 9, 12, 0, 0, 0, time.UTC) // Wednesday of 2026-W50
		f.messages(3, "I cannot access", time.Date(2026, 12, 8, 9, 0, 0, 0, time.UTC))
		f.messages(1, "refund please", time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC))    // Monday 00:00: this week
		f.messages(2, "charged twice", time.Date(2026, 12, 6, 23, 59, 59, 0, time.UTC)) // Sunday: last week
		f.messages(1, "hello", time.Date(2026, 11, 16, 10, 0, 0, 0, time.UTC))          // W47
		f.messages(1, "no access", time.Date(2026, 10, 1, 10, 0, 0, 0, time.UTC))       // out of range
		weeks, err := Weekly(f.ctx, f.st, f.now, 4)
		if err != nil {
			t.Fatal(err)
		}
		got := ""
		for _, w := range weeks {
			got += fmt.Sprintf("%s a%d b%d r%d o%d; ", w.Label, w.Counts[CategoryAccess], w.Counts[CategoryBilling], w.Counts[CategoryRefund], w.Counts[CategoryOther])
		}
		want := "2026-W47 a0 b0 r0 o1; 2026-W48 a0 b0 r0 o0; 2026-W49 a0 b2 r0 o0; 2026-W50 a3 b0 r1 o0; "
		if got != want {
			t.Errorf("weeks\n got %s\nwant %s", got, want)
		}
		if !weeks[3].Partial || weeks[2].Partial {
			t.Error("only the week under way is partial")
		}
	})
}

func TestSpikes(t *testing.T) {
	tests := []struct {
		name     string
		trailing [4]int // access messages in each of the four weeks before, oldest first
		now      int
		factor   float64
		want     bool
	}{
		{"twice the median and more", [4]int{2, 3, 2, 4}, 6, 2, true},         // median 2.5 × 2 = 5 < 6
		{"exactly the threshold", [4]int{2, 3, 2, 4}, 5, 2, false},            // 5 is not above 5
		{"a quiet month and a few messages", [4]int{0, 0, 1, 0}, 4, 2, false}, // under SpikeMinimum
		{"a quiet month then a flood", [4]int{0, 0, 1, 0}, 9, 2, true},
		{"a higher factor", [4]int{2, 3, 2, 4}, 6, 3, false},
		{"a steady high volume", [4]int{20, 22, 19, 25}, 24, 2, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			forEachDialect(t, func(t *testing.T, f *fixture) {
				f.now = time.Now().UTC().Add(60 * 24 * time.Hour) // every window after installation
				for i, n := range tt.trailing {
					f.messages(n, "I can't log in", f.now.Add(-time.Duration(5-i)*7*24*time.Hour+time.Hour))
				}
				f.messages(tt.now, "I can't log in", f.now.Add(-time.Hour))
				f.messages(30, "hello", f.now.Add(-time.Hour)) // other messages never spike
				spikes, err := Spikes(f.ctx, f.st, f.now, tt.factor)
				if err != nil {
					t.Fatal(err)
				}
				if got := len(spikes) == 1 && spikes[0].Category == CategoryAccess; got != tt.want || len(spikes) > 1 {
					t.Errorf("spikes %+v, want access spike %v", spikes, tt.want)
				}
			})
		})
	}
}

// TestSpikesNeedHistory: right after installation the weeks before hold no message and do not
// count, so no median of zeros makes every first week a spike.
func TestSpikesNeedHistory(t *testing.T) {
	forEachDialect(t, func(t *testing.T, f *fixture) {
		f.now = time.Now().UTC().Add(24 * time.Hour)
		f.messages(12, "I can't log in", f.now.Add(-time.Hour))
		spikes, err := Spikes(f.ctx, f.st, f.now, 2)
		if err != nil || len(spikes) != 0 {
			t.Errorf("spikes %+v, %v: want none without history", spikes, err)
		}
	})
}

func TestAcceptance(t *testing.T) {
	forEachDialect(t, func(t *testing.T, f *fixture) {
		live, err := f.st.InstalledAt(f.ctx)
		if err != nil {
			t.Fatal(err)
		}
		// The mailbox, read at first start, holds 20 access-related messages of the week before.
		f.now = live.Add(time.Hour)
		f.messages(15, "paid but cannot access", live.Add(-3*24*time.Hour))
		f.messages(5, "didn't receive the welcome email", live.Add(-2*24*time.Hour))
		f.messages(9, "charged twice", live.Add(-2*24*time.Hour)) // billing: not access-related
		a, err := AcceptanceOf(f.ctx, f.st, 0, f.now)
		if err != nil {
			t.Fatal(err)
		}
		if !a.Baseline.Known || a.Baseline.Count != 20 || !a.Baseline.Provisional || a.Baseline.Source != "week before go-live" {
			t.Errorf("baseline %+v: want 20 from the week before go-live, provisional", a.Baseline)
		}
		// Two weeks later: 5 access messages in the last 7 days is a 75 % reduction, recorded for good.
		f.now = live.Add(15 * 24 * time.Hour)
		f.messages(5, "I can't log in", f.now.Add(-24*time.Hour))
		if a, err = AcceptanceOf(f.ctx, f.st, 0, f.now); err != nil {
			t.Fatal(err)
		}
		if a.ThisWeek != 5 || a.Baseline.Count != 20 || a.Baseline.Provisional || !a.Met || a.Reduction != 0.75 {
			t.Errorf("acceptance %+v: want 5 against 20, met (75 %%)", a)
		}
		if n, ok, _ := f.st.SupportBaseline(f.ctx); !ok || n != 20 {
			t.Errorf("recorded baseline %d %v, want 20", n, ok)
		}
		// The configured baseline wins.
		if a, _ = AcceptanceOf(f.ctx, f.st, 10, f.now); a.Baseline.Count != 10 || a.Met {
			t.Errorf("configured baseline 10: %+v; want 5 against 10 (50 %%), not met", a)
		}
	})
}

func TestAcceptanceFirstWeek(t *testing.T) {
	forEachDialect(t, func(t *testing.T, f *fixture) {
		live, _ := f.st.InstalledAt(f.ctx)
		f.now = live.Add(2 * 24 * time.Hour)
		f.messages(8, "no access", live.Add(24*time.Hour))
		a, _ := AcceptanceOf(f.ctx, f.st, 0, f.now)
		if a.Baseline.Source != "first week" || a.Baseline.Count != 8 || !a.Baseline.Provisional || a.Met {
			t.Errorf("baseline %+v: want the first week's 8, provisional", a.Baseline)
		}
	})
}
