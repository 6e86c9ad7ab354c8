package lograte

import (
	"testing"
	"time"
)

func TestLimiter(t *testing.T) {
	t.Parallel()
	l := &Limiter{Every: 10 * time.Second}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	steps := []struct {
		at       time.Duration
		ok       bool
		wantHeld int
	}{
		{0, true, 0},
		{time.Second, false, 0},
		{9 * time.Second, false, 0},
		{10 * time.Second, true, 2},
		{11 * time.Second, false, 0},
		{time.Minute, true, 1},
		{time.Minute + 10*time.Second, true, 0},
	}
	for _, s := range steps {
		ok, held := l.Allow(t0.Add(s.at))
		if ok != s.ok || held != s.wantHeld {
			t.Errorf("at %s: Allow = %v, %d; want %v, %d", s.at, ok, held, s.ok, s.wantHeld)
		}
	}
	var zero Limiter
	for range 3 {
		if ok, _ := zero.Allow(t0); !ok {
			t.Error("the zero Limiter held a line back")
		}
	}
}
