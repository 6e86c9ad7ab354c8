package main

import (
	"strings"
	"testing"
	"time"
)

// TestWindowAdmitsLimitPerSpan: the emulated Stripe limit admits at most limit requests in any
// span, and admits again once the oldest has left it.
func TestWindowAdmitsLimitPerSpan(t *testing.T) {
	t.Parallel()
	w := &window{limit: 3, span: time.Second}
	t0 := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	steps := []struct {
		at   time.Duration
		want bool
	}{
		{0, true}, {100 * time.Millisecond, true}, {200 * time.Millisecond, true},
		{300 * time.Millisecond, false}, // a fourth within the second
		{999 * time.Millisecond, false},
		{time.Second, true}, // the first has left the window
		{1050 * time.Millisecond, false},
		{1100 * time.Millisecond, true},
	}
	for _, s := range steps {
		if got := w.admit(t0.Add(s.at)); got != s.want {
			t.Fatalf("at %s: admitted %v, want %v", s.at, got, s.want)
		}
	}
}

// TestScaledMultipliesEveryLimit: one factor scales the fakes' limits and membersync's rates alike.
func TestScaledMultipliesEveryLimit(t *testing.T) {
	t.Parallel()
	got := scaled(6)
	want := limits{scale: 6, kitPerMin: 720, circlePer5Min: 12000, stripePerS: 150, kitRate: 600, circleRate: 1800, stripeRate: 7200}
	if got != want {
		t.Fatalf("scaled(6) = %+v, want %+v", got, want)
	}
	if one := scaled(1); one.kitPerMin != kitLimit || one.kitRate != kitConfigured {
		t.Fatalf("scaled(1) = %+v, want the documented limits and the default rates", one)
	}
}

func TestBoundIsTheLaterOfArrivalAndCallsOverLimit(t *testing.T) {
	t.Parallel()
	tests := []struct {
		b    bound
		want time.Duration
	}{
		{bound{calls: 6000, perMin: 720, lastArrival: 2 * time.Minute}, 500 * time.Second},
		{bound{calls: 150, perMin: 2400, lastArrival: 10 * time.Second}, 10 * time.Second},
	}
	for _, tt := range tests {
		if got := tt.b.at(); got != tt.want {
			t.Errorf("%+v: bound %s, want %s", tt.b, got, tt.want)
		}
	}
}

func TestParseRefuses(t *testing.T) {
	t.Parallel()
	noEnv := func(string) string { return "" }
	tests := []struct {
		args []string
		want string
	}{
		{nil, "--database-url"},
		{[]string{"--database-url", "postgres://x/y", "--scale", "0"}, "must be positive"},
		{[]string{"--database-url", "postgres://x/y", "--instances", "1"}, "--kill needs"},
	}
	for _, tt := range tests {
		_, err := parse(tt.args, noEnv, &strings.Builder{})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("parse(%q) = %v, want an error containing %q", tt.args, err, tt.want)
		}
	}
	if o, err := parse(nil, func(k string) string { return map[string]string{"TEST_DATABASE_URL": "postgres://h/db"}[k] }, &strings.Builder{}); err != nil || o.databaseURL != "postgres://h/db" {
		t.Errorf("TEST_DATABASE_URL as the default: %+v, %v", o, err)
	}
}

// TestCPUShare: the CPU report divides the busy time among the named groups and the rest, each as a
// share of the machine's time; a group whose process ended between the samples counts nothing.
func TestCPUShare(t *testing.T) {
	t.Parallel()
	a := cpuSample{busy: 100, total: 1000, groups: map[string]uint64{"membersync": 10, "postgres": 20, "launchday": 30}}
	b := cpuSample{busy: 900, total: 2000, groups: map[string]uint64{"membersync": 410, "postgres": 220, "launchday": 10}}
	got := cpuShare(a, b)
	want := "machine 80 % busy: membersync 40 %, postgres 20 %, launchday 0 %, other processes 20 %"
	if got != want {
		t.Fatalf("cpuShare = %q, want %q", got, want)
	}
	if got := cpuShare(b, b); got != "not measured" {
		t.Fatalf("no time passed: %q", got)
	}
	// This process's own time can be read, and the machine's.
	s, err := sampleCPU(nil)
	if err != nil {
		t.Skipf("no /proc here: %v", err)
	}
	if s.total == 0 || s.busy > s.total {
		t.Fatalf("machine sample busy %d of %d", s.busy, s.total)
	}
	if procTicks(-1) != 0 {
		t.Fatal("a process that does not exist spent time")
	}
}
