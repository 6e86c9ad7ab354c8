package budget

import (
	"context"
	"errors"
	"testing"
	"time"

	"pgregory.net/rapid"
)

func TestGCRA(t *testing.T) {
	r := Rate{PerMinute: 60, Burst: 3} // one a second, three at once
	t0 := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	var tat time.Time
	var waits []time.Duration
	for range 5 {
		var w time.Duration
		var ok bool
		tat, w, ok = GCRA(r, tat, time.Time{}, t0, 0)
		if !ok {
			t.Fatal("refused without a wait limit")
		}
		waits = append(waits, w)
	}
	want := []time.Duration{0, 0, 0, time.Second, 2 * time.Second}
	for i := range want {
		if waits[i] != want[i] {
			t.Fatalf("waits %v, want %v", waits, want)
		}
	}
	// With a wait limit, the request over it is refused and reserves nothing.
	if tat2, w, ok := GCRA(r, tat, time.Time{}, t0, 2*time.Second); ok || w != 3*time.Second || !tat2.Equal(tat) {
		t.Fatalf("over the limit: tat moved %v, wait %v, ok %v", !tat2.Equal(tat), w, ok)
	}
	// A pause holds every request until it ends, then lets a burst through.
	paused := t0.Add(time.Minute)
	var pw []time.Duration
	tat = time.Time{}
	for range 4 {
		var w time.Duration
		tat, w, _ = GCRA(r, tat, paused, t0, 0)
		pw = append(pw, w)
	}
	if pw[0] != time.Minute || pw[2] != time.Minute || pw[3] != time.Minute+time.Second {
		t.Fatalf("waits during a pause %v", pw)
	}
}

// Whatever the arrival times, no window of one minute holds more requests than the rate allows
// plus the burst: the property the shared budget exists for.
func TestGCRANeverExceedsTheRate(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		r := Rate{PerMinute: rapid.IntRange(1, 600).Draw(t, "perMinute"), Burst: rapid.IntRange(1, 20).Draw(t, "burst")}
		t0 := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
		now := t0
		var tat time.Time
		var sent []time.Time
		for range rapid.IntRange(1, 300).Draw(t, "requests") {
			now = now.Add(time.Duration(rapid.Int64Range(0, int64(2*time.Second)).Draw(t, "gap")))
			var w time.Duration
			tat, w, _ = GCRA(r, tat, time.Time{}, now, 0)
			sent = append(sent, now.Add(w))
		}
		for i := range sent {
			n := 0
			for j := i; j < len(sent) && sent[j].Sub(sent[i]) < time.Minute; j++ {
				n++
			}
			if limit := r.PerMinute + r.Burst; n > limit {
				t.Fatalf("%d requests within a minute from %v, limit %d", n, sent[i], limit)
			}
		}
	})
}

func TestMemoryBudgetPauseAndOver(t *testing.T) {
	t0 := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	now := t0
	b := NewMemory(Rate{PerMinute: 600, Burst: 5}, func() time.Time { return now })
	ctx := context.Background()
	if w, err := b.Take(ctx, time.Second); err != nil || w != 0 {
		t.Fatalf("first take: %v %v", w, err)
	}
	b.Pause(ctx, 60*time.Second)
	b.Pause(ctx, 10*time.Second) // an earlier end does not shorten the pause
	_, err := b.Take(ctx, 10*time.Second)
	var ob *Over
	if !errors.As(err, &ob) || !ob.Paused || ob.Wait != 60*time.Second {
		t.Fatalf("during the pause: %v", err)
	}
	now = t0.Add(60 * time.Second)
	if w, err := b.Take(ctx, time.Second); err != nil || w != 0 {
		t.Fatalf("after the pause: %v %v", w, err)
	}
}
