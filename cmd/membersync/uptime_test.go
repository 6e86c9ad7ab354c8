package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/riverqueue/river"

	"github.com/membersync/membersync/internal/config"
	"github.com/membersync/membersync/internal/queue"
	"github.com/membersync/membersync/internal/store"
	"github.com/membersync/membersync/internal/store/storetest"
	"github.com/membersync/membersync/internal/uptime"
)

// TestScheduleUptime: serve's queue gets the uptime job, every minute, and its worker, after
// whatever was registered before.
func TestScheduleUptime(t *testing.T) {
	cfg := &config.Config{Uptime: config.UptimeConfig{Targets: []config.UptimeTarget{{Name: "home", URL: "https://example.com/",
		Source: "uptime.targets[0]", Interval: config.Duration(time.Minute), Timeout: config.Duration(time.Second)}}}}
	a := &app{cfg: cfg, log: slog.New(slog.DiscardHandler), store: storetest.Open(t, store.SQLite)}
	before := false
	opts := queue.Options{Workers: func(*queue.Queue, *river.Workers) { before = true }}
	a.scheduleUptime(&opts)
	if len(opts.PeriodicJobs) != 1 {
		t.Fatalf("%d periodic jobs, want the uptime job", len(opts.PeriodicJobs))
	}
	w := river.NewWorkers()
	opts.Workers(nil, w)
	if !before {
		t.Error("the workers registered before were dropped")
	}
	// A second worker of the same kind is refused: the first is there.
	if err := river.AddWorkerSafely(w, &uptime.Worker{}); err == nil {
		t.Error("no uptime worker was registered")
	}
}

// TestServeProbesUptime: serve runs the uptime job on its own (at start, then every minute) and
// records the configured target's state, probed with membersync's user agent.
func TestServeProbesUptime(t *testing.T) {
	var hits atomic.Int64
	var agent atomic.Value
	site := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		agent.Store(r.UserAgent())
		fmt.Fprint(w, "<h1>Join the club</h1>")
	}))
	defer site.Close()
	w := newWorld(t, worldOptions{yaml: fmt.Sprintf("uptime:\n  targets:\n    - name: home\n      url: %s/\n      body_contains: Join the club\n", site.URL)})
	ctx := context.Background()
	deadline := time.Now().Add(30 * time.Second)
	for {
		s, err := w.store.UptimeStateOf(ctx, "home")
		if err == nil {
			if !s.OK || s.Status != 200 || s.History != "u" && s.History != "uu" {
				t.Errorf("state after serve's first round: %+v", s)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve did not probe the uptime target (%v):\n%s", err, w.store.DebugJobs(ctx))
		}
		time.Sleep(50 * time.Millisecond)
	}
	if hits.Load() < 1 {
		t.Error("the target was not requested")
	}
	if ua, _ := agent.Load().(string); ua == "" || ua[:17] != "membersync-uptime" {
		t.Errorf("user agent %q", ua)
	}
}
