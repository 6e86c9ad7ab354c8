// Package uptime probes the founder's pages from outside (the home page, the checkout success
// page, the Circle community, membersync's own public URL) once a minute at most, on one instance
// (the River leader): latency, status, expected body text and the days the TLS certificate has
// left. It records every probe, rolls each hour up, computes exact uptime percentages over 24 h, 7
// days and 30 days, and keeps a damped alert state per target — down after N failures in a row,
// up after M successes, held while the target flaps — which the alert package's uptime rule turns
// into messages through the notifiers.
package uptime

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/membersync/membersync/internal/config"
	"github.com/membersync/membersync/internal/store"
)

// Retention of the records: per-probe rows long enough to roll up any hour and draw the last day
// in full detail, hourly rows for the 30-day figure and three months of history.
const (
	KeepResults = 48 * time.Hour
	KeepHours   = 90 * 24 * time.Hour
)

// dueSlack lets a target probed a little less than its interval ago count as due: the periodic
// job does not start on the exact second every minute.
const dueSlack = 10 * time.Second

// maxParallel bounds the probes in flight at once.
const maxParallel = 8

// Checker runs one round of the uptime checks: it probes the targets that are due, moves their
// alert state, rolls complete hours up and prunes old records. Set its fields, then call Run.
type Checker struct {
	Store  *store.Store
	Config config.UptimeConfig
	Prober *Prober
	Log    *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

func (c *Checker) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

func (c *Checker) log() *slog.Logger {
	if c.Log != nil {
		return c.Log
	}
	return slog.New(slog.DiscardHandler)
}

// DampingOf returns the alert damping the config asks for.
func DampingOf(u config.UptimeConfig) Damping {
	d := Damping{Failures: u.FailuresBeforeAlert, Recoveries: u.RecoveriesBeforeResolve, FlapWindow: u.FlapWindow, FlapChanges: u.FlapChanges}
	return d.withDefaults()
}

// Run probes every target that is due, records each probe and the target's next state, forgets
// the targets no longer configured, rolls complete hours up and prunes what is past retention.
// A probe that fails is a result, not an error; the error is about the database.
func (c *Checker) Run(ctx context.Context) error {
	now := c.now()
	keep := make([]string, 0, len(c.Config.Targets))
	for _, t := range c.Config.Targets {
		keep = append(keep, t.Name)
	}
	if _, err := c.Store.DeleteUptimeStates(ctx, keep); err != nil {
		return fmt.Errorf("forgetting removed uptime targets: %w", err)
	}
	states, err := c.Store.UptimeStates(ctx)
	if err != nil {
		return err
	}
	prev := map[string]store.UptimeState{}
	for _, s := range states {
		prev[s.Target] = s
	}
	var due []config.UptimeTarget
	for _, t := range c.Config.Targets {
		s, ok := prev[t.Name]
		if !ok || s.LastAt.IsZero() || !now.Before(s.LastAt.Add(t.Interval.D()-dueSlack)) {
			due = append(due, t)
		}
	}
	results := make([]store.UptimeResult, len(due))
	sem := make(chan struct{}, maxParallel)
	var wg sync.WaitGroup
	for i, t := range due {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			results[i] = c.Prober.Probe(ctx, t)
		})
	}
	wg.Wait()
	damp := DampingOf(c.Config)
	var errs []error
	for i, t := range due {
		r := results[i]
		next := damp.Next(prev[t.Name], t, r)
		if next.Alerting != prev[t.Name].Alerting {
			c.log().Info("uptime target changed state", "target", t.Name, "alerting", next.Alerting, "kind", next.AlertKind, "reason", next.AlertReason)
		}
		if err := c.Store.RecordUptime(ctx, r, next); err != nil {
			errs = append(errs, err)
		}
	}
	if err := Rollup(ctx, c.Store, now); err != nil {
		errs = append(errs, err)
	}
	if err := c.Store.PruneUptime(ctx, now.Add(-KeepResults), now.Add(-KeepHours)); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
